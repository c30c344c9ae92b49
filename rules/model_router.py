"""model_router: send a request to another model (or upstream) by alias or by rule.

Phase: transform. Off by default.

First `aliases[model]` renames the requested model ("via alias"); then the first entry of
`rules` whose `if` conditions all hold for the (aliased) model picks the target in `then`
("via rule"). Nothing happens when the target is empty or equal to the requested model. The
conditions are those of `rules/conditions.py`: `from_model`, `from_model_prefix`, `from_client`,
`from_client_prefix`, `from_client_app`, `path_prefix`, `has_tools`, `has_images`,
`prompt_chars_lt`, `prompt_chars_gt`.

    {"model_router": {"enabled": true,
                      "aliases": {"gpt-4": "qwen2.5-coder:32b"},
                      "rules": [{"if": {"from_model_prefix": "claude-haiku", "has_tools": false},
                                 "then": "llama3.2:3b"}]}}

A rule may also name an `upstream` (a label from mitm.toml's `[upstreams]`): the request then
goes to that upstream, with `then` optional (keep the model, change the backend).

Verdict: `rewrite`, reason `<from> → <to> (via alias|rule|alias+rule)`, details
`{from, to, via, condition, rule_index, upstream}` (`condition` is the matching rule's `if`).

Not done here: the reference's `then: "auto"` (asks the upstream which model it serves: I/O)
and `preserve_response_model_name` (a response rewrite, the addon's job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from addons.wire.model import Request

from .base import (
    REWRITE,
    Phase,
    RuleContext,
    RuleResult,
    RuleSpec,
    enabled_option,
    options_schema,
    verdict,
)
from .conditions import CONDITIONS_SCHEMA, Matcher

ID = "model_router"
PHASE = Phase.TRANSFORM

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "aliases": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": {},
            "description": "Requested model → model to use instead.",
        },
        "rules": {
            "type": "array",
            "default": [],
            "description": "First matching rule wins.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "if": CONDITIONS_SCHEMA,
                    "then": {"type": "string", "description": "Model to use."},
                    "upstream": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Upstream label.",
                    },
                },
                "anyOf": [{"required": ["then"]}, {"required": ["upstream"]}],
            },
        },
    }
)


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    original = request.model or ""
    model = original
    via: list[str] = []
    alias = options["aliases"].get(original)
    if alias:
        model = alias
        via.append("alias")
    condition: dict[str, Any] | None = None
    rule_index: int | None = None
    upstream: str | None = None
    matcher = Matcher(request, ctx, model)
    for i, rule in enumerate(options["rules"]):
        cond = rule.get("if", {})
        if matcher.matches(cond):
            condition, rule_index = cond, i
            if rule.get("then"):
                model = rule["then"]
                via.append("rule")
            upstream = rule.get("upstream")
            break
    if upstream == ctx.upstream:
        upstream = None
    if model == original and upstream is None:
        return None
    details: dict[str, Any] = {
        "from": original,
        "to": model,
        "via": "+".join(via) or "rule",
        "condition": condition,
        "rule_index": rule_index,
        "upstream": upstream,
    }
    reason = f"{original} → {model} (via {details['via']})"
    if upstream is not None:
        reason += f", upstream {upstream}"
    new_request = dataclasses.replace(request, model=model) if model != original else None
    new_ctx = dataclasses.replace(ctx, upstream=upstream) if upstream is not None else None
    return RuleResult(
        verdict(REWRITE, ID, PHASE, reason, details), request=new_request, context=new_ctx
    )


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "")
