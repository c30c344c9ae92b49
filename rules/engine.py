"""The rule engine: runs the enabled rules of one configuration, in phase order, on one exchange.

    engine = Engine(document)                      # validated and compiled once; InvalidConfig
    before = engine.preflight(request, ctx)        # transforms, then pre-flight checks
    if before.verdict == "block": answer before.status with before.gate.reason
    ... send before.request to before.context.upstream ...
    if engine.needs_whole_stream(before.request): buffer the stream, then
    after = engine.postflight(before.request, response, before.context)
    ... send after.response ...

`preflight` runs the transforms and then the pre-flight rules, each on the request as the rules
before it left it, and stops at the first block or intercept. `postflight` runs the post-flight
rules, each on the response as the rules before it left it. Every verdict is kept, in order, in
`Outcome.verdicts`; `Outcome.verdict` combines them: block wins, then intercept, then rewrite
(some rule said rewrite, or a transform changed the request), then warn, else allow. A
pre-flight rule may add a note to the request without making it a rewrite (loop_detector's
nudge is a warn).

Failure policy: a rule that raises (or returns something that is not a `RuleResult`) is logged,
counted in `stats` and treated as if it allowed; the exchange goes on.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from addons.wire.model import Request, Response

from . import registry
from .base import (
    ALLOW,
    BLOCK,
    BLOCK_STATUS,
    INTERCEPT,
    PHASE_ORDER,
    REWRITE,
    WARN,
    Phase,
    Rule,
    RuleContext,
    RuleResult,
    Verdict,
)
from .registry import InvalidConfig

log = logging.getLogger(__name__)

SAMPLES = 2048  # timings kept per rule and per phase for the percentiles


@dataclass(frozen=True, slots=True)
class RuleFailure:
    rule_id: str
    error: str


@dataclass(slots=True)
class Outcome:
    """What the rules made of one request (pre-flight) or one response (post-flight)."""

    request: Request
    response: Response | None
    context: RuleContext
    verdicts: list[Verdict]
    verdict: str  # the combined verdict
    failures: list[RuleFailure] = field(default_factory=list)

    @property
    def gate(self) -> Verdict:
        """One verdict that stands for all: the first block or intercept; else every rewrite
        and warn joined (ids with `+`, reasons with `; `, details by rule id); else allow."""
        for v in self.verdicts:
            if v.verdict == self.verdict and v.verdict in (BLOCK, INTERCEPT):
                return v
        parts = [v for v in self.verdicts if v.verdict in (REWRITE, WARN)]
        if not parts:
            phase = self.verdicts[0].phase if self.verdicts else Phase.TRANSFORM
            return Verdict(self.verdict, "", "", {}, phase)
        return Verdict(
            self.verdict,
            "+".join(dict.fromkeys(v.rule_id for v in parts)),
            "; ".join(v.reason for v in parts),
            {v.rule_id: v.details for v in parts},
            parts[0].phase,
        )

    @property
    def status(self) -> int | None:
        """The HTTP status of a block (400, or 413 for context_overflow_guard), else None."""
        if self.verdict != BLOCK:
            return None
        return int(self.gate.details.get("status", BLOCK_STATUS))


class Timings:
    """Run and error counts and recent durations of one rule or phase."""

    __slots__ = ("runs", "errors", "_samples")

    def __init__(self) -> None:
        self.runs = 0
        self.errors = 0
        self._samples: deque[float] = deque(maxlen=SAMPLES)

    def add(self, seconds: float) -> None:
        self.runs += 1
        self._samples.append(seconds)

    def percentile(self, p: float) -> float | None:
        """The p-th percentile (nearest rank) of the recent durations, in milliseconds."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "errors": self.errors,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
        }


class Stats:
    """Per rule id and per phase: runs, errors, p50/p95/p99 time (`summary()` for all)."""

    def __init__(self, rule_ids: Sequence[str]) -> None:
        self.rules: dict[str, Timings] = {rid: Timings() for rid in rule_ids}
        self.phases: dict[str, Timings] = {str(p): Timings() for p in PHASE_ORDER}

    def __getitem__(self, rule_id: str) -> Timings:
        return self.rules[rule_id]

    def summary(self) -> dict[str, Any]:
        return {
            "rules": {rid: t.summary() for rid, t in self.rules.items()},
            "phases": {p: t.summary() for p, t in self.phases.items()},
        }


def _may_act(rule: Rule, options: dict[str, Any], raw: bytes, dialect: str | None) -> bool:
    prefilter = getattr(rule, "prefilter", None)
    return prefilter is None or prefilter(raw, options, dialect)


def _mentions(value: Any, key: str) -> bool:
    """Whether `key` is a key anywhere in nested options (a rule's conditions)."""
    if isinstance(value, Mapping):
        return key in value or any(_mentions(v, key) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v, key) for v in value)
    return False


def combine(verdicts: Sequence[Verdict], transformed: bool = False) -> str:
    kinds = {v.verdict for v in verdicts}
    for kind in (BLOCK, INTERCEPT):
        if kind in kinds:
            return kind
    if REWRITE in kinds or transformed:
        return REWRITE
    return WARN if WARN in kinds else ALLOW


