"""Realistic streamed bodies for each dialect, framed as the real APIs frame them, and helpers
to feed them to an accumulator in arbitrary chunks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

# Cut points for re-chunking a body; taken modulo the body's length, so one strategy serves all.
cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=40)


def split(data: bytes, points: Iterable[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(marks, marks[1:], strict=False)]


def every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run(acc: Any, chunks: Sequence[bytes]) -> tuple[Any, list[bool]]:
    """Feed `chunks` then finish; returns the response and what each feed returned."""
    firsts = [acc.feed(c) for c in chunks]
    return acc.finish(), firsts


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(events: Iterable[tuple[str | None, Any]], eol: str = "\n", dump=compact) -> bytes:
    out = []
    for name, data in events:
        if name:
            out.append(f"event: {name}{eol}")
        text = data if isinstance(data, str) else dump(data)
        out.append(f"data: {text}{eol}{eol}")
    return "".join(out).encode()


# --- Anthropic: a Claude Code turn with thinking, text and a Bash tool call -------------------

ANTHROPIC_EVENTS: list[tuple[str, Any]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": "claude-opus-4-8",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 12,
                    "cache_creation_input_tokens": 2048,
                    "cache_read_input_tokens": 17210,
                    "output_tokens": 3,
                    "service_tier": "standard",
                },
            },
        },
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "The user wants the files "},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "listed — I'll run ls."},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBRz"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "I'll list the files "},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "in the répertoire ✓"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "Bash",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"command": "ls'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {
                "type": "input_json_delta",
                "partial_json": ' -la", "description": "List files"}',
            },
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 2048,
                "cache_read_input_tokens": 17210,
                "output_tokens": 89,
            },
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]
ANTHROPIC_STREAM = sse(ANTHROPIC_EVENTS)
ANTHROPIC_TOOL_ARGS = '{"command": "ls -la", "description": "List files"}'


# --- OpenAI Chat Completions: text then two parallel tool calls, include_usage -------------


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **over: Any) -> dict:
    chunk = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "service_tier": "default",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    chunk.update(over)
    return chunk


OPENAI_CHUNKS: list[Any] = [
    _chunk({"role": "assistant", "content": "", "refusal": None}),
    _chunk({"content": "Checking "}),
    _chunk({"content": "both cities ☀"}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"lo'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'cation": "Paris"}'}}]}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_8kRnA1b2C3d4E5f6G7h8I9j0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"location": "Ōsaka"}'}}]}),
    _chunk({}, "tool_calls"),
    _chunk(
        None,
        usage={
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    ),
    "[DONE]",
]
OPENAI_STREAM = sse((None, c) for c in OPENAI_CHUNKS)


# --- OpenAI Responses: reasoning summary, a message and a function call ---------------------

_RESP = {
    "id": "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
    "object": "response",
    "created_at": 1741290958,
    "status": "in_progress",
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "model": "o4-mini-2025-04-16",
    "output": [],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "usage": None,
}
_RS = "rs_67c9fdcf37fc8190ba82116e33fb28c5"
_MSG = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654"
_FC = "fc_12345xyz"
_FINAL_OUTPUT = [
    {
        "id": _RS,
        "type": "reasoning",
        "encrypted_content": "gAAAAABo_enc",
        "summary": [{"type": "summary_text", "text": "**Weather** lookup needed."}],
    },
    {
        "id": _MSG,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}],
    },
    {
        "id": _FC,
        "type": "function_call",
        "status": "completed",
        "call_id": "call_12345xyz",
        "name": "get_weather",
        "arguments": '{"location":"Paris, France"}',
    },
]
RESPONSES_EVENTS: list[tuple[str, Any]] = [
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": _RESP}),
    (
        "response.in_progress",
        {"type": "response.in_progress", "sequence_number": 1, "response": _RESP},
    ),
    (
        "response.output_item.added",
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": _RS, "type": "reasoning", "summary": []},
        },
    ),
    (
        "response.reasoning_summary_part.added",
        {
            "type": "response.reasoning_summary_part.added",
            "item_id": _RS,
            "output_index": 0,
            "summary_index": 0,
            "part": {"type": "summary_text", "text": ""},
        },
    ),
    (
        "response.reasoning_summary_text.delta",
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": _RS,
            "output_index": 0,
            "summary_index": 0,
            "delta": "**Weather** lookup",
        },
    ),
    (
        "response.reasoning_summary_text.delta",
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": _RS,
            "output_index": 0,
            "summary_index": 0,
            "delta": " needed.",
        },
    ),
    (
        "response.output_item.done",
        {"type": "response.output_item.done", "output_index": 0, "item": _FINAL_OUTPUT[0]},
    ),
    (
        "response.output_item.added",
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {
                "id": _MSG,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        },
    ),
    (
        "response.content_part.added",
        {
            "type": "response.content_part.added",
            "item_id": _MSG,
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": _MSG,
            "output_index": 1,
            "content_index": 0,
            "delta": "Let me",
        },
    ),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": _MSG,
            "output_index": 1,
            "content_index": 0,
            "delta": " check.",
        },
    ),
    (
        "response.output_text.done",
        {
            "type": "response.output_text.done",
            "item_id": _MSG,
            "output_index": 1,
            "content_index": 0,
            "text": "Let me check.",
        },
    ),
    (
        "response.output_item.done",
        {"type": "response.output_item.done", "output_index": 1, "item": _FINAL_OUTPUT[1]},
    ),
    (
        "response.output_item.added",
        {
            "type": "response.output_item.added",
            "output_index": 2,
            "item": {
                "id": _FC,
                "type": "function_call",
                "status": "in_progress",
                "call_id": "call_12345xyz",
                "name": "get_weather",
                "arguments": "",
            },
        },
    ),
    (
        "response.function_call_arguments.delta",
        {
            "type": "response.function_call_arguments.delta",
            "item_id": _FC,
            "output_index": 2,
            "delta": '{"location":',
        },
    ),
    (
        "response.function_call_arguments.delta",
        {
            "type": "response.function_call_arguments.delta",
            "item_id": _FC,
            "output_index": 2,
            "delta": '"Paris, France"}',
        },
    ),
    (
        "response.function_call_arguments.done",
        {
            "type": "response.function_call_arguments.done",
            "item_id": _FC,
            "output_index": 2,
            "arguments": '{"location":"Paris, France"}',
        },
    ),
    (
        "response.output_item.done",
        {"type": "response.output_item.done", "output_index": 2, "item": _FINAL_OUTPUT[2]},
    ),
    (
        "response.completed",
        {
            "type": "response.completed",
            "sequence_number": 20,
            "response": {
                **_RESP,
                "status": "completed",
                "output": _FINAL_OUTPUT,
                "usage": {
                    "input_tokens": 1337,
                    "input_tokens_details": {"cached_tokens": 1024},
                    "output_tokens": 120,
                    "output_tokens_details": {"reasoning_tokens": 64},
                    "total_tokens": 1457,
                },
            },
        },
    ),
]
RESPONSES_STREAM = sse(RESPONSES_EVENTS)


# --- Ollama /api/chat: thinking, text, a tool call, counts on the done line -----------------


def _line(message: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "model": "qwen3:8b",
        "created_at": "2025-06-01T10:00:00.123456Z",
        "message": {"role": "assistant", **message},
        "done": False,
        **more,
    }


OLLAMA_LINES: list[dict[str, Any]] = [
    _line({"content": "", "thinking": "User wants "}),
    _line({"content": "", "thinking": "weather."}),
    _line({"content": "Looking it up"}),
    _line({"content": " — un instant."}),
    _line(
        {
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}}
            ],
        }
    ),
    {
        **_line({"content": ""}),
        "done": True,
        "done_reason": "stop",
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000,
        "eval_count": 282,
        "eval_duration": 4535599000,
    },
]
OLLAMA_STREAM = "".join(compact(x) + "\n" for x in OLLAMA_LINES).encode()


# --- Gemini streamGenerateContent?alt=sse: CRLF framing, thoughts, a function call ----------


def _gem(parts: list[dict[str, Any]], finish: str | None = None, usage: dict | None = None):
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage or {"promptTokenCount": 8410, "totalTokenCount": 8410},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "lRFhaNH4Id2wkdUP_-CSsQ8",
    }


GEMINI_EVENTS: list[dict[str, Any]] = [
    _gem([{"text": "Considering the city", "thought": True}]),
    _gem([{"text": "The weather in ", "thoughtSignature": "CiQBVKhc7sig"}]),
    _gem([{"text": "Paris — ensoleillé."}]),
    _gem(
        [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "CiQBfc2",
            }
        ],
        "STOP",
        {
            "promptTokenCount": 8410,
            "candidatesTokenCount": 30,
            "totalTokenCount": 8500,
            "cachedContentTokenCount": 8192,
            "thoughtsTokenCount": 60,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8410}],
        },
    ),
]
GEMINI_STREAM = sse(((None, e) for e in GEMINI_EVENTS), eol="\r\n", dump=json.dumps)
