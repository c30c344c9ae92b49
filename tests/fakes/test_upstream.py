"""The fake upstream is only useful if real clients cannot tell it from a provider: these tests
drive it with the real SDKs (and raw httpx where the bytes themselves matter)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import anthropic
import brotli
import httpx
import ollama
import openai
import pytest
import trustme
import zstandard

from tests.fakes.scenario import Scenario, parse
from tests.fakes.upstream import FakeUpstream, FakeUpstreamThread
from tests.fakes.wire import choose_encoding, split_text, tool_arguments

REPO = Path(__file__).resolve().parents[2]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "note": {"type": "string"},
    },
    "required": ["city", "days", "unit"],
}
WEATHER_ARGS = {"city": "fake-city", "days": 1, "unit": "celsius"}
CLIENT_ENCODINGS = "gzip, deflate, br, zstd"  # what httpx-based SDKs and Claude Code send


@pytest.fixture
def upstream() -> Iterator[FakeUpstreamThread]:
    with FakeUpstreamThread() as server:
        yield server


@pytest.fixture
def claude(upstream: FakeUpstreamThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=upstream.url, api_key="sk-ant-test", max_retries=0)


@pytest.fixture
def gpt(upstream: FakeUpstreamThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.url + "/v1", api_key="sk-test", max_retries=0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each `\\n\\n`-separated SSE frame."""
    events = []
    for frame in text.split("\n\n"):
        if not frame:
            continue
        name, data = None, ""
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((name, data))
    return events


# --- Anthropic --------------------------------------------------------------------------------


def test_anthropic_message_echoes_the_last_user_text(claude, upstream):
    raw = claude.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=user("hello there")
    )
    message = raw.parse()
    assert message.id.startswith("msg_01")
    assert message.model == "claude-sonnet-4-5"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 5  # one per chunk
    assert message.usage.input_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    assert raw.headers["request-id"].startswith("req_011C")
    assert raw.headers["content-type"] == "application/json"
    [request] = upstream.requests
    assert (request.method, request.target) == ("POST", "/v1/messages")
    assert request.json()["messages"] == user("hello there")


def test_anthropic_stream_has_the_real_event_sequence(upstream):
    body = {"model": "claude-x", "max_tokens": 10, "stream": True, "messages": user("hi there")}
    response = httpx.post(
        upstream.url + "/v1/messages?beta=true",
        json=body,
        headers={"accept-encoding": "identity", "x-fake-scenario": "chunks=4"},
    )
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text.endswith("}\n\n")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(data) for _, data in events]
    assert all(p["type"] == name for p, name in zip(payloads, names, strict=True))
    usage = payloads[0]["message"]["usage"]
    assert set(usage) >= {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
    }
    assert "".join(p["delta"]["text"] for p in payloads[3:7]) == "echo: hi there"
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"
    assert payloads[-2]["usage"]["output_tokens"] == 4
    assert upstream.requests[0].target == "/v1/messages?beta=true"


def test_anthropic_stream_of_200_chunks_accumulates(claude):
    with claude.messages.stream(
        model="claude-x",
        max_tokens=100,
        messages=user("count"),
        extra_headers={"x-fake-scenario": "chunks=200"},
    ) as stream:
        deltas = [e for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert len(deltas) == 200
    assert final.content[0].text == "echo: count" + "." * (200 - len("echo: count"))
    assert final.usage.output_tokens == 200


def test_anthropic_tool_use_loop(claude):
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    messages = user("please use tool get_weather")
    with claude.messages.stream(
        model="claude-x", max_tokens=100, tools=tools, messages=messages
    ) as stream:
        fragments = [
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        first = stream.get_final_message()
    assert len(fragments) > 1
    assert first.stop_reason == "tool_use"
    [call] = first.content
    assert call.type == "tool_use" and call.id.startswith("toolu_01")
    assert call.name == "get_weather" and call.input == WEATHER_ARGS

    messages += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
        },
    ]
    second = claude.messages.create(
        model="claude-x", max_tokens=100, tools=tools, messages=messages
    )
    assert second.content[0].text == "tool said: sunny"
    assert second.stop_reason == "end_turn"


