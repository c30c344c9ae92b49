import copy

import pytest
from hypothesis import given

from addons.wire import openai_chat
from addons.wire.model import (
    IMAGE,
    OTHER,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Message,
    Usage,
)
from tests.addons.wire.streams import OPENAI_CHUNKS, OPENAI_STREAM, cuts, every, run, split, sse

TOOL_CALL_ELEMENT = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
}
BODY = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "developer", "content": "You are terse."},
        {"role": "system", "content": [{"type": "text", "text": "Use metric units."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.jpg", "detail": "low"},
                },
            ],
            "name": "alice",
        },
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL_ELEMENT]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18C sunny"},
        {"role": "assistant", "content": "It is 18C.", "reasoning_content": "Easy."},
        {"role": "system", "content": "late system note"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a place",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
                "strict": True,
            },
        }
    ],
    "tool_choice": "required",
    "stop": "END",
    "max_completion_tokens": 500,
    "temperature": 0.1,
    "top_p": 1,
    "user": "u-42",
    "reasoning_effort": "low",
    "stream": True,
    "stream_options": {"include_usage": True},
    "seed": 7,
    "response_format": {"type": "json_object"},
}


def test_request():
    body = copy.deepcopy(BODY)
    req = openai_chat.parse_request(body)
    assert body == BODY
    assert (req.dialect, req.model, req.stream) == ("openai_chat", "gpt-4.1", True)
    assert req.system == [Block(TEXT, text="You are terse."), Block(TEXT, text="Use metric units.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "assistant", "system"]
    user = req.messages[0]
    assert user.raw == BODY["messages"][2]  # keeps "name"
    assert user.blocks[1] == Block(IMAGE, media_type="image/png", data="iVBORw0KGgo=")
    assert user.blocks[2].url == "https://x.test/a.jpg" and user.blocks[2].raw is not None
    call = req.messages[1].blocks[0]
    assert (call.type, call.id, call.name, call.arguments) == (
        TOOL_CALL,
        "call_abc",
        "get_weather",
        {"location": "Paris"},
    )
    assert call.raw["function"]["arguments"] == '{"location": "Paris"}'  # exact text kept
    assert req.messages[2].blocks == [Block(TOOL_RESULT, id="call_abc", text="18C sunny")]
    assert req.messages[3].blocks == [Block(THINKING, text="Easy."), Block(TEXT, text="It is 18C.")]
    assert req.tools[0].name == "get_weather" and req.tools[0].raw is not None  # strict
    assert req.params == {
        "tool_choice": "any",
        "stop": ["END"],
        "max_tokens": 500,
        "max_tokens_key": "max_completion_tokens",
        "temperature": 0.1,
        "top_p": 1,
        "user": "u-42",
        "reasoning_effort": "low",
        "stream_options": {"include_usage": True},
    }
    assert req.extra == {"seed": 7, "response_format": {"type": "json_object"}}


@pytest.mark.parametrize(
    "choice, neutral",
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "any"),
        ({"type": "function", "function": {"name": "f"}}, {"name": "f"}),
        ({"type": "allowed_tools", "mode": "auto"}, {"type": "allowed_tools", "mode": "auto"}),
    ],
)
def test_tool_choice(choice, neutral):
    assert openai_chat.parse_request({"messages": [], "tool_choice": choice}).params == {
        "tool_choice": neutral
    }


