"""A test-only stand-in for the inspector's JSON API: the documented routes with canned JSON.

The page tests run against it fast and without a database; `StubApi.rows` can be changed while a
page is open to play a stream that progresses and completes.
"""

# ruff: noqa: E501 - demo data: long literal prompts and bodies read better unbroken

from __future__ import annotations

import copy
import json
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response

SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude."


def _row(**fields: Any) -> dict[str, Any]:
    row = {
        "id": "",
        "started_at": "2026-11-20T10:00:00.000Z",
        "ended_at": "2026-11-20T10:00:02.000Z",
        "state": "complete",
        "listener": "reverse:anthropic",
        "method": "POST",
        "path": "/v1/messages",
        "upstream": "anthropic",
        "dialect": "anthropic",
        "status": 200,
        "requested_model": "claude-sonnet-4-5",
        "served_model": "claude-sonnet-4-5-20250929",
        "is_stream": 1,
        "client_app": "claude-code",
        "client_ip": "127.0.0.1",
        "session_id": "sess-1",
        "conversation_id": "conv-1",
        "parent_conversation_id": None,
        "turn_index": 1,
        "latency_ms": 2000.0,
        "ttft_ms": 420.0,
        "input_tokens": 1200,
        "output_tokens": 85,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "tokens_estimated": 0,
        "tokens_live": False,
        "stop_reason": "end_turn",
        "tools_offered": ["Read", "Bash"],
        "tool_calls": [],
        "error": None,
        "verdict": "allow",
        "prompt_preview": "Hello",
        "response_text_preview": "Hi!",
    }
    row.update(fields)
    return row


def canned() -> dict[str, Any]:
    """Rows (newest first) and details keyed by id."""
    rows = [
        _row(
            id="req-pending",
            started_at="2026-11-20T10:05:00.000Z",
            ended_at=None,
            state="pending",
            status=None,
            latency_ms=None,
            ttft_ms=310.0,
            input_tokens=5400,
            output_tokens=12,
            tokens_estimated=1,
            tokens_live=True,
            stop_reason=None,
            turn_index=3,
            prompt_preview="Now run the tests",
            response_text_preview=None,
        ),
        _row(
            id="req-error",
            started_at="2026-11-20T10:04:00.000Z",
            path="/v1/chat/completions",
            dialect="openai_chat",
            upstream="openai",
            status=500,
            state="error",
            requested_model="gpt-4o-mini",
            served_model=None,
            client_app="openai-python",
            conversation_id="conv-2",
            error="upstream 500: The server had an error while processing your request.",
            input_tokens=None,
            output_tokens=None,
            prompt_preview="What is the weather?",
            response_text_preview=None,
        ),
        _row(
            id="req-redacted",
            started_at="2026-11-20T10:03:00.000Z",
            client_ip="10.9.8.7",
            conversation_id="conv-3",
            prompt_preview="[redacted: 42 chars]",
            response_text_preview="[redacted: 7 chars]",
            redacted=True,
        ),
        _row(
            id="req-tools",
            started_at="2026-11-20T10:02:00.000Z",
            turn_index=2,
            input_tokens=2300,
            output_tokens=140,
            cache_read_tokens=1100,
            stop_reason="tool_use",
            tool_calls=[{"name": "Read", "arguments": {"file_path": "/src/app.py"}}],
            prompt_preview="Fix the bug in app.py",
            response_text_preview="Let me read the file.",
        ),
    ]
    details = {row["id"]: _detail(row) for row in rows}
    return {"rows": rows, "details": details}


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    detail = dict(row)
    detail.update(
        request_headers={"content-type": "application/json", "x-api-key": "sha256:1a2b3c4d"},
        response_headers={"content-type": "text/event-stream"},
        request_body=None,
        response_body=None,
        stream_events=[],
        request_body_raw_bytes=0,
        verdicts=[],
        conversation={
            "id": row["conversation_id"],
            "turns": 3,
            "url": f"/__proxy/conversations/{row['conversation_id']}",
        },
    )
    if row["id"] == "req-tools":
        detail["request_body"] = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "stream": True,
            "system": [{"type": "text", "text": SYSTEM}],
            "tools": [
                {"name": "Read", "description": "Reads a file", "input_schema": {"type": "object"}},
                {
                    "name": "Bash",
                    "description": "Runs a command",
                    "input_schema": {"type": "object"},
                },
            ],
            "messages": [
                {"role": "user", "content": "Fix the bug in app.py"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "I should look at the file first."},
                        {
                            "type": "tool_use",
                            "id": "toolu_01",
                            "name": "Bash",
                            "input": {"command": "ls src"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01",
                            "content": "ls: cannot access 'src': No such file or directory",
                            "is_error": True,
                        },
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                                "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
                            },
                        },
                    ],
                },
            ],
        }
        detail["request_body_raw_bytes"] = 2048
        detail["stream_events"] = [
            {
                "event": "message_start",
                "data": {
                    "type": "message_start",
                    "message": {"model": "claude-sonnet-4-5-20250929"},
                },
            },
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
                    "delta": {"type": "text_delta", "text": "Let me read the file."},
                },
            },
            {"event": "content_block_stop", "data": {"type": "content_block_stop", "index": 0}},
            {
                "event": "content_block_start",
                "data": {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {
                        "type": "tool_use",
                        "id": "toolu_02",
                        "name": "Read",
                        "input": {},
                    },
                },
            },
            {
                "event": "content_block_delta",
                "data": {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": '{"file_path": "/src/app.py"}',
                    },
                },
            },
            {"event": "content_block_stop", "data": {"type": "content_block_stop", "index": 1}},
            {
                "event": "message_delta",
                "data": {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
            },
            {"event": "message_stop", "data": {"type": "message_stop"}},
        ]
        detail["verdicts"] = [
            {
                "phase": "request",
                "rule_id": "tool_pruner",
                "verdict": "rewrite",
                "reason": "removed 2 unused tools",
                "details": {"removed": ["WebFetch", "NotebookEdit"]},
                "at": "2026-11-20T10:02:00.010Z",
            }
        ]
    elif row["id"] == "req-redacted":
        detail["request_body"] = {
            "model": "claude-sonnet-4-5",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "[redacted: 42 chars]", "redacted": True}],
                }
            ],
        }
        detail["response_body"] = {"redacted": True, "text": "[redacted: response body, 512 bytes]"}
    elif row["id"] == "req-error":
        detail["request_body"] = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "What is the weather?"}],
        }
        detail["response_body"] = {
            "error": {"message": "The server had an error", "type": "server_error"}
        }
    return detail