def test_anthropic_bash_tool_runs_a_harmless_command(claude):
    bash = {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    }
    message = claude.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[{"name": "Bash", "input_schema": bash}],
        messages=user("[[scenario:tool=Bash]] list files"),
    )
    assert message.content[0].input == {"command": "echo fake-tool-ran", "description": "test"}


def test_anthropic_thinking_blocks_when_thinking_is_enabled(claude):
    with claude.messages.stream(
        model="claude-x",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=user("ponder"),
    ) as stream:
        delta_types = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Thinking about: ponder"
    assert final.content[0].signature
    assert "thinking_delta" in delta_types and "signature_delta" in delta_types
    plain = claude.messages.create(model="claude-x", max_tokens=10, messages=user("x"))
    assert [b.type for b in plain.content] == ["text"]


def test_anthropic_prompt_cache_is_created_then_read(claude):
    system = [
        {"type": "text", "text": "You are terse. " * 50, "cache_control": {"type": "ephemeral"}}
    ]
    first = claude.messages.create(model="m", max_tokens=10, system=system, messages=user("a"))
    second = claude.messages.create(model="m", max_tokens=10, system=system, messages=user("b"))
    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    counted = claude.messages.count_tokens(model="m", system=system, messages=user("b"))
    total = second.usage.input_tokens + second.usage.cache_read_input_tokens
    assert abs(counted.input_tokens - total) <= 1


@pytest.mark.parametrize(
    "status, error, kind",
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors_map_to_sdk_exceptions(claude, status, error, kind):
    with pytest.raises(error) as caught:
        claude.messages.create(
            model="m", max_tokens=10, messages=user(f"[[scenario:error={status}]] hi")
        )
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == kind
    assert caught.value.request_id.startswith("req_")
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "1"


def test_anthropic_error_mid_stream_raises_overloaded(claude):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(
            model="m",
            max_tokens=10,
            messages=user("hi"),
            extra_headers={"x-fake-scenario": "error-mid-stream"},
        ) as stream:
            stream.until_done()
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_anthropic_request_validation_and_unknown_scenario(claude):
    with pytest.raises(anthropic.BadRequestError, match="unknown scenario item 'bogus'"):
        claude.messages.create(model="m", max_tokens=1, messages=user("[[scenario:bogus]]"))
    response = httpx.post(
        claude.base_url.join("/v1/messages"),
        json={"model": "m"},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "messages: Field required"


def test_claude_code_preflight_and_system_message_after_the_user_turn(upstream):
    assert httpx.head(upstream.url + "/").status_code == 200
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "thinking": {"type": "adaptive"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "say hi [[scenario:chunks=2]]"},
                ],
            },
            {"role": "system", "content": "a reminder after the user turn"},
        ],
    }
    message = httpx.post(upstream.url + "/v1/messages?beta=true", json=body).json()
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][1]["text"] == "echo: say hi [[scenario:chunks=2]]"
    assert message["usage"]["output_tokens"] == 2 + 1 + 2  # thinking, signature, text
    assert [r.method for r in upstream.requests] == ["HEAD", "POST"]


async def test_in_process_server_with_the_async_client():
    server = FakeUpstream()
    port = await server.start()
    try:
        client = anthropic.AsyncAnthropic(base_url=f"http://127.0.0.1:{port}", api_key="x")
        async with client.messages.stream(
            model="m", max_tokens=10, messages=user("async")
        ) as stream:
            text = await stream.get_final_text()
        assert text == "echo: async"
        await client.close()
    finally:
        await server.stop()
    assert len(server.requests) == 1


# --- OpenAI -----------------------------------------------------------------------------------


def test_openai_chat_completion(gpt):
    completion = gpt.chat.completions.create(model="gpt-4o", messages=user("hello"))
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    assert completion.choices[0].message.content == "echo: hello"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 5
    assert completion.usage.prompt_tokens_details.cached_tokens == 0

    followup = user("hello") + [{"role": "assistant", "content": "echo: hello"}] + user("again")
    again = gpt.chat.completions.create(model="gpt-4o", messages=followup)
    assert again.usage.prompt_tokens_details.cached_tokens > 0


