import copy

import pytest
from hypothesis import given

from addons.wire import ollama
from addons.wire.model import (
    IMAGE,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Message,
    Usage,
)
from tests.addons.wire.streams import OLLAMA_LINES, OLLAMA_STREAM, compact, cuts, every, run, split

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
CHAT = {
    "model": "qwen3:8b",
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is in this picture?", "images": [PNG]},
        {
            "role": "assistant",
            "content": "",
            "thinking": "Look.",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object"},
            },
        }
    ],
    "options": {"num_ctx": 8192, "temperature": 0.3, "num_predict": 256, "stop": ["<|im_end|>"]},
    "keep_alive": "5m",
    "format": "json",
    "think": True,
}


def test_chat_request():
    body = copy.deepcopy(CHAT)
    req = ollama.parse_request(body, "/api/chat")
    assert body == CHAT
    assert (req.dialect, req.model, req.stream) == (
        "ollama",
        "qwen3:8b",
        True,
    )  # streams by default
    assert req.system == [Block(TEXT, text="You are helpful.")]
    assert req.messages[0].blocks == [
        Block(TEXT, text="What is in this picture?"),
        Block(IMAGE, data=PNG, media_type="image/png"),
    ]
    assert req.messages[1].blocks == [
        Block(THINKING, text="Look."),
        Block(TEXT, text=""),
        Block(TOOL_CALL, name="get_weather", arguments={"city": "Paris"}),
    ]
    assert req.messages[2] == Message("tool", [Block(TOOL_RESULT, name="get_weather", text="18C")])
    assert req.tools[0].name == "get_weather"
    assert req.params == {
        "options": CHAT["options"],
        "temperature": 0.3,
        "max_tokens": 256,
        "stop": ["<|im_end|>"],
        "keep_alive": "5m",
        "format": "json",
        "thinking": True,
    }
    assert req.extra == {}


@pytest.mark.parametrize(
    "body, path, stream, system, messages",
    [
        (
            {
                "model": "llava",
                "prompt": "Describe",
                "system": "Be short.",
                "images": [PNG],
                "stream": False,
            },
            "/api/generate",
            False,
            [Block(TEXT, text="Be short.")],
            [
                Message(
                    "user",
                    [Block(TEXT, text="Describe"), Block(IMAGE, data=PNG, media_type="image/png")],
                )
            ],
        ),
        (
            {"model": "nomic-embed-text", "input": ["a", "b"]},
            "/api/embed",
            False,
            [],
            [Message("user", [Block(TEXT, text="a"), Block(TEXT, text="b")])],
        ),
        (
            {"model": "nomic-embed-text", "prompt": "a"},
            "/api/embeddings",
            False,
            [],
            [Message("user", [Block(TEXT, text="a")])],
        ),
        ({"model": "llama3.2", "messages": [], "stream": True}, "/api/chat", True, [], []),
    ],
)
def test_other_requests(body, path, stream, system, messages):
    req = ollama.parse_request(body, path)
    assert (req.stream, req.system, req.messages) == (stream, system, messages)


CHAT_RESPONSE = {
    "model": "llama3.2",
    "created_at": "2023-12-12T14:13:43.416799Z",
    "message": {"role": "assistant", "content": "Hello! How are you today?"},
    "done": True,
    "done_reason": "stop",
    "total_duration": 5191566416,
    "load_duration": 2154458,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 383809000,
    "eval_count": 298,
    "eval_duration": 4799921000,
}


@pytest.mark.parametrize(
    "body, check",
    [
        (
            CHAT_RESPONSE,
            lambda r: (
                r.text == "Hello! How are you today?"
                and r.stop_reason == "end_turn"
                and r.usage == Usage(input=26, output=298)
                and r.extra["prompt_eval_duration"] == 383809000
                and r.model == "llama3.2"
            ),
        ),
        (
            {
                **CHAT_RESPONSE,
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}],
                },
            },
            lambda r: (
                r.stop_reason == "tool_use"
                and r.tool_calls[0].arguments == '{"x":1}'
                and r.blocks[1].arguments == {"x": 1}
            ),
        ),
        (
            {
                "model": "llama3.2",
                "response": "The sky is blue.",
                "thinking": "Rayleigh.",
                "done": True,
                "done_reason": "length",
                "context": [1, 2, 3],
                "eval_count": 10,
            },
            lambda r: (
                [b.type for b in r.blocks] == [THINKING, TEXT]
                and r.stop_reason == "max_tokens"
                and r.extra["context"] == [1, 2, 3]
            ),
        ),
        (
            {
                "model": "all-minilm",
                "embeddings": [[0.01, -0.02]],
                "total_duration": 14143917,
                "prompt_eval_count": 8,
            },
            lambda r: r.usage == Usage(input=8) and r.blocks == [],
        ),
        ({"error": "model 'llama9' not found"}, lambda r: r.error == "model 'llama9' not found"),
    ],
)
def test_parse_response(body, check):
    assert check(ollama.parse_response(body))


def whole():
    acc = ollama.StreamAccumulator()
    acc.feed(OLLAMA_STREAM)
    acc.finish()
    return acc


def test_stream_accumulates():
    acc = whole()
    r = acc.response
    assert [b.type for b in r.blocks] == [THINKING, TEXT, TOOL_CALL]
    assert r.blocks[0].text == "User wants weather."
    assert r.text == "Looking it up — un instant."
    assert r.blocks[2].arguments == '{"city":"Paris","unit":"C"}'
    assert r.stop_reason == "tool_use"
    assert r.usage == Usage(input=26, output=282)
    assert r.extra["prompt_eval_duration"] == 342546000
    assert (acc.events, acc.malformed, acc.done) == (len(OLLAMA_LINES), 0, True)


def test_stream_byte_by_byte_and_last_line_without_newline():
    r, firsts = run(ollama.StreamAccumulator(), every(OLLAMA_STREAM.rstrip(b"\n"), 1))
    assert r == whole().response
    assert firsts.index(True) == OLLAMA_STREAM.index(b"\n")  # as the first line ends
    assert firsts.count(True) == 1


@given(points=cuts)
def test_stream_chunking_invariance(points):
    r, firsts = run(ollama.StreamAccumulator(), split(OLLAMA_STREAM, points))
    assert r == whole().response
    assert firsts.count(True) == 1


def test_generate_stream_and_error_line():
    lines = [
        {
            "model": "llama3.2",
            "created_at": "2025-01-01T00:00:00Z",
            "response": "The",
            "done": False,
        },
        {
            "model": "llama3.2",
            "created_at": "2025-01-01T00:00:00Z",
            "response": " sky",
            "done": False,
        },
        {"error": "an error was encountered while running the model: unexpected EOF"},
    ]
    acc = ollama.StreamAccumulator()
    acc.feed("".join(compact(x) + "\r\n" for x in lines).encode())
    r = acc.finish()
    assert r.text == "The sky"
    assert r.error.startswith("an error was encountered")
    assert acc.done is False


def test_malformed_lines_counted_and_skipped():
    bad = b'{"model": "qwen3:8b", "message": \n[1]\n{"message": {"content": 5}, "done": false}\n'
    cut = OLLAMA_STREAM.index(b"\n") + 1
    acc = ollama.StreamAccumulator()
    acc.feed(OLLAMA_STREAM[:cut] + bad + OLLAMA_STREAM[cut:])
    assert acc.finish() == whole().response
    assert acc.malformed == 2
