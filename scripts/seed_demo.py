"""Seed a demo capture database: realistic exchanges of several clients, for the UI and its tests.

    python scripts/seed_demo.py demo.db

What it holds (times relative to now):
- a multi-turn Claude Code conversation (streamed, tool calls and results, a failing command,
  thinking, prompt caching), compacted halfway and continued, with rule verdicts on some turns;
- Claude Code's side request (title generation on Haiku), an OpenAI SDK exchange with a function
  call and its result, Codex CLI on the Responses API, Ollama with an image, Gemini;
- errors: an upstream 500, an overloaded 529, a request blocked by a rule;
- one request from another machine on the LAN, and a pending streaming request;
- a day of smaller background traffic, so that the stats have a shape, with what the rules said
  about some of it (routing and options rewrites, loop nudges and blocks, an intercept).
"""

# ruff: noqa: E501 - demo data: long literal prompts and bodies read better unbroken

from __future__ import annotations

import base64
import datetime as dt
import json
import pathlib
import random
import struct
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from addons.store import bodies  # noqa: E402
from addons.store.schema import iso, open_db  # noqa: E402


def png(width: int, height: int, rgb: tuple[int, int, int], border: tuple[int, int, int]) -> str:
    """A small valid PNG (a square with a border), base64, as a client would send one."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            edge = x < 3 or y < 3 or x >= width - 3 or y >= height - 3
            row += bytes(border if edge else rgb)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(raw).decode()


PNG_SQUARE = png(64, 64, (63, 127, 181), (255, 255, 255))

CLAUDE_SYSTEM = """You are Claude Code, Anthropic's official CLI for Claude.
You are an interactive CLI tool that helps users with software engineering tasks. Use the \
instructions below and the tools available to you to assist the user.

# Tone and style
You should be concise, direct, and to the point. When you run a non-trivial bash command, you \
should explain what the command does and why you are running it.

# Doing tasks
The user will primarily request you perform software engineering tasks. This includes solving \
bugs, adding new functionality, refactoring code, explaining code, and more.
- Use the available search tools to understand the codebase and the user's query.
- Implement the solution using all tools available to you.
- Verify the solution if possible with tests. NEVER assume specific test framework or test script.

# Tool usage policy
- When doing file search, prefer to use the Task tool in order to reduce context usage.
- You have the capability to call multiple tools in a single response.

Here is useful information about the environment you are running in:
<env>
Working directory: /home/dev/datekit
Is directory a git repo: Yes
Platform: linux
Today's date: 2026-11-20
</env>
"""


def schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }


CLAUDE_TOOLS = [
    {
        "name": "Bash",
        "description": "Executes a given bash command in a persistent shell session with optional "
        "timeout, ensuring proper handling and security measures.",
        "input_schema": schema(
            {
                "command": {"type": "string", "description": "The command to execute"},
                "timeout": {"type": "number", "description": "Optional timeout in milliseconds"},
                "description": {"type": "string", "description": "What the command does"},
            },
            ["command"],
        ),
    },
    {
        "name": "Read",
        "description": "Reads a file from the local filesystem.",
        "input_schema": schema(
            {
                "file_path": {"type": "string"},
                "offset": {"type": "number"},
                "limit": {"type": "number"},
            },
            ["file_path"],
        ),
    },
    {
        "name": "Edit",
        "description": "Performs exact string replacements in files.",
        "input_schema": schema(
            {
                "file_path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "replace_all": {"type": "boolean", "default": False},
            },
            ["file_path", "old_string", "new_string"],
        ),
    },
    {
        "name": "Grep",
        "description": "A powerful search tool built on ripgrep.",
        "input_schema": schema(
            {"pattern": {"type": "string"}, "path": {"type": "string"}}, ["pattern"]
        ),
    },
    {
        "name": "Glob",
        "description": "Fast file pattern matching tool that works with any codebase size.",
        "input_schema": schema({"pattern": {"type": "string"}}, ["pattern"]),
    },
    {
        "name": "TodoWrite",
        "description": "Use this tool to create and manage a structured task list.",
        "input_schema": schema(
            {"todos": {"type": "array", "items": {"type": "object"}}}, ["todos"]
        ),
    },
]

DATES_PY = '''"""Parse the dates our users type."""
import datetime as dt

FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%b %d %Y")


def parse_date(text: str) -> dt.date:
    for fmt in FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"not a date: {text!r}")
'''

PYTEST_FAIL = """============================= test session starts ==============================
collected 14 items

tests/test_dates.py ......F

=================================== FAILURES ===================================
____________________________ test_parse_dates[iso-z] ____________________________

    def test_parse_dates(text, expected):
>       assert parse_date(text) == expected
E       ValueError: not a date: '2026-11-20T10:04:00Z'

