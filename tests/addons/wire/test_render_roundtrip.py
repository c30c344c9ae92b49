"""Same-dialect round trips: `parse(render(parse(body)))` has the content of `parse(body)`.

A rule rewrites the neutral request (or replaces the response) and the proxy renders it back in
the client's dialect, so a renderer that loses something on its own dialect loses it for every
request a rule touches. Checked for anthropic, openai_chat and ollama, on realistic bodies and on
generated ones, for requests, responses, and responses replayed as a stream (`render_stream`).

"Content" (see `content`) is what a client or model would notice: model, system text, each
message's role and blocks (text, thinking with its signature, images, tool calls with parsed
arguments, tool results), tools, params, stream and unknown top-level fields. What a render may
change by design: empty text blocks, the spelling of tool-call arguments, adjacent text blocks in
an assistant turn (joined), and OpenAI's `stream_options.include_usage` (asked for on every
stream, so that the proxy sees usage). Ollama round-trips exactly (whole neutral objects equal).

Same-dialect details a content comparison does not see (the spelling of a key, part fields
such as `cache_control`, the exact argument text, a rule's edit of a tool) are checked at the end.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addons.wire import anthropic, ollama, openai_chat, parse_stream
from addons.wire.model import IMAGE, OTHER, TEXT, THINKING, TOOL_CALL, TOOL_RESULT, Block
from addons.wire.render import render_request, render_response, render_stream
from tests.addons.wire.streams import OLLAMA_STREAM
from tests.addons.wire.test_ollama import CHAT
from tests.addons.wire.test_translate_roundtrip import (
    TOOLS,
    a_image,
    a_text,
    a_tool_result,
    arguments,
    ids,
    names,
    openai_requests,
    png,
    text,
)

PARSERS = {"anthropic": anthropic, "openai_chat": openai_chat, "ollama": ollama}


# --- content -----------------------------------------------------------------------------


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return {} if value is None else value


def _block(b: Block) -> tuple[Any, ...] | None:
    if b.type == TEXT:
        return ("text", b.text) if b.text else None
    if b.type == THINKING:
        return ("thinking", b.text, b.signature or None)
    if b.type == IMAGE:
        return ("image", b.media_type, b.data, b.url)
    if b.type == TOOL_CALL:
        return ("call", b.id, b.name, _arguments(b.arguments))
    if b.type == TOOL_RESULT:
        inner = _blocks(b.content or [], join=False)
        return ("result", b.id, b.name, b.text, inner, b.is_error)
    assert b.type == OTHER
    return ("other", b.text, b.raw)


def _blocks(blocks: list[Block], join: bool) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for b in blocks:
        c = _block(b)
        if c is None:
            continue
        if join and c[0] == "text" and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + c[1])
        else:
            out.append(c)
    return out


def content(obj: Any) -> dict[str, Any]:
    """What a round trip must keep of a neutral Request or Response."""
    if hasattr(obj, "messages"):
        return {
            "model": obj.model,
            "system": obj.system_text,
            "messages": [(m.role, _blocks(m.blocks, m.role == "assistant")) for m in obj.messages],
            "tools": [(t.name, t.description, t.parameters) for t in obj.tools],
            "params": obj.params,
            "stream": obj.stream,
            "extra": obj.extra,
        }
    u = obj.usage
    return {
        "id": obj.id,
        "model": obj.model,
        "blocks": _blocks(obj.blocks, join=True),
        "stop_reason": obj.stop_reason,
        "usage": (u.input or 0, u.output or 0, u.cache_read or 0, u.cache_write or 0),
        "error": obj.error,
    }


def round_trip_request(dialect: str, body: dict[str, Any], path: str | None = None):
    parse = PARSERS[dialect].parse_request
    original = copy.deepcopy(body)
    first = parse(body, path)
    dropped: list[str] = []
    rendered = render_request(dialect, first, path=path, dropped=dropped)
    assert rendered is not None
    json.dumps(rendered)  # a body the proxy can send
    back = parse(rendered, path)
    assert body == original  # the input is not mutated
    assert dropped == []
    return first, back, rendered


def assert_request_round_trips(dialect: str, body: dict[str, Any], path: str | None = None):
    first, back, _ = round_trip_request(dialect, body, path)
    if dialect == "openai_chat" and "stream_options" not in first.params:
        back.params.pop("stream_options", None)
    assert content(back) == content(first)


def assert_response_round_trips(dialect: str, body: dict[str, Any]):
    first = PARSERS[dialect].parse_response(copy.deepcopy(body))
    rendered = render_response(dialect, first)
    assert rendered is not None
    back = PARSERS[dialect].parse_response(json.loads(json.dumps(rendered)))
    assert content(back) == content(first)
    replayed = parse_stream(dialect, render_stream(dialect, first) or b"")
    assert replayed is not None
    assert content(replayed) == content(first)


# --- realistic bodies --------------------------------------------------------------------

ANTHROPIC_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 32000,
    "system": [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Project notes.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {"role": "user", "content": "List the files."},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use Bash.", "signature": "EqQBCkYIBxgCKkA"},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"cmd": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.py\nb.py"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo"},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                },
                {"type": "text", "text": "Now?", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "thinking": {"type": "enabled", "budget_tokens": 10000},
    "metadata": {"user_id": "user_abc"},
    "top_k": 40,
    "stop_sequences": ["###"],
    "stream": True,
    "context_management": {"edits": []},
}

OPENAI_REQUEST = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://img.test/a.png", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Look it up.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "user", "content": "Thanks", "name": "alice"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        }
    ],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "max_tokens": 512,
    "temperature": 0.2,
    "stop": "END",
    "reasoning_effort": "low",
    "user": "u1",
    "stream": True,
    "stream_options": {"include_usage": True},
    "seed": 7,
    "response_format": {"type": "json_object"},
}

OLLAMA_GENERATE = {
    "model": "llava:7b",
    "prompt": "Describe this picture.",
    "system": "Be precise.",
    "images": ["iVBORw0KGgoAAAANSUhEUg=="],
    "suffix": "",
    "raw": False,
    "context": [1, 2, 3],
    "options": {"temperature": 0, "seed": 42, "stop": "\n\n"},
    "keep_alive": 0,
    "stream": False,
}


@pytest.mark.parametrize(
    "dialect, body, path",
    [
        ("anthropic", ANTHROPIC_REQUEST, None),
        ("openai_chat", OPENAI_REQUEST, None),
        ("ollama", CHAT, "/api/chat"),
        ("ollama", OLLAMA_GENERATE, "/api/generate"),
        ("ollama", {"model": "nomic-embed-text", "input": ["a", "b"]}, "/api/embed"),
        ("ollama", {"model": "nomic-embed-text", "prompt": "a"}, "/api/embeddings"),
    ],
)
def test_realistic_request_round_trips(dialect, body, path):
    assert_request_round_trips(dialect, body, path)


@pytest.mark.parametrize(
    "body, path",
    [(CHAT, "/api/chat"), (OLLAMA_GENERATE, "/api/generate")],
)
def test_an_ollama_request_comes_back_as_it_came(body, path):
    first, back, rendered = round_trip_request("ollama", body, path)
    assert back == first
    assert rendered == {**body, "stream": body.get("stream", True)}


ANTHROPIC_RESPONSE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Weather.", "signature": "EqQBCkYIBxgCKkA"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 17210,
        "output_tokens": 80,
    },
}
OPENAI_RESPONSE = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4.1-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "Weather.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920},
    },
}
OLLAMA_RESPONSE = {
    "model": "qwen3:8b",
    "created_at": "2025-06-01T10:00:00.123456Z",
    "message": {
        "role": "assistant",
        "content": "Checking.",
        "thinking": "Weather.",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    },
    "done_reason": "stop",
    "done": True,
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 342546000,
    "eval_count": 282,
    "eval_duration": 4535599000,
}


@pytest.mark.parametrize(
    "dialect, body",
    [
        ("anthropic", ANTHROPIC_RESPONSE),
        ("openai_chat", OPENAI_RESPONSE),
        ("ollama", OLLAMA_RESPONSE),
    ],
)
def test_realistic_response_round_trips(dialect, body):
    assert_response_round_trips(dialect, body)


def test_an_ollama_response_comes_back_as_it_came():
    resp = ollama.parse_response(OLLAMA_RESPONSE)
    assert render_response("ollama", resp) == OLLAMA_RESPONSE
    streamed = parse_stream("ollama", OLLAMA_STREAM)
    assert streamed is not None
    replayed = parse_stream("ollama", render_stream("ollama", streamed) or b"")
    assert replayed == streamed


# --- generated bodies --------------------------------------------------------------------


@st.composite
def anthropic_requests(draw):
    """Claude Code-like requests: thinking with signatures, cache_control, documents,
    server tools, and every parameter."""
    cache = {"cache_control": {"type": "ephemeral"}}
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": draw(st.integers(1, 64000))}
    system = draw(st.none() | text | st.lists(a_text, min_size=1, max_size=3))
    if isinstance(system, list) and draw(st.booleans()):
        system[-1] = {**system[-1], **cache}
    if system is not None:
        body["system"] = system
    document = st.builds(
        lambda t: {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": t},
        },
        text,
    )
    user_part = a_text | a_image | document | st.builds(lambda t: {**t, **cache}, a_text)
    messages = []
    pending: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        content = [draw(a_tool_result(i)) for i in pending]
        content += draw(st.lists(user_part, min_size=0 if pending else 1, max_size=3))
        if len(content) == 1 and content[0] == {"type": "text", "text": content[0].get("text")}:
            content = content[0]["text"] if draw(st.booleans()) else content
        messages.append({"role": "user", "content": content})
        blocks: list[dict[str, Any]] = []
        if draw(st.booleans()):
            blocks.append({"type": "thinking", "thinking": draw(text), "signature": draw(ids)})
        if draw(st.booleans()):
            blocks.append({"type": "redacted_thinking", "data": draw(ids)})
        blocks += draw(st.lists(a_text, max_size=2))
        calls = draw(
            st.lists(st.tuples(ids, names, arguments), max_size=2, unique_by=lambda c: c[0])
        )
        blocks += [
            {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a} for i, n, a in calls
        ]
        if not any(b["type"] in ("text", "tool_use") for b in blocks):
            blocks.append(draw(a_text))
        messages.append({"role": "assistant", "content": blocks})
        pending = [f"toolu_{i}" for i, _, _ in calls]
    if pending:
        messages.append({"role": "user", "content": [draw(a_tool_result(i)) for i in pending]})
    body["messages"] = messages
    if draw(st.booleans()):
        body["tools"] = [
            {"name": n, "description": f"{n} tool", "input_schema": s} for n, s in TOOLS.items()
        ]
        if draw(st.booleans()):
            body["tools"][-1] = {**body["tools"][-1], **cache}
        if draw(st.booleans()):
            body["tools"].append({"type": "web_search_20250305", "name": "web_search"})
        choice = draw(
            st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "none"}])
            | st.builds(lambda n: {"type": "tool", "name": n}, names)
        )
        if choice["type"] != "none" and draw(st.booleans()):
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    for name, strategy in [
        ("temperature", st.floats(0, 1)),
        ("top_p", st.floats(0, 1)),
        ("top_k", st.integers(1, 500)),
        ("stop_sequences", st.lists(text, min_size=1, max_size=3)),
        ("metadata", st.builds(lambda u: {"user_id": u}, text)),
        (
            "thinking",
            st.builds(lambda n: {"type": "enabled", "budget_tokens": n}, st.integers(1024, 9999)),
        ),
        ("stream", st.booleans()),
        ("service_tier", st.just("auto")),
    ]:
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


@st.composite
def openai_requests_plus(draw):
    """`openai_requests` with reasoning history, named messages, tool-result parts and the
    parameters OpenAI-compatible clients send."""
    body = draw(openai_requests())
    for m in body["messages"]:
        if m["role"] == "assistant" and draw(st.booleans()):
            m["reasoning_content"] = draw(text)
        if m["role"] == "assistant" and draw(st.booleans()):
            m["name"] = draw(names)
        if m["role"] == "tool" and m["content"] and draw(st.booleans()):
            m["content"] = [{"type": "text", "text": m["content"]}]
    for name, strategy in [
        ("reasoning_effort", st.sampled_from(["minimal", "low", "medium", "high"])),
        ("metadata", st.builds(lambda v: {"k": v}, text)),
        ("seed", st.integers(0, 2**31)),
        ("n", st.just(1)),
        ("logprobs", st.booleans()),
        ("response_format", st.just({"type": "json_object"})),
    ]:
        if draw(st.booleans()):
            body[name] = draw(strategy)
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = {"include_usage": False}
    if "tools" in body and draw(st.booleans()):
        body["parallel_tool_calls"] = draw(st.booleans())
    return body


o_args = st.dictionaries(text, st.integers() | text | st.booleans(), max_size=3)
o_call = st.builds(
    lambda n, a: {"function": {"name": n, "arguments": a}},
    names,
    o_args,
) | st.builds(
    lambda i, n, a: {"id": f"call_{i}", "function": {"index": 0, "name": n, "arguments": a}},
    ids,
    names,
    o_args,
)


@st.composite
def ollama_chats(draw):
    messages: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 2))):
        messages.append({"role": "system", "content": draw(text | st.just(""))})
    for _ in range(draw(st.integers(1, 4))):
        user: dict[str, Any] = {"role": "user", "content": draw(text)}
        if draw(st.booleans()):
            user["images"] = draw(st.lists(png, min_size=1, max_size=2))
        messages.append(user)
        reply: dict[str, Any] = {"role": "assistant", "content": draw(text | st.just(""))}
        if draw(st.booleans()):
            reply["thinking"] = draw(text)
        calls = draw(st.lists(o_call, max_size=2))
        if calls:
            reply["tool_calls"] = calls
        messages.append(reply)
        for call in calls:
            result: dict[str, Any] = {"role": "tool", "content": draw(text | st.just(""))}
            if draw(st.booleans()):
                result["tool_name"] = call["function"]["name"]
            if "id" in call and draw(st.booleans()):
                result["tool_call_id"] = call["id"]
            messages.append(result)
        if draw(st.booleans()):
            messages.append({"role": "system", "content": draw(text)})  # mid-conversation
    body: dict[str, Any] = {"model": draw(st.sampled_from(["qwen3:8b", "llama3.2", "gpt-oss:20b"]))}
    body["messages"] = messages
    if draw(st.booleans()):
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": n, "description": f"{n} tool", "parameters": s},
            }
            for n, s in TOOLS.items()
        ]
    if draw(st.booleans()):
        options: dict[str, Any] = {}
        for name, strategy in [
            ("num_ctx", st.sampled_from([2048, 8192, 32768])),
            ("temperature", st.floats(0, 2)),
            ("top_p", st.floats(0, 1)),
            ("top_k", st.integers(1, 100)),
            ("num_predict", st.integers(-1, 4096)),
            ("stop", text | st.lists(text, max_size=3)),
            ("seed", st.integers(0, 2**31)),
            ("repeat_penalty", st.floats(0.5, 2)),
        ]:
            if draw(st.booleans()):
                options[name] = draw(strategy)
        body["options"] = options
    for name, strategy in [
        ("stream", st.booleans()),
        ("keep_alive", st.sampled_from(["5m", 0, -1, "1h"])),
        ("format", st.just("json") | st.just({"type": "object"})),
        ("think", st.booleans() | st.sampled_from(["low", "medium", "high"])),
        ("logprobs", st.booleans()),
    ]:
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


@settings(max_examples=200, deadline=None)
@given(anthropic_requests())
def test_generated_anthropic_request_round_trips(body):
    assert_request_round_trips("anthropic", body)


@settings(max_examples=200, deadline=None)
@given(openai_requests_plus())
def test_generated_openai_request_round_trips(body):
    assert_request_round_trips("openai_chat", body)


@settings(max_examples=300, deadline=None)
@given(ollama_chats())
def test_generated_ollama_request_round_trips_exactly(body):
    first, back, _ = round_trip_request("ollama", body, "/api/chat")
    assert back == first


# --- generated responses -----------------------------------------------------------------

usage_counts = st.integers(0, 200000)


@st.composite
def anthropic_responses(draw):
    content: list[dict[str, Any]] = []
    if draw(st.booleans()):
        content.append({"type": "thinking", "thinking": draw(text), "signature": draw(ids)})
    if draw(st.booleans()):
        content.append({"type": "text", "text": draw(text)})
    calls = draw(st.lists(st.tuples(ids, names, arguments), max_size=2, unique_by=lambda c: c[0]))
    content += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a} for i, n, a in calls
    ]
    stop = "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens", "refusal"]))
    return {
        "id": f"msg_{draw(ids)}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": draw(usage_counts),
            "cache_creation_input_tokens": draw(usage_counts),
            "cache_read_input_tokens": draw(usage_counts),
            "output_tokens": draw(usage_counts),
        },
    }


@st.composite
def openai_responses(draw):
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | text)}
    if draw(st.booleans()):
        message["reasoning_content"] = draw(text)
    calls = draw(st.lists(st.tuples(ids, names, arguments), max_size=2, unique_by=lambda c: c[0]))
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": n, "arguments": json.dumps(a, ensure_ascii=False)},
            }
            for i, n, a in calls
        ]
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "content_filter"]))
    prompt = draw(usage_counts)
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": draw(usage_counts)}
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {"cached_tokens": draw(st.integers(0, prompt))}
    return {
        "id": f"chatcmpl-{draw(ids)}",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4.1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


@st.composite
def ollama_responses(draw):
    message: dict[str, Any] = {"role": "assistant", "content": draw(text | st.just(""))}
    if draw(st.booleans()):
        message["thinking"] = draw(text)
    calls = draw(st.lists(o_call, max_size=2))
    if calls:
        message["tool_calls"] = calls
    body: dict[str, Any] = {
        "model": "qwen3:8b",
        "created_at": "2025-06-01T10:00:00Z",
        "message": message,
        "done": True,
        "done_reason": draw(st.sampled_from(["stop", "length"])),
    }
    for name in ("prompt_eval_count", "eval_count", "total_duration", "eval_duration"):
        if draw(st.booleans()):
            body[name] = draw(usage_counts)
    return body


@settings(max_examples=150, deadline=None)
@given(anthropic_responses())
def test_generated_anthropic_response_round_trips(body):
    assert_response_round_trips("anthropic", body)


@settings(max_examples=150, deadline=None)
@given(openai_responses())
def test_generated_openai_response_round_trips(body):
    assert_response_round_trips("openai_chat", body)


@settings(max_examples=150, deadline=None)
@given(ollama_responses())
def test_generated_ollama_response_round_trips(body):
    assert_response_round_trips("ollama", body)
    first = ollama.parse_response(body)
    assert ollama.parse_response(render_response("ollama", first)) == first


# --- same-dialect details in render_anthropic / render_openai -----------------------------


def _openai(body: dict[str, Any]) -> dict[str, Any]:
    rendered = render_request("openai_chat", openai_chat.parse_request(body))
    assert rendered is not None
    return rendered


def test_openai_max_completion_tokens_keeps_its_name():
    body = {"model": "o3", "messages": [{"role": "user", "content": "hi"}]}
    rendered = _openai({**body, "max_completion_tokens": 100})
    assert rendered == {**body, "max_completion_tokens": 100}


def test_openai_user_message_keeps_its_name():
    body = {"model": "x", "messages": [{"role": "user", "content": "hi", "name": "alice"}]}
    assert _openai(body) == body


def test_openai_text_parts_keep_cache_control():
    part = {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
    body = {
        "model": "x",
        "messages": [{"role": "system", "content": [part]}, {"role": "user", "content": [part]}],
    }
    assert _openai(body) == body


def test_openai_tool_call_arguments_keep_their_text():
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    body = {
        "model": "x",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
        ],
    }
    assert _openai(body) == body


def test_openai_assistant_refusal_part_stays_a_refusal():
    body = {
        "model": "x",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ],
    }
    first, back, _ = round_trip_request("openai_chat", body)
    assert content(back) == content(first)


def test_openai_tool_edit_survives_strict():
    fn = {"name": "f", "description": "old", "parameters": {"type": "object"}, "strict": True}
    body = {
        "model": "x",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": fn}],
    }
    req = openai_chat.parse_request(body)
    req.tools[0].description = "new"
    rendered = render_request("openai_chat", req)
    assert rendered is not None
    assert rendered["tools"][0]["function"]["description"] == "new"


def test_anthropic_count_tokens_request_gets_no_max_tokens():
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    assert render_request("anthropic", anthropic.parse_request(body)) == body


def test_anthropic_response_keeps_citations():
    cite = {"type": "char_location", "cited_text": "P", "document_index": 0}
    body = {**ANTHROPIC_RESPONSE, "content": [{"type": "text", "text": "P", "citations": [cite]}]}
    rendered = render_response("anthropic", anthropic.parse_response(body))
    assert rendered is not None
    assert rendered["content"] == body["content"]


def test_openai_edited_tool_call_arguments_are_sent():
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    body = {
        "model": "x",
        "messages": [{"role": "assistant", "content": None, "tool_calls": [call]}],
    }
    req = openai_chat.parse_request(body)
    req.messages[0].blocks[0].arguments = {"a": 2}
    rendered = render_request("openai_chat", req)
    assert rendered is not None
    assert rendered["messages"][0]["tool_calls"][0]["function"]["arguments"] == '{"a":2}'


def test_openai_tool_edit_keeps_the_fields_it_does_not_touch():
    fn = {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": True}
    body = {"model": "x", "messages": [], "tools": [{"type": "function", "function": fn}]}
    req = openai_chat.parse_request(body)
    req.tools[0].name = "g"
    req.tools[0].parameters = {"type": "object", "properties": {}}
    rendered = render_request("openai_chat", req)
    assert rendered is not None
    assert rendered["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "g",
                "description": "d",
                "parameters": {"type": "object", "properties": {}},
                "strict": True,
            },
        }
    ]


def test_openai_assistant_text_part_keeps_cache_control():
    part = {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
    body = {"model": "x", "messages": [{"role": "assistant", "content": [part]}]}
    assert _openai(body) == body


def test_an_anthropic_request_goes_to_openai_with_max_tokens():
    body = {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    rendered = render_request("openai_chat", anthropic.parse_request(body))
    assert rendered is not None
    assert rendered["max_tokens"] == 9 and "max_completion_tokens" not in rendered


def test_an_openai_request_without_max_tokens_gets_anthropics_default():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    rendered = render_request("anthropic", openai_chat.parse_request(body))
    assert rendered is not None
    assert rendered["max_tokens"] == 8192


@pytest.mark.parametrize(
    "dialect, body",
    [
        (
            "anthropic",
            {
                "model": "claude-2.1",
                "prompt": "\n\nHuman: Hello\n\nAssistant: Hi!\n\nHuman: Why?\n\nAssistant:",
                "max_tokens_to_sample": 300,
                "stop_sequences": ["\n\nHuman:"],
                "temperature": 0.5,
            },
        ),
        (
            "anthropic",
            {
                "model": "claude-2.1",
                "prompt": "Be kind.\n\nHuman: Hello\n\nAssistant: Sure,",
                "max_tokens_to_sample": 5,
            },
        ),
        (
            "openai_chat",
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 7, "n": 2},
        ),
        ("openai_chat", {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"]}),
        ("openai_chat", {"model": "e", "input": "a", "encoding_format": "float"}),
        ("openai_chat", {"model": "e", "input": ["a"], "dimensions": 256}),
        ("openai_chat", {"model": "e", "input": [[1, 2, 3]]}),
        ("openai_chat", {"model": "e", "input": [1, 2, 3]}),
    ],
)
def test_a_legacy_body_comes_back_as_it_came(dialect, body):
    assert round_trip_request(dialect, body)[2] == body


@pytest.mark.parametrize(
    "dialect, body, key, expected",
    [
        (
            "anthropic",
            {"model": "m", "prompt": "\n\nHuman: secret\n\nAssistant:", "max_tokens_to_sample": 1},
            "prompt",
            "\n\nHuman: [redacted]\n\nAssistant:",
        ),
        ("openai_chat", {"model": "m", "prompt": "secret"}, "prompt", "[redacted]"),
        ("openai_chat", {"model": "m", "input": ["secret", "b"]}, "input", ["[redacted]", "b"]),
    ],
)
def test_a_rule_edit_of_a_legacy_prompt_is_sent(dialect, body, key, expected):
    req = PARSERS[dialect].parse_request(body)
    req.messages[0].blocks[0].text = "[redacted]"
    rendered = render_request(dialect, req)
    assert rendered is not None
    assert rendered[key] == expected and "messages" not in rendered
