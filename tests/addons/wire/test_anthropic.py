import copy
import json

import pytest
from hypothesis import given

from addons.wire import anthropic
from addons.wire.model import (
    IMAGE,
    OTHER,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Message,
    Tool,
    Usage,
)
from tests.addons.wire.streams import (
    ANTHROPIC_EVENTS,
    ANTHROPIC_STREAM,
    ANTHROPIC_TOOL_ARGS,
    cuts,
    every,
    run,
    split,
    sse,
)

USER_ID = json.dumps(
    {"device_id": "4f1c", "account_uuid": "", "session_id": "8d0a4c2e-1b7e-4b0e-9d2f-3c1a5e6f7a8b"}
)

CLAUDE_CODE = {
    "model": "claude-opus-4-8",
    "max_tokens": 64000,
    "stream": True,
    "system": [
        {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli",
        },
        {
            "type": "text",
            "text": "You are Claude Code, Anthropic's official CLI for Claude.",
            "cache_control": {"type": "ephemeral"},
        },
    ],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "list the files"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Run ls.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "Listing."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "Bash",
                    "input": {"command": "ls"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                    "content": "README.md\nsrc",
                },
                {"type": "text", "text": "thanks", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Executes a bash command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    ],
    "metadata": {"user_id": USER_ID},
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
}


def test_claude_code_request():
    body = copy.deepcopy(CLAUDE_CODE)
    req = anthropic.parse_request(body)
    assert body == CLAUDE_CODE  # not mutated
    assert (req.dialect, req.model, req.stream) == ("anthropic", "claude-opus-4-8", True)
    assert req.system_text.endswith("official CLI for Claude.")
    assert req.system[0].raw is None and req.system[1].raw == CLAUDE_CODE["system"][1]
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assistant = req.messages[1].blocks
    assert [b.type for b in assistant] == [THINKING, OTHER, TEXT, TOOL_CALL]
    assert (assistant[0].text, assistant[0].signature) == ("Run ls.", "EqQBCgIYAhIM")
    assert assistant[1].raw["type"] == "redacted_thinking"
    assert (assistant[3].id, assistant[3].name, assistant[3].arguments) == (
        "toolu_01A09q90qw90lq917835lq9",
        "Bash",
        {"command": "ls"},
    )
    result = req.messages[2].blocks[0]
    assert (result.type, result.id, result.text, result.is_error) == (
        TOOL_RESULT,
        "toolu_01A09q90qw90lq917835lq9",
        "README.md\nsrc",
        False,
    )
    assert req.tools == [
        Tool(
            "Bash",
            "Executes a bash command",
            {"type": "object", "properties": {"command": {"type": "string"}}},
        ),
        Tool("web_search", raw=CLAUDE_CODE["tools"][1]),
    ]
    assert req.params == {
        "max_tokens": 64000,
        "metadata": {"user_id": USER_ID},
        "thinking": {"type": "adaptive"},
    }
    assert req.params["metadata"]["user_id"] == USER_ID  # the JSON string, verbatim
    assert set(req.extra) == {"output_config", "context_management"}


@pytest.mark.parametrize(
    "block, expected",
    [
        ("plain", Block(TEXT, text="plain")),
        ({"type": "text", "text": "hi"}, Block(TEXT, text="hi")),
        (
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
            },
            Block(IMAGE, media_type="image/png", data="iVBO"),
        ),
        (
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
            Block(IMAGE, url="https://x.test/a.jpg"),
        ),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "d"},
            },
            Block(
                OTHER,
                raw={
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                },
            ),
        ),
        (
            {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
            Block(TOOL_RESULT, id="t1", text="boom", is_error=True),
        ),
        (
            {
                "type": "tool_result",
                "tool_use_id": "t2",
                "content": [
                    {"type": "text", "text": "out"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/gif", "data": "R0"},
                    },
                ],
            },
            Block(
                TOOL_RESULT,
                id="t2",
                content=[Block(TEXT, text="out"), Block(IMAGE, media_type="image/gif", data="R0")],
            ),
        ),
        ({"type": "tool_result", "tool_use_id": "t3"}, Block(TOOL_RESULT, id="t3")),
        (
            {"type": "redacted_thinking", "data": "Emw"},
            Block(OTHER, raw={"type": "redacted_thinking", "data": "Emw"}),
        ),
        (
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {"query": "q"},
            },
            Block(
                OTHER,
                raw={
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": "q"},
                },
            ),
        ),
        (42, Block(OTHER, raw=42)),
    ],
)
def test_parse_block(block, expected):
    assert anthropic.parse_block(block) == expected