def test_openai_chat_stream_with_usage(gpt):
    chunks = list(
        gpt.chat.completions.create(
            model="gpt-4o",
            messages=user("stream me"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])

    plain = list(gpt.chat.completions.create(model="m", messages=user("x"), stream=True))
    assert all(c.choices for c in plain)


def test_openai_tool_call_deltas_accumulate(gpt):
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    with gpt.chat.completions.stream(
        model="gpt-4o", messages=user("use tool get_weather"), tools=tools
    ) as stream:
        deltas = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(deltas) > 1
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS

    messages = user("use tool get_weather") + [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "rainy"},
    ]
    answer = gpt.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    assert answer.choices[0].message.content == "tool said: rainy"


def test_openai_responses_stream(gpt):
    with gpt.responses.stream(model="gpt-4.1", input="hello responses") as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.id.startswith("resp_") and final.status == "completed"
    assert final.output_text == "echo: hello responses"
    assert final.usage.output_tokens == 5 and final.usage.input_tokens > 0


def test_openai_responses_function_call_and_result(gpt):
    tools = [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}
    ]
    first = gpt.responses.create(model="gpt-4.1", input="use tool get_weather", tools=tools)
    [call] = first.output
    assert call.type == "function_call" and json.loads(call.arguments) == WEATHER_ARGS
    second = gpt.responses.create(
        model="gpt-4.1",
        tools=tools,
        input=[
            {"role": "user", "content": "use tool get_weather"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "windy"},
        ],
    )
    assert second.output_text == "tool said: windy"


def test_openai_completions_embeddings_and_models(gpt):
    completion = gpt.completions.create(model="gpt-3.5-turbo-instruct", prompt="legacy")
    assert completion.id.startswith("cmpl-") and completion.choices[0].text == "echo: legacy"
    streamed = gpt.completions.create(model="m", prompt="legacy", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "echo: legacy"

    as_base64 = gpt.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    as_floats = gpt.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )
    assert [len(d.embedding) for d in as_base64.data] == [1536, 1536]
    assert as_base64.data[0].embedding == as_floats.data[0].embedding
    assert as_base64.data[0].embedding != as_base64.data[1].embedding
    assert (
        json.loads(
            gpt.embeddings.with_raw_response.create(
                model="m", input="a"
            ).http_response.request.content
        )["encoding_format"]
        == "base64"
    )

    assert "gpt-4o" in [m.id for m in gpt.models.list()]


@pytest.mark.parametrize(
    "status, error",
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_openai_errors_map_to_sdk_exceptions(gpt, status, error):
    with pytest.raises(error) as caught:
        gpt.chat.completions.create(
            model="m", messages=user("x"), extra_headers={"x-fake-scenario": f"error={status}"}
        )
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert caught.value.request_id.startswith("req_")


def test_openai_error_mid_stream(gpt):
    stream = gpt.chat.completions.create(
        model="m", messages=user("[[scenario:error-mid-stream]]"), stream=True
    )
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)


# --- Ollama and Gemini ------------------------------------------------------------------------


def test_ollama_chat_generate_and_friends(upstream):
    client = ollama.Client(host=upstream.url)
    parts = list(client.chat(model="llama3.2", messages=user("llama"), stream=True))
    assert "".join(p.message.content for p in parts) == "echo: llama"
    assert [p.done for p in parts] == [False] * 5 + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == 5
    assert parts[-1].prompt_eval_count > 0 and parts[-1].total_duration > 0

    whole = client.chat(model="llama3.2", messages=user("once"), stream=False)
    assert whole.message.content == "echo: once" and whole.done

    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    called = client.chat(model="llama3.2", messages=user("use tool get_weather"), tools=tools)
    assert called.message.tool_calls[0].function.arguments == WEATHER_ARGS

    generated = client.generate(model="llama3.2", prompt="gen")
    assert generated.response == "echo: gen" and generated.context
    assert len(client.embed(model="nomic-embed-text", input=["a", "b"]).embeddings) == 2
    assert "llama3.2:latest" in [m.model for m in client.list().models]
    assert httpx.get(upstream.url + "/api/version").json()["version"]
    assert upstream.requests[0].header("content-type") == "application/json"

    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="nope", messages=user("[[scenario:error=404]]"))
    assert caught.value.status_code == 404 and "not found" in caught.value.error


