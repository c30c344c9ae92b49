import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import addons.wire as wire
from addons.wire.decode import Decoder
from tests.addons.wire.streams import (
    ANTHROPIC_STREAM,
    GEMINI_EVENTS,
    GEMINI_STREAM,
    OLLAMA_STREAM,
    OPENAI_STREAM,
    RESPONSES_STREAM,
    every,
)


@pytest.mark.parametrize(
    "method, path, dialect",
    [
        ("POST", "/v1/messages", "anthropic"),
        ("POST", "/v1/messages?beta=true", "anthropic"),
        ("POST", "/v1/messages/count_tokens?beta=true", "anthropic"),
        ("POST", "/v1/complete", "anthropic"),
        ("POST", "/anthropic/v1/messages", "anthropic"),
        ("POST", "/v1/chat/completions", "openai_chat"),
        ("POST", "/api/v1/chat/completions", "openai_chat"),  # OpenRouter
        ("POST", "/openai/deployments/gpt4/chat/completions?api-version=2024-10-21", "openai_chat"),
        ("POST", "/v1beta/openai/chat/completions", "openai_chat"),
        ("POST", "/v1/completions", "openai_chat"),
        ("POST", "/v1/embeddings", "openai_chat"),
        ("POST", "/v1/responses", "openai_responses"),
        ("POST", "/api/chat", "ollama"),
        ("POST", "/api/generate", "ollama"),
        ("POST", "/api/embed", "ollama"),
        ("POST", "/api/embeddings", "ollama"),
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
        ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini"),
        ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", "gemini"),
        ("post", "/v1/messages", "anthropic"),
        ("HEAD", "/", None),
        ("GET", "/v1/models", None),
        ("GET", "/api/tags", None),
        ("POST", "/api/show", None),
        ("POST", "/api/pull", None),
        ("GET", "/v1/responses/resp_123", None),
        ("POST", "/v1/messages/batches", None),
        ("POST", "/v1beta/models/gemini-2.5-flash:embedContent", None),
        ("POST", "/__proxy/api/rules", None),
        ("POST", "/", None),
    ],
)
def test_detect(method, path, dialect):
    assert wire.detect(method, path) == dialect


@pytest.mark.parametrize("dialect", sorted(wire.DIALECTS))
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b"null",
        b'"str"',
        b"\xff\xfe{}",
        b'{"a": "\xc3"}',
        b"[" * 100_000,
        "{}".encode("utf-16"),
    ],
)
def test_bad_bodies_give_none(dialect, body):
    assert wire.parse_request(dialect, body, "/x") is None
    assert wire.parse_response(dialect, body) is None or (dialect == "gemini" and body == b"[1, 2]")


KEYS = [
    "model",
    "messages",
    "content",
    "role",
    "type",
    "tools",
    "input",
    "choices",
    "message",
    "candidates",
    "parts",
    "usage",
    "output",
    "system",
    "contents",
    "error",
    "delta",
    "text",
    "prompt",
    "function",
    "tool_calls",
    "function_call",
    "functions",
    "tool_choice",
    "stop",
    "stop_sequences",
    "images",
    "options",
    "arguments",
    "name",
    "image_url",
    "source",
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "summary",
    "instructions",
    "generationConfig",
    "toolConfig",
    "systemInstruction",
    "functionDeclarations",
    "finishReason",
    "usageMetadata",
    "finish_reason",
    "reasoning",
    "tool_use_id",
    "input_schema",
    "parameters",
    "stream",
    "completion",
    "response",
    "done_reason",
    "prompt_tokens_details",
    "status",
    "incomplete_details",
    "functionCallingConfig",
    "allowedFunctionNames",
    "mode",
    "url",
    "data",
]


@pytest.mark.parametrize("dialect", sorted(wire.DIALECTS))
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_never_raises_on_odd_shapes(dialect, body):
    if isinstance(body, dict):  # the dialect parsers themselves tolerate any shape
        before = copy.deepcopy(body)
        module = wire.DIALECTS[dialect]
        module.parse_request(body, "/v1beta/models/m:generateContent")
        module.parse_response(body)
        assert body == before
    data = json.dumps(body).encode()
    wire.parse_request(dialect, data, "/v1beta/models/m:generateContent")
    wire.parse_response(dialect, data)
    acc = wire.stream_accumulator(dialect)
    acc.feed(b"data: " + data + b"\n\n" + data + b"\n")
    acc.finish()


def test_parse_request_and_response_dispatch():
    req = wire.parse_request(
        "gemini",
        b'{"contents":[{"parts":[{"text":"hi"}]}]}',
        "/v1beta/models/gemini-2.5-pro:generateContent",
    )
    assert (req.dialect, req.model, req.messages[0].text) == ("gemini", "gemini-2.5-pro", "hi")
    resp = wire.parse_response("anthropic", b'{"input_tokens": 42}')
    assert resp.usage.input == 42
    bom = wire.parse_request("openai_chat", b'\xef\xbb\xbf{"model": "gpt-4.1", "messages": []}')
    assert bom.model == "gpt-4.1"


def test_gemini_json_array_body():
    body = json.dumps(GEMINI_EVENTS).encode()
    assert wire.parse_response("gemini", body).text == "The weather in Paris — ensoleillé."


@pytest.mark.parametrize(
    "dialect, body, text",
    [
        ("anthropic", ANTHROPIC_STREAM, "I'll list the files in the répertoire ✓"),
        ("openai_chat", OPENAI_STREAM, "Checking both cities ☀"),
        ("openai_responses", RESPONSES_STREAM, "Let me check."),
        ("ollama", OLLAMA_STREAM, "Looking it up — un instant."),
        ("gemini", GEMINI_STREAM, "The weather in Paris — ensoleillé."),
    ],
)
@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_compressed_stream_end_to_end(dialect, body, text, encoding):
    """What a stream callable does: decode each encoded chunk, then accumulate it."""
    import zlib

    import brotli
    import zstandard

    if encoding == "gzip":
        encoded = zlib.compress(body, wbits=31)
    elif encoding == "br":
        encoded = brotli.compress(body)
    else:
        encoded = zstandard.ZstdCompressor().compress(body)
    decoder = Decoder.for_encoding(encoding)
    acc = wire.stream_accumulator(dialect)
    firsts = [acc.feed(decoder.feed(chunk)) for chunk in every(encoded, 13)]
    acc.feed(decoder.flush())
    resp = acc.finish()
    assert decoder.failed is None
    assert resp.text == text
    assert firsts.count(True) == 1
    assert resp == wire.parse_stream(dialect, body)


@pytest.mark.parametrize(
    "content_type, expected",
    [
        ("text/event-stream", True),
        ("text/event-stream; charset=utf-8", True),
        ("Text/Event-Stream", True),
        ("application/x-ndjson", True),
        ("application/json", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_is_stream_response(content_type, expected):
    assert wire.is_stream_response(content_type) is expected


def test_registry_is_explicit():
    assert set(wire.DIALECTS) == {
        "anthropic",
        "openai_chat",
        "openai_responses",
        "ollama",
        "gemini",
    }
    for name, module in wire.DIALECTS.items():
        assert module.DIALECT == name
        assert module.StreamAccumulator().response.dialect == name