@pytest.mark.parametrize(
    "body, params",
    [
        ({"tool_choice": {"type": "auto"}}, {"tool_choice": "auto"}),
        ({"tool_choice": {"type": "any"}}, {"tool_choice": "any"}),
        ({"tool_choice": {"type": "none"}}, {"tool_choice": "none"}),
        ({"tool_choice": {"type": "tool", "name": "Bash"}}, {"tool_choice": {"name": "Bash"}}),
        (
            {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        ({"stop_sequences": ["\n\nHuman:", "END"]}, {"stop": ["\n\nHuman:", "END"]}),
        (
            {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 10},
            {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 10},
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
        ),
    ],
)
def test_request_params(body, params):
    req = anthropic.parse_request({"model": "claude-sonnet-4-5", "messages": [], **body})
    assert req.params == params
    assert req.extra == {}


@pytest.mark.parametrize(
    "body, system, messages",
    [
        ({"system": "Be brief.", "messages": []}, [Block(TEXT, text="Be brief.")], []),
        (
            {"messages": [{"role": "user", "content": "hi"}]},
            [],
            [Message("user", [Block(TEXT, text="hi")])],
        ),
        (  # Claude Code may put a system message after the user turn: kept in place
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "system", "content": "note"},
                ]
            },
            [],
            [
                Message("user", [Block(TEXT, text="hi")]),
                Message("system", [Block(TEXT, text="note")]),
            ],
        ),
        (  # legacy /v1/complete
            {"prompt": "Be kind.\n\nHuman: Hello\n\nAssistant: Hi!\n\nHuman: Why?\n\nAssistant:"},
            [Block(TEXT, text="Be kind.")],
            [
                Message("user", [Block(TEXT, text="Hello")]),
                Message("assistant", [Block(TEXT, text="Hi!")]),
                Message("user", [Block(TEXT, text="Why?")]),
            ],
        ),
        ({"messages": "nonsense", "system": 7}, [], []),
    ],
)
def test_request_messages(body, system, messages):
    req = anthropic.parse_request(body)
    assert (req.system, req.messages) == (system, messages)


def test_legacy_complete_params():
    req = anthropic.parse_request(
        {
            "model": "claude-2.1",
            "prompt": "\n\nHuman: hi\n\nAssistant:",
            "max_tokens_to_sample": 300,
        }
    )
    assert req.params == {"max_tokens": 300, "max_tokens_key": "max_tokens_to_sample"}
    assert req.extra == {}


MESSAGE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Hmm.", "signature": "Eq"},
        {"type": "text", "text": "Running it."},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "pwd"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 14120,
        "output_tokens": 503,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    },
}


