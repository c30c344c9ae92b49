import copy

import pytest
from hypothesis import given

from addons.wire import openai_responses
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
from tests.addons.wire.streams import (
    RESPONSES_EVENTS,
    RESPONSES_STREAM,
    cuts,
    every,
    run,
    split,
    sse,
)

FUNCTION_CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "get_weather",
    "arguments": '{"location":"Paris"}',
}
REASONING = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "Need weather."}],
    "encrypted_content": "gAAAA",
}
BODY = {
    "model": "gpt-5",
    "instructions": "Be terse.",
    "input": [
        {"role": "developer", "content": "Metric units."},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather in Paris?"},
                {
                    "type": "input_image",
                    "image_url": "data:image/jpeg;base64,/9j/4AAQ",
                    "detail": "auto",
                },
            ],
        },
        REASONING,
        FUNCTION_CALL,
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "18C."}],
        },
        {"type": "item_reference", "id": "msg_old"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object"},
            "strict": True,
        },
        {"type": "web_search_preview"},
    ],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "previous_response_id": "resp_prev",
    "max_output_tokens": 1000,
    "reasoning": {"effort": "minimal", "summary": "auto"},
    "stream": True,
    "store": False,
    "include": ["reasoning.encrypted_content"],
}


def test_request():
    body = copy.deepcopy(BODY)
    req = openai_responses.parse_request(body)
    assert body == BODY
    assert (req.model, req.stream) == ("gpt-5", True)
    assert req.system == [Block(TEXT, text="Be terse."), Block(TEXT, text="Metric units.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "assistant"]
    assert req.messages[0].blocks[1].type == IMAGE
    assert req.messages[0].blocks[1].data == "/9j/4AAQ"
    thinking, call = req.messages[1].blocks
    assert (thinking.type, thinking.text, thinking.signature) == (
        THINKING,
        "Need weather.",
        "gAAAA",
    )
    assert (call.type, call.id, call.name, call.arguments) == (
        TOOL_CALL,
        "call_1",
        "get_weather",
        {"location": "Paris"},
    )
    assert req.messages[2].blocks[0].type == TOOL_RESULT
    assert (req.messages[2].blocks[0].id, req.messages[2].blocks[0].text) == ("call_1", "18C")
    assert [b.type for b in req.messages[3].blocks] == [TEXT, OTHER]  # item_reference kept
    assert [t.name for t in req.tools] == ["get_weather", "web_search_preview"]
    assert req.params == {
        "tool_choice": {"name": "get_weather"},
        "previous_response_id": "resp_prev",
        "max_tokens": 1000,
        "reasoning_effort": "minimal",
    }
    assert req.extra == {
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }


def test_string_input():
    req = openai_responses.parse_request({"model": "gpt-4.1", "input": "Hello"})
    assert req.messages == [Message("user", [Block(TEXT, text="Hello")])]
    assert req.stream is False


RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "model": "gpt-4.1-2025-04-14",
    "output": [
        REASONING,
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
        },
        FUNCTION_CALL,
    ],
    "usage": {
        "input_tokens": 328,
        "input_tokens_details": {"cached_tokens": 256},
        "output_tokens": 52,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 380,
    },
    "error": None,
    "incomplete_details": None,
}


@pytest.mark.parametrize(
    "body, check",
    [
        (
            RESPONSE,
            lambda r: (
                [b.type for b in r.blocks] == [THINKING, TEXT, TOOL_CALL]
                and r.text == "Checking."
                and r.stop_reason == "tool_use"
                and r.usage == Usage(input=72, output=52, cache_read=256)
                and r.error is None
                and r.extra["usage"]["output_tokens_details"] == {"reasoning_tokens": 20}
            ),
        ),
        (
            {
                **RESPONSE,
                "output": RESPONSE["output"][1:2],
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
            },
            lambda r: r.stop_reason == "max_tokens",
        ),
        (
            {**RESPONSE, "output": RESPONSE["output"][1:2]},
            lambda r: r.stop_reason == "end_turn",
        ),
        (
            {
                **RESPONSE,
                "status": "failed",
                "output": [],
                "error": {"code": "server_error", "message": "Something went wrong"},
            },
            lambda r: r.error == "server_error: Something went wrong" and r.stop_reason is None,
        ),
        (
            {
                "error": {
                    "message": "Invalid 'input'",
                    "type": "invalid_request_error",
                    "param": "input",
                    "code": None,
                }
            },
            lambda r: r.error == "invalid_request_error: Invalid 'input'",
        ),
    ],
)
def test_parse_response(body, check):
    assert check(openai_responses.parse_response(body))


def whole():
    acc = openai_responses.StreamAccumulator()
    acc.feed(RESPONSES_STREAM)
    acc.finish()
    return acc


