"""Request translation details, errors, token estimates and same-dialect rendering."""

from __future__ import annotations

import copy
import json

import pytest

from addons.wire import anthropic, openai_chat
from addons.wire.render_anthropic import render_request as render_anthropic
from addons.wire.render_anthropic import stop_reason, tool_use_id
from addons.wire.render_openai import finish_reason, reasoning_effort
from addons.wire.render_openai import render_request as render_openai
from addons.wire.translate import (
    DROPPED,
    anthropic_to_openai_request,
    count_tokens,
    count_tokens_response,
    error_status,
    openai_to_anthropic_request,
    translate_error,
)
from tests.addons.wire.test_translate_golden import GOLDEN

CLAUDE_CODE = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 32000,
    "stream": True,
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.14; cch=9a1f;"},
        {
            "type": "text",
            "text": "You are Claude Code, Anthropic's official CLI for Claude.",
            "cache_control": {"type": "ephemeral"},
        },
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>today</system-reminder>"},
                {"type": "text", "text": "list files", "cache_control": {"type": "ephemeral"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "ls.", "signature": "EqQBsig"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}],
        },
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Run a shell command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        }
    ],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 31999},
    "metadata": {"user_id": "user_ab12_account_cd34_session_ef56"},
}


def test_the_input_is_never_mutated():
    for body, translate in [
        (CLAUDE_CODE, anthropic_to_openai_request),
        (
            json.loads((GOLDEN / "openai_to_anthropic_requests.json").read_text())[2]["input"],
            openai_to_anthropic_request,
        ),
    ]:
        before = copy.deepcopy(body)
        translate(body)
        assert body == before


def test_claude_code_request_bridged():
    body, dropped = anthropic_to_openai_request(CLAUDE_CODE, target_model="qwen3-coder:30b")
    assert body["model"] == "qwen3-coder:30b"
    assert body["messages"][0] == {
        "role": "system",
        "content": "You are Claude Code, Anthropic's official CLI for Claude.",
    }
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "high"
    assert body["user"] == "user_ab12_account_cd34_session_ef56"
    assert body["messages"][-1] == {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"}
    assert dropped == [
        "system[0] (x-anthropic-billing-header)",
        "system[1].cache_control",
        "messages[0].content[1].cache_control",
        "messages[1].content[0].signature",
    ]


def test_billing_header_kept_on_request():
    body, dropped = anthropic_to_openai_request(CLAUDE_CODE, strip_billing_header=False)
    assert body["messages"][0]["content"].startswith("x-anthropic-billing-header:")
    assert dropped[0] == "system[1].cache_control"


@pytest.mark.parametrize(
    "body, expected_dropped",
    [
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [
                                    {
                                        "type": "text",
                                        "text": "x",
                                        "cache_control": {"type": "ephemeral"},
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
            ["messages[0].content[0].content[0].cache_control"],
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "max", "format": {"type": "json_schema", "schema": {}}},
                "messages": [
                    {"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}
                ],
            },
            ["messages[0].cache_control", "output_config.format"],
        ),
    ],
)
def test_nested_and_message_level_fields_are_listed(body, expected_dropped):
    out, dropped = anthropic_to_openai_request(body)
    assert dropped == expected_dropped
    assert out.get("reasoning_effort") == ("high" if "output_config" in body else None)


def test_openai_tool_message_part_fields_are_listed():
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "c",
                "content": [{"type": "text", "text": "ok", "annotations": []}],
            },
        ],
    }
    out, dropped = openai_to_anthropic_request(body)
    assert dropped == ["messages[2].content[0].content[0].annotations"]
    assert out["messages"][-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "c", "content": [{"type": "text", "text": "ok"}]}
    ]


def test_default_max_tokens_option():
    body, _ = openai_to_anthropic_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]}, default_max_tokens=1000
    )
    assert body["max_tokens"] == 1000


@pytest.mark.parametrize(
    "thinking, effort",
    [
        ({"type": "enabled", "budget_tokens": 8000}, "high"),
        ({"type": "enabled", "budget_tokens": 7999}, "medium"),
        ({"type": "enabled", "budget_tokens": 2000}, "medium"),
        ({"type": "enabled", "budget_tokens": 1999}, "low"),
        ({"type": "enabled"}, "low"),
        ({"type": "disabled"}, "none"),
        ({"type": "adaptive"}, None),
        (None, None),
    ],
)
def test_thinking_to_reasoning_effort(thinking, effort):
    assert reasoning_effort(thinking) == effort