src/datekit/dates.py:13: ValueError
=========================== short test summary info ============================
FAILED tests/test_dates.py::test_parse_dates[iso-z] - ValueError: not a date
1 failed, 6 passed in 0.21s"""

REQUEST_HEADERS_CC = {
    "host": "api.anthropic.com",
    "user-agent": "claude-cli/2.1.197 (external, cli)",
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "x-api-key": "fp:3f9a61c2d0…Qx7A",
    "x-app": "cli",
    "x-stainless-lang": "js",
    "accept": "application/json",
}
SSE_RESPONSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "request-id": "req_011CVd7HqX2",
    "anthropic-ratelimit-tokens-remaining": "1980000",
    "cf-ray": "9a1b2c3d4e5f6a7b-FRA",
}


@dataclass
class Demo:
    """What the tests need to find in the seeded database."""

    path: str
    conversation_id: str = "conv-claude-datekit"
    pending_id: str = "req-live-stream"
    error_id: str = "req-openai-500"
    tools_id: str = ""
    openai_conversation_id: str = "conv-openai-weather"
    ids: list[str] = field(default_factory=list)


class Seeder:
    def __init__(self, db, now: dt.datetime) -> None:
        self.db = db
        self.conn = db.conn
        self.now = now
        self.rows: list[dict[str, Any]] = []

    def at(self, seconds_ago: float) -> str:
        return iso(self.now - dt.timedelta(seconds=seconds_ago))

    def add(
        self,
        row: dict[str, Any],
        request: dict[str, Any] | None,
        response: dict[str, Any] | list | None = None,
        stream: bytes | None = None,
        verdicts: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> str:
        row = dict(row)
        if request is not None and "turn_index" in row:
            row["turn_index"] = user_turns(request)
        if request is not None:
            raw = json.dumps(request, ensure_ascii=False).encode()
            row["request_body_id"] = bodies.store(self.conn, raw)
            row["request_bytes"] = len(raw)
        if response is not None:
            raw = json.dumps(response, ensure_ascii=False).encode()
            row["response_body_id"] = bodies.store(self.conn, raw)
            row["response_bytes"] = len(raw)
        if stream is not None:
            row["stream_body_id"] = bodies.store(self.conn, stream)
            row["response_bytes"] = len(stream)
        for key in ("request_headers", "response_headers", "tools_offered", "tool_calls"):
            if isinstance(row.get(key), dict | list):
                row[key] = json.dumps(row[key], ensure_ascii=False)
        row.setdefault("verdict", "allow")
        columns = list(row)
        self.conn.execute(
            f"INSERT INTO requests ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [row[c] for c in columns],
        )
        for seq, verdict in enumerate(verdicts):
            self.conn.execute(
                "INSERT INTO verdicts (request_id, seq, phase, rule_id, verdict, reason, details, "
                "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    seq,
                    verdict["phase"],
                    verdict["rule_id"],
                    verdict["verdict"],
                    verdict["reason"],
                    json.dumps(verdict.get("details")),
                    row["started_at"],
                ),
            )
        self.rows.append(row)
        return row["id"]


def user_turns(request: dict[str, Any]) -> int:
    """The proxy's turn index: how many user messages the request carries (at least 1)."""
    for key in ("messages", "contents", "input"):
        items = request.get(key)
        if isinstance(items, list):
            return max(1, sum(1 for m in items if isinstance(m, dict) and m.get("role") == "user"))
    return 1


def sse(events: list[tuple[str | None, dict[str, Any]]]) -> bytes:
    out = []
    for name, data in events:
        if name:
            out.append(f"event: {name}\n")
        out.append(f"data: {json.dumps(data, ensure_ascii=False)}\n\n")
    return "".join(out).encode()


