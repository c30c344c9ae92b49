"""tool_args_autofix: fill in required tool arguments the model left out.

Phase: post-flight, before the validators (so a call it repairs is not refused). Off by default.
For each tool call in the response whose tool the request declared, each field the tool's schema
lists in `required` and the arguments lack is filled from, in order: `defaults[<tool>][<field>]`,
`defaults["*"][<field>]`, the schema's own `default` for that property. A field none of them
knows stays missing (for schema_validator to report). Arguments that are not a JSON object are
left alone. The repaired arguments keep their form (JSON text stays JSON text).

    {"tool_args_autofix": {"enabled": true,
                           "defaults": {"Bash": {"timeout": 120000}, "*": {"description": ""}}}}

Verdict: `rewrite`, reason `<tool>: filled a, b` (calls joined by `; `), details
`{fixes: [{tool_name, fixed_fields, index}]}`; with `action: "silent"` the repair still happens
but the verdict is `allow` (kept out of the audit's rewrites).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from addons.wire.model import TOOL_CALL, Request, Response

from .base import (
    ALLOW,
    REWRITE,
    Phase,
    RuleContext,
    RuleResult,
    RuleSpec,
    enabled_option,
    options_schema,
    verdict,
)
from .common import arguments_object, offers_tools, with_arguments
from .intercept import declared_tools

ID = "tool_args_autofix"
PHASE = Phase.POSTFLIGHT

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "action": {"enum": ["audit", "silent"], "default": "audit"},
        "defaults": {
            "type": "object",
            "additionalProperties": {"type": "object"},
            "default": {},
            "description": 'Tool name (or "*" for any) → field → value.',
        },
    }
)

_MISSING = object()


def _fill(field: str, tool: str, props: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    for source in (defaults.get(tool), defaults.get("*")):
        if isinstance(source, dict) and field in source:
            return copy.deepcopy(source[field])
    prop = props.get(field)
    if isinstance(prop, dict) and "default" in prop:
        return copy.deepcopy(prop["default"])
    return _MISSING


def apply(
    request: Request, response: Response, options: Mapping[str, Any], ctx: RuleContext
) -> RuleResult | None:
    if not request.tools:
        return None
    declared = declared_tools(request)
    blocks = list(response.blocks)
    fixes: list[dict[str, Any]] = []
    index = -1
    for position, block in enumerate(blocks):
        if block.type != TOOL_CALL:
            continue
        index += 1
        tool = declared.get(block.name or "")
        schema = tool.parameters if tool is not None else None
        required = schema.get("required") if schema else None
        if tool is None or not schema or not isinstance(required, list):
            continue
        args, _ = arguments_object(block.arguments)
        if args is None:
            continue
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        filled: dict[str, Any] = {}
        for field in required:
            if isinstance(field, str) and field not in args:
                value = _fill(field, tool.name, props, options["defaults"])
                if value is not _MISSING:
                    filled[field] = value
        if filled:
            blocks[position] = with_arguments(block, {**args, **filled})
            fixes.append({"tool_name": tool.name, "fixed_fields": list(filled), "index": index})
    if not fixes:
        return None
    reason = "; ".join(f"{f['tool_name']}: filled {', '.join(f['fixed_fields'])}" for f in fixes)
    kind = ALLOW if options["action"] == "silent" else REWRITE
    result = verdict(kind, ID, PHASE, reason, {"fixes": fixes})
    return RuleResult(result, response=dataclasses.replace(response, blocks=blocks))


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "", offers_tools)