def test_gemini_sse_uses_crlf_framing(upstream):
    response = httpx.post(
        upstream.url + "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "gem"}]}]},
        headers={"accept-encoding": "identity"},
    )
    frames = response.content.split(b"\r\n\r\n")
    assert frames[-1] == b"" and len(frames) == 6
    chunks = [json.loads(f.removeprefix(b"data: ")) for f in frames[:-1]]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "echo: gem"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 5
    assert chunks[-1]["modelVersion"] == "gemini-2.0-flash"


def test_gemini_with_the_google_genai_client(upstream):
    from google import genai  # a test dependency (pyproject [test])
    from google.genai import errors, types

    client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=upstream.url))
    reply = client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert reply.text == "echo: hi" and reply.usage_metadata.candidates_token_count == 5
    streamed = client.models.generate_content_stream(model="gemini-2.0-flash", contents="s")
    assert "".join(c.text for c in streamed) == "echo: s"

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "foggy"

    get_weather.__annotations__ = {"city": str, "return": str}  # real types, not future strings

    looped = client.models.generate_content(
        model="gemini-2.0-flash",
        contents="use tool get_weather",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )
    assert looped.text == "tool said: foggy"
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.0-flash", contents="[[scenario:error=429]]")
    assert caught.value.status == "RESOURCE_EXHAUSTED"


# --- compression ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept, expected",
    [
        (CLIENT_ENCODINGS, "zstd"),
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("zstd;q=0, *", "br"),
        ("deflate", "identity"),
        (None, "identity"),
    ],
)
def test_choose_encoding(accept, expected):
    assert choose_encoding(accept) == expected


DECODERS = {
    "zstd": lambda raw: zstandard.ZstdDecompressor().decompressobj().decompress(raw),
    "br": brotli.decompress,
    "gzip": lambda raw: zlib.decompress(raw, 31),
}


@pytest.mark.parametrize("encoding", ["zstd", "br", "gzip"])
def test_streams_and_json_are_compressed_and_sdks_decode_them(upstream, claude, encoding):
    body = {"model": "m", "max_tokens": 5, "stream": True, "messages": user("squeeze")}
    headers = {"accept-encoding": CLIENT_ENCODINGS, "x-fake-scenario": f"encoding={encoding}"}
    with httpx.stream("POST", upstream.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.headers["content-encoding"] == encoding
        raw = b"".join(r.iter_raw())
    assert sse_events(DECODERS[encoding](raw).decode())[-1][0] == "message_stop"

    with claude.messages.stream(
        model="m",
        max_tokens=5,
        messages=user("sdk"),
        extra_headers={"x-fake-scenario": f"encoding={encoding}"},
    ) as stream:
        assert stream.get_final_text() == "echo: sdk"
    raw_reply = claude.messages.with_raw_response.create(
        model="m",
        max_tokens=5,
        messages=user("json"),
        extra_headers={"x-fake-scenario": f"encoding={encoding}"},
    )
    assert raw_reply.headers["content-encoding"] == encoding
    assert raw_reply.parse().content[0].text == "echo: json"


def test_sdk_default_accept_encoding_gets_zstd(gpt, upstream):
    raw = gpt.chat.completions.with_raw_response.create(model="m", messages=user("z"))
    assert raw.headers["content-encoding"] == "zstd"
    assert raw.parse().choices[0].message.content == "echo: z"
    assert "zstd" in upstream.requests[0].header("accept-encoding")


def test_compressed_events_are_flushed_one_by_one(upstream):
    """The stream never ends (hang-mid-stream), so every event seen was flushed on its own."""
    body = {"model": "m", "max_tokens": 5, "stream": True, "messages": user("flush")}
    headers = {"accept-encoding": "zstd", "x-fake-scenario": "hang-mid-stream,after=4"}
    with httpx.Client(timeout=5) as client:
        with client.stream("POST", upstream.url + "/v1/messages", json=body, headers=headers) as r:
            assert r.headers["content-encoding"] == "zstd"
            names = []
            for line in r.iter_lines():
                if line.startswith("event: "):
                    names.append(line[len("event: ") :])
                if len(names) == 4:
                    break
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta"]


# --- faults -----------------------------------------------------------------------------------


def test_reset_mid_stream_after_some_events(upstream, claude):
    body = {"model": "m", "max_tokens": 5, "stream": True, "messages": user("cut")}
    headers = {"x-fake-scenario": "reset-mid-stream,after=3"}
    lines = []
    with pytest.raises(httpx.ReadError):
        with httpx.stream("POST", upstream.url + "/v1/messages", json=body, headers=headers) as r:
            assert r.status_code == 200
            lines.extend(r.iter_lines())
    assert [ln for ln in lines if ln.startswith("event:")][-1] == "event: content_block_start"

    with pytest.raises(httpx.ReadError):
        with claude.messages.stream(
            model="m", max_tokens=5, messages=user("[[scenario:reset-mid-stream]]")
        ) as stream:
            stream.until_done()
    # A non-streamed retry (what Claude Code falls back to) is not affected.
    again = claude.messages.create(
        model="m", max_tokens=5, messages=user("[[scenario:reset-mid-stream]]")
    )
    assert again.content[0].text.startswith("echo: ")


def test_truncate_closes_without_the_chunked_terminator(gpt):
    stream = gpt.chat.completions.create(
        model="m", messages=user("x"), stream=True, extra_headers={"x-fake-scenario": "truncate"}
    )
    received = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        for chunk in stream:
            received.append(chunk)
    assert 0 < len(received) < 5


def test_malformed_line_breaks_sdk_parsing(upstream, claude):
    with pytest.raises(json.JSONDecodeError):
        with claude.messages.stream(
            model="m",
            max_tokens=5,
            messages=user("x"),
            extra_headers={"x-fake-scenario": "malformed"},
        ) as stream:
            stream.until_done()
    body = {"model": "m", "stream": True, "messages": user("x")}
    text = httpx.post(
        upstream.url + "/v1/chat/completions", json=body, headers={"x-fake-scenario": "malformed"}
    ).text
    assert "\ndata: {not json\n\n" in text and text.endswith("data: [DONE]\n\n")


def test_hang_never_answers(upstream):
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            upstream.url + "/api/chat",
            json={"model": "m", "messages": user("x")},
            headers={"x-fake-scenario": "hang"},
            timeout=httpx.Timeout(5, read=0.2),
        )


