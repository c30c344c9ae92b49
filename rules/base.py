"""What every rule shares: phases, verdicts, the context a rule sees, and the rule's own shape.

A rule is one module with a stable id, a JSON Schema for its options (every option has a
default), a phase and one pure function. The function never does I/O and never changes what it
is given: a rule that changes the request returns a new `Request` (copying only what it
changes, sharing the rest), a post-flight rule that changes the response returns a new
`Response`. Because unchanged messages and blocks are shared between the input and the result,
nobody may mutate a `Request` or `Response` in place once the engine has seen it.

Phases run in a fixed order (`PHASE_ORDER`): transforms, then pre-flight checks, then the
upstream call, then post-flight checks of the response.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from addons.wire.model import Request, Response


class Phase(StrEnum):
    TRANSFORM = "transform"  # may rewrite the request (route, set options, prune, trim)
    PREFLIGHT = "preflight"  # checks the (transformed) request before it is sent: block or warn
    POSTFLIGHT = "postflight"  # checks the response before the client sees it

    @property
    def rank(self) -> int:
        return PHASE_ORDER.index(self)


PHASE_ORDER: tuple[Phase, ...] = (Phase.TRANSFORM, Phase.PREFLIGHT, Phase.POSTFLIGHT)
REQUEST_PHASES: frozenset[Phase] = frozenset({Phase.TRANSFORM, Phase.PREFLIGHT})

# Verdict kinds, weakest first. The engine's combined verdict: block wins, then intercept, then
# rewrite, then warn, else allow.
ALLOW = "allow"
WARN = "warn"
REWRITE = "rewrite"
BLOCK = "block"
INTERCEPT = "intercept"
VERDICTS: tuple[str, ...] = (ALLOW, WARN, REWRITE, BLOCK, INTERCEPT)

# The HTTP status a block answers with, unless the blocking rule says otherwise in
# `details["status"]` (context_overflow_guard says 413).
BLOCK_STATUS = 400


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one rule decided about one request or response."""

    verdict: str  # one of VERDICTS
    rule_id: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    phase: Phase = Phase.TRANSFORM

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rule_id": self.rule_id,
            "reason": self.reason,
            "details": self.details,
            "phase": str(self.phase),
        }


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One earlier request of the same conversation, as tool_pruner needs it."""

    tools_offered: list[str]  # names declared in that request's tools
    tools_called: list[str]  # names its response called


class History(Protocol):
    def prior_requests(self, conversation_id: str) -> list[HistoryItem]:
        """Earlier requests of this conversation (not the current one), oldest first."""
        ...


class NoHistory:
    """The history of a proxy that remembers nothing: every conversation is new."""

    def prior_requests(self, conversation_id: str) -> list[HistoryItem]:
        return []


NO_HISTORY = NoHistory()


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule sees of an exchange besides the request and response themselves.

    A transform may return a changed context (for example a rule that sends the request to
    another upstream); the rules after it see the change.
    """

    client_ip: str | None = None
    client_app: str | None = None
    path: str = ""
    upstream: str | None = None  # the upstream's label: "anthropic", "openai", "ollama", ...
    dialect: str | None = None  # the dialect the client spoke
    conversation_id: str | None = None
    history: History = NO_HISTORY


@dataclass(frozen=True, slots=True)
class RuleResult:
    """A rule's answer when it has something to say (a rule returns None when it has not).

    `request`, `response` and `context` are replacements: None means unchanged.
    """

    verdict: Verdict
    request: Request | None = None
    response: Response | None = None
    context: RuleContext | None = None


# Request phases: apply(request, options, ctx); post-flight: apply(request, response, options, ctx).
RequestApply = Callable[[Request, Mapping[str, Any], RuleContext], RuleResult | None]
ResponseApply = Callable[[Request, Response, Mapping[str, Any], RuleContext], RuleResult | None]


@runtime_checkable
class Rule(Protocol):
    """The shape the registry and the engine expect of a rule."""

    @property
    def id(self) -> str: ...

    @property
    def phase(self) -> Phase: ...

    @property
    def options_schema(self) -> dict[str, Any]: ...

    @property
    def defaults(self) -> dict[str, Any]: ...

    @property
    def apply(self) -> Callable[..., RuleResult | None]: ...


@dataclass(frozen=True, eq=False)
class RuleSpec:
    """The usual way a rule module satisfies `Rule`: `RULE = RuleSpec(ID, PHASE, SCHEMA, apply)`.

    `defaults` is derived from the `default` of each property of the options schema, so the
    schema is the single place an option is documented.
    """

    id: str
    phase: Phase
    options_schema: dict[str, Any]
    apply: Callable[..., RuleResult | None]
    doc: str = ""
    # A cheap look at the raw request body, before anything is parsed: False means this rule
    # cannot act on it, so the engine skips it (while no rule before it has changed the
    # request) and the proxy need not parse the request for it. None: always run.
    prefilter: Callable[[bytes, Mapping[str, Any], str | None], bool] | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        return defaults_of(self.options_schema)

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else self.id


def defaults_of(options_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The options a rule runs with when the document says nothing about it (fresh copies)."""
    props = options_schema.get("properties", {})
    return {k: copy.deepcopy(p["default"]) for k, p in props.items() if "default" in p}


def options_schema(properties: dict[str, Any], *, description: str = "") -> dict[str, Any]:
    """A rule's options schema: a closed object of the given properties (each with a default)."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


def enabled_option(default: bool) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": "Run this rule."}


def verdict(
    kind: str, rule_id: str, phase: Phase, reason: str, details: dict[str, Any] | None = None
) -> Verdict:
    """A verdict; a block carries the HTTP status it answers with (400 unless given)."""
    details = dict(details or {})
    if kind == BLOCK:
        details.setdefault("status", BLOCK_STATUS)
    return Verdict(kind, rule_id, reason, details, phase)
