"""The render entry point, judged by the official SDKs.

`render_stream` output (a corrected or repaired response replayed to a streaming client) and
`render_response` bodies are served to `anthropic.Anthropic`, `openai.OpenAI` and `ollama.Client`
through an `httpx.MockTransport`, so what is checked is what those clients make of them.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import ollama as ollama_sdk
import openai
import pytest

from addons.wire import ollama, parse_stream
from addons.wire.model import TEXT, THINKING, TOOL_CALL, Block, Request, Response, Usage
from addons.wire.render import (
    render_request,
    render_response,
    render_stream,
    stream_writer,
)
from addons.wire.render_anthropic import AnthropicStreamWriter
from addons.wire.render_ollama import OllamaStreamWriter
from addons.wire.render_openai import OpenAIStreamWriter

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


def transport(body: bytes, kind: str, status: int = 200) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"content-type": kind})
    )


def anthropic_client(body: bytes, kind: str = SSE) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test",
        base_url="http://upstream.test",
        max_retries=0,
        http_client=httpx.Client(transport=transport(body, kind)),
    )


def openai_client(body: bytes, kind: str = SSE) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="test",
        base_url="http://upstream.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport(body, kind)),
    )


def ollama_client(body: bytes, kind: str = NDJSON) -> ollama_sdk.Client:
    return ollama_sdk.Client(host="http://ollama.test", transport=transport(body, kind))


ASK_ANTHROPIC = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "x"}],
}
ASK = [{"role": "user", "content": "x"}]

# What a rule puts in place of a bad tool call: a corrective assistant message.
CORRECTION = "I called `Bash` with invalid arguments; retrying with a valid command."


def corrected(dialect: str) -> Response:
    return Response(
        dialect,
        id=None,
        model="some-model",
        blocks=[Block(TEXT, text=CORRECTION)],
        stop_reason="end_turn",
        usage=Usage(input=120, output=18),
    )


# A repaired response: thinking, text and a tool call whose arguments were fixed.
def repaired(dialect: str) -> Response:
    return Response(
        dialect,
        id="msg_01Repaired" if dialect == "anthropic" else None,
        model="some-model",
        blocks=[
            Block(THINKING, text="The path needs quoting.", signature="EqQBsig"),
            Block(TEXT, text="Listing it — ✓"),
            Block(TOOL_CALL, id="call_1", name="Bash", arguments={"cmd": "ls 'a b'"}),
        ],
        stop_reason="tool_use",
        usage=Usage(input=900, output=40, cache_read=2048),
    )


# --- the entry point ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["gemini", "openai_responses", "nonsense"])
def test_dialects_without_a_renderer_get_none(dialect):
    req = Request(dialect, model="m", messages=[])
    resp = Response(dialect, blocks=[Block(TEXT, text="hi")])
    assert render_request(dialect, req) is None
    assert render_response(dialect, resp) is None
    assert stream_writer(dialect) is None
    assert render_stream(dialect, resp) is None


@pytest.mark.parametrize(
    "dialect, kind",
    [
        ("anthropic", AnthropicStreamWriter),
        ("openai_chat", OpenAIStreamWriter),
        ("ollama", OllamaStreamWriter),
    ],
)
def test_stream_writer_by_dialect(dialect, kind):
    writer = stream_writer(dialect, model="m")
    assert isinstance(writer, kind) and writer.model == "m"


def test_render_request_passes_the_path_to_ollama():
    req = ollama.parse_request({"model": "llama3.2", "prompt": "Hi", "stream": False})
    assert render_request("ollama", req, path="/api/generate") == {
        "model": "llama3.2",
        "prompt": "Hi",
        "stream": False,
    }
    chat = render_request("ollama", req)
    assert chat is not None and chat["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("dialect", ["anthropic", "openai_chat", "ollama"])
@pytest.mark.parametrize("make", [corrected, repaired])
def test_render_stream_reads_back_as_the_response(dialect, make):
    resp = make(dialect)
    replayed = parse_stream(dialect, render_stream(dialect, resp) or b"")
    assert replayed is not None and replayed.error is None
    assert replayed.text == resp.text
    assert [(c.name, json.loads(c.arguments)) for c in replayed.tool_calls] == [
        (c.name, json.loads(c.arguments)) for c in resp.tool_calls
    ]
    assert replayed.stop_reason == resp.stop_reason
    assert replayed.usage.output == resp.usage.output


def test_render_stream_of_an_error_ends_with_the_dialects_error():
    resp = Response("anthropic", error="overloaded")
    assert render_stream("ollama", resp) == b'{"error":"overloaded"}\n'
    body = render_stream("anthropic", resp) or b""
    assert body.endswith(b'"message":"overloaded"}}\n\n') and b"event: error" in body


def test_render_stream_notes_blocks_it_cannot_send():
    resp = corrected("openai_chat")
    resp.blocks.append(Block("image", data="iVBORw0KGgo"))
    dropped: list[str] = []
    render_stream("openai_chat", resp, dropped=dropped)
    assert dropped == ["content[1] (image)"]


# --- Anthropic SDK -----------------------------------------------------------------------


def test_anthropic_sdk_accepts_a_replayed_correction():
    body = render_stream("anthropic", corrected("anthropic"), model="claude-sonnet-4-5")
    with anthropic_client(body or b"").messages.stream(**ASK_ANTHROPIC) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == CORRECTION
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (120, 18)


def test_anthropic_sdk_accepts_a_replayed_repair():
    body = render_stream("anthropic", repaired("anthropic"))
    with anthropic_client(body or b"").messages.stream(**ASK_ANTHROPIC) as stream:
        message = stream.get_final_message()
    assert message.id == "msg_01Repaired"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].signature == "EqQBsig"
    assert message.content[2].input == {"cmd": "ls 'a b'"}
    assert message.content[2].id == "call_1"
    assert message.stop_reason == "tool_use"
    assert message.usage.cache_read_input_tokens == 2048


def test_anthropic_sdk_reads_a_rendered_response():
    body = json.dumps(render_response("anthropic", repaired("anthropic"))).encode()
    message = anthropic_client(body, "application/json").messages.create(**ASK_ANTHROPIC)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.stop_reason == "tool_use"


# --- OpenAI SDK --------------------------------------------------------------------------


def accumulate(chunks) -> dict:
    """What a client builds from `chat.completions.create(stream=True)`."""
    out: dict = {"content": "", "reasoning": "", "calls": {}, "finish": None, "usage": None}
    for chunk in chunks:
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            out["content"] += delta.content or ""
            out["reasoning"] += (delta.model_extra or {}).get("reasoning_content") or ""
            for tc in delta.tool_calls or []:
                call = out["calls"].setdefault(tc.index, {"id": None, "name": "", "args": ""})
                call["id"] = tc.id or call["id"]
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["args"] += tc.function.arguments or ""
            out["finish"] = choice.finish_reason or out["finish"]
    return out


def test_openai_sdk_accepts_a_replayed_correction():
    body = render_stream("openai_chat", corrected("openai_chat"), model="gpt-4.1")
    chunks = openai_client(body or b"").chat.completions.create(
        model="gpt-4.1", messages=ASK, stream=True
    )
    out = accumulate(chunks)
    assert out["content"] == CORRECTION
    assert out["calls"] == {}
    assert out["finish"] == "stop"
    assert (out["usage"].prompt_tokens, out["usage"].completion_tokens) == (120, 18)


def test_openai_sdk_accepts_a_replayed_repair():
    body = render_stream("openai_chat", repaired("openai_chat"))
    client = openai_client(body or b"")
    out = accumulate(client.chat.completions.create(model="gpt-4.1", messages=ASK, stream=True))
    assert out["content"] == "Listing it — ✓"
    assert out["reasoning"] == "The path needs quoting."
    assert out["calls"] == {0: {"id": "call_1", "name": "Bash", "args": '{"cmd":"ls \'a b\'"}'}}
    assert out["finish"] == "tool_calls"
    assert out["usage"].prompt_tokens == 900 + 2048
    assert out["usage"].prompt_tokens_details.cached_tokens == 2048
    # The SDK's own accumulator agrees.
    with openai_client(body or b"").chat.completions.stream(model="gpt-4.1", messages=ASK) as s:
        final = s.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Listing it — ✓"
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {"cmd": "ls 'a b'"}


def test_openai_sdk_reads_a_rendered_response():
    body = json.dumps(render_response("openai_chat", repaired("openai_chat"))).encode()
    completion = openai_client(body, "application/json").chat.completions.create(
        model="gpt-4.1", messages=ASK
    )
    message = completion.choices[0].message
    assert message.content == "Listing it — ✓"
    assert message.tool_calls is not None and message.tool_calls[0].id == "call_1"
    assert completion.choices[0].finish_reason == "tool_calls"


# --- Ollama SDK --------------------------------------------------------------------------


def test_ollama_sdk_accepts_a_replayed_correction():
    body = render_stream("ollama", corrected("ollama"), model="qwen3:8b")
    parts = list(ollama_client(body or b"").chat(model="qwen3:8b", messages=ASK, stream=True))
    assert "".join(p.message.content or "" for p in parts) == CORRECTION
    assert [p.done for p in parts] == [False, True]
    last = parts[-1]
    assert (last.model, last.done_reason) == ("qwen3:8b", "stop")
    assert (last.prompt_eval_count, last.eval_count) == (120, 18)


def test_ollama_sdk_accepts_a_replayed_repair():
    resp = repaired("ollama")
    resp.extra = {"total_duration": 4883583458, "eval_duration": 4535599000}
    body = render_stream("ollama", resp)
    parts = list(ollama_client(body or b"").chat(model="qwen3:8b", messages=ASK, stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == "The path needs quoting."
    assert "".join(p.message.content or "" for p in parts) == "Listing it — ✓"
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("Bash", {"cmd": "ls 'a b'"})
    ]
    last = parts[-1]
    assert last.done and last.done_reason == "stop"
    assert last.prompt_eval_count == 900 + 2048
    assert last.total_duration == 4883583458


def test_ollama_sdk_reads_a_rendered_response():
    body = json.dumps(render_response("ollama", repaired("ollama"), model="qwen3:8b")).encode()
    reply = ollama_client(body, "application/json").chat(model="qwen3:8b", messages=ASK)
    assert reply.done and reply.message.content == "Listing it — ✓"
    assert reply.message.thinking == "The path needs quoting."
    assert reply.message.tool_calls is not None
    assert reply.message.tool_calls[0].function.arguments == {"cmd": "ls 'a b'"}
    assert reply.created_at is not None and reply.created_at.endswith("Z")


def test_ollama_sdk_reads_a_replayed_generate_stream():
    body = render_stream("ollama", corrected("ollama"), path="/api/generate")
    parts = list(ollama_client(body or b"").generate(model="llama3.2", prompt="x", stream=True))
    assert "".join(p.response or "" for p in parts) == CORRECTION
    assert parts[-1].done and parts[-1].eval_count == 18


def test_ollama_sdk_raises_on_a_replayed_error():
    body = render_stream("ollama", Response("ollama", error="model 'x' not found"))
    with pytest.raises(ollama_sdk.ResponseError, match="not found"):
        list(ollama_client(body or b"").chat(model="x", messages=ASK, stream=True))
