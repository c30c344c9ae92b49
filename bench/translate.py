"""Cost of Anthropic ⇄ OpenAI translation (not a test).

    .venv/bin/python -m bench.translate [--repeat N]

1. A Claude Code-shaped request of about 150 KB (billing header, a ~25 KB system prompt with
   cache_control, 24 tools, a long tool-use history with thinking) translated anthropic→openai:
   p50/p95 of `anthropic_to_openai_request` on the parsed body (what the proxy pays once the
   body is JSON), and of the whole bytes→bytes step with `json.loads`/`json.dumps` around it.
2. Per-event cost of stream translation on a 200-chunk stream, each direction, fed one event per
   chunk as servers flush them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from addons.wire.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    count_tokens,
    openai_to_anthropic_request,
)

EVENTS = 200
PROSE = (
    "You are an interactive CLI tool that helps users with software engineering tasks. Use the "
    "instructions below and the tools available to you to assist the user. When referencing "
    "code use the pattern `file_path:line_number`. Prefer editing existing files. "
)


def claude_code_request() -> dict:
    system = [
        {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli; cch=4f2e1;",
        },
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {
            "type": "text",
            "text": "\n\n".join(PROSE * 2 for _ in range(40)),
            "cache_control": {"type": "ephemeral"},
        },
    ]
    tools = [
        {
            "name": f"Tool{i}",
            "description": PROSE * 3,
            "input_schema": {
                "type": "object",
                "$schema": "http://json-schema.org/draft-07/schema#",
                "additionalProperties": False,
                "required": ["path", "mode"],
                "properties": {
                    "path": {"type": "string", "description": "Absolute path to the file"},
                    "mode": {"type": "string", "enum": ["read", "write", "append"]},
                    "limit": {"type": "integer", "minimum": 1, "description": "Lines to read"},
                    "options": {
                        "type": "object",
                        "properties": {"follow": {"type": "boolean"}, "depth": {"type": "number"}},
                    },
                },
            },
        }
        for i in range(24)
    ]
    reminder = "<system-reminder>\n# claudeMd\n" + "Project rules: keep it small. " * 300
    messages: list[dict] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": reminder + "\n</system-reminder>"},
                {"type": "text", "text": "Fix the flaky test in tests/test_api.py."},
            ],
        }
    ]
    turn = 0
    while len(json.dumps({"system": system, "tools": tools, "messages": messages})) < 150_000:
        tid = f"toolu_01{turn:022d}"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "I should look at the file. " * 4,
                        "signature": "Eq" + "A" * 200,
                    },
                    {"type": "text", "text": f"Reading part {turn}."},
                    {
                        "type": "tool_use",
                        "id": tid,
                        "name": f"Tool{turn % 24}",
                        "input": {"path": f"/work/src/mod{turn}.py", "mode": "read", "limit": 200},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": tid,
                        "content": "\n".join(
                            f"{n:>6}\tdef f{n}(x): return x * {n}" for n in range(40)
                        ),
                    }
                ],
            }
        )
        turn += 1
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": True,
        "system": system,
        "messages": messages,
        "tools": tools,
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "metadata": {"user_id": "user_ab12_account_cd34_session_ef56"},
    }


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def openai_stream() -> list[bytes]:
    def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = {
            "id": "chatcmpl-Bench",
            "object": "chat.completion.chunk",
            "created": 1741569952,
            "model": "qwen3-coder",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            body["usage"] = usage
        return f"data: {_dump(body)}\n\n".encode()

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": "thinking about it "}) for _ in range(40)]
    out += [chunk({"content": "The quick brown fox jumps "}) for _ in range(EVENTS - 100)]
    out.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": ""},
                    }
                ]
            }
        )
    )
    out += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"ls -la /tmp", '}}]})
        for _ in range(EVENTS - len(out) - 3)
    ]
    out.append(chunk({}, "tool_calls"))
    out.append(
        chunk(
            None,
            usage={
                "prompt_tokens": 16200,
                "completion_tokens": 600,
                "prompt_tokens_details": {"cached_tokens": 15000},
            },
        )
    )
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_stream() -> list[bytes]:
    def ev(name: str, **data: object) -> bytes:
        return f"event: {name}\ndata: {_dump({'type': name, **data})}\n\n".encode()

    out = [
        ev(
            "message_start",
            message={
                "id": "msg_01Bench",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 1200,
                    "output_tokens": 1,
                    "cache_read_input_tokens": 15000,
                    "cache_creation_input_tokens": 0,
                },
            },
        ),
        ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    ]
    out += [
        ev(
            "content_block_delta",
            index=0,
            delta={"type": "text_delta", "text": "The quick brown fox jumps "},
        )
        for _ in range(EVENTS - 8)
    ]
    out += [
        ev("content_block_stop", index=0),
        ev(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}},
        ),
        ev(
            "content_block_delta",
            index=1,
            delta={"type": "input_json_delta", "partial_json": '{"command": "ls"}'},
        ),
        ev("content_block_stop", index=1),
        ev(
            "message_delta",
            delta={"stop_reason": "tool_use", "stop_sequence": None},
            usage={"output_tokens": 600},
        ),
        ev("message_stop"),
    ]
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def time_us(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {args.repeat} runs each\n")

    body = claude_code_request()
    raw = _dump(body).encode()
    translated = anthropic_to_openai_request(body).body
    print(
        f"request: {len(raw) / 1000:.0f} KB, {len(body['messages'])} messages, "
        f"{len(body['tools'])} tools, ~{count_tokens(body)} tokens estimated"
    )
    rows = [
        ("anthropic→openai, dict→dict", lambda: anthropic_to_openai_request(body)),
        (
            "anthropic→openai, bytes→bytes",
            lambda: _dump(anthropic_to_openai_request(json.loads(raw)).body).encode(),
        ),
        ("json.loads + json.dumps alone", lambda: _dump(json.loads(raw)).encode()),
        ("openai→anthropic, dict→dict", lambda: openai_to_anthropic_request(translated)),
        ("count_tokens", lambda: count_tokens(body)),
    ]
    print(f"{'':<34} {'p50 ms':>8} {'p95 ms':>8}")
    for name, fn in rows:
        p50, p95 = percentiles(time_us(fn, args.repeat))
        print(f"{name:<34} {p50 / 1000:>8.3f} {p95 / 1000:>8.3f}")

    print(f"\n{EVENTS}-chunk streams, one event per feed()")
    print(f"{'':<34} {'µs/event p50':>13} {'µs/event p95':>13}")
    for name, make, chunks in (
        ("openai→anthropic", lambda: OpenAIToAnthropicStream(), openai_stream()),
        (
            "anthropic→openai",
            lambda: AnthropicToOpenAIStream(include_usage=True),
            anthropic_stream(),
        ),
    ):
        assert len(chunks) == EVENTS, len(chunks)

        def run(make=make, chunks=chunks):
            t = make()
            for c in chunks:
                t.feed(c)
            t.finish()
            assert t.done and t.malformed == 0

        p50, p95 = percentiles(time_us(run, args.repeat))
        print(f"{name:<34} {p50 / EVENTS:>13.2f} {p95 / EVENTS:>13.2f}")


if __name__ == "__main__":
    main()
