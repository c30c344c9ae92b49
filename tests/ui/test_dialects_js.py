"""`static/js/dialects.js`, run in the browser: stored bodies of each dialect in neutral form."""

from __future__ import annotations

import pytest

from tests.ui.server import make_datasette, serve
from tests.ui.wiring import backend_plugins

REDACTED = "[redacted: viewer not on the client's subnet]"


@pytest.fixture(scope="module")
def module_url():
    with backend_plugins(real=False), serve(make_datasette(None)) as url:
        yield url + "-/inspector/static/js/dialects.js"


@pytest.fixture
def js(page, module_url):
    page.goto(module_url)  # any page of the origin will do

    def call(function: str, *args):
        return page.evaluate(
            "async ([url, fn, args]) => (await import(url))[fn](...args)",
            [module_url, function, list(args)],
        )

    return call


def blocks(parsed, index=-1):
    return [
        (b["type"], b.get("name") or b.get("text")) for b in parsed["messages"][index]["blocks"]
    ]


@pytest.mark.parametrize(
    "dialect, body, expected",
    [
        (
            "anthropic",
            {
                "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "thinking", "thinking": "hmm"},
                            {"type": "tool_use", "id": "t1", "name": "Read", "input": {"p": 1}},
                        ],
                    },
                ],
            },
            [
                ("system", [("text", "Be brief.")]),
                ("user", [("text", "hi")]),
                ("assistant", [("thinking", "hmm"), ("tool_call", "Read")]),
            ],
        ),
        (
            "openai_chat",
            {
                "messages": [
                    {"role": "developer", "content": "rules"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AAAA"},
                            },
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"a": 1}'},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "Error: no such city"},
                ]
            },
            [
                ("system", [("text", "rules")]),
                ("user", [("text", "look"), ("image", None)]),
                ("assistant", [("tool_call", "f")]),
                ("tool", [("tool_result", None)]),
            ],
        ),
        (
            "ollama",
            {
                "messages": [
                    {"role": "user", "content": "what is it", "images": ["iVBORw0KGgo="]},
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [{"function": {"name": "zoom", "arguments": {"x": 2}}}],
                    },
                    {"role": "tool", "content": "done", "tool_name": "zoom"},
                ]
            },
            [
                ("user", [("text", "what is it"), ("image", None)]),
                ("assistant", [("tool_call", "zoom")]),
                ("tool", [("tool_result", "zoom")]),
            ],
        ),
        (
            "gemini",
            {
                "systemInstruction": {"parts": [{"text": "sys"}]},
                "contents": [
                    {
                        "role": "user",
                        "parts": [
                            {"text": "q"},
                            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
                        ],
                    },
                    {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "search", "args": {"q": "x"}}}],
                    },
                    {
                        "role": "user",
                        "parts": [
                            {"functionResponse": {"name": "search", "response": {"error": "boom"}}}
                        ],
                    },
                ],
            },
            [
                ("system", [("text", "sys")]),
                ("user", [("text", "q"), ("image", None)]),
                ("assistant", [("tool_call", "search")]),
                ("tool", [("tool_result", "search")]),
            ],
        ),
        (
            "openai_responses",
            {
                "instructions": "be a coder",
                "input": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "todo?"}],
                    },
                    {
                        "type": "function_call",
                        "call_id": "k",
                        "name": "shell",
                        "arguments": '{"cmd": "rg"}',
                    },
                    {"type": "function_call_output", "call_id": "k", "output": "a.py:1"},
                ],
            },
            [
                ("system", [("text", "be a coder")]),
                ("user", [("text", "todo?")]),
                ("assistant", [("tool_call", "shell")]),
                ("tool", [("tool_result", None)]),
            ],
        ),
    ],
)
def test_parse_request(js, dialect, body, expected):
    parsed = js("parseRequest", dialect, body)
    got = [
        (m["role"], [(b["type"], b.get("name") or b.get("text")) for b in m["blocks"]])
        for m in parsed["messages"]
    ]
    assert got == expected


def test_tool_arguments_and_errors(js):
    parsed = js(
        "parseRequest",
        "openai_chat",
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "function": {"name": "f", "arguments": "{bad json"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "Error: nope"},
            ]
        },
    )
    call = parsed["messages"][0]["blocks"][0]
    assert call["arguments"] == "{bad json"  # kept raw, shown with a warning
    assert parsed["messages"][1]["blocks"][0]["is_error"] is True


