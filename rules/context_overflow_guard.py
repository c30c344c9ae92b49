"""context_overflow_guard: catch a prompt larger than the model's context window (num_ctx).

Phase: transform. Off by default. Applies where ollama_options does: a non-Anthropic upstream,
native Ollama or OpenAI Chat dialect. Ollama silently cuts a prompt longer than `num_ctx`
(default 4096 unless the client or the model file says otherwise); this rule notices first.

Estimate: `int(chars / chars_per_token) + 4 × messages`, where chars count the system prompt,
message text, tool-call names and arguments (as JSON), tool-result text and each tool
definition as JSON. num_ctx is the request's `options.num_ctx`, else a top-level `num_ctx`, else
`assumed_default_num_ctx`. Nothing happens while the estimate is at most
`threshold = int(num_ctx × headroom_ratio)`. Above it, by `action`:

- `warn`: verdict warn, reason
  `prompt ~E tok exceeds num_ctx=N (will be silently truncated by Ollama)`.
- `block`: verdict block with the same reason; the client gets HTTP 413 (`details.status`).
- `bump`: raise num_ctx to `bump_to`, or else to the next power of two ≥ int(E / headroom) + 1,
  capped at `max_ctx`; written to `options.num_ctx` (verdict rewrite). If that is no larger
  than the current num_ctx, warn instead (`…; bump capped at max_ctx=M`). On the OpenAI dialect
  it always warns: Ollama's OpenAI-compatible API ignores `num_ctx`, so there is nothing to set.
- `trim`: drop the oldest non-system messages, never the last `min_keep_messages` non-system
  ones, until the estimate fits; then also drop tool results left at the front without the
  call they answer (a server would refuse them). A system message
  `[AI Proxy] N earlier message(s) trimmed to fit num_ctx. The conversation continues below.`
  is inserted before the first message kept. Nothing to drop → warn.

Details: `{estimated_tokens, num_ctx, headroom_ratio, chars_per_token, threshold}` plus
`{bump_to, still_over}` or `{trimmed, estimated_after, still_over}`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from addons.wire.model import TEXT, TOOL_CALL, TOOL_RESULT, Block, Message, Request, Tool

from .base import (
    BLOCK,
    REWRITE,
    WARN,
    Phase,
    RuleContext,
    RuleResult,
    RuleSpec,
    enabled_option,
    options_schema,
    verdict,
)
from .common import ollama_options, result_text, top_level, with_ollama_options

ID = "context_overflow_guard"
PHASE = Phase.TRANSFORM
STATUS = 413

NATIVE = "ollama"
DIALECTS = ("ollama", "openai_chat")
TRIM_NOTE = (
    "[AI Proxy] {n} earlier message(s) trimmed to fit num_ctx. The conversation continues below."
)

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "action": {"enum": ["warn", "block", "bump", "trim"], "default": "warn"},
        "chars_per_token": {"type": "number", "minimum": 0.5, "default": 3.5},
        "headroom_ratio": {
            "type": "number",
            "exclusiveMinimum": 0.1,
            "maximum": 1,
            "default": 0.95,
            "description": "Share of num_ctx the prompt may fill.",
        },
        "assumed_default_num_ctx": {"type": "integer", "minimum": 1, "default": 4096},
        "max_ctx": {"type": "integer", "minimum": 1, "default": 131072},
        "bump_to": {"type": ["integer", "null"], "minimum": 1, "default": None},
        "min_keep_messages": {"type": "integer", "minimum": 0, "default": 4},
    }
)


def _args_chars(arguments: Any) -> int:
    if isinstance(arguments, str):
        return len(arguments)
    if arguments is None:
        return 0
    try:
        return len(json.dumps(arguments, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return 0


def block_chars(b: Block) -> int:
    if b.type == TEXT:
        return len(b.text)
    if b.type == TOOL_CALL:
        return len(b.name or "") + _args_chars(b.arguments)
    if b.type == TOOL_RESULT:
        return len(result_text(b))
    return 0


def message_chars(m: Message) -> int:
    return sum(block_chars(b) for b in m.blocks)


def tool_chars(t: Tool) -> int:
    return len(t.name) + len(t.description) + _args_chars(t.parameters)


def _json_chars(values: list[Any]) -> int:
    """The characters of each value as JSON, summed, in one pass of the encoder."""
    if not values:
        return 0
    try:
        return len(json.dumps(values, ensure_ascii=False)) - 2 - 2 * (len(values) - 1)
    except (TypeError, ValueError, RecursionError):
        return sum(_args_chars(v) for v in values)


def request_chars(request: Request) -> int:
    # same count as summing message_chars and tool_chars, with every JSON value encoded at once
    n = sum(len(b.text) for b in request.system if b.type == TEXT)
    values: list[Any] = []
    for m in request.messages:
        for b in m.blocks:
            kind = b.type
            if kind == TEXT:
                n += len(b.text)
            elif kind == TOOL_CALL:
                n += len(b.name or "")
                if isinstance(b.arguments, str):
                    n += len(b.arguments)
                elif b.arguments is not None:
                    values.append(b.arguments)
            elif kind == TOOL_RESULT:
                n += len(result_text(b))
    for t in request.tools:
        n += len(t.name) + len(t.description)
        if t.parameters is not None:
            values.append(t.parameters)
    return n + _json_chars(values)


def message_count(request: Request) -> int:
    return len(request.messages) + (1 if request.system else 0)


def estimate(request: Request, chars_per_token: float) -> int:
    """The token estimate of the whole prompt."""
    cpt = max(0.5, chars_per_token)
    return int(request_chars(request) / cpt) + 4 * message_count(request)


def num_ctx_of(request: Request, assumed: int) -> int:
    value = ollama_options(request).get("num_ctx")
    if value is None:
        value = top_level(request, "num_ctx")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return assumed
    return int(value)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _carries_results(m: Message) -> bool:
    return m.role == "tool" or (
        m.role == "user" and bool(m.blocks) and all(b.type == TOOL_RESULT for b in m.blocks)
    )


def trim(
    request: Request, threshold: int, cpt: float, min_keep: int
) -> tuple[Request, int, int] | None:
    """The request with the oldest messages dropped, the count dropped and the new estimate;
    None if nothing may be dropped."""
    cpt = max(0.5, cpt)
    msgs = request.messages
    chars = request_chars(request)
    count = message_count(request)
    non_system = [i for i, m in enumerate(msgs) if m.role != "system"]
    droppable = non_system[: max(0, len(non_system) - min_keep)]
    dropped: set[int] = set()
    for i in droppable:
        if int(chars / cpt) + 4 * count <= threshold:
            break
        dropped.add(i)
        chars -= message_chars(msgs[i])
        count -= 1
    if not dropped:
        return None
    for i in droppable:  # results whose calls were dropped would be refused upstream
        if i in dropped:
            continue
        if not _carries_results(msgs[i]):
            break
        dropped.add(i)
        chars -= message_chars(msgs[i])
        count -= 1
    note = TRIM_NOTE.format(n=len(dropped))
    first_kept = next((i for i in non_system if i not in dropped), len(msgs))
    kept: list[Message] = []
    for i, m in enumerate([*msgs, None]):
        if i == first_kept:
            kept.append(Message("system", [Block(TEXT, text=note)]))
        if m is not None and i not in dropped:
            kept.append(m)
    chars += len(note)
    count += 1
    return dataclasses.replace(request, messages=kept), len(dropped), int(chars / cpt) + 4 * count


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    if ctx.upstream == "anthropic" or request.dialect not in DIALECTS:
        return None
    cpt = options["chars_per_token"]
    headroom = options["headroom_ratio"]
    est = estimate(request, cpt)
    num_ctx = num_ctx_of(request, options["assumed_default_num_ctx"])
    threshold = int(num_ctx * headroom)
    if est <= threshold:
        return None
    details: dict[str, Any] = {
        "estimated_tokens": est,
        "num_ctx": num_ctx,
        "headroom_ratio": headroom,
        "chars_per_token": cpt,
        "threshold": threshold,
        "action": options["action"],
    }
    over = f"prompt ~{est} tok exceeds num_ctx={num_ctx} (will be silently truncated by Ollama)"
    action = options["action"]
    if action == "block":
        details["status"] = STATUS
        return RuleResult(verdict(BLOCK, ID, PHASE, over, details))
    if action == "bump":
        target = options["bump_to"] or _next_pow2(int(est / headroom) + 1)
        target = min(target, options["max_ctx"])
        details["bump_to"] = target
        if request.dialect != NATIVE:
            reason = f"{over}; num_ctx cannot be set through the OpenAI-compatible API"
            return RuleResult(verdict(WARN, ID, PHASE, reason, details))
        if target <= num_ctx:
            reason = f"{over}; bump capped at max_ctx={options['max_ctx']}"
            return RuleResult(verdict(WARN, ID, PHASE, reason, details))
        details["still_over"] = est > int(target * headroom)
        bumped = with_ollama_options(request, {"num_ctx": target})
        reason = f"num_ctx {num_ctx} → {target} (prompt ~{est} tok)"
        return RuleResult(verdict(REWRITE, ID, PHASE, reason, details), request=bumped)
    if action == "trim":
        trimmed = trim(request, threshold, cpt, options["min_keep_messages"])
        if trimmed is None:
            reason = f"{over}; nothing to trim"
            return RuleResult(verdict(WARN, ID, PHASE, reason, details))
        new_request, n, after = trimmed
        details.update(trimmed=n, estimated_after=after, still_over=after > threshold)
        reason = f"trimmed {n} message(s) to fit num_ctx={num_ctx} (prompt ~{est} → ~{after} tok)"
        return RuleResult(verdict(REWRITE, ID, PHASE, reason, details), request=new_request)
    return RuleResult(verdict(WARN, ID, PHASE, over, details))


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "")