@pytest.mark.parametrize(
    "body, check",
    [
        (
            MESSAGE,
            lambda r: (
                r.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
                and r.model == "claude-sonnet-4-5-20250929"
                and [b.type for b in r.blocks] == [THINKING, TEXT, TOOL_CALL]
                and r.tool_calls[0].arguments == '{"command":"pwd"}'
                and r.stop_reason == "tool_use"
                and r.usage == Usage(input=2095, output=503, cache_read=14120, cache_write=0)
                and r.extra["stop_sequence"] is None
                and r.extra["usage"]["service_tier"] == "standard"
                and r.error is None
            ),
        ),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            lambda r: r.error == "overloaded_error: Overloaded" and r.blocks == [],
        ),
        ({"input_tokens": 2095}, lambda r: r.usage == Usage(input=2095) and r.error is None),
        (
            {
                "type": "completion",
                "id": "compl_01",
                "completion": " Hello!",
                "stop_reason": "stop_sequence",
                "model": "claude-2.1",
            },
            lambda r: r.text == " Hello!" and r.stop_reason == "stop_sequence",
        ),
        (
            {"content": [{"type": "text", "text": "x"}], "stop_reason": "pause_turn"},
            lambda r: r.stop_reason == "pause_turn",
        ),
    ],
)
def test_parse_response(body, check):
    before = copy.deepcopy(body)
    assert check(anthropic.parse_response(body))
    assert body == before


# --- streams ---------------------------------------------------------------------------------


def whole() -> anthropic.StreamAccumulator:
    acc = anthropic.StreamAccumulator()
    acc.feed(ANTHROPIC_STREAM)
    acc.finish()
    return acc


def test_stream_accumulates():
    acc = whole()
    r = acc.response
    assert (r.id, r.model, r.stop_reason, r.error) == (
        "msg_01XFDUDYJgAACzvnptvVoYEL",
        "claude-opus-4-8",
        "tool_use",
        None,
    )
    assert [b.type for b in r.blocks] == [THINKING, TEXT, TOOL_CALL]
    assert r.blocks[0].text == "The user wants the files listed — I'll run ls."
    assert r.blocks[0].signature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBRz"
    assert r.text == "I'll list the files in the répertoire ✓"
    call = r.blocks[2]
    assert (call.id, call.name, call.arguments) == (
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "Bash",
        ANTHROPIC_TOOL_ARGS,
    )
    assert r.usage == Usage(input=12, output=89, cache_read=17210, cache_write=2048)
    assert (acc.events, acc.malformed, acc.done) == (len(ANTHROPIC_EVENTS), 0, True)


def test_stream_byte_by_byte_and_first_output():
    acc = anthropic.StreamAccumulator()
    r, firsts = run(acc, every(ANTHROPIC_STREAM, 1))
    assert r == whole().response
    assert firsts.count(True) == 1
    # the first output is the first thinking_delta: True comes with the byte that completes it
    first_delta = ANTHROPIC_STREAM.index(b"thinking_delta")
    assert firsts.index(True) == ANTHROPIC_STREAM.index(b"\n\n", first_delta) + 1


@given(points=cuts)
def test_stream_chunking_invariance(points):
    acc = anthropic.StreamAccumulator()
    r, firsts = run(acc, split(ANTHROPIC_STREAM, points))
    assert r == whole().response
    assert firsts.count(True) == 1
    assert acc.events == len(ANTHROPIC_EVENTS)


def test_usage_latest_non_null_wins_and_output_tokens_only_delta():
    acc = anthropic.StreamAccumulator()
    acc.feed(sse([ANTHROPIC_EVENTS[0]]))
    assert acc.usage == Usage(input=12, output=3, cache_read=17210, cache_write=2048)
    acc.feed(
        sse(
            [
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 40},
                    },
                )
            ]
        )
    )
    assert acc.usage == Usage(input=12, output=40, cache_read=17210, cache_write=2048)
    acc.feed(
        sse(
            [
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {},
                        "usage": {
                            "input_tokens": 15,
                            "output_tokens": 41,
                            "cache_read_input_tokens": None,
                        },
                    },
                )
            ]
        )
    )
    assert acc.usage == Usage(input=15, output=41, cache_read=17210, cache_write=2048)


def test_tool_with_no_arguments_becomes_empty_object():
    body = sse(
        [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "Now",
                        "input": {},
                    },
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
    )
    acc = anthropic.StreamAccumulator()
    assert acc.feed(body) is True  # a tool call's start is output
    assert acc.finish().blocks[0].arguments == "{}"