class Engine:
    """One compiled rules configuration. Raises `InvalidConfig` for an invalid document."""

    def __init__(
        self,
        document: Mapping[str, Any] | None = None,
        rules: Sequence[Rule] = registry.RULES,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        document = {} if document is None else document
        rules = tuple(rules)
        registry.check_rules(rules)
        errors = registry.validate(document, rules)
        if errors:
            raise InvalidConfig(errors)
        self.document: dict[str, Any] = copy.deepcopy(dict(document))
        self.rules = rules
        self.config = registry.effective(document, rules)
        self.stats = Stats([r.id for r in rules])
        self._clock = clock
        self._phases: list[tuple[Phase, list[tuple[Rule, dict[str, Any]]]]] = []
        for phase in PHASE_ORDER:
            enabled = [(r, self.config[r.id]) for r in rules if r.phase == phase]
            enabled = [(r, o) for r, o in enabled if o.get("enabled")]
            self._phases.append((phase, enabled))
        # Identifying the client reads the system prompt: only worth it when a condition asks.
        self.asks_client_app = any(
            _mentions(options, "from_client_app")
            for _, rules in self._phases
            for _, options in rules
        )

    def enabled(self, rule_id: str) -> bool:
        return bool(self.config.get(rule_id, {}).get("enabled"))

    def candidates(self, raw: bytes, dialect: str | None) -> frozenset[str]:
        """The enabled rules, of every phase, that could act on this raw request body (their
        prefilter says so, or they have none): what `preflight(..., only=...)` needs to run.
        Empty: the request need not even be parsed."""
        return frozenset(
            rule.id
            for _, rules in self._phases
            for rule, options in rules
            if _may_act(rule, options, raw, dialect)
        )

    def might_act(self, raw: bytes, dialect: str | None) -> bool:
        """Whether any enabled rule could act on this raw request body."""
        return bool(self.candidates(raw, dialect))

    def needs_whole_stream(self, request: Request) -> bool:
        """True when a post-flight rule must see the whole response: one is enabled and the
        request offers tools. Otherwise the stream can be relayed as it comes."""
        return bool(request.tools) and any(
            rules for phase, rules in self._phases if phase == Phase.POSTFLIGHT
        )

    def preflight(
        self, request: Request, ctx: RuleContext, only: Collection[str] | None = None
    ) -> Outcome:
        """Transforms, then pre-flight checks, on the request about to be sent.

        With `only` (from `candidates`: the rules whose prefilter passed on the raw body), a
        rule outside it is skipped while it would see the request and context as given; once
        a rule before it has changed either, it runs whatever its prefilter said.
        """
        current, context = request, ctx
        verdicts: list[Verdict] = []
        failures: list[RuleFailure] = []
        transformed = stop = False
        for phase, rules in self._phases:
            if phase == Phase.POSTFLIGHT or stop:
                continue
            started = self._clock()
            for rule, options in rules:
                if (
                    only is not None
                    and rule.id not in only
                    and current is request
                    and context is ctx
                ):
                    continue
                result = self._run(rule, failures, current, options, context)
                if result is None:
                    continue
                verdicts.append(result.verdict)
                if result.request is not None and result.request is not current:
                    current = result.request
                    transformed = transformed or phase == Phase.TRANSFORM
                if result.context is not None:
                    context = result.context
                if result.verdict.verdict in (BLOCK, INTERCEPT):
                    stop = True
                    break
            self.stats.phases[str(phase)].add(self._clock() - started)
        return Outcome(current, None, context, verdicts, combine(verdicts, transformed), failures)

    def postflight(self, request: Request, response: Response, ctx: RuleContext) -> Outcome:
        """Post-flight checks on the whole response; `Outcome.response` is what to send on."""
        current, context = response, ctx
        verdicts: list[Verdict] = []
        failures: list[RuleFailure] = []
        started = self._clock()
        for phase, rules in self._phases:
            if phase != Phase.POSTFLIGHT:
                continue
            for rule, options in rules:
                result = self._run(rule, failures, request, current, options, context)
                if result is None:
                    continue
                verdicts.append(result.verdict)
                if result.response is not None:
                    current = result.response
                if result.context is not None:
                    context = result.context
                if result.verdict.verdict == BLOCK:
                    break
        self.stats.phases[str(Phase.POSTFLIGHT)].add(self._clock() - started)
        return Outcome(request, current, context, verdicts, combine(verdicts), failures)

    def _run(self, rule: Rule, failures: list[RuleFailure], *args: Any) -> RuleResult | None:
        timings = self.stats.rules[rule.id]
        started = self._clock()
        try:
            result = rule.apply(*args)
            if result is not None and not isinstance(result, RuleResult):
                raise TypeError(f"returned {type(result).__name__}, not a RuleResult")
        except Exception as e:
            timings.errors += 1
            failures.append(RuleFailure(rule.id, repr(e)))
            log.exception("rule %s failed; treated as allow", rule.id)
            result = None
        timings.add(self._clock() - started)
        return result


__all__ = ["Engine", "InvalidConfig", "Outcome", "RuleFailure", "Stats", "Timings", "combine"]
