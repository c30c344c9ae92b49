"""schema_validator: refuse tool calls whose arguments break the tool's own JSON Schema.

Phase: post-flight. Off by default. For every tool call in the response whose tool the request
declared, the arguments are validated with `jsonschema` against that tool's declared schema
(Anthropic `input_schema`, OpenAI and Ollama `function.parameters`). The schema's own
`$schema` picks the draft (Claude Code declares draft-07); without one, Draft 2020-12. A schema
`jsonschema` itself rejects validates nothing: a broken tool list is the client's problem, not
the model's. Compiled validators are cached by the schema's canonical JSON.

Errors, as the model will read them:
- empty arguments are `{}`; otherwise `arguments are not valid JSON: <error>` or
  `arguments must be a JSON object`;
- `missing required field 'path'` (nested fields dotted: `'options.mode'`);
- with `strict_types`: `field 'limit' should be integer, got string`;
- with `reject_unknown_fields`: `unknown field 'foo'` for a field the schema does not list
  (whether or not it says `additionalProperties: false`; without the option such errors are
  ignored even when it does);
- anything else the schema forbids: `field 'mode': 'fast' is not one of ['a', 'b']`.

On findings, with `action: "block"` (the default) the response is intercepted: the client gets
the correction of `rules/intercept.py` instead, and the verdict is `intercept`, reason
`<tool>: e1, e2; …`, details `{findings, replaced, streaming}`. With `action: "warn"` the
response goes through untouched and the verdict is warn.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

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
from .common import CANONICAL, arguments_object, offers_tools
from .intercept import INVALID_ARGS, declared_tools, finding, intercept, model_output, reason

ID = "schema_validator"
PHASE = Phase.POSTFLIGHT
MESSAGE_LIMIT = 200

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "action": {"enum": ["block", "warn"], "default": "block"},
        "strict_types": {"type": "boolean", "default": True},
        "reject_unknown_fields": {"type": "boolean", "default": False},
    }
)

_UNKNOWN = ("additionalProperties", "unevaluatedProperties")


@functools.lru_cache(maxsize=512)
def _compiled(schema_json: str, reject_unknown: bool) -> Validator | None:
    schema = json.loads(schema_json)
    if (
        reject_unknown
        and isinstance(schema.get("properties"), dict)
        and "additionalProperties" not in schema
    ):
        schema["additionalProperties"] = False
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        return None
    return cls(schema)


def compiled(schema: dict[str, Any], reject_unknown: bool) -> Validator | None:
    """The validator for a tool schema, compiled once per distinct schema."""
    try:
        key = CANONICAL.encode(schema)
    except (TypeError, ValueError):
        return None
    return _compiled(key, reject_unknown)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _field(path: Any, *more: str) -> str:
    return ".".join(str(p) for p in [*path, *more])


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _unknown(error: ValidationError) -> list[str]:
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator != "additionalProperties" or not isinstance(instance, dict):
        return [_short(error.message)]
    props = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        f"unknown field '{_field(error.absolute_path, key)}'"
        for key in instance
        if key not in props and not any(re.search(p, key) for p in patterns)
    ]


def describe(error: ValidationError, strict_types: bool, reject_unknown: bool) -> list[str]:
    """The messages for one jsonschema error (none for an error the options ignore)."""
    path = error.absolute_path
    if error.validator == "required":
        for name in error.validator_value:
            if error.message == f"{name!r} is a required property":
                return [f"missing required field '{_field(path, name)}'"]
        return [_short(error.message)]
    if error.validator == "type":
        if not strict_types:
            return []
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = json_type(error.instance)
        if not path:
            return [f"arguments should be {expected}, got {got}"]
        return [f"field '{_field(path)}' should be {expected}, got {got}"]
    if error.validator in _UNKNOWN:
        return _unknown(error) if reject_unknown else []
    if not path:
        return [_short(error.message)]
    return [_short(f"field '{_field(path)}': {error.message}")]


def check(
    arguments: Any, schema: dict[str, Any] | None, strict_types: bool, reject_unknown: bool
) -> list[str]:
    """Everything wrong with one call's arguments, in the order the schema finds it."""
    obj, problem = arguments_object(arguments)
    if obj is None:
        return [problem or "arguments must be a JSON object"]
    if not schema:
        return []
    validator = compiled(schema, reject_unknown)
    if validator is None:
        return []
    errors: list[str] = []
    try:
        for error in validator.iter_errors(obj):
            for message in describe(error, strict_types, reject_unknown):
                if message not in errors:
                    errors.append(message)
    except Exception:  # an unresolvable $ref or other fault of the declared schema
        return errors
    return errors


def _calls(response: Response) -> Iterator[tuple[int, Any]]:
    return enumerate(b for b in response.blocks if b.type == TOOL_CALL)


def apply(
    request: Request, response: Response, options: Mapping[str, Any], ctx: RuleContext
) -> RuleResult | None:
    if not request.tools:
        return None
    declared = declared_tools(request)
    findings = []
    for index, call in _calls(model_output(response)):
        tool = declared.get(call.name or "")
        if tool is None:
            continue
        errors = check(
            call.arguments,
            tool.parameters,
            options["strict_types"],
            options["reject_unknown_fields"],
        )
        if errors:
            findings.append(finding(INVALID_ARGS, tool.name, index, errors))
    if not findings:
        return None
    replace = options["action"] == "block"
    details = {"findings": findings, "replaced": replace, "streaming": request.stream}
    kind = INTERCEPT if replace else WARN
    result = verdict(kind, ID, PHASE, reason(findings), details)
    return RuleResult(result, response=intercept(response, findings) if replace else None)


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "", offers_tools)