@pytest.mark.parametrize(
    "body, messages, params",
    [
        (
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 7},
            [Message("user", [Block(TEXT, text="Say hi")], raw={"prompt": "Say hi"})],
            {"max_tokens": 7},
        ),
        (
            {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"},
            [
                Message(
                    "user",
                    [Block(TEXT, text="a"), Block(TEXT, text="b")],
                    raw={"input": ["a", "b"]},
                )
            ],
            {},
        ),
        (
            {"model": "text-embedding-3-small", "input": [[1, 2, 3]]},
            [Message("user", [Block(OTHER, raw=[[1, 2, 3]])], raw={"input": [[1, 2, 3]]})],
            {},
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": "x",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{broken"},
                            }
                        ],
                    }
                ]
            },
            [
                Message(
                    "assistant",
                    [
                        Block(TEXT, text="x"),
                        Block(
                            TOOL_CALL,
                            id="c",
                            name="f",
                            arguments="{broken",
                            raw={
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{broken"},
                            },
                        ),
                    ],
                )
            ],
            {},
        ),
        (
            {
                "messages": [
                    {
                        "role": "tool",
                        "tool_call_id": "c",
                        "content": [{"type": "text", "text": "ok"}],
                    }
                ]
            },
            [Message("tool", [Block(TOOL_RESULT, id="c", content=[Block(TEXT, text="ok")])])],
            {},
        ),
        (
            {"messages": [], "stop": ["a", "b"], "max_tokens": 3},
            [],
            {"stop": ["a", "b"], "max_tokens": 3},
        ),
    ],
)
def test_request_shapes(body, messages, params):
    req = openai_chat.parse_request(body)
    assert req.messages == messages
    assert req.params == params


COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Let me check.",
                "refusal": None,
                "tool_calls": [TOOL_CALL_ELEMENT],
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}


@pytest.mark.parametrize(
    "body, check",
    [
        (
            COMPLETION,
            lambda r: (
                r.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
                and r.text == "Let me check."
                and r.blocks[1].arguments == {"location": "Paris"}
                and r.tool_calls[0].arguments == '{"location":"Paris"}'
                and r.stop_reason == "tool_use"
                and r.usage == Usage(input=93, output=46, cache_read=1024)
                and r.extra["system_fingerprint"] == "fp_fc9f1d7035"
            ),
        ),
        (
            {
                "choices": [
                    {
                        "message": {
                            "role": "assistant",
                            "content": "4",
                            "reasoning_content": "2+2",
                        },
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            },
            lambda r: (
                [b.type for b in r.blocks] == [THINKING, TEXT]
                and r.stop_reason == "max_tokens"
                and r.usage == Usage(input=10, output=5)
            ),
        ),
        (
            {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": None, "reasoning": "hm"},
                        "finish_reason": "content_filter",
                    }
                ]
            },
            lambda r: (
                r.blocks == [Block(THINKING, text="hm")] and r.stop_reason == "content_filter"
            ),
        ),
        (
            {"choices": [{"message": {"content": "x"}, "finish_reason": "eos_token"}]},
            lambda r: r.stop_reason == "eos_token",
        ),
        (
            {"object": "text_completion", "choices": [{"text": " hi", "finish_reason": "stop"}]},
            lambda r: r.text == " hi" and r.stop_reason == "end_turn",
        ),
        (
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            },
            lambda r: r.usage == Usage(input=8) and r.blocks == [],
        ),
        (
            {
                "error": {
                    "message": "Rate limit reached",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            lambda r: r.error == "requests: Rate limit reached",
        ),
        (
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 1,
                    "prompt_cache_hit_tokens": 64,
                    "prompt_cache_miss_tokens": 36,
                },
            },
            lambda r: r.usage == Usage(input=36, output=1, cache_read=64),
        ),
    ],
)
def test_parse_response(body, check):
    before = copy.deepcopy(body)
    assert check(openai_chat.parse_response(body))
    assert body == before


# --- streams ---------------------------------------------------------------------------------


def whole():
    acc = openai_chat.StreamAccumulator()
    acc.feed(OPENAI_STREAM)
    acc.finish()
    return acc


def test_stream_accumulates():
    acc = whole()
    r = acc.response
    assert (r.id, r.model, r.stop_reason) == (
        "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "gpt-4.1-2025-04-14",
        "tool_use",
    )
    assert r.text == "Checking both cities ☀"
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", '{"location": "Paris"}'),
        ("call_8kRnA1b2C3d4E5f6G7h8I9j0", "get_weather", '{"location": "Ōsaka"}'),
    ]
    assert r.usage == Usage(input=86, output=300, cache_read=1920)
    assert (acc.events, acc.malformed, acc.done) == (len(OPENAI_CHUNKS), 0, True)