def anthropic_stream(
    msg_id: str, model: str, blocks: list[dict[str, Any]], usage: dict[str, int], stop_reason: str
) -> bytes:
    events: list[tuple[str | None, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": {**usage, "output_tokens": 1},
                },
            },
        ),
    ]
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            words = block["text"].split(" ")
            for i in range(0, len(words), 6):
                chunk = " ".join(words[i : i + 6]) + (" " if i + 6 < len(words) else "")
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": chunk},
                        },
                    )
                )
        elif kind == "thinking":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": ""},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": "EqQBCkYIBxgCKkA…"},
                    },
                )
            )
        elif kind == "tool_use":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            text = json.dumps(block["input"])
            for i in range(0, len(text), 40):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": text[i : i + 40]},
                        },
                    )
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        if index == 0:
            events.append(("ping", {"type": "ping"}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": usage.get("output_tokens", 0)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return sse(events)


def claude_conversation(s: Seeder, demo: Demo) -> None:
    """Fix a failing test with Claude Code; the context is compacted after turn 6."""
    model = "claude-sonnet-4-5-20250929"
    steps: list[dict[str, Any]] = [
        {
            "user": [
                {
                    "type": "text",
                    "text": "The test suite fails on test_parse_dates. Can you find out why and fix it?",
                }
            ],
            "blocks": [
                {
                    "type": "text",
                    "text": "I'll start by running the failing test to see the error.",
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01VfR1",
                    "name": "Bash",
                    "input": {
                        "command": "python -m pytest tests/test_dates.py -x -q",
                        "description": "Run the date tests",
                    },
                },
            ],
            "stop": "tool_use",
            "usage": (4, 0, 14210, 96),
        },
        {
            "user": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01VfR1",
                    "content": PYTEST_FAIL,
                    "is_error": True,
                }
            ],
            "blocks": [
                {
                    "type": "thinking",
                    "thinking": "The failing case is an ISO 8601 timestamp with a time and a Z suffix. parse_date only knows date formats, so strptime fails for every format. Let me read the module.",
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01Hk2P",
                    "name": "Read",
                    "input": {"file_path": "/home/dev/datekit/src/datekit/dates.py"},
                },
            ],
            "stop": "tool_use",
            "usage": (612, 14210, 0, 141),
        },
        {
            "user": [{"type": "tool_result", "tool_use_id": "toolu_01Hk2P", "content": DATES_PY}],
            "blocks": [
                {
                    "type": "text",
                    "text": "`parse_date` tries three date-only formats, so an ISO timestamp such as `2026-11-20T10:04:00Z` is rejected. I'll accept full ISO 8601 input first, then fall back to the other formats.",
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01Ed3Q",
                    "name": "Edit",
                    "input": {
                        "file_path": "/home/dev/datekit/src/datekit/dates.py",
                        "old_string": "    for fmt in FORMATS:",
                        "new_string": '    try:\n        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()\n    except ValueError:\n        pass\n    for fmt in FORMATS:',
                    },
                },
            ],
            "stop": "tool_use",
            "usage": (845, 14822, 0, 233),
        },
        {
            "user": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Ed3Q",
                    "content": "The file /home/dev/datekit/src/datekit/dates.py has been updated.",
                }
            ],
            "blocks": [
                {
                    "type": "tool_use",
                    "id": "toolu_01Bs4R",
                    "name": "Bash",
                    "input": {
                        "command": "python -m pytest -q",
                        "description": "Run the whole suite",
                    },
                },
            ],
            "stop": "tool_use",
            "usage": (310, 15667, 0, 64),
        },
        {
            "user": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Bs4R",
                    "content": "..............\n14 passed in 0.34s",
                }
            ],
            "blocks": [
                {
                    "type": "text",
                    "text": "All 14 tests pass. The fix: `parse_date` now accepts ISO 8601 timestamps (including a trailing `Z`) before trying the other formats.",
                },
            ],
            "stop": "end_turn",
            "usage": (122, 15977, 0, 58),
        },
        {
            "user": [
                {
                    "type": "text",
                    "text": "Great. Also add a test for leap days, and check the other parsers in src/datekit for the same bug.",
                }
            ],
            "blocks": [
                {
                    "type": "tool_use",
                    "id": "toolu_01Gr5S",
                    "name": "Grep",
                    "input": {"pattern": "strptime", "path": "src/datekit"},
                },
            ],
            "stop": "tool_use",
            "usage": (2890, 16099, 31000, 52),
            "verdicts": [
                {
                    "phase": "response",
                    "rule_id": "loop_detector",
                    "verdict": "warn",
                    "reason": "3 similar Bash calls in the last 5 turns",
                    "details": {"window": 5, "similar": 3},
                }
            ],
        },
    ]
    messages: list[dict[str, Any]] = []
    start = 1500.0
    for i, step in enumerate(steps):
        messages.append({"role": "user", "content": step["user"]})
        body = {
            "model": model,
            "max_tokens": 32000,
            "stream": True,
            "system": [
                {
                    "type": "text",
                    "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": CLAUDE_SYSTEM, "cache_control": {"type": "ephemeral"}},
            ],
            "tools": CLAUDE_TOOLS,
            "messages": json.loads(json.dumps(messages)),
            "metadata": {"user_id": "user_7f3c_account__session_5b1e0c2a"},
            "thinking": {"type": "enabled", "budget_tokens": 8000},
        }
        inp, cache_read, cache_write, out = step["usage"]
        usage = {
            "input_tokens": inp,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
            "output_tokens": out,
        }
        stream = anthropic_stream(f"msg_01Demo{i}", model, step["blocks"], usage, step["stop"])
        started = start - i * 45
        latency = 2400 + 900 * (i % 3) + 7 * out
        calls = [
            {"name": b["name"], "arguments": json.dumps(b["input"])}
            for b in step["blocks"]
            if b["type"] == "tool_use"
        ]
        text = "\n".join(b["text"] for b in step["blocks"] if b["type"] == "text")
        first_user = step["user"][0]
        preview = first_user.get("text") if first_user["type"] == "text" else None
        row_id = s.add(
            {
                "id": f"req-cc-{i:02d}",
                "started_at": s.at(started),
                "ended_at": s.at(started - latency / 1000),
                "state": "complete",
                "listener": "reverse:anthropic",
                "method": "POST",
                "scheme": "https",
                "host": "api.anthropic.com",
                "path": "/v1/messages?beta=true",
                "upstream": "anthropic",
                "upstream_url": "https://api.anthropic.com",
                "dialect": "anthropic",
                "status": 200,
                "requested_model": model,
                "served_model": model,
                "is_stream": 1,
                "client_app": "claude-code",
                "client_ip": "127.0.0.1",
                "user_agent": REQUEST_HEADERS_CC["user-agent"],
                "session_id": "sess-5b1e0c2a",
                "conversation_id": demo.conversation_id,
                "turn_index": i,
                "latency_ms": latency,
                "ttft_ms": 610 + 40 * i,
                "overhead_ms": 0.4,
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_tokens": cache_read,
                "cache_write_tokens": cache_write,
                "tokens_estimated": 0,
                "stop_reason": step["stop"],
                "tools_offered": [t["name"] for t in CLAUDE_TOOLS],
                "tool_calls": calls or None,
                "request_headers": REQUEST_HEADERS_CC,
                "response_headers": SSE_RESPONSE_HEADERS,
                "stream_events": stream.count(b"data: "),
                "prompt_preview": preview or _last_user_text(messages),
                "response_text": text or None,
                "verdict": step.get("verdicts", [{}])[0].get("verdict", "allow"),
            },
            body,
            stream=stream,
            verdicts=step.get("verdicts", []),
        )
        demo.ids.append(row_id)
        if i == 2:
            demo.tools_id = row_id
        messages.append({"role": "assistant", "content": step["blocks"]})

    # Compaction: Claude Code summarises the conversation and starts over from the summary.
    summary = (
        "This session is being continued from a previous conversation that ran out of context. "
        "The conversation is summarized below:\n\n1. Primary request: fix test_parse_dates; then add "
        "a leap-day test and check the other parsers for the same bug.\n2. Done: parse_date accepts "
        "ISO 8601 timestamps (dates.py); the suite passes (14 tests).\n3. In progress: grep for "
        "strptime in src/datekit found times.py and ranges.py."
    )
    after = [
        {
            "user": [
                {"type": "text", "text": summary},
                {
                    "type": "text",
                    "text": "Please continue the conversation from where we left it off.",
                },
            ],
            "blocks": [
                {"type": "text", "text": "Continuing: I'll add the leap-day test first."},
                {
                    "type": "tool_use",
                    "id": "toolu_01Wr6T",
                    "name": "Edit",
                    "input": {
                        "file_path": "/home/dev/datekit/tests/test_dates.py",
                        "old_string": "CASES = [",
                        "new_string": 'CASES = [\n    ("2024-02-29", dt.date(2024, 2, 29)),',
                    },
                },
            ],
            "stop": "tool_use",
            "usage": (1450, 0, 14210, 118),
        },
        {
            "user": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Wr6T",
                    "content": "The file /home/dev/datekit/tests/test_dates.py has been updated.",
                }
            ],
            "blocks": [
                {
                    "type": "text",
                    "text": "Added the leap-day case. `times.py` and `ranges.py` call `parse_date`, so they get the fix too; nothing else parses dates by hand.",
                },
            ],
            "stop": "end_turn",
            "usage": (260, 15660, 0, 77),
        },
    ]
    messages = []
    for j, step in enumerate(after):
        i = len(steps) + j
        messages.append({"role": "user", "content": step["user"]})
        body = {
            "model": model,
            "max_tokens": 32000,
            "stream": True,
            "system": [
                {"type": "text", "text": CLAUDE_SYSTEM, "cache_control": {"type": "ephemeral"}}
            ],
            "tools": CLAUDE_TOOLS,
            "messages": json.loads(json.dumps(messages)),
        }
        inp, cache_read, cache_write, out = step["usage"]
        usage = {
            "input_tokens": inp,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
            "output_tokens": out,
        }
        stream = anthropic_stream(f"msg_01Demo{i}", model, step["blocks"], usage, step["stop"])
        started = start - i * 45 - 30
        latency = 3100 + 11 * out
        calls = [
            {"name": b["name"], "arguments": json.dumps(b["input"])}
            for b in step["blocks"]
            if b["type"] == "tool_use"
        ]
        text = "\n".join(b["text"] for b in step["blocks"] if b["type"] == "text")
        demo.ids.append(
            s.add(
                {
                    "id": f"req-cc-{i:02d}",
                    "started_at": s.at(started),
                    "ended_at": s.at(started - latency / 1000),
                    "state": "complete",
                    "listener": "reverse:anthropic",
                    "method": "POST",
                    "scheme": "https",
                    "host": "api.anthropic.com",
                    "path": "/v1/messages?beta=true",
                    "upstream": "anthropic",
                    "upstream_url": "https://api.anthropic.com",
                    "dialect": "anthropic",
                    "status": 200,
                    "requested_model": model,
                    "served_model": model,
                    "is_stream": 1,
                    "client_app": "claude-code",
                    "client_ip": "127.0.0.1",
                    "user_agent": REQUEST_HEADERS_CC["user-agent"],
                    "session_id": "sess-5b1e0c2a",
                    "conversation_id": demo.conversation_id,
                    "turn_index": i,
                    "latency_ms": latency,
                    "ttft_ms": 700.0,
                    "input_tokens": inp,
                    "output_tokens": out,
                    "cache_read_tokens": cache_read,
                    "cache_write_tokens": cache_write,
                    "tokens_estimated": 0,
                    "stop_reason": step["stop"],
                    "tools_offered": [t["name"] for t in CLAUDE_TOOLS],
                    "tool_calls": calls or None,
                    "request_headers": REQUEST_HEADERS_CC,
                    "response_headers": SSE_RESPONSE_HEADERS,
                    "stream_events": stream.count(b"data: "),
                    "prompt_preview": _last_user_text(messages),
                    "response_text": text or None,
                },
                body,
                stream=stream,
                verdicts=[
                    {
                        "phase": "request",
                        "rule_id": "tool_pruner",
                        "verdict": "rewrite",
                        "reason": "removed 2 tools never called in this session",
                        "details": {"removed": ["NotebookEdit", "WebFetch"]},
                    }
                ]
                if j == 0
                else [],
            )
        )
        if j == 0:
            s.conn.execute(
                "UPDATE requests SET verdict = 'rewrite' WHERE id = ?", (f"req-cc-{i:02d}",)
            )
        messages.append({"role": "assistant", "content": step["blocks"]})


