"""Ollama rendering: rewritten requests, requests from other dialects, responses, streams."""

from __future__ import annotations

import copy
import json

import pytest

from addons.wire import anthropic, ollama, openai_chat, parse_stream
from addons.wire.model import TEXT, THINKING, TOOL_CALL, Block, Message, Response, Usage
from addons.wire.render_ollama import (
    OllamaStreamWriter,
    done_reason,
    endpoint,
    render_request,
    render_response,
)
from tests.addons.wire.test_ollama import CHAT, PNG

STAMP = "2025-06-01T10:00:00Z"


def chat():
    return ollama.parse_request(copy.deepcopy(CHAT), "/api/chat")


# --- rewritten requests ------------------------------------------------------------------


def test_an_unchanged_request_is_the_body_that_came():
    assert render_request(chat()) == {**CHAT, "stream": True}


def test_router_options_rule_and_sampling_params():
    req = chat()
    req.model = "qwen3:32b"
    req.params["options"] = {**req.params["options"], "num_ctx": 32768}
    req.params["temperature"] = 0.7  # the neutral name wins over the option it came from
    req.params["top_k"] = 20
    body = render_request(req)
    assert body["model"] == "qwen3:32b"
    assert body["options"] == {
        "num_ctx": 32768,
        "temperature": 0.7,
        "num_predict": 256,
        "stop": ["<|im_end|>"],
        "top_k": 20,
    }
    assert CHAT["options"]["num_ctx"] == 8192  # the parsed body is not changed


def test_pruner_guard_and_loop_note():
    req = chat()
    req.tools = []
    req.messages = req.messages[-2:]  # trimmed
    req.messages.insert(0, Message("system", [Block(TEXT, text="Earlier turns were trimmed.")]))
    req.system.append(Block(TEXT, text="You are repeating a tool call."))
    body = render_request(req)
    assert "tools" not in body
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("system", "You are helpful."),
        ("system", "You are repeating a tool call."),
        ("system", "Earlier turns were trimmed."),
        ("assistant", ""),
        ("tool", "18C"),
    ]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"model": "m", "options": {"stop": "###"}}, {"stop": "###"}),  # kept as spelled
        ({"model": "m", "options": {}}, {}),
        ({"model": "m"}, None),
    ],
)
def test_options_come_back_as_spelled(body, expected):
    assert render_request(ollama.parse_request(body)).get("options") == expected


def test_fields_ollama_has_no_place_for_are_dropped():
    req = chat()
    req.params["tool_choice"] = "any"
    dropped: list[str] = []
    render_request(req, dropped)
    assert dropped == ["tool_choice"]


def test_message_and_tool_call_extras_survive_a_rewrite():
    call = {"id": "call_9", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi", "cache_hint": 1},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": "ok", "tool_call_id": "call_9"},
        ],
        "stream": False,
        "logprobs": True,
    }
    req = ollama.parse_request(body)
    req.messages[1].blocks[1].arguments = {"a": 2}
    out = render_request(req)
    assert out["messages"][0] == {"role": "user", "content": "hi", "cache_hint": 1}
    assert out["messages"][1]["tool_calls"] == [
        {"id": "call_9", "function": {"index": 0, "name": "f", "arguments": {"a": 2}}}
    ]
    assert out["messages"][2] == {"role": "tool", "content": "ok", "tool_call_id": "call_9"}
    assert out["logprobs"] is True


@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/api/generate",
            {"model": "m", "prompt": "Hi", "system": "S", "images": [PNG], "raw": True},
        ),
        ("/api/embed", {"model": "e", "input": ["a", "b"]}),
        ("/api/embed", {"model": "e", "input": "a"}),
        ("/api/embeddings", {"model": "e", "prompt": "a", "options": {"num_ctx": 512}}),
    ],
)
def test_prompt_endpoints(path, body):
    out = render_request(ollama.parse_request(body, path), path=path)
    assert out == ({**body, "stream": True} if path == "/api/generate" else body)


@pytest.mark.parametrize(
    "path, expected",
    [
        (None, "chat"),
        ("/api/chat", "chat"),
        ("/ollama/api/generate?x=1", "generate"),
        ("/api/embed", "embed"),
        ("/api/embeddings/", "embeddings"),
        ("/v1/chat/completions", "chat"),
    ],
)
def test_endpoint(path, expected):
    assert endpoint(path) == expected


# --- requests from other dialects --------------------------------------------------------


def test_an_openai_request_as_ollama():
    body = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": "auto",
        "max_tokens": 100,
        "stop": "END",
        "seed": 7,
        "reasoning_effort": "high",
        "response_format": {"type": "json_object"},
        "logit_bias": {},
        "stream": True,
    }
    dropped: list[str] = []
    out = render_request(openai_chat.parse_request(body), dropped)
    assert out == {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is this?", "images": [PNG]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    }
                ],
            },
            {
                "role": "tool",
                "content": "18C",
                "tool_name": "get_weather",
                "tool_call_id": "call_1",
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
        "stream": True,
        "format": "json",
        "options": {"num_predict": 100, "stop": ["END"], "seed": 7},
        "think": True,
    }
    assert dropped == [
        "messages[0].content[2] (image url)",
        "tool_choice",
        "logit_bias",
    ]