def test_timing_scenarios_delay_the_answer(gpt):
    started = time.monotonic()
    gpt.chat.completions.create(
        model="m", messages=user("x"), extra_headers={"x-fake-scenario": "ttfb_ms=150"}
    )
    assert time.monotonic() - started >= 0.15

    arrivals = []
    for _ in gpt.chat.completions.create(
        model="m",
        messages=user("x"),
        stream=True,
        extra_headers={"x-fake-scenario": "chunks=3,delay_ms=60,slow-headers=5"},
    ):
        arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] >= 4 * 0.06 * 0.9


def test_big_pads_the_text(gpt):
    completion = gpt.chat.completions.create(
        model="m", messages=user("x"), extra_headers={"x-fake-scenario": "big=200000"}
    )
    assert len(completion.choices[0].message.content) == 200_000


# --- server behaviour -------------------------------------------------------------------------


def test_request_log_and_control_endpoints(upstream):
    httpx.post(
        upstream.url + "/api/generate?x=1",
        content=b'{"model":"m","prompt":"p"}',
        headers={"X-Custom": "yes"},
    )
    logged = httpx.get(upstream.url + "/__fake/requests").json()
    assert [(r["method"], r["path"]) for r in logged] == [("POST", "/api/generate?x=1")]
    assert ["X-Custom", "yes"] in logged[0]["headers"]
    assert base64.b64decode(logged[0]["body_b64"]) == b'{"model":"m","prompt":"p"}'
    assert upstream.requests[0].headers == [tuple(h) for h in logged[0]["headers"]]

    answer = httpx.post(upstream.url + "/__fake/scenario", json={"name": "error=503", "count": 1})
    assert answer.json() == {"name": "error=503", "count": 1}
    chat = {"model": "m", "messages": user("x"), "stream": False}
    assert httpx.post(upstream.url + "/api/chat", json=chat).status_code == 503
    assert httpx.post(upstream.url + "/api/chat", json=chat).status_code == 200
    assert httpx.post(upstream.url + "/__fake/scenario", json={"name": "nope"}).status_code == 400

    httpx.post(upstream.url + "/__fake/reset")
    assert upstream.requests == []
    assert httpx.post(upstream.url + "/v2/unknown").status_code == 404


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    buffer[:] = rest[length:]
    return head, rest[:length]


