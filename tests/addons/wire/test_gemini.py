import copy
import json

import pytest
from hypothesis import given

from addons.wire import gemini
from addons.wire.model import (
    IMAGE,
    OTHER,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Usage,
)
from tests.addons.wire.streams import GEMINI_EVENTS, GEMINI_STREAM, cuts, every, run, split, sse

BODY = {
    "systemInstruction": {"parts": [{"text": "You are a weather bot."}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "Weather in Paris?"},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBER"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "Thinking about it", "thought": True},
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "CiQB",
                },
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}],
        },
    ],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                }
            ]
        },
        {"googleSearch": {}},
    ],
    "toolConfig": {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    },
    "generationConfig": {
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 2048,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinkingBudget": 1024},
        "responseMimeType": "text/plain",
    },
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}


def test_request():
    body = copy.deepcopy(BODY)
    req = gemini.parse_request(
        body, path="/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert body == BODY
    assert (req.dialect, req.model, req.stream) == ("gemini", "gemini-2.5-flash", True)
    assert req.system_text == "You are a weather bot."
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    user = req.messages[0].blocks
    assert user[1] == Block(IMAGE, media_type="image/jpeg", data="/9j/4AAQ")
    assert user[2].type == OTHER
    thought, call = req.messages[1].blocks
    assert (thought.type, thought.text) == (THINKING, "Thinking about it")
    assert (call.type, call.name, call.arguments, call.signature) == (
        TOOL_CALL,
        "get_weather",
        {"city": "Paris"},
        "CiQB",
    )
    result = req.messages[2].blocks[0]
    assert (result.type, result.name, json.loads(result.text)) == (
        TOOL_RESULT,
        "get_weather",
        {"temp": 18},
    )
    assert [t.name for t in req.tools] == ["get_weather", "googleSearch"]
    assert req.params == {
        "tool_choice": {"name": "get_weather"},
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "max_tokens": 2048,
        "stop": ["END"],
        "thinking": {"thinkingBudget": 1024},
    }
    assert req.extra == {
        "generationConfig": {"responseMimeType": "text/plain"},
        "safetySettings": BODY["safetySettings"],
    }


@pytest.mark.parametrize(
    "path, model, stream",
    [
        ("/v1beta/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro", False),
        (
            "/v1beta/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse&key=k",
            "gemini-2.0-flash-001",
            True,
        ),
        (
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
            "gemini-2.5-flash",
            False,
        ),
        ("/v1beta/models/gemini-2.5-flash:countTokens", "gemini-2.5-flash", False),
        (None, None, False),
    ],
)
def test_model_and_stream_from_path(path, model, stream):
    req = gemini.parse_request({"contents": [{"parts": [{"text": "hi"}]}]}, path=path)
    assert (req.model, req.stream) == (model, stream)
    assert req.messages[0].role == "user"


@pytest.mark.parametrize(
    "config, choice",
    [
        ({"functionCallingConfig": {"mode": "AUTO"}}, "auto"),
        ({"functionCallingConfig": {"mode": "NONE"}}, "none"),
        ({"functionCallingConfig": {"mode": "ANY"}}, "any"),
        (
            {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
            {"name": "f"},
        ),
    ],
)
def test_tool_choice(config, choice):
    assert gemini.parse_request({"toolConfig": config}).params["tool_choice"] == choice


RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Paris is sunny."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1200,
        "candidatesTokenCount": 40,
        "cachedContentTokenCount": 1024,
        "thoughtsTokenCount": 100,
        "totalTokenCount": 1340,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mAitaKqfHeyBmtkPmvmVaA",
}


@pytest.mark.parametrize(
    "body, check",
    [
        (
            RESPONSE,
            lambda r: (
                r.text == "Paris is sunny."
                and r.stop_reason == "end_turn"
                and r.usage == Usage(input=176, output=140, cache_read=1024)
                and (r.id, r.model) == ("mAitaKqfHeyBmtkPmvmVaA", "gemini-2.5-flash")
            ),
        ),
        (
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [{"functionCall": {"name": "f", "args": {}}}],
                            "role": "model",
                        },
                        "finishReason": "STOP",
                    }
                ]
            },
            lambda r: r.stop_reason == "tool_use" and r.tool_calls[0].arguments == "{}",
        ),
        (
            {
                "candidates": [
                    {"content": {"parts": [{"text": "partial"}]}, "finishReason": "MAX_TOKENS"}
                ]
            },
            lambda r: r.stop_reason == "max_tokens",
        ),
        (
            {"candidates": [{"finishReason": "SAFETY"}]},
            lambda r: r.stop_reason == "content_filter" and r.blocks == [],
        ),
        (
            {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 9},
            },
            lambda r: r.stop_reason == "content_filter" and r.usage.input == 9,
        ),
        (
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            lambda r: r.error == "RESOURCE_EXHAUSTED: Resource has been exhausted",
        ),
        ({"totalTokens": 31, "promptTokensDetails": []}, lambda r: r.usage == Usage(input=31)),
    ],
)
def test_parse_response(body, check):
    assert check(gemini.parse_response(body))


def whole():
    acc = gemini.StreamAccumulator()
    acc.feed(GEMINI_STREAM)
    acc.finish()
    return acc


def test_stream_accumulates():
    acc = whole()
    r = acc.response
    assert [b.type for b in r.blocks] == [THINKING, TEXT, TOOL_CALL]
    assert r.blocks[0].text == "Considering the city"
    assert r.text == "The weather in Paris — ensoleillé."
    assert r.blocks[1].signature == "CiQBVKhc7sig"
    assert (r.blocks[2].name, r.blocks[2].arguments) == ("get_weather", '{"city":"Paris"}')
    assert r.stop_reason == "tool_use"
    assert r.usage == Usage(input=218, output=90, cache_read=8192)
    assert (r.id, r.model) == ("lRFhaNH4Id2wkdUP_-CSsQ8", "gemini-2.5-flash")
    assert (acc.events, acc.malformed, acc.done) == (len(GEMINI_EVENTS), 0, True)


def test_crlf_stream_byte_by_byte():
    assert b"\r\n\r\n" in GEMINI_STREAM
    r, firsts = run(gemini.StreamAccumulator(), every(GEMINI_STREAM, 1))
    assert r == whole().response
    assert firsts.count(True) == 1


@given(points=cuts)
def test_stream_chunking_invariance(points):
    r, firsts = run(gemini.StreamAccumulator(), split(GEMINI_STREAM, points))
    assert r == whole().response
    assert firsts.count(True) == 1


def test_json_array_stream_without_alt_sse():
    r = gemini.parse_stream_array(GEMINI_EVENTS)
    assert r == whole().response


def test_malformed_and_error_events():
    body = sse(
        [
            (None, "{nope"),
            (None, GEMINI_EVENTS[1]),
            (
                None,
                {
                    "error": {
                        "code": 503,
                        "message": "The model is overloaded.",
                        "status": "UNAVAILABLE",
                    }
                },
            ),
        ],
        eol="\r\n",
    )
    acc = gemini.StreamAccumulator()
    acc.feed(body)
    r = acc.finish()
    assert acc.malformed == 1
    assert r.text == "The weather in "
    assert r.error == "UNAVAILABLE: The model is overloaded."
