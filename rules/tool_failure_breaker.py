"""tool_failure_breaker: stop an agent whose tool keeps failing.

Phase: pre-flight. Off by default. Reads the tool results in the request, in message order:
Anthropic `tool_result` blocks, OpenAI `role: tool` messages and Ollama `role: tool` messages
alike. Each result is attributed to a tool through the id of the call it answers (else the name
the result carries, else `?`). Of the last `window` results, each tool's own results are read
newest first: the errors before its most recent success form its streak. A tool whose streak
reaches `max_errors` trips the breaker: verdict `action` (block, HTTP 400; or warn), reason
`Tool 'X' has failed N consecutive times. Latest: '<excerpt>'`, details
`{tool_name, consecutive_errors, window, last_error}`.

Unlike the reference, whose "consecutive" count was really the number of errors in the window
(a success in between did not reset it), the streak here is truly consecutive: one success of
the tool resets it. Results of other tools in between do not.

A result is an error when:
- it is flagged `is_error` (Anthropic);
- it is a JSON object with a truthy `error` or `isError`, or `success: false` (excerpt: the
  error's message); a JSON object with a payload (`content`, `output`, `result`, `data`,
  `stdout`) and no error flag is a success;
- its first line starts with `error` or `exception`;
- its first 400 characters contain one of: `must have required property`, `validation error`,
  `is not allowed`, `is required`, `is invalid`, `could not be`, `failed to`,
  `traceback (most recent call`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from addons.wire.model import TOOL_CALL, TOOL_RESULT, Block, Request

from .base import Phase, RuleContext, RuleResult, RuleSpec, enabled_option, options_schema, verdict
from .common import result_text

ID = "tool_failure_breaker"
PHASE = Phase.PREFLIGHT

SCAN = 400
EXCERPT = 240
PATTERNS = (
    "must have required property",
    "validation error",
    "is not allowed",
    "is required",
    "is invalid",
    "could not be",
    "failed to",
    "traceback (most recent call",
)
PAYLOAD_KEYS = ("content", "output", "result", "data", "stdout")

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "action": {"enum": ["block", "warn"], "default": "block"},
        "max_errors": {"type": "integer", "minimum": 1, "default": 3},
        "window": {"type": "integer", "minimum": 1, "default": 5},
    }
)


def _excerpt(text: str) -> str:
    return " ".join(text.split())[:EXCERPT]


def _json_error(obj: dict[str, Any]) -> str | None:
    """The error message of a JSON result that reports one, "" for a plain success, None if the
    object says neither."""
    error = obj.get("error")
    if error:
        if isinstance(error, dict):
            error = error.get("message") or error
        return error if isinstance(error, str) else json.dumps(error)
    if obj.get("success") is False or obj.get("isError"):
        message = obj.get("message") or obj.get("content") or json.dumps(obj)
        return message if isinstance(message, str) else json.dumps(message)
    if any(k in obj for k in PAYLOAD_KEYS):
        return ""
    return None


def error_of(text: str, is_error: bool = False) -> str | None:
    """The excerpt to show when this tool result is an error, else None."""
    stripped = text.strip()
    if is_error:
        if not stripped.lower().startswith("error"):
            stripped = "Error: " + stripped
        return _excerpt(stripped)
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            message = _json_error(obj)
            if message == "":
                return None
            if message is not None:
                return _excerpt(message)
    head = stripped[:SCAN].lower()
    first = head.split("\n", 1)[0].lstrip()
    if first.startswith(("error", "exception")) or any(p in head for p in PATTERNS):
        return _excerpt(stripped)
    return None


def results(request: Request, last: int) -> list[tuple[str, str | None]]:
    """(tool name, error excerpt or None) of the last `last` tool results, oldest first."""
    blocks: list[Block] = []
    messages = request.messages
    for m in reversed(messages):
        for b in reversed(m.blocks):
            if b.type == TOOL_RESULT:
                blocks.append(b)
        if len(blocks) >= last:
            break
    blocks = blocks[:last][::-1]
    wanted = {b.id for b in blocks if b.id}
    names: dict[str, str | None] = {}
    for m in reversed(messages):  # the calls come before their results: stop when all are found
        if len(names) == len(wanted):
            break
        if m.role == "assistant":
            for b in m.blocks:
                if b.type == TOOL_CALL and b.id in wanted:
                    names[b.id] = b.name
    return [
        (names.get(b.id or "") or b.name or "?", error_of(result_text(b), b.is_error))
        for b in blocks
    ]


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    window = options["window"]
    streaks: dict[str, int] = {}
    latest: dict[str, str] = {}
    done: set[str] = set()
    for name, error in reversed(results(request, window)):
        if name in done:
            continue
        if error is None:
            done.add(name)
            continue
        streaks[name] = streaks.get(name, 0) + 1
        latest.setdefault(name, error)
    tripped = [(n, c) for n, c in streaks.items() if c >= options["max_errors"]]
    if not tripped:
        return None
    name, count = max(tripped, key=lambda t: t[1])
    reason = f"Tool '{name}' has failed {count} consecutive times. Latest: '{latest[name]}'"
    details = {
        "tool_name": name,
        "consecutive_errors": count,
        "window": window,
        "last_error": latest[name],
    }
    return RuleResult(verdict(options["action"], ID, PHASE, reason, details))


RESULT_MARKERS = (b"tool_result", b'"tool"', b"functionResponse", b"function_call_output")


def prefilter(raw: bytes, options: Mapping[str, Any], dialect: str | None) -> bool:
    """A streak of `max_errors` failures needs at least that many tool results."""
    return sum(raw.count(m) for m in RESULT_MARKERS) >= options["max_errors"]


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "", prefilter)