def test_stream_accumulates():
    acc = whole()
    r = acc.response
    assert (r.id, r.model, r.stop_reason) == (
        "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
        "o4-mini-2025-04-16",
        "tool_use",
    )
    assert [b.type for b in r.blocks] == [THINKING, TEXT, TOOL_CALL]
    assert r.blocks[0].text == "**Weather** lookup needed."
    assert r.blocks[0].signature == "gAAAAABo_enc"
    assert r.text == "Let me check."
    assert (r.blocks[2].id, r.blocks[2].name, r.blocks[2].arguments) == (
        "call_12345xyz",
        "get_weather",
        '{"location":"Paris, France"}',
    )
    assert r.usage == Usage(input=313, output=120, cache_read=1024)
    assert (acc.events, acc.malformed, acc.done) == (len(RESPONSES_EVENTS), 0, True)


def test_first_output_is_the_first_reasoning_delta():
    r, firsts = run(openai_responses.StreamAccumulator(), every(RESPONSES_STREAM, 1))
    assert r == whole().response
    first = RESPONSES_STREAM.index(b"response.reasoning_summary_text.delta")
    assert firsts.index(True) == RESPONSES_STREAM.index(b"\n\n", first) + 1
    assert firsts.count(True) == 1


@given(points=cuts)
def test_stream_chunking_invariance(points):
    r, firsts = run(openai_responses.StreamAccumulator(), split(RESPONSES_STREAM, points))
    assert r == whole().response
    assert firsts.count(True) == 1


def test_stream_arguments_grow_before_done():
    cut = RESPONSES_STREAM.index(b"event: response.function_call_arguments.done")
    acc = openai_responses.StreamAccumulator()
    acc.feed(RESPONSES_STREAM[:cut])
    assert acc.response.blocks[2].arguments == '{"location":"Paris, France"}'
    assert acc.done is False


def test_two_reasoning_summaries_are_joined():
    events = [
        (
            "response.reasoning_summary_text.delta",
            {
                "type": "response.reasoning_summary_text.delta",
                "output_index": 0,
                "summary_index": 0,
                "delta": "First.",
            },
        ),
        (
            "response.reasoning_summary_text.delta",
            {
                "type": "response.reasoning_summary_text.delta",
                "output_index": 0,
                "summary_index": 1,
                "delta": "Second.",
            },
        ),
    ]
    acc = openai_responses.StreamAccumulator()
    acc.feed(sse(events))
    assert acc.finish().blocks[0].text == "First.\n\nSecond."


@pytest.mark.parametrize(
    "events, check",
    [
        (
            [
                (
                    "response.failed",
                    {
                        "type": "response.failed",
                        "response": {
                            "id": "resp_2",
                            "status": "failed",
                            "model": "gpt-4.1",
                            "error": {"code": "server_error", "message": "The model failed"},
                            "output": [],
                        },
                    },
                )
            ],
            lambda r, a: r.error == "server_error: The model failed" and a.done,
        ),
        (
            [
                (
                    "error",
                    {
                        "type": "error",
                        "code": "rate_limit_exceeded",
                        "message": "Rate limit reached",
                        "param": None,
                    },
                )
            ],
            lambda r, a: r.error == "rate_limit_exceeded: Rate limit reached",
        ),
        (  # deltas never seen: the final response's output stands in
            [("response.completed", {"type": "response.completed", "response": RESPONSE})],
            lambda r, a: (
                r.text == "Checking."
                and r.usage.input == 72
                and r.blocks[2].arguments == '{"location":"Paris"}'
            ),  # the text, as in any stream
        ),
        (
            [
                (
                    "response.incomplete",
                    {
                        "type": "response.incomplete",
                        "response": {
                            **RESPONSE,
                            "status": "incomplete",
                            "incomplete_details": {"reason": "max_output_tokens"},
                        },
                    },
                )
            ],
            lambda r, a: r.stop_reason == "max_tokens",
        ),
    ],
)
def test_stream_variants(events, check):
    acc = openai_responses.StreamAccumulator()
    acc.feed(sse(events))
    assert check(acc.finish(), acc)


def test_malformed_events_counted_and_skipped():
    cut = RESPONSES_STREAM.index(b"event: response.output_text.done")
    bad = (
        b"event: response.output_text.delta\ndata: {oops\n\n"
        b'event: response.output_item.added\ndata: {"type":"response.output_item.added"}\n\n'
    )
    acc = openai_responses.StreamAccumulator()
    acc.feed(RESPONSES_STREAM[:cut] + bad + RESPONSES_STREAM[cut:])
    assert acc.finish() == whole().response
    assert acc.malformed == 2
