"""tool_pruner: drop tools a conversation keeps offering and never uses.

Phase: transform. Off by default. Agents send every tool they have on every turn; a long tool
list costs tokens and confuses small models. This rule looks at the earlier requests of the same
conversation (the history view, never the current request) and prunes the tools that were
offered in at least `min_turns_offered` of them and never called.

It needs at least two tools, a conversation id and at least `min_history_turns` earlier
requests. Never pruned: tools in `always_keep`, the tool `tool_choice` names, and any tool
called anywhere, in the history or in the current request's own messages. At least
`max(1, ceil(tools × (1 − max_prune_ratio)))` tools are kept; the candidates pruned are the
first ones in declaration order.

- `action: "warn"`: verdict warn, reason
  `would prune P of T tools never invoked in N prior turns: a, b, …` (six names at most).
- `action: "prune"`: the tools are removed (verdict rewrite, reason `pruned P of T tools …`),
  and with `include_hint` a note is appended to the system prompt:
  `[AI Proxy] Pruned P tool(s) unused in this conversation: a, b. Re-request them if needed.`

Details: `{conversation_id, prior_turns, tools_before, tools_after, candidates, pruned, kept,
max_prune_ratio}`, `kept` being the candidates spared by the keep floor.

Cost to weigh on Anthropic: prompt caching keys on the tool list first, so each change of the
pruned set misses the cache once.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from addons.wire.model import Request

from .base import (
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
from .common import names, tool_calls, with_system_note

ID = "tool_pruner"
PHASE = Phase.TRANSFORM
SHOWN = 6

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "action": {"enum": ["prune", "warn"], "default": "prune"},
        "min_turns_offered": {"type": "integer", "minimum": 1, "default": 3},
        "min_history_turns": {"type": "integer", "minimum": 0, "default": 2},
        "always_keep": {"type": "array", "items": {"type": "string"}, "default": []},
        "max_prune_ratio": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
        "include_hint": {"type": "boolean", "default": True},
    }
)


def keep_floor(total: int, ratio: float) -> int:
    # rounded first: 10 × (1 − 0.7) is 3.0000000000000004 in floating point, not 4 tools
    return max(1, math.ceil(round(total * (1 - ratio), 9)))


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    tools = request.tools
    cid = ctx.conversation_id
    if len(tools) < 2 or not cid:
        return None
    prior = ctx.history.prior_requests(cid)
    if len(prior) < options["min_history_turns"]:
        return None
    offered: Counter[str] = Counter()
    invoked: set[str] = set()
    for item in prior:
        offered.update(set(item.tools_offered))
        invoked.update(item.tools_called)
    invoked.update(b.name or "" for b in tool_calls(request.messages))
    protected = set(options["always_keep"])
    choice = request.params.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("name"), str):
        protected.add(choice["name"])
    candidates = [
        t.name
        for t in tools
        if t.name not in protected
        and t.name not in invoked
        and offered[t.name] >= options["min_turns_offered"]
    ]
    limit = len(tools) - keep_floor(len(tools), options["max_prune_ratio"])
    pruned = candidates[: max(0, limit)]
    if not pruned:
        return None
    n, total = len(pruned), len(tools)
    details: dict[str, Any] = {
        "conversation_id": cid,
        "prior_turns": len(prior),
        "tools_before": total,
        "tools_after": total - n,
        "candidates": candidates,
        "pruned": pruned,
        "kept": candidates[n:],
        "max_prune_ratio": options["max_prune_ratio"],
    }
    summary = (
        f"{n} of {total} tools never invoked in {len(prior)} prior turns: {names(pruned, SHOWN)}"
    )
    if options["action"] == "warn":
        details["tools_after"] = total
        return RuleResult(verdict(WARN, ID, PHASE, f"would prune {summary}", details))
    gone = set(pruned)
    result = dataclasses.replace(request, tools=[t for t in tools if t.name not in gone])
    if options["include_hint"]:
        hint = (
            f"[AI Proxy] Pruned {n} tool(s) unused in this conversation: "
            f"{', '.join(pruned)}. Re-request them if needed."
        )
        result = with_system_note(result, hint)
    return RuleResult(verdict(REWRITE, ID, PHASE, f"pruned {summary}", details), request=result)


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "")
