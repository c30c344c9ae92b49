"""Post-flight intercept: replace a response whose tool calls must not run with a correction.

Shared by schema_validator and hallucinated_tool. When the model calls a tool that was not
declared, or calls a declared one with arguments its schema rejects, the client must not execute
it: the response is replaced by an assistant message with one text block telling the model what
was wrong, and stop reason `end_turn`, so the agent loop hands the turn back and the model retries.

    [AI Proxy] Your last tool call was rejected before execution:
    - read_flie: tool not declared in this request's tools[]. Pick a valid tool.
    - Bash: missing required field 'command'.
    Please retry with corrected arguments. The original tool was not executed.

The replacement is an `Intercepted` response: a plain neutral `Response` (rendering it in the
client's dialect, as JSON or as a synthetic stream, is the addon's job) that also remembers the
model's own response and the findings so far. A later intercepting rule validates the model's
own response (`model_output`) and adds its findings, so one correction lists them all, in the
order of the calls. Usage is zero: the client is charged nothing for an answer the proxy wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from addons.wire.model import TEXT, Block, Request, Response, Tool, Usage

HEADER = "[AI Proxy] Your last tool call was rejected before execution:"
FOOTER = "Please retry with corrected arguments. The original tool was not executed."

UNDECLARED = "undeclared"
INVALID_ARGS = "invalid_args"


@dataclass(slots=True)
class Intercepted(Response):
    """The correction that replaces a model response; `original` is what the model said."""

    original: Response | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)


def model_output(response: Response) -> Response:
    """What the model itself answered, even if an earlier rule replaced it."""
    if isinstance(response, Intercepted) and response.original is not None:
        return response.original
    return response


def declared_tools(request: Request) -> dict[str, Tool]:
    return {t.name: t for t in request.tools if t.name}


def finding(kind: str, tool: str, index: int, errors: list[str]) -> dict[str, Any]:
    return {"kind": kind, "tool": tool, "index": index, "errors": errors}


def correction_text(findings: list[dict[str, Any]]) -> str:
    lines = [HEADER]
    for f in findings:
        if f["kind"] == UNDECLARED:
            lines.append(
                f"- {f['tool']}: tool not declared in this request's tools[]. Pick a valid tool."
            )
        else:
            lines.append(f"- {f['tool']}: {'; '.join(f['errors'])}.")
    lines.append(FOOTER)
    return "\n".join(lines)


def reason(findings: list[dict[str, Any]]) -> str:
    """`<tool>: e1, e2; <tool>: e1`."""
    return "; ".join(f"{f['tool']}: {', '.join(f['errors'])}" for f in findings)


def intercept(response: Response, findings: list[dict[str, Any]]) -> Intercepted:
    """The correction for `findings` plus those of any earlier intercept of this response."""
    original = model_output(response)
    earlier = response.findings if isinstance(response, Intercepted) else []
    every = sorted([*earlier, *findings], key=lambda f: f["index"])
    return Intercepted(
        dialect=original.dialect,
        id=original.id,
        model=original.model,
        blocks=[Block(TEXT, text=correction_text(every))],
        stop_reason="end_turn",
        usage=Usage(input=0, output=0),
        extra={"x_proxy_intercepted": True},
        original=original,
        findings=every,
    )