PARTS = (b'{"model":"m","pr', b'ompt":"p","stream":false}')


def test_keep_alive_expect_continue_chunked_bodies_and_close(upstream):
    with socket.create_connection(("127.0.0.1", upstream.port)) as sock:
        buffer = bytearray()
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _read_response(sock, buffer)
        assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(body)["version"]

        sock.sendall(
            b"POST /api/generate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        assert bytes(buffer) == b"HTTP/1.1 100 Continue\r\n\r\n"
        buffer.clear()
        sock.sendall(b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in PARTS) + b"0\r\n\r\n")
        head, body = _read_response(sock, buffer)
        assert json.loads(body)["response"] == "echo: p"

        sock.sendall(b"GET /api/tags HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, body = _read_response(sock, buffer)
        assert b"Connection: close" in head
        assert sock.recv(1) == b""
    assert upstream.requests[1].body == b"".join(PARTS)


def _tls_files(tmp_path: Path) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_path)
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(cert_path, append=True)
    cert.private_key_pem.write_to_path(key_path)
    return ca, cert_path, key_path


def test_tls_with_trustme(tmp_path):
    ca, cert_path, key_path = _tls_files(tmp_path)
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    with FakeUpstreamThread(tls=(str(cert_path), str(key_path))) as server:
        assert server.url.startswith("https://")
        client = anthropic.Anthropic(
            base_url=server.url, api_key="x", max_retries=0, http_client=httpx.Client(verify=trust)
        )
        with client.messages.stream(model="m", max_tokens=5, messages=user("tls")) as stream:
            assert stream.get_final_text() == "echo: tls"
        # The RST does arrive (the client's read() gets ECONNRESET), but Python's ssl module
        # reports it as a ragged EOF, so httpx sees an incomplete body rather than a ReadError.
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            with client.messages.stream(
                model="m", max_tokens=5, messages=user("[[scenario:reset-mid-stream]]")
            ) as stream:
                stream.until_done()
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/")  # not trusted without the CA


def test_runs_as_a_subprocess_with_tls(tmp_path):
    ca, cert_path, key_path = _tls_files(tmp_path)
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.upstream",
            "--port",
            "0",
            "--tls-cert",
            str(cert_path),
            "--tls-key",
            str(key_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on ")
        port = int(line.split()[-1])
        response = httpx.get(f"https://localhost:{port}/api/version", verify=trust)
        assert response.status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# --- pure pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("", Scenario()),
        ("chunks=200,delay_ms=5", Scenario(chunks=200, delay_ms=5)),
        ("error=529, retry-after=3", Scenario(error=529, retry_after=3)),
        ("reset-mid-stream,after=2", Scenario(reset=True, after=2)),
        ("slow-headers", Scenario(slow_headers_ms=50)),
        ("encoding=BR,tool=Bash", Scenario(encoding="br", tool="Bash")),
    ],
)
def test_scenario_parse(spec, expected):
    assert parse(spec) == expected


@pytest.mark.parametrize("spec", ["chunks=0", "chunks=x", "encoding=lzma", "frobnicate", "big=-1"])
def test_scenario_parse_rejects(spec):
    with pytest.raises(ValueError):
        parse(spec)


@pytest.mark.parametrize(
    "text, n, pieces",
    [
        ("abcdef", 3, ["ab", "cd", "ef"]),
        ("abcde", 2, ["abc", "de"]),
        ("ab", 4, ["a", "b", ".", "."]),
    ],
)
def test_split_text(text, n, pieces):
    assert split_text(text, n) == pieces


def test_tool_arguments_follow_the_schema():
    assert tool_arguments("get_weather", WEATHER_SCHEMA) == WEATHER_ARGS
    nested = {
        "type": "object",
        "required": ["opts", "tags", "maybe"],
        "properties": {
            "opts": {"type": "object", "required": ["n"], "properties": {"n": {"type": "number"}}},
            "tags": {"type": "array", "items": {"type": "boolean"}},
            "maybe": {"type": ["null", "integer"]},
        },
    }
    assert tool_arguments("x", nested) == {"opts": {"n": 1.5}, "tags": [True], "maybe": 1}
