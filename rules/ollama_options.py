"""ollama_options: fill in Ollama runtime options (num_ctx, temperature, keep_alive, ...).

Phase: transform. Off by default. Applies only to requests that go to a non-Anthropic upstream
in the native Ollama dialect (`/api/chat`, `/api/generate`) or the OpenAI Chat dialect
(Ollama's `/v1/chat/completions`, and any OpenAI-compatible server). Use `rules` conditions to
narrow it: unknown top-level keys make the real OpenAI API answer 400.

The options to apply are merged, later wins: `defaults`, then `per_model[<model>]`, then
`per_client[<client ip>]`, then the `set` of the first entry of `rules` whose `if` holds
(conditions as in model_router). They only fill in: a value the client set itself is never
overwritten.

- Native dialect: options go under `options`, except `keep_alive` and `format`, which are
  top-level body fields.
- OpenAI dialect: options go top-level; `keep_alive` and `format` are skipped (no such fields
  there), and so is `num_ctx`, which Ollama's OpenAI-compatible API ignores (details list it
  under `ignored`).

`num_ctx_max` (null = no cap) caps any `num_ctx`, the client's own included.

    {"ollama_options": {"enabled": true,
                        "defaults": {"num_ctx": 16384, "keep_alive": "30m"},
                        "per_model": {"qwen2.5-coder:32b": {"temperature": 0.2}},
                        "num_ctx_max": 65536}}

Verdict: `rewrite`, reason `options set: num_ctx=16384, keep_alive=30m`, details
`{applied, sources, ignored, clamped}` with sources among `defaults`, `per_model:<m>`,
`per_client:<ip>`, `rule`.

Departures from the reference: `num_ctx_max` acts only when the rule is enabled (the engine runs
no disabled rule), and the reference's newest trick of creating a derived `<model>-ctx<N>k`
model through `/api/create` is not done (I/O).
"""

from __future__ import annotations

import json
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
from .common import (
    has_top_level,
    ollama_options,
    top_level,
    with_ollama_options,
    with_params,
    with_top_level,
)
from .conditions import CONDITIONS_SCHEMA, Matcher

ID = "ollama_options"
PHASE = Phase.TRANSFORM

NATIVE = "ollama"
OPENAI = "openai_chat"
_TOP_LEVEL = ("keep_alive", "format")

_OPTIONS: dict[str, Any] = {"type": "object", "description": "Ollama option → value."}

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(False),
        "defaults": {**_OPTIONS, "default": {}},
        "per_model": {
            "type": "object",
            "additionalProperties": _OPTIONS,
            "default": {},
            "description": "Model → options.",
        },
        "per_client": {
            "type": "object",
            "additionalProperties": _OPTIONS,
            "default": {},
            "description": "Client IP → options.",
        },
        "rules": {
            "type": "array",
            "default": [],
            "description": "The first entry whose `if` holds adds its `set`.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["set"],
                "properties": {"if": CONDITIONS_SCHEMA, "set": _OPTIONS},
            },
        },
        "num_ctx_max": {
            "type": ["integer", "null"],
            "minimum": 1,
            "default": None,
            "description": "Cap on num_ctx, the client's own included; null = no cap.",
        },
    }
)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def candidates(
    request: Request, options: Mapping[str, Any], ctx: RuleContext
) -> tuple[dict[str, Any], list[str], int | None]:
    merged: dict[str, Any] = {}
    sources: list[str] = []
    layers = [
        ("defaults", options["defaults"]),
        (f"per_model:{request.model}", options["per_model"].get(request.model or "")),
        (f"per_client:{ctx.client_ip}", options["per_client"].get(ctx.client_ip or "")),
    ]
    rule_index = None
    if options["rules"]:
        matcher = Matcher(request, ctx)
        for i, rule in enumerate(options["rules"]):
            if matcher.matches(rule.get("if", {})):
                layers.append(("rule", rule["set"]))
                rule_index = i
                break
    for source, layer in layers:
        if layer:
            merged.update(layer)
            sources.append(source)
    return merged, sources, rule_index


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    if ctx.upstream == "anthropic" or request.dialect not in (NATIVE, OPENAI):
        return None
    wanted, sources, rule_index = candidates(request, options, ctx)
    applied: dict[str, Any] = {}
    ignored: list[str] = []
    result = request
    if request.dialect == NATIVE:
        current = ollama_options(request)
        inner = {k: v for k, v in wanted.items() if k not in _TOP_LEVEL and k not in current}
        outer = {k: v for k, v in wanted.items() if k in _TOP_LEVEL and k not in request.params}
        if inner:
            result = with_ollama_options(result, inner)
        if outer:
            result = with_params(result, outer)
        applied = {**inner, **outer}
    else:
        outer = {}
        for key, value in wanted.items():
            if key in _TOP_LEVEL or key == "num_ctx":
                ignored.append(key)
            elif not has_top_level(request, key):
                outer[key] = value
        if outer:
            result = with_top_level(result, outer)
        applied = outer

    clamped = None
    cap = options["num_ctx_max"]
    if cap is not None:
        if request.dialect == NATIVE:
            num_ctx = ollama_options(result).get("num_ctx")
        else:
            num_ctx = top_level(result, "num_ctx")
        if isinstance(num_ctx, int | float) and not isinstance(num_ctx, bool) and num_ctx > cap:
            clamped = {"from": num_ctx, "to": cap}
            if request.dialect == NATIVE:
                result = with_ollama_options(result, {"num_ctx": cap})
            else:
                result = with_top_level(result, {"num_ctx": cap})

    if not applied and clamped is None:
        return None
    parts = []
    if applied:
        parts.append("options set: " + ", ".join(f"{k}={_show(v)}" for k, v in applied.items()))
    if clamped is not None:
        parts.append(f"num_ctx clamped {clamped['from']} → {clamped['to']}")
    details = {
        "applied": applied,
        "sources": sources,
        "rule_index": rule_index,
        "ignored": ignored,
        "clamped": clamped,
        "native": request.dialect == NATIVE,
    }
    return RuleResult(verdict(REWRITE, ID, PHASE, "; ".join(parts), details), request=result)


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "")
