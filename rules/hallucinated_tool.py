"""hallucinated_tool: refuse calls to tools the request never declared.

Phase: post-flight. Off by default. When the request declares tools and the response calls a
name that is not among them (exact match: `read-file` is not `read_file`), the finding is
`tool 'X' was not declared in tools[]`. A request with no tools is never checked.

On findings, with `action: "block"` (the default) the response is intercepted: the client gets
the correction of `rules/intercept.py` (`- X: tool not declared in this request's tools[]. Pick
a valid tool.`), the verdict is `intercept`, reason `<tool>: tool 'X' was not declared in
tools[]`, details `{findings, replaced, streaming}`. With `action: "warn"` the response goes
through untouched and the verdict is warn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addons.wire.model import TOOL_CALL, Request, Response

from .base import (
    INTERCEPT,
    WARN,
    Phase,
    RuleContext,
    RuleResult,
    RuleSpec,
    enabled_option,
    options_schema,
    verdict,
)
from .common import offers_tools
from .intercept import UNDECLARED, declared_tools, finding, intercept, model_output, reason

ID = "hallucinated_tool"
PHASE = Phase.POSTFLIGHT

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "action": {"enum": ["block", "warn"], "default": "block"},
    }
)


def apply(
    request: Request, response: Response, options: Mapping[str, Any], ctx: RuleContext
) -> RuleResult | None:
    if not request.tools:
        return None
    declared = declared_tools(request)
    calls = [b for b in model_output(response).blocks if b.type == TOOL_CALL]
    findings = [
        finding(UNDECLARED, b.name or "", i, [f"tool '{b.name or ''}' was not declared in tools[]"])
        for i, b in enumerate(calls)
        if (b.name or "") not in declared
    ]
    if not findings:
        return None
    replace = options["action"] == "block"
    details = {"findings": findings, "replaced": replace, "streaming": request.stream}
    kind = INTERCEPT if replace else WARN
    result = verdict(kind, ID, PHASE, reason(findings), details)
    return RuleResult(result, response=intercept(response, findings) if replace else None)


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "", offers_tools)
