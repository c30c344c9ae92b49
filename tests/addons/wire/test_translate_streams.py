"""Stream translation judged by the official SDKs, fed in any chunking, cut, and failed.

The translated bytes are served to `anthropic.Anthropic` and `openai.OpenAI` through an
`httpx.MockTransport`, so what is checked is what those clients' own stream accumulators make
of them; no network.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addons.wire import openai_chat, parse_stream
from addons.wire.render_anthropic import stop_reason
from addons.wire.render_openai import finish_reason
from addons.wire.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_response,
    openai_to_anthropic_response,
    stream_translator,
)
from tests.addons.wire.streams import (
    ANTHROPIC_STREAM,
    ANTHROPIC_TOOL_ARGS,
    OPENAI_STREAM,
    cuts,
    split,
    sse,
)
from tests.addons.wire.test_translate_golden import GOLDEN, parse_sse


def translate(t, chunks):
    return b"".join(t.feed(c) for c in chunks) + t.finish()


def anthropic_client(body: bytes, status: int = 200, stream: bool = True) -> anthropic.Anthropic:
    kind = "text/event-stream" if stream else "application/json"
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"content-type": kind})
    )
    return anthropic.Anthropic(
        api_key="test",
        base_url="http://upstream.test",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )


def openai_client(body: bytes, status: int = 200, stream: bool = True) -> openai.OpenAI:
    kind = "text/event-stream" if stream else "application/json"
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"content-type": kind})
    )
    return openai.OpenAI(
        api_key="test",
        base_url="http://upstream.test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )


ASK = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "x"}],
}
ASK_OPENAI = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]}


# --- OpenAI upstream, Anthropic client ----------------------------------------------------


def test_anthropic_sdk_accumulates_a_translated_openai_stream():
    body = translate(OpenAIToAnthropicStream(input_tokens=12), [OPENAI_STREAM])
    with anthropic_client(body).messages.stream(**ASK) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Checking both cities ☀"
    assert message.content[1].input == {"location": "Paris"}
    assert message.content[2].input == {"location": "Ōsaka"}
    assert message.content[1].id == "call_DdmO9pD3xa9XTPNJ32zg2hcA"
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 2006 - 1920
    assert message.usage.cache_read_input_tokens == 1920
    assert message.usage.output_tokens == 300


def test_anthropic_sdk_sees_reasoning_as_a_thinking_block():
    source = (GOLDEN / "openai_to_anthropic_streams.json").read_text()
    case = next(c for c in json.loads(source) if c["name"].startswith("reasoning_content"))
    body = translate(OpenAIToAnthropicStream(), [sse((e, d) for e, d in case["source"])])
    with anthropic_client(body).messages.stream(**ASK) as stream:
        events = [e.type for e in stream]
        message = stream.get_final_message()
    assert events.count("message_start") == 1 and events.count("message_stop") == 1
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Thinking."
    assert message.content[0].signature == ""
    assert message.content[1].text == "Answer."
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (50, 20)


def test_anthropic_sdk_raises_on_a_cut_openai_stream():
    cut = OPENAI_STREAM[: OPENAI_STREAM.index(b'"Paris')]
    body = translate(OpenAIToAnthropicStream(), [cut])
    with pytest.raises(anthropic.APIStatusError, match="ended before"):
        with anthropic_client(body).messages.stream(**ASK) as stream:
            stream.get_final_message()


def test_anthropic_sdk_reads_a_translated_openai_response():
    case = json.loads((GOLDEN / "openai_to_anthropic_responses.json").read_text())[1]
    body = json.dumps(openai_to_anthropic_response(case["input"])).encode()
    message = anthropic_client(body, stream=False).messages.create(**ASK)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[2].input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"
    assert message.usage.cache_read_input_tokens == 1920


def test_anthropic_sdk_raises_the_right_error_for_a_translated_openai_error():
    error = {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": None}}
    body = json.dumps(openai_to_anthropic_response(error, status=429)).encode()
    with pytest.raises(anthropic.RateLimitError, match="Rate limit reached"):
        anthropic_client(body, 429, stream=False).messages.create(**ASK)


# --- Anthropic upstream, OpenAI client ----------------------------------------------------


def test_openai_sdk_chunks_of_a_translated_anthropic_stream():
    body = translate(AnthropicToOpenAIStream(include_usage=True), [ANTHROPIC_STREAM])
    chunks = list(openai_client(body).chat.completions.create(stream=True, **ASK_OPENAI))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    args = "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices
        for tc in c.choices[0].delta.tool_calls or []
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert text == "I'll list the files in the répertoire ✓"
    assert reasoning == "The user wants the files listed — I'll run ls."
    assert args == ANTHROPIC_TOOL_ARGS
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (12 + 2048 + 17210, 89)
    assert usage.prompt_tokens_details.cached_tokens == 17210


def test_openai_sdk_stream_helper_final_completion():
    body = translate(AnthropicToOpenAIStream(include_usage=True), [ANTHROPIC_STREAM])
    client = openai_client(body)
    with client.chat.completions.stream(**ASK_OPENAI) as stream:
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I'll list the files in the répertoire ✓"
    [call] = choice.message.tool_calls
    assert (call.id, call.function.name) == ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "Bash")
    assert json.loads(call.function.arguments) == json.loads(ANTHROPIC_TOOL_ARGS)
    assert completion.usage.completion_tokens == 89
    assert completion.id == "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL"


def test_openai_sdk_raises_on_a_cut_anthropic_stream():
    cut = ANTHROPIC_STREAM[: ANTHROPIC_STREAM.index(b"in the r")]
    body = translate(AnthropicToOpenAIStream(), [cut])
    with pytest.raises(openai.APIError, match="ended before"):
        list(openai_client(body).chat.completions.create(stream=True, **ASK_OPENAI))


def test_openai_sdk_reads_a_translated_anthropic_response():
    case = json.loads((GOLDEN / "anthropic_to_openai_responses.json").read_text())[1]
    body = json.dumps(anthropic_to_openai_response(case["input"])).encode()
    completion = openai_client(body, stream=False).chat.completions.create(**ASK_OPENAI)
    choice = completion.choices[0]
    assert choice.message.content == "Listing."
    assert choice.message.tool_calls[0].function.arguments == '{"command":"ls -la"}'
    assert choice.finish_reason == "tool_calls"
    assert completion.usage.prompt_tokens_details.cached_tokens == 17210


def test_openai_sdk_raises_the_right_error_for_a_translated_anthropic_error():
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    body = json.dumps(anthropic_to_openai_response(error, status=529)).encode()
    with pytest.raises(openai.InternalServerError, match="Overloaded"):
        openai_client(body, 529, stream=False).chat.completions.create(**ASK_OPENAI)


# --- chunking, cuts, failures ------------------------------------------------------------

SOURCES = [
    ("openai_chat", "anthropic", OPENAI_STREAM),
    ("anthropic", "openai_chat", ANTHROPIC_STREAM),
]
for _name in ("openai_to_anthropic_streams", "anthropic_to_openai_streams"):
    for _case in json.loads((GOLDEN / f"{_name}.json").read_text()):
        _pair = (
            ("openai_chat", "anthropic")
            if _name.startswith("openai")
            else ("anthropic", "openai_chat")
        )
        SOURCES.append((*_pair, sse((e, d) for e, d in _case["source"])))


def _translator(source, target):
    options = {"created": 1} if target == "openai_chat" else {}
    return stream_translator(source, target, nonce="n", **options)


@pytest.mark.parametrize("source, target, data", SOURCES)
def test_byte_by_byte_equals_whole(source, target, data):
    whole = translate(_translator(source, target), [data])
    single = translate(_translator(source, target), [data[i : i + 1] for i in range(len(data))])
    assert single == whole


@settings(max_examples=60, deadline=None)
@given(points=cuts)
def test_any_chunking_equals_whole(points):
    for source, target, data in SOURCES[:2]:
        whole = translate(_translator(source, target), [data])
        assert translate(_translator(source, target), split(data, points)) == whole


def test_feed_returns_events_as_they_complete():
    t = OpenAIToAnthropicStream(nonce="n")
    first = OPENAI_STREAM.index(b"\n\n") + 2
    assert t.feed(OPENAI_STREAM[: first - 1]) == b""  # the event is not complete yet
    out = t.feed(OPENAI_STREAM[first - 1 : first])
    assert [e for e, _ in parse_sse(out)] == ["message_start"]
    assert parse_sse(t.feed(b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n')) == [
        [
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ],
        [
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
        ],
    ]


@pytest.mark.parametrize(
    "source, target", [("openai_chat", "anthropic"), ("anthropic", "openai_chat")]
)
def test_every_cut_ends_in_a_well_formed_error(source, target):
    data = OPENAI_STREAM if source == "openai_chat" else ANTHROPIC_STREAM
    # A stream that said why it stopped is complete, even if cut after that (the usage chunk).
    marker = b'"finish_reason":"tool_calls"' if source == "openai_chat" else b"event: message_delta"
    for end in range(0, data.index(marker), 7):
        events = parse_sse(translate(_translator(source, target), [data[:end]]))
        if target == "anthropic":
            assert events[-1] == [
                "error",
                {
                    "type": "error",
                    "error": {"type": "api_error", "message": events[-1][1]["error"]["message"]},
                },
            ]
            assert [e for e, _ in events].count("message_start") <= 1
        else:
            assert events[-1] == [None, "[DONE]"]
            assert "error" in events[-2][1]


@pytest.mark.parametrize(
    "source, target", [("openai_chat", "anthropic"), ("anthropic", "openai_chat")]
)
def test_fail_mid_stream_then_nothing_more(source, target):
    data = OPENAI_STREAM if source == "openai_chat" else ANTHROPIC_STREAM
    t = _translator(source, target)
    t.feed(data[: len(data) // 2])
    events = parse_sse(t.fail("upstream reset the connection", 502))
    if target == "anthropic":
        assert events == [
            [
                "error",
                {
                    "type": "error",
                    "error": {"type": "api_error", "message": "upstream reset the connection"},
                },
            ]
        ]
    else:
        assert events[0][1]["error"]["message"] == "upstream reset the connection"
        assert events[1] == [None, "[DONE]"]
    assert t.done
    assert t.feed(data[len(data) // 2 :]) == b""
    assert t.finish() == b""
    assert t.fail("again") == b""


def test_malformed_events_are_skipped_and_counted():
    t = OpenAIToAnthropicStream(nonce="n")
    body = b"data: {not json\n\n" + OPENAI_STREAM
    events = parse_sse(translate(t, [body]))
    assert t.malformed == 1
    assert events[-1] == ["message_stop", {"type": "message_stop"}]


def test_unsupported_pair():
    with pytest.raises(ValueError):
        stream_translator("gemini", "anthropic")


def test_keepalive_is_invisible_to_the_sdks():
    t = OpenAIToAnthropicStream()
    half = OPENAI_STREAM.index(b"data: ", 300)
    body = t.feed(OPENAI_STREAM[:half]) + t.keepalive() + t.feed(OPENAI_STREAM[half:]) + t.finish()
    assert b"event: ping" in body and t.keepalive() == b""
    with anthropic_client(body).messages.stream(**ASK) as stream:
        assert stream.get_final_message().content[0].text == "Checking both cities ☀"

    t = AnthropicToOpenAIStream()
    body = t.keepalive() + t.feed(ANTHROPIC_STREAM) + t.finish()
    chunks = list(openai_client(body).chat.completions.create(stream=True, **ASK_OPENAI))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


# --- differential: the parsers' own accumulators agree on source and translation ------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
_usage_ints = st.integers(0, 10**6)


@st.composite
def openai_chunk_streams(draw):
    chunks: list = [
        {
            "id": "chatcmpl-P",
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant"}}],
        }
    ]
    calls = 0
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["reasoning_content", "reasoning", "content", "tool", "args"]))
        if kind == "tool" or (kind == "args" and not calls):
            delta = {
                "tool_calls": [
                    {
                        "index": calls,
                        "id": f"call_{calls}",
                        "type": "function",
                        "function": {"name": draw(_text), "arguments": ""},
                    }
                ]
            }
            calls += 1
        elif kind == "args":
            delta = {"tool_calls": [{"index": calls - 1, "function": {"arguments": draw(_text)}}]}
        else:
            delta = {kind: draw(_text)}
        chunks.append({"id": "chatcmpl-P", "model": "m", "choices": [{"index": 0, "delta": delta}]})
    finish = draw(st.sampled_from(["stop", "tool_calls", "length", "content_filter"]))
    chunks.append(
        {"id": "chatcmpl-P", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    )
    if draw(st.booleans()):
        prompt, cached = draw(_usage_ints), draw(_usage_ints)
        usage = {
            "prompt_tokens": prompt + cached,
            "completion_tokens": draw(_usage_ints),
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        chunks.append({"id": "chatcmpl-P", "choices": [], "usage": usage})
    return sse([(None, c) for c in chunks] + [(None, "[DONE]")])


@st.composite
def anthropic_event_streams(draw):
    usage = {
        "input_tokens": draw(_usage_ints),
        "cache_read_input_tokens": draw(_usage_ints),
        "cache_creation_input_tokens": draw(_usage_ints),
        "output_tokens": 1,
    }
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"id": "msg_P", "model": "claude", "content": [], "usage": usage},
            },
        )
    ]
    for index in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["text", "thinking", "tool_use"]))
        start = {
            "type": kind,
            kind if kind != "tool_use" else "input": "" if kind != "tool_use" else {},
        }
        if kind == "tool_use":
            start.update(id=f"toolu_{index}", name=draw(_text))
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        for piece in draw(st.lists(_text, max_size=3)):
            delta = {
                "text": {"type": "text_delta", "text": piece},
                "thinking": {"type": "thinking_delta", "thinking": piece},
                "tool_use": {"type": "input_json_delta", "partial_json": piece},
            }[kind]
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        if kind == "thinking":
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": "sig"},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = draw(st.sampled_from(["end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal"]))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": draw(_usage_ints)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return sse(events)


def _joined(resp, kind):
    return "".join(b.text for b in resp.blocks if b.type == kind)


def _calls(resp):
    return [(c.id, c.name, c.arguments) for c in resp.tool_calls]


@settings(max_examples=200, deadline=None)
@given(openai_chunk_streams(), cuts)
def test_openai_stream_and_its_translation_parse_alike(data, points):
    source = parse_stream("openai_chat", data)
    translated = translate(OpenAIToAnthropicStream(), split(data, points))
    target = parse_stream("anthropic", translated)
    assert target.error is None
    assert _joined(target, "thinking") == _joined(source, "thinking")
    assert _joined(target, "text") == _joined(source, "text")
    assert [(i, n, a or "{}") for i, n, a in _calls(target)] == [
        (i, n, a or "{}") for i, n, a in _calls(source)
    ]
    assert target.stop_reason == stop_reason(source.stop_reason, bool(source.tool_calls))
    for field in ("input", "output", "cache_read"):
        assert (getattr(target.usage, field) or 0) == (getattr(source.usage, field) or 0)


@settings(max_examples=200, deadline=None)
@given(anthropic_event_streams(), cuts)
def test_anthropic_stream_and_its_translation_parse_alike(data, points):
    source = parse_stream("anthropic", data)
    translated = translate(AnthropicToOpenAIStream(include_usage=True), split(data, points))
    target = parse_stream("openai_chat", translated)
    assert target.error is None
    assert _joined(target, "thinking") == _joined(source, "thinking")
    assert _joined(target, "text") == _joined(source, "text")
    assert _calls(target) == _calls(source)
    assert target.stop_reason == openai_chat.stop_reason(
        finish_reason(source.stop_reason, bool(source.tool_calls))
    )
    u, v = source.usage, target.usage
    assert (v.input, v.cache_read, v.output) == (u.input + u.cache_write, u.cache_read, u.output)
