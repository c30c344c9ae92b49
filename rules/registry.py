"""The rules, in the order they run, and the one JSON document that configures them.

The document is a JSON object whose top-level keys are rule ids; each value holds that rule's
options. Every key is optional: an absent rule or option takes its default. Unknown rule ids and
unknown options are errors.

    {
      "loop_detector": {"max_repeats": 5},
      "model_router": {"enabled": true, "aliases": {"gpt-4o": "qwen2.5-coder:32b"}},
      "schema_validator": {"enabled": true}
    }

The effective configuration merges the document over the defaults one rule at a time, shallowly
(as the reference does): an option given replaces the default whole, an option not given keeps
its default.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from . import (
    context_overflow_guard,
    hallucinated_tool,
    loop_detector,
    model_router,
    ollama_options,
    protocol_bridge,
    schema_validator,
    tool_args_autofix,
    tool_failure_breaker,
    tool_pruner,
)
from .base import Rule

# In running order. Phases never interleave: transforms, then pre-flight, then post-flight.
# protocol_bridge goes after model_router and shadow_router first, when they come.
RULES: tuple[Rule, ...] = (
    model_router.RULE,
    protocol_bridge.RULE,
    ollama_options.RULE,
    tool_pruner.RULE,
    context_overflow_guard.RULE,
    loop_detector.RULE,
    tool_failure_breaker.RULE,
    tool_args_autofix.RULE,
    schema_validator.RULE,
    hallucinated_tool.RULE,
)


def check_rules(rules: Sequence[Rule]) -> None:
    """Raise ValueError unless ids are unique, phases in order and every option has a default."""
    seen: set[str] = set()
    last = -1
    for rule in rules:
        if rule.id in seen:
            raise ValueError(f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        if rule.phase.rank < last:
            raise ValueError(f"rule {rule.id!r} ({rule.phase}) is out of phase order")
        last = rule.phase.rank
        props = rule.options_schema.get("properties", {})
        if "enabled" not in props or any("default" not in p for p in props.values()):
            raise ValueError(f"rule {rule.id!r}: every option needs a default, enabled included")


check_rules(RULES)

BY_ID: Mapping[str, Rule] = {r.id: r for r in RULES}


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One thing wrong with a rules document: where (a JSON pointer) and what."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidConfig(ValueError):
    """A rules document that does not validate; `errors` says where and why."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("invalid rules config: " + "; ".join(str(e) for e in errors))


def schema(rules: Sequence[Rule] = RULES) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the whole rules document."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Rules",
        "description": "Rule id → that rule's options; absent rules and options take defaults.",
        "type": "object",
        "additionalProperties": False,
        "properties": {r.id: r.options_schema for r in rules},
    }


def defaults(rules: Sequence[Rule] = RULES) -> dict[str, dict[str, Any]]:
    return {r.id: r.defaults for r in rules}


@functools.lru_cache(maxsize=8)
def _validator(rules: tuple[Rule, ...]) -> Draft202012Validator:
    document_schema = schema(rules)
    Draft202012Validator.check_schema(document_schema)
    return Draft202012Validator(document_schema)


def _pointer(parts: Sequence[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _errors(error: ValidationError) -> list[ConfigError]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        what = {0: "rule", 1: "option"}.get(len(path), "key")
        return [
            ConfigError(_pointer([*path, key]), f"unknown {what} '{key}'")
            for key in error.instance
            if key not in allowed
        ]
    if not path and error.validator == "type":
        return [ConfigError("/", "rules config must be a JSON object")]
    if error.validator in ("anyOf", "oneOf") and error.context:
        if all(e.validator == "type" and not e.relative_path for e in error.context):
            types = " or ".join(repr(e.validator_value) for e in error.context)
            return [ConfigError(_pointer(path), f"{error.instance!r} is not of type {types}")]
        if all(e.validator == "required" for e in error.context):
            needed = " or ".join(repr(n) for e in error.context for n in e.validator_value)
            return [ConfigError(_pointer(path), f"needs {needed}")]
        inner = best_match(error.context)
        if inner is not None:
            return _errors(inner)
    return [ConfigError(_pointer(path), error.message)]


def validate(document: Any, rules: Sequence[Rule] = RULES) -> list[ConfigError]:
    """Everything wrong with a rules document, sorted by path; empty when it is valid."""
    errors = [e for err in _validator(tuple(rules)).iter_errors(document) for e in _errors(err)]
    return sorted(set(errors), key=lambda e: (e.path, e.message))


def effective(document: Mapping[str, Any] | None, rules: Sequence[Rule] = RULES) -> dict[str, Any]:
    """The options every rule runs with: defaults, then the (valid) document over them."""
    document = document or {}
    return {r.id: {**r.defaults, **copy.deepcopy(dict(document.get(r.id, {})))} for r in rules}