def test_role_chunk_is_not_output():
    acc = openai_chat.StreamAccumulator()
    cut = OPENAI_STREAM.index(b"data:", 10)
    assert acc.feed(OPENAI_STREAM[:cut]) is False
    assert acc.feed(OPENAI_STREAM[cut:]) is True


@given(points=cuts)
def test_stream_chunking_invariance(points):
    r, firsts = run(openai_chat.StreamAccumulator(), split(OPENAI_STREAM, points))
    assert r == whole().response
    assert firsts.count(True) == 1


def test_stream_byte_by_byte():
    r, firsts = run(openai_chat.StreamAccumulator(), every(OPENAI_STREAM, 1))
    assert r == whole().response
    assert firsts.count(True) == 1


def _c(delta, finish=None, **more):
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "model": "deepseek-reasoner",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **more,
    }


@pytest.mark.parametrize(
    "chunks, check",
    [
        (  # reasoning_content (DeepSeek, vLLM) and reasoning (OpenRouter, Ollama)
            [
                _c({"role": "assistant", "reasoning_content": "Think"}),
                _c({"reasoning": "ing."}),
                _c({"content": "Done."}, "stop"),
            ],
            lambda r: (
                r.blocks == [Block(THINKING, text="Thinking."), Block(TEXT, text="Done.")]
                and r.stop_reason == "end_turn"
            ),
        ),
        (  # servers that send a whole tool call in one chunk, without an index
            [
                _c(
                    {
                        "tool_calls": [
                            {
                                "id": "a",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ]
                    }
                ),
                _c(
                    {
                        "tool_calls": [
                            {
                                "id": "b",
                                "type": "function",
                                "function": {"name": "g", "arguments": '{"x":1}'},
                            }
                        ]
                    },
                    "tool_calls",
                ),
            ],
            lambda r: (
                [(c.id, c.name, c.arguments) for c in r.tool_calls]
                == [("a", "f", "{}"), ("b", "g", '{"x":1}')]
            ),
        ),
        (
            [
                _c({"content": "par"}),
                _c({}, "length", usage={"prompt_tokens": 5, "completion_tokens": 2}),
            ],
            lambda r: r.stop_reason == "max_tokens" and r.usage == Usage(input=5, output=2),
        ),
        (
            [
                _c({"content": "Hi"}),
                {
                    "error": {
                        "message": "The server had an error while processing your request.",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            ],
            lambda r: (
                r.text == "Hi"
                and r.error
                == "server_error: The server had an error while processing your request."
            ),
        ),
        (
            [
                {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "model": "gpt-3.5-turbo-instruct",
                    "choices": [{"text": "Hello", "index": 0, "finish_reason": None}],
                },
                {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "model": "gpt-3.5-turbo-instruct",
                    "choices": [{"text": " there", "index": 0, "finish_reason": "stop"}],
                },
            ],
            lambda r: r.text == "Hello there" and r.stop_reason == "end_turn",
        ),
        (  # n > 1: only the first choice is accumulated
            [
                {
                    "choices": [
                        {"index": 1, "delta": {"content": "B"}},
                        {"index": 0, "delta": {"content": "A"}},
                    ]
                }
            ],
            lambda r: r.text == "A",
        ),
    ],
)
def test_stream_variants(chunks, check):
    acc = openai_chat.StreamAccumulator()
    acc.feed(sse((None, c) for c in chunks))
    assert check(acc.finish())
    assert acc.malformed == 0


def test_malformed_chunks_counted_and_skipped():
    cut = OPENAI_STREAM.index(b"data:", 10)
    bad = b'data: {"choices": [\n\ndata: "just a string"\n\ndata: {"choices": ["x"]}\n\n'
    acc = openai_chat.StreamAccumulator()
    acc.feed(OPENAI_STREAM[:cut] + bad + OPENAI_STREAM[cut:])
    assert acc.finish() == whole().response
    assert acc.malformed == 3
