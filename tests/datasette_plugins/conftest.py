"""A small capture database with every kind of row the UI shows, and Datasette over it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from datasette.app import Datasette

from addons.store import bodies
from addons.store.schema import open_db
from datasette_plugins.config import TOKEN_ENV, metadata

LOCAL_CLIENT = "10.1.2.3"  # the client app's machine
NEIGHBOUR = "10.1.2.99"  # same /24 as LOCAL_CLIENT
STRANGER = "192.168.7.7"  # another subnet
OTHER_CLIENT = "172.16.0.5"

SYSTEM = "You are a coding agent."
TOOLS = [{"name": "Read", "input_schema": {"type": "object"}}, {"name": "Bash"}]


def anthropic_body(messages: list[dict[str, Any]], stream: bool = False) -> bytes:
    return json.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": SYSTEM,
            "messages": messages,
            "tools": TOOLS,
            "stream": stream,
        }
    ).encode()


CONVERSATION = [
    {"role": "user", "content": "Please read the secret plan file"},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Reading it."},
            {"type": "tool_use", "id": "tu1", "name": "Read", "input": {"path": "plan.txt"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "tu1", "content": "attack at dawn"},
        ],
    },
    {"role": "assistant", "content": "The plan says: attack at dawn."},
    {"role": "user", "content": "Thanks, now summarise it"},
]


def add_request(
    db,
    *,
    request_body: bytes | None = None,
    response_body: bytes | None = None,
    stream_body: bytes | None = None,
    **row: Any,
) -> str:
    row.setdefault("state", "complete")
    row.setdefault("verdict", "allow")
    row.setdefault("method", "POST")
    row.setdefault("listener", "reverse")
    with db.atomic():
        if request_body is not None:
            row["request_body_id"] = bodies.store(db, request_body)
            row["request_bytes"] = len(request_body)
        if response_body is not None:
            row["response_body_id"] = bodies.store(db, response_body)
        if stream_body is not None:
            row["stream_body_id"] = bodies.store(db, stream_body)
        db["requests"].insert(row)
    return row["id"]


def build(path) -> None:
    db = open_db(path)
    common = dict(
        upstream="anthropic",
        dialect="anthropic",
        path="/v1/messages",
        requested_model="claude-sonnet-4-5",
        served_model="claude-sonnet-4-5-20250929",
        client_app="claude-code",
        client_ip=LOCAL_CLIENT,
        session_id="s1",
        conversation_id="conv-a",
        tools_offered=["Read", "Bash"],
    )
    # Three turns of one conversation: 1, 3 and 5 messages.
    add_request(
        db,
        id="a1",
        started_at="2026-11-20T10:00:00.000Z",
        ended_at="2026-11-20T10:00:02.000Z",
        status=200,
        turn_index=1,
        input_tokens=100,
        cache_write_tokens=2000,
        output_tokens=20,
        latency_ms=2000.0,
        ttft_ms=400.0,
        stop_reason="tool_use",
        tool_calls=[{"name": "Read", "arguments": '{"path":"plan.txt"}'}],
        prompt_preview="Please read the secret plan file",
        response_text="Reading it.",
        request_headers={"user-agent": "claude-cli/2.0", "x-api-key": "fp:abc…1234"},
        response_headers={"content-type": "application/json"},
        request_body=anthropic_body(CONVERSATION[:1]),
        response_body=json.dumps({"id": "msg_1", "content": [{"type": "text"}]}).encode(),
        **common,
    )
    add_request(
        db,
        id="a2",
        started_at="2026-11-20T10:00:05.000Z",
        ended_at="2026-11-20T10:00:07.000Z",
        status=200,
        turn_index=2,
        input_tokens=50,
        cache_read_tokens=2000,
        cache_write_tokens=150,
        output_tokens=15,
        latency_ms=1500.0,
        ttft_ms=300.0,
        stop_reason="end_turn",
        prompt_preview="attack at dawn",
        response_text="The plan says: attack at dawn.",
        request_body=anthropic_body(CONVERSATION[:3], stream=True),
        stream_body=(
            b'event: message_start\ndata: {"type":"message_start"}\n\n'
            b'event: content_block_delta\ndata: {"type":"content_block_delta",'
            b'"delta":{"type":"text_delta","text":"The plan"}}\n\n'
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        ),
        is_stream=1,
        **common,
    )
    add_request(
        db,
        id="a3",
        started_at="2026-11-20T10:01:00.000Z",
        ended_at="2026-11-20T10:01:01.000Z",
        status=200,
        turn_index=3,
        input_tokens=30,
        cache_read_tokens=1000,
        output_tokens=40,
        latency_ms=900.0,
        ttft_ms=200.0,
        stop_reason="end_turn",
        prompt_preview="Thanks, now summarise it",
        response_text="Summary: dawn attack.",
        request_body=anthropic_body(CONVERSATION),
        **common,
    )
    db["verdicts"].insert_all(
        [
            {
                "request_id": "a3",
                "seq": 0,
                "phase": "pre",
                "rule_id": "loop_detector",
                "verdict": "warn",
                "reason": "repeated attack plan",
                "details": json.dumps({"count": 3}),
                "at": "2026-11-20T10:01:00.100Z",
            }
        ]
    )
    # Another subnet's client: an OpenAI streaming call that failed upstream.
    add_request(
        db,
        id="b1",
        started_at="2026-11-20T11:00:00.000Z",
        ended_at="2026-11-20T11:00:01.000Z",
        state="error",
        upstream="openai",
        dialect="openai_chat",
        path="/v1/chat/completions",
        status=500,
        requested_model="gpt-4o",
        client_app="openai-python",
        client_ip=OTHER_CLIENT,
        conversation_id="conv-b",
        turn_index=1,
        latency_ms=800.0,
        error="upstream 500: overloaded",
        prompt_preview="my bank password is hunter2",
        request_body=json.dumps(
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        ).encode(),
    )
    add_request(
        db,
        id="b2",
        started_at="2026-11-20T11:05:00.000Z",
        status=429,
        state="error",
        upstream="openai",
        dialect="openai_chat",
        requested_model="gpt-4o-mini",
        client_app="openai-python",
        client_ip=OTHER_CLIENT,
        conversation_id="conv-c",
        error="upstream 429: rate limited",
        verdict="block",
        latency_ms=50.0,
    )
    # Ollama, NDJSON stream.
    add_request(
        db,
        id="c1",
        started_at="2026-11-20T12:00:00.000Z",
        status=200,
        upstream="ollama",
        dialect="ollama",
        path="/api/chat",
        requested_model="qwen3:8b",
        client_app="ollama-python",
        client_ip="127.0.0.1",
        conversation_id="conv-d",
        turn_index=1,
        is_stream=1,
        latency_ms=300.0,
        input_tokens=10,
        output_tokens=5,
        prompt_preview="why is the sky blue",
        response_text="Rayleigh scattering of sunlight",
        stream_body=b'{"message":{"content":"Ray"},"done":false}\n{"done":true}\n',
    )
    # In flight: live token counts.
    add_request(
        db,
        id="p1",
        started_at="2026-11-20T13:00:00.000Z",
        state="pending",
        status=None,
        upstream="anthropic",
        dialect="anthropic",
        requested_model="claude-haiku-4-5",
        client_app="anthropic-python",
        client_ip=LOCAL_CLIENT,
        input_tokens=12,
        output_tokens=7,
        tokens_estimated=1,
        prompt_preview="still thinking about zebras",
    )
    db.close()


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "proxy.db"
    build(path)
    return path


@pytest.fixture(autouse=True)
def no_token_env(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def make_datasette(path, **plugin) -> Datasette:
    meta = metadata("proxy")
    meta["plugins"]["llm-inspector"].update(plugin)
    return Datasette([str(path)], metadata=meta, settings={"base_url": "/__proxy/"})


@pytest.fixture
def ds(db_path):
    return make_datasette(db_path)


def remote_client(ds: Datasette, ip: str) -> httpx.AsyncClient:
    """A client whose socket peer is `ip` (not loopback), straight to Datasette."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ds.app(), client=(ip, 40000)),
        base_url="http://inspector.test",
    )


def via_proxy(ip: str, **headers: str) -> dict[str, str]:
    """Headers as the suite's proxy forwards a viewer at `ip` (peer is loopback)."""
    return {"X-Forwarded-For": ip, **headers}
