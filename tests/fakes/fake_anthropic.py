"""Anthropic Messages API: `/v1/messages` (JSON and SSE), `/v1/messages/count_tokens`, models."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tests.fakes.wire import (
    BadRequest,
    Context,
    JsonReply,
    Plan,
    Reply,
    StreamReply,
    dumps,
    plan_turn,
    split_fragments,
    split_text,
    sse,
)

ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed the rate limit for your organization."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
MODELS = (
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _texts(content: Any) -> list[str]:
    return [b.get("text") or "" for b in _blocks(content) if b.get("type") == "text"]


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    return content if isinstance(content, str) else "\n".join(_texts(content))


def _user_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]


def user_texts(body: Any) -> list[str]:
    """Texts of the latest user message that has any (a turn of bare tool results has none)."""
    if not isinstance(body, dict):
        return []
    for message in reversed(_user_messages(body)):
        texts = _texts(message.get("content"))
        if texts:
            return texts
    return []


def _tool_results(body: dict[str, Any]) -> list[str] | None:
    users = _user_messages(body)
    if not users:
        return None
    results = [
        _result_text(b) for b in _blocks(users[-1].get("content")) if b.get("type") == "tool_result"
    ]
    return results or None


def _prompt_blocks(body: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Prompt in cache order (tools, system, messages) and the cache_control breakpoints."""
    items: list[tuple[str, Any]] = [("tool", t) for t in body.get("tools") or []]
    system = body.get("system")
    items += [("system", b) for b in (_blocks(system) if system else [])]
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            items += [(str(message.get("role")), b) for b in _blocks(message.get("content"))]
    blocks, breakpoints = [], []
    for i, (role, item) in enumerate(items):
        if isinstance(item, dict):
            if item.get("cache_control"):
                breakpoints.append(i + 1)
            item = {k: v for k, v in item.items() if k != "cache_control"}
        blocks.append(f"{role}:{dumps(item)}")
    return blocks, breakpoints


def _usage(ctx: Context, body: dict[str, Any]) -> dict[str, int]:
    blocks, breakpoints = _prompt_blocks(body)
    total = sum(map(len, blocks)) // 4
    cached = read = 0
    if breakpoints:
        limit = max(breakpoints)
        cached = sum(map(len, blocks[:limit])) // 4
        read = ctx.cache.lookup(blocks, breakpoints, limit) // 4
    return {
        "input_tokens": max(1, total - cached),
        "cache_creation_input_tokens": cached - read,
        "cache_read_input_tokens": read,
    }


def _validate(body: Any, *, needs_max_tokens: bool = True) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    required = ("model", "messages", "max_tokens") if needs_max_tokens else ("model", "messages")
    for name in required:
        if name not in body:
            raise BadRequest(f"{name}: Field required")
    if not isinstance(body["messages"], list):
        raise BadRequest("messages: Input should be a valid list")
    return body


def _plan(ctx: Context, body: dict[str, Any]) -> Plan:
    tools = {
        t["name"]: t.get("input_schema") or {}
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    }
    thinking = body.get("thinking")
    return plan_turn(
        user_texts=user_texts(body),
        tool_results=_tool_results(body),
        tools=tools,
        scenario=ctx.scenario,
        thinking=isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"),
    )


def _content(ctx: Context, plan: Plan) -> list[tuple[dict[str, Any], list[dict[str, Any]], Any]]:
    """Each block as (content_block_start payload, deltas, the block as a final message has it)."""
    n = ctx.scenario.chunks
    out: list[tuple[dict[str, Any], list[dict[str, Any]], Any]] = []
    if plan.thinking:
        pieces = split_text(plan.thinking, min(n, 3))
        digest = hashlib.sha256(plan.thinking.encode()).digest() * 3
        signature = base64.b64encode(digest).decode()
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
        deltas.append({"type": "signature_delta", "signature": signature})
        final = {"type": "thinking", "thinking": "".join(pieces), "signature": signature}
        out.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas, final))
    if plan.text:
        pieces = split_text(plan.text, n)
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
        out.append(
            ({"type": "text", "text": ""}, deltas, {"type": "text", "text": "".join(pieces)})
        )
    if plan.tool_name:
        tool_id = ctx.ids.make("toolu_01", 22)
        start = {"type": "tool_use", "id": tool_id, "name": plan.tool_name, "input": {}}
        fragments = split_fragments(dumps(plan.tool_args), n)
        deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
        out.append((start, deltas, {**start, "input": plan.tool_args}))
    return out


def _headers(ctx: Context) -> list[tuple[str, str]]:
    return [("request-id", ctx.ids.make("req_011C", 20))]


def messages(ctx: Context) -> Reply:
    body = _validate(ctx.body)
    plan = _plan(ctx, body)
    blocks = _content(ctx, plan)
    usage = _usage(ctx, body)
    output_tokens = sum(len(deltas) for _, deltas, _ in blocks)
    stop_reason = "tool_use" if plan.tool_name else "end_turn"
    message: dict[str, Any] = {
        "id": ctx.ids.make("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [final for _, _, final in blocks],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            **usage,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        },
    }
    if not body.get("stream"):
        return JsonReply(200, message, _headers(ctx))

    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    events = [sse("message_start", {"type": "message_start", "message": start})]
    events.append(b'event: ping\ndata: {"type": "ping"}\n\n')
    for index, (block, deltas, _) in enumerate(blocks):
        events.append(
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        events += [
            sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    # Usage on message_delta is cumulative (the API repeats the input counts there).
    events.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {**usage, "output_tokens": output_tokens},
            },
        )
    )
    events.append(sse("message_stop", {"type": "message_stop"}))
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return StreamReply(
        events,
        "text/event-stream; charset=utf-8",
        [*_headers(ctx), ("cache-control", "no-cache")],
        error_event=sse("error", overloaded),
        # Named, so that the SDKs (which skip unnamed events) really try to parse it.
        malformed_event=b"event: content_block_delta\ndata: {not json\n\n",
    )


def count_tokens(ctx: Context) -> Reply:
    body = _validate(ctx.body, needs_max_tokens=False)
    blocks, _ = _prompt_blocks(body)
    return JsonReply(200, {"input_tokens": max(1, sum(map(len, blocks)) // 4)}, _headers(ctx))


def models(ctx: Context) -> Reply:
    data = [
        {"type": "model", "id": mid, "display_name": name, "created_at": created}
        for mid, name, created in MODELS
    ]
    page = {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    return JsonReply(200, page, _headers(ctx))


def error(ctx: Context, status: int, message: str | None = None) -> JsonReply:
    default = ("api_error", "Internal server error") if status >= 500 else ERROR_TYPES[400]
    kind, text = ERROR_TYPES.get(status, default)
    headers = _headers(ctx)
    if status == 429:
        headers.append(("retry-after", str(ctx.scenario.retry_after)))
    body = {"type": "error", "error": {"type": kind, "message": message or text}}
    return JsonReply(status, body, headers)