def test_error_event_mid_stream():
    body = ANTHROPIC_STREAM[: ANTHROPIC_STREAM.index(b"event: content_block_stop")] + sse(
        [
            (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
        ]
    )
    acc = anthropic.StreamAccumulator()
    acc.feed(body)
    r = acc.finish()
    assert r.error == "overloaded_error: Overloaded"
    assert r.blocks[0].text == "The user wants the files listed — I'll run ls."
    assert acc.done is False


def test_what_orjson_refuses_in_an_event_the_stdlib_still_reads():
    """A model can split an emoji's surrogate pair across two deltas (each escaped alone, which
    orjson rejects), and an event may hold NaN: the text and the usage still come through."""

    def delta(text: str) -> bytes:
        data = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"%s"}}'
        return f"event: content_block_delta\ndata: {data % text}\n\n".encode()

    start = ANTHROPIC_STREAM.index(b"event: content_block_delta")
    body = (
        ANTHROPIC_STREAM[:start]
        + delta("smile \\ud83d")
        + delta("\\ude00!")
        + b'event: ping\ndata: {"type":"ping","score":NaN}\n\n'
        + ANTHROPIC_STREAM[ANTHROPIC_STREAM.index(b"event: content_block_stop") :]
    )
    acc = anthropic.StreamAccumulator()
    acc.feed(body)
    r = acc.finish()
    assert r.blocks[0].text == "smile \ud83d\ude00!"
    assert acc.malformed == 0 and acc.done is True


@pytest.mark.parametrize(
    "bad",
    [
        b"event: content_block_delta\ndata: {not json\n\n",
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":99,'
        b'"delta":{"type":"text_delta","text":"x"}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
        b'"delta":{"type":"text_delta","text":5}}\n\n',
        b'event: message_start\ndata: {"type":"message_start","message":"nope"}\n\n',
        b"data: [1, 2, 3]\n\n",
        b'data: {"type":"content_block_start","index":"x","content_block":{}}\n\n',
    ],
)
def test_malformed_events_are_counted_and_skipped(bad):
    cut = ANTHROPIC_STREAM.index(b"event: content_block_stop")
    acc = anthropic.StreamAccumulator()
    acc.feed(ANTHROPIC_STREAM[:cut] + bad + ANTHROPIC_STREAM[cut:])
    r = acc.finish()
    assert acc.malformed == 1
    assert acc.events == len(ANTHROPIC_EVENTS) + 1
    assert r == whole().response


def test_unknown_events_are_ignored_not_malformed():
    acc = anthropic.StreamAccumulator()
    acc.feed(sse([("future_event", {"type": "future_event", "x": 1})]) + ANTHROPIC_STREAM)
    assert acc.finish() == whole().response
    assert acc.malformed == 0


def test_response_reads_are_consistent_mid_stream():
    acc = anthropic.StreamAccumulator()
    cut = ANTHROPIC_STREAM.index(b"in the r")
    acc.feed(ANTHROPIC_STREAM[:cut])
    assert acc.response.text == "I'll list the files "
    acc.feed(ANTHROPIC_STREAM[cut:])
    assert acc.finish().text == "I'll list the files in the répertoire ✓"


def test_legacy_complete_stream():
    body = sse(
        [
            (
                "completion",
                {
                    "type": "completion",
                    "completion": " Hello",
                    "stop_reason": None,
                    "model": "claude-2.1",
                },
            ),
            ("ping", {"type": "ping"}),
            (
                "completion",
                {
                    "type": "completion",
                    "completion": "!",
                    "stop_reason": "stop_sequence",
                    "model": "claude-2.1",
                },
            ),
        ]
    )
    acc = anthropic.StreamAccumulator()
    r, firsts = run(acc, every(body, 9))
    assert (r.text, r.stop_reason, r.model, acc.done) == (
        " Hello!",
        "stop_sequence",
        "claude-2.1",
        True,
    )
    assert firsts.count(True) == 1
