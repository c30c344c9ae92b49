"""Golden vectors for Anthropic ⇄ OpenAI translation: requests, responses and streams, both ways.

Each file in `golden/` is a list of cases with an input and the expected output (and, for
requests, what was dropped). After a deliberate change to a mapping, rewrite the expected
outputs with `python -m tests.addons.wire.test_translate_golden` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from addons.wire.framing import SSEParser
from addons.wire.translate import (
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
    stream_translator,
)
from tests.addons.wire.streams import sse

GOLDEN = Path(__file__).parent / "golden"
CREATED = 1741569952


def parse_sse(data: bytes) -> list[list[Any]]:
    """[[event name or None, JSON data or "[DONE]"], ...]"""
    parser = SSEParser()
    out = []
    for e in parser.feed(data) + parser.finish():
        out.append([e.event, e.data if e.data == "[DONE]" else json.loads(e.data)])
    return out


def run_request(name: str, case: dict[str, Any]) -> dict[str, Any]:
    translate = (
        anthropic_to_openai_request
        if name.startswith("anthropic_to_openai")
        else openai_to_anthropic_request
    )
    body, dropped = translate(case["input"])
    return {"expected": body, "dropped": dropped}


def run_response(name: str, case: dict[str, Any]) -> dict[str, Any]:
    if name.startswith("anthropic_to_openai"):
        body = anthropic_to_openai_response(case["input"], status=case.get("status"))
    else:
        body = openai_to_anthropic_response(case["input"], status=case.get("status"))
    return {"expected": body}


def run_stream(name: str, case: dict[str, Any]) -> dict[str, Any]:
    if name.startswith("anthropic_to_openai"):
        t = stream_translator(
            "anthropic", "openai_chat", created=1, nonce="golden", **case["options"]
        )
    else:
        t = stream_translator("openai_chat", "anthropic", nonce="golden", **case["options"])
    source = sse((e, d) for e, d in case["source"])
    out = t.feed(source) + t.finish()
    return {"expected": parse_sse(out), "dropped": t.dropped}


RUNNERS = {
    "anthropic_to_openai_requests": run_request,
    "openai_to_anthropic_requests": run_request,
    "anthropic_to_openai_responses": run_response,
    "openai_to_anthropic_responses": run_response,
    "anthropic_to_openai_streams": run_stream,
    "openai_to_anthropic_streams": run_stream,
}


def _stable(name: str, result: dict[str, Any]) -> dict[str, Any]:
    body = result["expected"]
    if name == "anthropic_to_openai_responses" and isinstance(body, dict) and "created" in body:
        body["created"] = CREATED  # now, when the source has no timestamp
    return result


def _cases() -> list[Any]:
    params = []
    for name in RUNNERS:
        for i, case in enumerate(json.loads((GOLDEN / f"{name}.json").read_text())):
            params.append(pytest.param(name, case, id=f"{name}[{i}] {case['name']}"))
    return params


@pytest.mark.parametrize("name, case", _cases())
def test_golden(name, case):
    result = _stable(name, RUNNERS[name](name, case))
    for key, value in result.items():
        assert value == case[key], key


def regenerate() -> None:
    for name, run in RUNNERS.items():
        path = GOLDEN / f"{name}.json"
        cases = json.loads(path.read_text())
        for case in cases:
            case.update(_stable(name, run(name, case)))
        path.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    regenerate()