@pytest.mark.parametrize(
    "dialect, events, expected",
    [
        (
            "anthropic",
            [
                {
                    "event": "content_block_start",
                    "data": {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                },
                {
                    "event": "content_block_delta",
                    "data": {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "Hel"},
                    },
                },
                {
                    "event": "content_block_delta",
                    "data": {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "lo"},
                    },
                },
                {
                    "event": "content_block_start",
                    "data": {
                        "type": "content_block_start",
                        "index": 1,
                        "content_block": {
                            "type": "tool_use",
                            "id": "t",
                            "name": "Bash",
                            "input": {},
                        },
                    },
                },
                {
                    "event": "content_block_delta",
                    "data": {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": '{"command":'},
                    },
                },
                {
                    "event": "content_block_delta",
                    "data": {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": ' "ls"}'},
                    },
                },
                {"event": "content_block_stop", "data": {"type": "content_block_stop", "index": 1}},
                {
                    "event": "message_delta",
                    "data": {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
                },
            ],
            ([("text", "Hello"), ("tool_call", "Bash")], "tool_use"),
        ),
        (
            "openai_chat",
            [
                {"event": None, "data": {"choices": [{"delta": {"content": "Hi"}}]}},
                {
                    "event": None,
                    "data": {
                        "choices": [
                            {
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": 0,
                                            "id": "c",
                                            "function": {"name": "f", "arguments": '{"a"'},
                                        }
                                    ]
                                }
                            }
                        ]
                    },
                },
                {
                    "event": None,
                    "data": {
                        "choices": [
                            {
                                "delta": {
                                    "tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]
                                },
                                "finish_reason": "tool_calls",
                            }
                        ]
                    },
                },
                {"event": None, "data": "[DONE]"},
            ],
            ([("text", "Hi"), ("tool_call", "f")], "tool_calls"),
        ),
        (
            "ollama",
            [
                {
                    "event": None,
                    "data": {"message": {"role": "assistant", "content": "A "}, "done": False},
                },
                {
                    "event": None,
                    "data": {
                        "message": {"role": "assistant", "content": "cat."},
                        "done": True,
                        "done_reason": "stop",
                    },
                },
            ],
            ([("text", "A cat.")], "stop"),
        ),
        (
            "gemini",
            [
                {
                    "event": None,
                    "data": {"candidates": [{"content": {"parts": [{"text": "Mid"}]}}]},
                },
                {
                    "event": None,
                    "data": {
                        "candidates": [
                            {"content": {"parts": [{"text": "night"}]}, "finishReason": "STOP"}
                        ]
                    },
                },
            ],
            ([("text", "Midnight")], "STOP"),
        ),
        (
            "openai_responses",
            [
                {
                    "event": "response.output_text.delta",
                    "data": {"type": "response.output_text.delta", "delta": "partial"},
                },
                {
                    "event": "response.completed",
                    "data": {
                        "type": "response.completed",
                        "response": {
                            "status": "completed",
                            "output": [
                                {
                                    "type": "message",
                                    "role": "assistant",
                                    "content": [{"type": "output_text", "text": "All done"}],
                                }
                            ],
                        },
                    },
                },
            ],
            ([("text", "All done")], "completed"),
        ),
    ],
)
def test_parse_stream(js, dialect, events, expected):
    parsed = js("parseStream", dialect, events)
    assert (blocks(parsed, 0), parsed["stop_reason"]) == expected


def test_stream_tool_arguments_are_joined(js):
    parsed = js(
        "parseStream",
        "openai_chat",
        [
            {
                "event": None,
                "data": {
                    "choices": [
                        {
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "c",
                                        "function": {"name": "f", "arguments": '{"a"'},
                                    }
                                ]
                            }
                        }
                    ]
                },
            },
            {
                "event": None,
                "data": {
                    "choices": [
                        {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}
                    ]
                },
            },
        ],
    )
    assert parsed["messages"][0]["blocks"][0]["arguments"] == {"a": 1}


@pytest.mark.parametrize(
    "body",
    [REDACTED, {"redacted": True, "text": "[redacted: 3 KB]"}],
)
def test_redacted_bodies(js, body):
    assert js("parseRequest", "anthropic", body)["redacted"].startswith("[redacted")
    assert js("parseResponse", "openai_chat", body)["redacted"].startswith("[redacted")


def test_redacted_blocks_from_the_timeline(js):
    got = js(
        "normalizeApiBlocks",
        [
            {"type": "text", "text": REDACTED},
            {"type": "tool_call", "name": "Bash", "arguments": REDACTED, "id": "t"},
            {"type": "tool_result", "text": REDACTED, "id": "t", "is_error": True},
        ],
    )
    assert got[0] == {"type": "redacted", "text": REDACTED}
    assert got[1]["arguments"] == REDACTED
    assert got[2]["content"][0]["type"] == "redacted"
    assert got[2]["is_error"] is True


@pytest.mark.parametrize(
    "body, dialect",
    [
        ({"contents": []}, "gemini"),
        ({"input": "x"}, "openai_responses"),
        ({"choices": []}, "openai_chat"),
        ({"type": "message", "content": []}, "anthropic"),
        ({"done": True, "message": {}}, "ollama"),
    ],
)
def test_guess_dialect(js, body, dialect):
    assert js("guessDialect", body) == dialect