def _last_user_text(messages: list[dict[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            return content[:2000]
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        if texts:
            return "\n".join(texts)[:2000]
        results = [b.get("content") for b in content if b.get("type") == "tool_result"]
        if results and isinstance(results[0], str):
            return results[0][:2000]
    return None


def side_requests(s: Seeder, demo: Demo) -> None:
    haiku = "claude-haiku-4-5-20251001"
    s.add(
        {
            "id": "req-cc-title",
            "started_at": s.at(1502),
            "ended_at": s.at(1501.2),
            "state": "complete",
            "listener": "reverse:anthropic",
            "method": "POST",
            "path": "/v1/messages?beta=true",
            "upstream": "anthropic",
            "dialect": "anthropic",
            "status": 200,
            "requested_model": haiku,
            "served_model": haiku,
            "is_stream": 0,
            "client_app": "claude-code",
            "client_ip": "127.0.0.1",
            "session_id": "sess-5b1e0c2a",
            "conversation_id": "conv-claude-title",
            "turn_index": 0,
            "latency_ms": 812.0,
            "ttft_ms": 790.0,
            "input_tokens": 161,
            "output_tokens": 19,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "tokens_estimated": 0,
            "stop_reason": "end_turn",
            "request_headers": REQUEST_HEADERS_CC,
            "response_headers": {"content-type": "application/json"},
            "prompt_preview": "The test suite fails on test_parse_dates. Can you find out why and fix it?",
            "response_text": '{"isNewTopic": true, "title": "Fix date parsing"}',
        },
        {
            "model": haiku,
            "max_tokens": 512,
            "temperature": 0,
            "system": [
                {
                    "type": "text",
                    "text": "Analyze if this message indicates a new conversation topic. If it does, extract a 2-3 word title. Format your response as a JSON object with two fields: 'isNewTopic' (boolean) and 'title' (string or null).",
                }
            ],
            "messages": [
                {
                    "role": "user",
                    "content": "The test suite fails on test_parse_dates. Can you find out why and fix it?",
                }
            ],
        },
        response={
            "id": "msg_01Title",
            "type": "message",
            "role": "assistant",
            "model": haiku,
            "content": [
                {"type": "text", "text": '{"isNewTopic": true, "title": "Fix date parsing"}'}
            ],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 161, "output_tokens": 19},
        },
    )

    # OpenAI Python SDK: a function call, then the answer once its result is sent back.
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "unit": {"type": "string", "enum": ["c", "f"]},
                    },
                    "required": ["city"],
                },
            },
        }
    ]
    headers = {
        "user-agent": "OpenAI/Python 1.109.1",
        "content-type": "application/json",
        "authorization": "Bearer fp:91c0a7e44b…9kQz",
        "x-stainless-lang": "python",
        "x-stainless-package-version": "1.109.1",
    }
    first = [
        {"role": "system", "content": "You are a helpful travel assistant."},
        {
            "role": "user",
            "content": "What's the weather in Lisbon right now? Should I take a jacket?",
        },
    ]
    call = {
        "id": "call_Qm3xL0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Lisbon", "unit": "c"}'},
    }
    common = {
        "listener": "reverse:openai",
        "method": "POST",
        "path": "/v1/chat/completions",
        "upstream": "openai",
        "dialect": "openai_chat",
        "client_app": "openai-python",
        "client_ip": "127.0.0.1",
        "conversation_id": demo.openai_conversation_id,
        "session_id": None,
        "is_stream": 0,
        "request_headers": headers,
        "response_headers": {"content-type": "application/json", "openai-processing-ms": "640"},
        "tools_offered": ["get_weather"],
        "tokens_estimated": 0,
    }
    s.add(
        {
            **common,
            "id": "req-openai-1",
            "started_at": s.at(900),
            "ended_at": s.at(899.1),
            "state": "complete",
            "status": 200,
            "requested_model": "gpt-4o-mini",
            "served_model": "gpt-4o-mini-2024-07-18",
            "turn_index": 0,
            "latency_ms": 903.0,
            "ttft_ms": 880.0,
            "input_tokens": 88,
            "output_tokens": 18,
            "cache_read_tokens": 0,
            "stop_reason": "tool_calls",
            "tool_calls": [{"name": "get_weather", "arguments": '{"city": "Lisbon", "unit": "c"}'}],
            "prompt_preview": first[-1]["content"],
        },
        {
            "model": "gpt-4o-mini",
            "messages": first,
            "tools": tools,
            "tool_choice": "auto",
            "temperature": 0.2,
        },
        response={
            "id": "chatcmpl-9xQ1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                }
            ],
            "usage": {"prompt_tokens": 88, "completion_tokens": 18, "total_tokens": 106},
        },
    )
    second = [
        *first,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": "call_Qm3xL0",
            "content": '{"city": "Lisbon", "temp_c": 14, "conditions": "light rain", "wind_kph": 22}',
        },
    ]
    answer = (
        "It's 14 °C in Lisbon with light rain and a fresh breeze (22 km/h). "
        "Yes — take a light waterproof jacket."
    )
    s.add(
        {
            **common,
            "id": "req-openai-2",
            "started_at": s.at(897),
            "ended_at": s.at(895.8),
            "state": "complete",
            "status": 200,
            "requested_model": "gpt-4o-mini",
            "served_model": "gpt-4o-mini-2024-07-18",
            "turn_index": 1,
            "latency_ms": 1204.0,
            "ttft_ms": 1190.0,
            "input_tokens": 141,
            "output_tokens": 31,
            "cache_read_tokens": 0,
            "stop_reason": "stop",
            "prompt_preview": first[-1]["content"],
            "response_text": answer,
        },
        {"model": "gpt-4o-mini", "messages": second, "tools": tools, "temperature": 0.2},
        response={
            "id": "chatcmpl-9xQ2",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": answer},
                }
            ],
            "usage": {"prompt_tokens": 141, "completion_tokens": 31, "total_tokens": 172},
        },
    )

    # Codex CLI on the Responses API, streamed.
    codex_input = [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "List the TODOs in this repo"}],
        },
        {
            "type": "function_call",
            "call_id": "call_cx1",
            "name": "shell",
            "arguments": '{"command": ["rg", "-n", "TODO"]}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_cx1",
            "output": "src/datekit/ranges.py:41: # TODO: half-open ranges\nsrc/datekit/times.py:12: # TODO: leap seconds",
        },
    ]
    final = {
        "id": "resp_68a1",
        "object": "response",
        "status": "completed",
        "model": "gpt-5-codex",
        "output": [
            {
                "type": "reasoning",
                "summary": [
                    {"type": "summary_text", "text": "Two TODO comments found; summarise them."}
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "There are two TODOs:\n- ranges.py:41 — half-open ranges\n- times.py:12 — leap seconds",
                    }
                ],
            },
        ],
        "usage": {
            "input_tokens": 2310,
            "output_tokens": 64,
            "input_tokens_details": {"cached_tokens": 1920},
        },
    }
    stream = sse(
        [
            (
                "response.created",
                {
                    "type": "response.created",
                    "response": {**final, "status": "in_progress", "output": []},
                },
            ),
            (
                "response.output_text.delta",
                {"type": "response.output_text.delta", "delta": "There are two TODOs:"},
            ),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "delta": "\n- ranges.py:41 — half-open ranges\n- times.py:12 — leap seconds",
                },
            ),
            ("response.completed", {"type": "response.completed", "response": final}),
        ]
    )
    s.add(
        {
            "id": "req-codex-1",
            "started_at": s.at(700),
            "ended_at": s.at(696.5),
            "state": "complete",
            "listener": "reverse:openai",
            "method": "POST",
            "path": "/v1/responses",
            "upstream": "openai",
            "dialect": "openai_responses",
            "status": 200,
            "requested_model": "gpt-5-codex",
            "served_model": "gpt-5-codex",
            "is_stream": 1,
            "client_app": "codex-cli",
            "client_ip": "127.0.0.1",
            "conversation_id": "conv-codex-todos",
            "turn_index": 1,
            "latency_ms": 3480.0,
            "ttft_ms": 1650.0,
            "input_tokens": 390,
            "output_tokens": 64,
            "cache_read_tokens": 1920,
            "tokens_estimated": 0,
            "stop_reason": "completed",
            "tools_offered": ["shell", "apply_patch", "update_plan"],
            "request_headers": {
                "originator": "codex_cli_rs",
                "user-agent": "codex_cli_rs/0.58.0",
                "authorization": "Bearer fp:0be1f2a3c4…A1b2",
            },
            "response_headers": {"content-type": "text/event-stream"},
            "stream_events": 4,
            "prompt_preview": "List the TODOs in this repo",
            "response_text": "There are two TODOs:\n- ranges.py:41 — half-open ranges\n- times.py:12 — leap seconds",
        },
        {
            "model": "gpt-5-codex",
            "instructions": "You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI on a user's computer.",
            "input": codex_input,
            "stream": True,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "tools": [
                {
                    "type": "function",
                    "name": "shell",
                    "description": "Runs a shell command and returns its output.",
                    "parameters": {
                        "type": "object",
                        "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                    },
                },
                {"type": "function", "name": "apply_patch", "description": "Apply a patch."},
                {"type": "function", "name": "update_plan", "description": "Update the plan."},
            ],
        },
        stream=stream,
    )

    # Ollama with an image, streamed as NDJSON.
    chunks = ["The image", " shows a blue", " square with a", " white border."]
    lines = [
        json.dumps(
            {
                "model": "llava:13b",
                "created_at": s.at(600),
                "message": {"role": "assistant", "content": c},
                "done": False,
            }
        )
        for c in chunks
    ]
    lines.append(
        json.dumps(
            {
                "model": "llava:13b",
                "created_at": s.at(598),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 601,
                "eval_count": 17,
                "total_duration": 2123000000,
            }
        )
    )
    s.add(
        {
            "id": "req-ollama-1",
            "started_at": s.at(601),
            "ended_at": s.at(598.9),
            "state": "complete",
            "listener": "reverse:ollama",
            "method": "POST",
            "path": "/api/chat",
            "upstream": "ollama",
            "dialect": "ollama",
            "status": 200,
            "requested_model": "llava:13b",
            "served_model": "llava:13b",
            "is_stream": 1,
            "client_app": "ollama-python",
            "client_ip": "127.0.0.1",
            "conversation_id": "conv-ollama-image",
            "turn_index": 0,
            "latency_ms": 2123.0,
            "ttft_ms": 1402.0,
            "input_tokens": 601,
            "output_tokens": 17,
            "tokens_estimated": 0,
            "stop_reason": "stop",
            "request_headers": {"user-agent": "ollama-python/0.6.0 (x86_64 linux) Python/3.11.7"},
            "response_headers": {"content-type": "application/x-ndjson"},
            "stream_events": len(lines),
            "prompt_preview": "What is in this picture?",
            "response_text": "".join(chunks),
        },
        {
            "model": "llava:13b",
            "stream": True,
            "options": {"temperature": 0.1, "num_ctx": 4096},
            "messages": [
                {"role": "user", "content": "What is in this picture?", "images": [PNG_SQUARE]}
            ],
        },
        stream=("\n".join(lines) + "\n").encode(),
    )

    # Gemini via the google-genai SDK.
    s.add(
        {
            "id": "req-gemini-1",
            "started_at": s.at(520),
            "ended_at": s.at(518.6),
            "state": "complete",
            "listener": "reverse:gemini",
            "method": "POST",
            "path": "/v1beta/models/gemini-2.5-flash:generateContent",
            "upstream": "gemini",
            "dialect": "gemini",
            "status": 200,
            "requested_model": "gemini-2.5-flash",
            "served_model": "gemini-2.5-flash",
            "is_stream": 0,
            "client_app": "google-genai",
            "client_ip": "127.0.0.1",
            "conversation_id": "conv-gemini-haiku",
            "turn_index": 0,
            "latency_ms": 1390.0,
            "ttft_ms": 1380.0,
            "input_tokens": 12,
            "output_tokens": 22,
            "tokens_estimated": 0,
            "stop_reason": "STOP",
            "request_headers": {
                "x-goog-api-key": "fp:77d1e0aa9c…T0k3",
                "x-goog-api-client": "google-genai-sdk/1.41.0 gl-python/3.11.7",
            },
            "response_headers": {"content-type": "application/json; charset=UTF-8"},
            "prompt_preview": "Write a haiku about timezones",
            "response_text": "Midnight here, noon there —\nthe same moment, split in two,\nclocks argue in vain.",
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Write a haiku about timezones"}]}],
            "generationConfig": {"temperature": 0.9},
        },
        response={
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "text": "Midnight here, noon there —\nthe same moment, split in two,\nclocks argue in vain."
                            }
                        ],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 22},
            "modelVersion": "gemini-2.5-flash",
        },
    )

    # A teammate's machine on the LAN, through Cursor's OpenAI-compatible endpoint.
    s.add(
        {
            "id": "req-lan-cursor",
            "started_at": s.at(450),
            "ended_at": s.at(446.9),
            "state": "complete",
            "listener": "reverse:openai",
            "method": "POST",
            "path": "/v1/chat/completions",
            "upstream": "openai",
            "dialect": "openai_chat",
            "status": 200,
            "requested_model": "gpt-4.1",
            "served_model": "gpt-4.1-2025-04-14",
            "is_stream": 0,
            "client_app": "cursor",
            "client_ip": "192.168.1.23",
            "conversation_id": "conv-lan-cursor",
            "turn_index": 0,
            "latency_ms": 3120.0,
            "ttft_ms": 3100.0,
            "input_tokens": 1840,
            "output_tokens": 212,
            "tokens_estimated": 0,
            "stop_reason": "stop",
            "request_headers": {
                "user-agent": "Cursor/1.7.2",
                "authorization": "Bearer fp:5c5c9e1f00…Zz91",
            },
            "response_headers": {"content-type": "application/json"},
            "prompt_preview": "Explain what this regex does: ^(?=.*\\d)(?=.*[a-z]).{8,}$",
            "response_text": "It checks that a string is at least 8 characters long and contains at least one digit and one lowercase letter.",
        },
        {
            "model": "gpt-4.1",
            "messages": [
                {
                    "role": "user",
                    "content": "Explain what this regex does: ^(?=.*\\d)(?=.*[a-z]).{8,}$",
                }
            ],
        },
        response={
            "id": "chatcmpl-lan1",
            "object": "chat.completion",
            "model": "gpt-4.1-2025-04-14",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": "It checks that a string is at least 8 characters long and contains at least one digit and one lowercase letter.",
                    },
                }
            ],
            "usage": {"prompt_tokens": 1840, "completion_tokens": 212},
        },
    )