def test_an_anthropic_request_as_ollama():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1000,
        "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"c": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "no such dir",
                        "is_error": True,
                    },
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "top_k": 5,
    }
    dropped: list[str] = []
    out = render_request(anthropic.parse_request(body), dropped)
    assert out["messages"] == [
        {"role": "system", "content": "A\nB"},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "",
            "thinking": "hm",
            "tool_calls": [
                {"id": "toolu_1", "function": {"name": "Bash", "arguments": {"c": "ls"}}}
            ],
        },
        {
            "role": "tool",
            "content": "Error: no such dir",
            "tool_name": "Bash",
            "tool_call_id": "toolu_1",
        },
        {"role": "user", "content": "go on"},
    ]
    assert out["options"] == {"num_predict": 1000, "top_k": 5}
    assert out["think"] is True and out["stream"] is False
    assert dropped == ["messages[1].content[0].signature"]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ('{"a":1}', {"a": 1}),
        ("not json", {"_raw_arguments": "not json"}),
        ("", {}),
        (None, {}),
    ],
)
def test_tool_call_arguments_are_an_object(arguments, expected):
    req = openai_chat.parse_request({"model": "m", "messages": []})
    req.messages = [Message("assistant", [Block(TOOL_CALL, name="f", arguments=arguments)])]
    call = render_request(req)["messages"][0]["tool_calls"][0]
    assert call == {"function": {"name": "f", "arguments": expected}}


# --- responses ---------------------------------------------------------------------------


def test_a_response_from_anthropic():
    resp = anthropic.parse_response(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "max_tokens",
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 5,
                "output_tokens": 3,
            },
        }
    )
    resp.extra["created_at"] = STAMP
    assert render_response(resp, model="qwen3:8b") == {
        "model": "qwen3:8b",
        "created_at": STAMP,
        "message": {"role": "assistant", "content": "Hi"},
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 115,
        "eval_count": 3,
    }


def test_a_response_from_openai_keeps_its_time():
    resp = openai_chat.parse_response(
        {"id": "c", "created": 1741570283, "model": "m", "choices": [{"message": {"content": "x"}}]}
    )
    assert render_response(resp)["created_at"] == "2025-03-10T01:31:23Z"


def test_a_generate_response():
    resp = Response("ollama", model="m", blocks=[Block(THINKING, text="t"), Block(TEXT, text="a")])
    resp.extra = {"created_at": STAMP, "context": [1, 2]}
    assert render_response(resp, path="/api/generate") == {
        "model": "m",
        "created_at": STAMP,
        "response": "a",
        "thinking": "t",
        "done": True,
        "done_reason": "stop",
        "context": [1, 2],
    }


def test_an_error_response():
    assert render_response(Response("ollama", error="boom")) == {"error": "boom"}


@pytest.mark.parametrize(
    "neutral, expected",
    [
        (None, "stop"),
        ("end_turn", "stop"),
        ("tool_use", "stop"),
        ("max_tokens", "length"),
        ("refusal", "stop"),
        ("load", "load"),
    ],
)
def test_done_reason(neutral, expected):
    assert done_reason(neutral) == expected


# --- the stream writer -------------------------------------------------------------------


def lines(writer: OllamaStreamWriter) -> list[dict]:
    return [json.loads(line) for line in writer.take().decode().splitlines()]


def test_stream_writer_lines():
    w = OllamaStreamWriter(model="qwen3:8b", created_at=STAMP)
    w.start(model="ignored", usage=Usage(input=26))
    w.thinking("Hm.")
    w.text("Hel")
    w.text("lo")
    w.tool(0, id="call_1", name="get_weather")
    w.tool(0, arguments='{"city":')
    w.tool(0, arguments='"Paris"}')
    w.set_stop("tool_use")
    w.add_usage(Usage(output=9))
    w.extra["total_duration"] = 123
    w.end()
    w.text("late")  # after the end: nothing
    head = {"model": "qwen3:8b", "created_at": STAMP}
    message = {"role": "assistant", "content": ""}
    assert lines(w) == [
        {**head, "message": {**message, "thinking": "Hm."}, "done": False},
        {**head, "message": {**message, "content": "Hel"}, "done": False},
        {**head, "message": {**message, "content": "lo"}, "done": False},
        {
            **head,
            "message": {
                **message,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    }
                ],
            },
            "done": False,
        },
        {
            **head,
            "message": message,
            "done_reason": "stop",
            "prompt_eval_count": 26,
            "eval_count": 9,
            "total_duration": 123,
            "done": True,
        },
    ]


def test_stream_writer_output_is_what_the_parser_reads():
    w = OllamaStreamWriter(model="m")
    w.text("a")
    w.tool("k", name="f", arguments="{}")
    w.set_stop("max_tokens")
    w.add_usage(Usage(input=1, output=2))
    w.end()
    resp = parse_stream("ollama", w.take())
    assert resp is not None
    assert (resp.text, resp.stop_reason, resp.usage.input, resp.usage.output) == (
        "a",
        "max_tokens",
        1,
        2,
    )
    assert [(c.name, c.arguments) for c in resp.tool_calls] == [("f", "{}")]


def test_stream_writer_error_ends_the_stream():
    w = OllamaStreamWriter(model="m", created_at=STAMP)
    w.text("par")
    w.error(502, "upstream went away")
    w.end()
    assert lines(w)[-1] == {"error": "upstream went away"}
    assert w.closed


def test_stream_writer_for_generate():
    w = OllamaStreamWriter(model="m", created_at=STAMP, generate=True)
    w.text("a")
    w.end()
    assert lines(w) == [
        {"model": "m", "created_at": STAMP, "response": "a", "done": False},
        {"model": "m", "created_at": STAMP, "response": "", "done_reason": "stop", "done": True},
    ]