CONVERSATION = {
    "conversation_id": "conv-1",
    "session_id": "sess-1",
    "parent_conversation_id": None,
    "first_at": "2026-11-20T10:01:00.000Z",
    "last_at": "2026-11-20T10:05:00.000Z",
    "requests": 3,
    "client_apps": ["claude-code"],
    "models": ["claude-sonnet-4-5"],
    "input_tokens": 8900,
    "output_tokens": 237,
    "cache_read_tokens": 1100,
    "cache_write_tokens": 0,
    "errors": 0,
    "preview": "Fix the bug in app.py",
    "turns": [
        {
            "request_id": "req-first",
            "started_at": "2026-11-20T10:01:00.000Z",
            "turn_index": 1,
            "model": "claude-sonnet-4-5",
            "status": 200,
            "input_tokens": 1200,
            "output_tokens": 85,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "context_tokens": 1200,
            "context_delta": None,
            "new_messages": [
                {"role": "user", "blocks": [{"type": "text", "text": "Fix the bug in app.py"}]}
            ],
            "response": {
                "text": "",
                "tool_calls": [
                    {"id": "toolu_01", "name": "Bash", "arguments": {"command": "ls src"}}
                ],
                "stop_reason": "tool_use",
            },
            "error": None,
            "verdict": "allow",
        },
        {
            "request_id": "req-tools",
            "started_at": "2026-11-20T10:02:00.000Z",
            "turn_index": 2,
            "model": "claude-sonnet-4-5",
            "status": 200,
            "input_tokens": 2300,
            "output_tokens": 140,
            "cache_read_tokens": 1100,
            "cache_write_tokens": 0,
            "context_tokens": 3400,
            "context_delta": 2200,
            "new_messages": [
                {
                    "role": "assistant",
                    "blocks": [
                        {
                            "type": "tool_call",
                            "id": "toolu_01",
                            "name": "Bash",
                            "arguments": {"command": "ls src"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "blocks": [
                        {
                            "type": "tool_result",
                            "id": "toolu_01",
                            "text": "ls: cannot access 'src': No such file or directory",
                            "is_error": True,
                        }
                    ],
                },
            ],
            "response": {
                "text": "Let me read the file.",
                "tool_calls": [
                    {"id": "toolu_02", "name": "Read", "arguments": {"file_path": "/src/app.py"}}
                ],
                "stop_reason": "tool_use",
            },
            "error": None,
            "verdict": "rewrite",
        },
        {
            "request_id": "req-pending",
            "started_at": "2026-11-20T10:05:00.000Z",
            "turn_index": 3,
            "model": "claude-sonnet-4-5",
            "status": None,
            "input_tokens": 900,
            "output_tokens": 12,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "context_tokens": 900,
            "context_delta": -2500,
            "new_messages": [
                {
                    "role": "user",
                    "blocks": [{"type": "text", "text": "[redacted: 17 chars]", "redacted": True}],
                }
            ],
            "response": {"text": None, "tool_calls": [], "stop_reason": None},
            "error": None,
            "verdict": "allow",
        },
    ],
}

STATS = {
    "overall": {
        "requests": 4,
        "errors": 1,
        "error_rate": 0.25,
        "input_tokens": 8900,
        "output_tokens": 237,
        "latency_p50": 2000,
        "latency_p95": 2000,
        "ttft_p50": 420,
    },
    "by_model": [
        {
            "key": "claude-sonnet-4-5",
            "requests": 3,
            "errors": 0,
            "error_rate": 0,
            "input_tokens": 8900,
            "output_tokens": 237,
            "latency_p50": 2000,
            "latency_p95": 2000,
            "ttft_p50": 420,
        },
        {
            "key": "gpt-4o-mini",
            "requests": 1,
            "errors": 1,
            "error_rate": 1,
            "input_tokens": 0,
            "output_tokens": 0,
            "latency_p50": 900,
            "latency_p95": 900,
            "ttft_p50": None,
        },
    ],
    "by_app": [
        {
            "key": "claude-code",
            "requests": 3,
            "errors": 0,
            "error_rate": 0,
            "input_tokens": 8900,
            "output_tokens": 237,
            "latency_p50": 2000,
            "latency_p95": 2000,
            "ttft_p50": 420,
        },
    ],
    "by_client_ip": [
        {
            "key": "127.0.0.1",
            "requests": 4,
            "errors": 1,
            "error_rate": 0.25,
            "input_tokens": 8900,
            "output_tokens": 237,
            "latency_p50": 2000,
            "latency_p95": 2000,
            "ttft_p50": 420,
        },
    ],
    "by_upstream": [
        {
            "key": "anthropic",
            "requests": 3,
            "errors": 0,
            "error_rate": 0,
            "input_tokens": 8900,
            "output_tokens": 237,
            "latency_p50": 2000,
            "latency_p95": 2000,
            "ttft_p50": 420,
        },
    ],
    "by_tool": [
        {"tool": "Read", "offered": 3, "called": 1, "errors": 0},
        {"tool": "Bash", "offered": 3, "called": 1, "errors": 1},
    ],
    "over_time": [
        {
            "bucket": "2026-11-20T09:00:00Z",
            "requests": 1,
            "input_tokens": 1200,
            "output_tokens": 85,
            "errors": 0,
        },
        {
            "bucket": "2026-11-20T10:00:00Z",
            "requests": 3,
            "input_tokens": 7700,
            "output_tokens": 152,
            "errors": 1,
        },
    ],
}


class StubApi:
    """Register with `pm.register(StubApi(), name=...)` before `Datasette.app()` is built."""

    def __init__(self) -> None:
        self.__name__ = "inspector_stub_api"  # Datasette lists plugins by __name__
        data = canned()
        self.rows: list[dict[str, Any]] = data["rows"]
        self.details: dict[str, dict[str, Any]] = data["details"]
        self.conversation = copy.deepcopy(CONVERSATION)
        self.stats = copy.deepcopy(STATS)

    def set_row(self, request_id: str, **fields: Any) -> None:
        for row in self.rows:
            if row["id"] == request_id:
                row.update(fields)
        self.details[request_id].update(fields)

    @hookimpl
    def register_routes(self, datasette):
        return [
            (r"^/api/requests$", self.requests),
            (r"^/api/requests/(?P<request_id>[^/]+)$", self.request),
            (r"^/api/conversations$", self.conversations),
            (r"^/api/conversations/(?P<conversation_id>[^/]+)$", self.conversation_view),
            (r"^/api/stats$", self.stats_view),
        ]

    async def requests(self, request):
        args = request.args
        rows = [row for row in self.rows if _matches(row, args)]
        limit = int(args.get("limit") or 50)
        offset = int(args.get("offset") or 0)
        page = rows[offset : offset + limit]
        nxt = offset + limit if offset + limit < len(rows) else None
        return _json(
            {
                "total": len(rows),
                "items": page,
                "limit": limit,
                "offset": offset,
                "next_offset": nxt,
                "redacted": False,
            }
        )

    async def request(self, request):
        detail = self.details.get(request.url_vars["request_id"])
        if detail is None:
            return _json({"error": "not found"}, 404)
        return _json(detail)

    async def conversations(self, request):
        summary = {k: v for k, v in self.conversation.items() if k != "turns"}
        summary["turns"] = len(self.conversation["turns"])
        return _json({"items": [summary], "next_offset": None, "redacted": False})

    async def conversation_view(self, request):
        if request.url_vars["conversation_id"] != self.conversation["conversation_id"]:
            return _json({"error": "not found"}, 404)
        return _json(self.conversation)

    async def stats_view(self, request):
        return _json(self.stats)


def _matches(row: dict[str, Any], args) -> bool:
    if args.get("model") and args["model"] not in (row["requested_model"], row["served_model"]):
        return False
    if args.get("app") and args["app"] != row["client_app"]:
        return False
    if args.get("state") and args["state"] != row["state"]:
        return False
    status = args.get("status")
    if status == "error" and not (row["error"] or (row["status"] or 0) >= 400):
        return False
    if status and status[0] in "2345" and str(row["status"] or "")[:1] != status[0]:
        return False
    q = (args.get("q") or "").lower()
    if q and q not in json.dumps(row).lower():
        return False
    return True


def _json(data: Any, status: int = 200) -> Response:
    return Response.json(data, status=status)