@pytest.mark.parametrize(
    "neutral, tools, anthropic_reason, openai_reason",
    [
        ("end_turn", False, "end_turn", "stop"),
        ("end_turn", True, "tool_use", "tool_calls"),
        (None, True, "tool_use", "tool_calls"),
        (None, False, "end_turn", "stop"),
        ("tool_use", True, "tool_use", "tool_calls"),
        ("max_tokens", True, "max_tokens", "length"),
        ("stop_sequence", False, "stop_sequence", "stop"),
        ("content_filter", False, "refusal", "content_filter"),
        ("refusal", False, "refusal", "content_filter"),
        ("pause_turn", False, "pause_turn", "stop"),
        ("model_context_window_exceeded", False, "model_context_window_exceeded", "length"),
        ("eos_token", False, "end_turn", "stop"),
    ],
)
def test_stop_reasons(neutral, tools, anthropic_reason, openai_reason):
    assert stop_reason(neutral, tools) == anthropic_reason
    assert finish_reason(neutral, tools) == openai_reason


@pytest.mark.parametrize(
    "source, expected",
    [
        ("toolu_01A", "toolu_01A"),
        ("call_abc-DEF_1", "call_abc-DEF_1"),
        ("functions.get_weather:0", "functions_get_weather_0"),
        ("çall 1", "_all_1"),
        (None, "fallback"),
        ("", "fallback"),
    ],
)
def test_tool_ids_made_acceptable_to_anthropic(source, expected):
    assert tool_use_id(source, "fallback") == expected


@pytest.mark.parametrize(
    "body, target, status, expected",
    [
        (
            {"error": {"message": "slow down", "type": "rate_limit_error"}},
            "anthropic",
            None,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        ),
        (
            {
                "error": {
                    "message": "bad key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            "anthropic",
            401,
            {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}},
        ),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "openai_chat",
            None,
            {
                "error": {
                    "message": "Overloaded",
                    "type": "server_error",
                    "param": None,
                    "code": "overloaded_error",
                }
            },
        ),
        (
            {"type": "error", "error": {"type": "not_found_error", "message": "model: x"}},
            "openai_chat",
            404,
            {
                "error": {
                    "message": "model: x",
                    "type": "not_found_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            "connection refused",
            "anthropic",
            502,
            {"type": "error", "error": {"type": "api_error", "message": "connection refused"}},
        ),
    ],
)
def test_translate_error(body, target, status, expected):
    assert translate_error(body, target=target, status=status) == expected


@pytest.mark.parametrize(
    "kind, status",
    [
        ("rate_limit_error", 429),
        ("overloaded_error", 503),
        ("server_error", 500),
        (429, 429),
        ("?", 500),
        (None, 500),
    ],
)
def test_error_status(kind, status):
    assert error_status(kind) == status


# --- count_tokens ----------------------------------------------------------------------------


def test_count_tokens_estimates_high_rather_than_low():
    text = "The quick brown fox jumps over the lazy dog. " * 200  # ~2000 real tokens
    n = count_tokens({"model": "m", "messages": [{"role": "user", "content": text}]})
    assert len(text) / 4 < n < len(text) / 3


def test_count_tokens_counts_every_part():
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    small = count_tokens(base)
    with_image = copy.deepcopy(base)
    with_image["messages"][0]["content"] = [
        {"type": "text", "text": "hi"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
    ]
    assert count_tokens(with_image) == small + 1600
    with_tools = {**base, "tools": CLAUDE_CODE["tools"]}
    assert count_tokens(with_tools) > small + 350
    with_system = {**base, "system": "s" * 3500}
    assert count_tokens(with_system) == small + 1000
    assert count_tokens(CLAUDE_CODE) > count_tokens(
        {**CLAUDE_CODE, "messages": CLAUDE_CODE["messages"][:1]}
    )


def test_count_tokens_counts_bytes_so_cjk_is_not_undercounted():
    n = count_tokens({"model": "m", "messages": [{"role": "user", "content": "漢字" * 700}]})
    assert n >= 1400 * 3 / 3.5


def test_count_tokens_takes_a_parsed_request_of_any_dialect():
    req = openai_chat.parse_request(
        {"model": "m", "messages": [{"role": "user", "content": "x" * 35}]}
    )
    assert count_tokens(req) == 10 + 4


def test_count_tokens_response():
    assert count_tokens_response(
        {"model": "m", "messages": [{"role": "user", "content": "abc"}]}
    ) == {"input_tokens": 5}


# --- same-dialect rendering and the DROPPED list --------------------------------------------


def test_anthropic_request_renders_back_as_it_came():
    for body in [CLAUDE_CODE] + [
        c["input"] for c in json.loads((GOLDEN / "anthropic_to_openai_requests.json").read_text())
    ]:
        dropped: list[str] = []
        assert render_anthropic(anthropic.parse_request(body), dropped) == body
        assert dropped == []


def test_openai_request_renders_back_as_it_came():
    body = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a":1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 10,
        "stream": True,
        "stream_options": {"include_usage": False},
        "seed": 3,
        "user": "u",
    }
    assert render_openai(openai_chat.parse_request(body)) == body


def test_dropped_is_documented_both_ways():
    assert set(DROPPED) == {("anthropic", "openai_chat"), ("openai_chat", "anthropic")}
    assert all(DROPPED.values())
    assert any("cache_control" in k for k in DROPPED["anthropic", "openai_chat"])
    assert any("logprobs" in k for k in DROPPED["openai_chat", "anthropic"])