def errors(s: Seeder, demo: Demo) -> None:
    s.add(
        {
            "id": demo.error_id,
            "started_at": s.at(300),
            "ended_at": s.at(299.4),
            "state": "error",
            "listener": "reverse:openai",
            "method": "POST",
            "path": "/v1/chat/completions",
            "upstream": "openai",
            "dialect": "openai_chat",
            "status": 500,
            "requested_model": "gpt-4o",
            "is_stream": 0,
            "client_app": "openai-python",
            "client_ip": "127.0.0.1",
            "conversation_id": "conv-openai-500",
            "turn_index": 0,
            "latency_ms": 612.0,
            "input_tokens": 25,
            "tokens_estimated": 1,
            "error": "upstream 500: The server had an error while processing your request. Sorry about that!",
            "request_headers": {
                "user-agent": "OpenAI/Python 1.109.1",
                "x-stainless-lang": "python",
            },
            "response_headers": {"content-type": "application/json"},
            "prompt_preview": "Summarise the attached meeting notes in five bullet points.",
        },
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": "Summarise the attached meeting notes in five bullet points.",
                }
            ],
        },
        response={
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    )
    s.add(
        {
            "id": "req-cc-overloaded",
            "started_at": s.at(1320),
            "ended_at": s.at(1319.7),
            "state": "error",
            "listener": "reverse:anthropic",
            "method": "POST",
            "path": "/v1/messages?beta=true",
            "upstream": "anthropic",
            "dialect": "anthropic",
            "status": 529,
            "requested_model": "claude-opus-4-1-20250805",
            "is_stream": 1,
            "client_app": "claude-code",
            "client_ip": "127.0.0.1",
            "session_id": "sess-5b1e0c2a",
            "conversation_id": "conv-claude-opus",
            "turn_index": 0,
            "latency_ms": 318.0,
            "input_tokens": 12,
            "tokens_estimated": 1,
            "error": "upstream 529: Overloaded",
            "request_headers": REQUEST_HEADERS_CC,
            "response_headers": {"content-type": "application/json"},
            "prompt_preview": "Plan the migration of the scheduler to asyncio",
        },
        {
            "model": "claude-opus-4-1-20250805",
            "max_tokens": 32000,
            "stream": True,
            "messages": [
                {"role": "user", "content": "Plan the migration of the scheduler to asyncio"}
            ],
        },
        response={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    s.add(
        {
            "id": "req-blocked",
            "started_at": s.at(200),
            "ended_at": s.at(200),
            "state": "error",
            "listener": "reverse:anthropic",
            "method": "POST",
            "path": "/v1/messages",
            "upstream": "anthropic",
            "dialect": "anthropic",
            "status": 400,
            "requested_model": "claude-sonnet-4-5-20250929",
            "is_stream": 0,
            "client_app": "anthropic-python",
            "client_ip": "127.0.0.1",
            "conversation_id": "conv-blocked",
            "turn_index": 0,
            "latency_ms": 2.1,
            "input_tokens": 212000,
            "tokens_estimated": 1,
            "error": "blocked by context_overflow_guard: ~212,000 input tokens exceed the 200,000 limit of claude-sonnet-4-5",
            "verdict": "block",
            "request_headers": {
                "user-agent": "Anthropic/Python 0.69.0",
                "x-stainless-lang": "python",
            },
            "response_headers": {"content-type": "application/json"},
            "prompt_preview": "Here is the full log file, find the cause of the crash: …",
        },
        {
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 4096,
            "messages": [
                {
                    "role": "user",
                    "content": "Here is the full log file, find the cause of the crash: …",
                }
            ],
        },
        response={
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "blocked by context_overflow_guard: ~212,000 input tokens exceed the 200,000 limit of claude-sonnet-4-5",
            },
        },
        verdicts=[
            {
                "phase": "request",
                "rule_id": "context_overflow_guard",
                "verdict": "block",
                "reason": "~212,000 input tokens exceed the 200,000 limit of claude-sonnet-4-5",
                "details": {"estimated_tokens": 212000, "limit": 200000},
            }
        ],
    )


def pending(s: Seeder, demo: Demo) -> None:
    model = "claude-sonnet-4-5-20250929"
    s.add(
        {
            "id": demo.pending_id,
            "started_at": s.at(3),
            "state": "pending",
            "listener": "reverse:anthropic",
            "method": "POST",
            "path": "/v1/messages?beta=true",
            "upstream": "anthropic",
            "dialect": "anthropic",
            "requested_model": model,
            "is_stream": 1,
            "client_app": "claude-code",
            "client_ip": "127.0.0.1",
            "session_id": "sess-9d2f",
            "conversation_id": "conv-claude-live",
            "turn_index": 0,
            "ttft_ms": 640.0,
            "input_tokens": 14380,
            "output_tokens": 57,
            "tokens_estimated": 1,
            "tools_offered": [t["name"] for t in CLAUDE_TOOLS],
            "request_headers": REQUEST_HEADERS_CC,
            "prompt_preview": "Write a README section about the date formats datekit accepts",
        },
        {
            "model": model,
            "max_tokens": 32000,
            "stream": True,
            "system": [{"type": "text", "text": CLAUDE_SYSTEM}],
            "tools": CLAUDE_TOOLS,
            "messages": [
                {
                    "role": "user",
                    "content": "Write a README section about the date formats datekit accepts",
                }
            ],
        },
    )


def background(s: Seeder, rng: random.Random) -> None:
    """Smaller requests over the last day, so that the stats have a shape."""
    mix = [
        (
            "claude-code",
            "anthropic",
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "/v1/messages?beta=true",
        ),
        (
            "claude-code",
            "anthropic",
            "anthropic",
            "claude-haiku-4-5-20251001",
            "/v1/messages?beta=true",
        ),
        ("openai-python", "openai", "openai_chat", "gpt-4o-mini", "/v1/chat/completions"),
        ("codex-cli", "openai", "openai_responses", "gpt-5-codex", "/v1/responses"),
        ("ollama-python", "ollama", "ollama", "qwen3-coder:30b", "/api/chat"),
    ]
    prompts = [
        "Rename this variable everywhere",
        "Why is this query slow?",
        "Write a unit test for parse_range",
        "Explain the difference between these two diffs",
        "Translate this error message",
        "Add type hints",
    ]
    for n in range(48):
        app, upstream, dialect, model, path = rng.choice(mix)
        seconds_ago = 1900 + rng.random() * 86000
        latency = rng.lognormvariate(7.5, 0.6)
        inp = int(rng.lognormvariate(7, 1.0))
        out = int(rng.lognormvariate(5, 0.7))
        failed = rng.random() < 0.06
        prompt = rng.choice(prompts)
        if dialect == "openai_responses":
            body: dict[str, Any] = {"model": model, "input": prompt}
        elif dialect == "ollama":
            body = {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "stream": False,
            }
        else:
            body = {
                "model": model,
                "max_tokens": 1024,
                "messages": [{"role": "user", "content": prompt}],
            }
        s.add(
            {
                "id": f"req-bg-{n:03d}",
                "started_at": s.at(seconds_ago),
                "ended_at": s.at(seconds_ago - latency / 1000),
                "state": "error" if failed else "complete",
                "listener": f"reverse:{upstream}",
                "method": "POST",
                "path": path,
                "upstream": upstream,
                "dialect": dialect,
                "status": 503 if failed else 200,
                "requested_model": model,
                "served_model": None if failed else model,
                "is_stream": 0,
                "client_app": app,
                "client_ip": "127.0.0.1" if rng.random() < 0.8 else "192.168.1.23",
                "conversation_id": f"conv-bg-{n:03d}",
                "turn_index": 0,
                "latency_ms": latency,
                "ttft_ms": latency * 0.4,
                "input_tokens": inp,
                "output_tokens": None if failed else out,
                "cache_read_tokens": int(inp * 3) if app == "claude-code" else 0,
                "tokens_estimated": 0,
                "stop_reason": None if failed else "end_turn",
                "error": "upstream 503: service unavailable" if failed else None,
                "prompt_preview": prompt,
                "response_text": None if failed else "Done — see the changes above.",
            },
            body,
        )


def rule_events(s: Seeder) -> None:
    """What the rules said about some of the background traffic, for the Audit page: routing and
    Ollama options rewrites, loop nudges and blocks, a repaired tool call, a tripped breaker."""
    rows = [r for r in s.rows if r["id"].startswith("req-bg-")]
    for n, row in enumerate(rows):
        model = row["requested_model"]
        events: list[dict[str, Any]] = []
        if row["dialect"] == "ollama" and n % 2 == 0:
            events.append(
                {
                    "phase": "transform",
                    "rule_id": "ollama_options",
                    "verdict": "rewrite",
                    "reason": "options set: num_ctx=16384, keep_alive=30m",
                    "details": {
                        "applied": {"num_ctx": 16384, "keep_alive": "30m"},
                        "sources": ["defaults"],
                    },
                }
            )
        elif model == "gpt-4o-mini" and n % 3 != 2:
            events.append(
                {
                    "phase": "transform",
                    "rule_id": "model_router",
                    "verdict": "rewrite",
                    "reason": "gpt-4o-mini → qwen2.5-coder:32b (via alias)",
                    "details": {"from": "gpt-4o-mini", "to": "qwen2.5-coder:32b", "via": "alias"},
                }
            )
        if n % 9 == 4:
            events.append(
                {
                    "phase": "preflight",
                    "rule_id": "loop_detector",
                    "verdict": "warn",
                    "reason": "Tool call 'Read' repeated 3× — nudged (blocks at 4)",
                    "details": {
                        "trigger": "count_in_window",
                        "tool_name": "Read",
                        "count": 3,
                        "nudge": True,
                        "soft_unblock": True,
                        "args_preview": '{"file_path":"src/datekit/parse.py"}',
                    },
                }
            )
        elif n % 13 == 7:
            events.append(
                {
                    "phase": "preflight",
                    "rule_id": "loop_detector",
                    "verdict": "block",
                    "reason": "Tool call 'Bash' repeated 4× since the last user message",
                    "details": {
                        "trigger": "count_in_window",
                        "tool_name": "Bash",
                        "count": 4,
                        "args_preview": '{"command":"pytest -x -q"}',
                    },
                }
            )
        elif n % 17 == 10:
            events.append(
                {
                    "phase": "postflight",
                    "rule_id": "schema_validator",
                    "verdict": "intercept",
                    "reason": "Edit: missing required field 'old_string'",
                    "details": {
                        "findings": [
                            {
                                "tool": "Edit",
                                "kind": "invalid_args",
                                "errors": ["'old_string' is a required property"],
                            }
                        ],
                        "replaced": True,
                        "streaming": False,
                    },
                }
            )
        elif n == 30:
            events.append(
                {
                    "phase": "preflight",
                    "rule_id": "tool_failure_breaker",
                    "verdict": "block",
                    "reason": "Tool 'Bash' has failed 3 consecutive times. Latest: 'command not found: pnpm'",
                    "details": {
                        "tool_name": "Bash",
                        "consecutive_errors": 3,
                        "window": 5,
                        "last_error": "command not found: pnpm",
                    },
                }
            )
        if not events:
            continue
        for seq, event in enumerate(events):
            s.conn.execute(
                "INSERT INTO verdicts (request_id, seq, phase, rule_id, verdict, reason, details, "
                "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    seq,
                    event["phase"],
                    event["rule_id"],
                    event["verdict"],
                    event["reason"],
                    json.dumps(event["details"]),
                    row["ended_at"],
                ),
            )
        order = ("allow", "warn", "rewrite", "intercept", "block")
        verdict = max((e["verdict"] for e in events), key=order.index)
        blocked = next((e for e in events if e["verdict"] == "block"), None)
        if blocked is None:
            s.conn.execute("UPDATE requests SET verdict = ? WHERE id = ?", (verdict, row["id"]))
        else:
            s.conn.execute(
                "UPDATE requests SET verdict = 'block', status = 400, state = 'error', error = ?, "
                "output_tokens = NULL, response_text = NULL WHERE id = ?",
                (f"blocked: {blocked['reason']}", row["id"]),
            )


def seed(path: str | pathlib.Path, now: dt.datetime | None = None) -> Demo:
    """Create (or add to) the demo database at `path`."""
    demo = Demo(str(path))
    db = open_db(path)
    try:
        seeder = Seeder(db, now or dt.datetime.now(dt.UTC))
        with db.atomic():
            background(seeder, random.Random(20261120))
            claude_conversation(seeder, demo)
            side_requests(seeder, demo)
            errors(seeder, demo)
            pending(seeder, demo)
            rule_events(seeder)
    finally:
        db.close()
    return demo


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/seed_demo.py OUT.db")
    result = seed(sys.argv[1])
    print(f"seeded {result.path}")
