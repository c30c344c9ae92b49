"""protocol_bridge: answer a client in its own API from an upstream that speaks another.

Phase: transform, right after model_router (so a routed model decides). On by default.

- **Anthropic client, non-Claude model** (redirect mode): a `/v1/messages` request whose model
  (after routing) is not a Claude model (or every one, with `force`) is sent to `upstream` (an
  OpenAI-compatible server: Ollama, LM Studio, vLLM, llama.cpp) at `path` as an OpenAI Chat
  Completions request, without Anthropic credentials or headers; the response and its stream are
  translated back to Anthropic Messages event by event. `/v1/messages/count_tokens` for such a
  model is answered by the proxy (a documented estimate) so Claude Code does not fail on it.
- **OpenAI client, Claude model** (`reverse`): a `/v1/chat/completions` request for a Claude
  model goes to the `anthropic` upstream as a Messages request and comes back as Chat
  Completions.

Without a router rule this only fires when a client names a model the upstream could not serve
(a non-Claude model on `/v1/messages`, a Claude model on `/v1/chat/completions`).

    {"model_router": {"enabled": true, "rules": [{"if": {"from_model_prefix": "claude-"},
                                                  "then": "qwen3-coder:30b"}]},
     "protocol_bridge": {"enabled": true, "upstream": "ollama"}}

Verdict: `rewrite`, reason `anthropic→openai: <model> via <upstream>`, details
`{direction, from_dialect, to_dialect, upstream, path, model}`. The proxy renders the request
in `to_dialect`; this rule only decides.
"""

from __future__ import annotations

import dataclasses
import re
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

ID = "protocol_bridge"
PHASE = Phase.TRANSFORM

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(True),
        "upstream": {
            "type": "string",
            "minLength": 1,
            "default": "ollama",
            "description": "Upstream label (mitm.toml [upstreams]) of the OpenAI-compatible "
            "server that serves non-Claude models to Anthropic clients.",
        },
        "path": {
            "type": "string",
            "pattern": "^/",
            "default": "/v1/chat/completions",
            "description": "Chat Completions path on that upstream.",
        },
        "force": {
            "type": "boolean",
            "default": False,
            "description": "Bridge every Anthropic request, Claude models included.",
        },
        "reverse": {
            "type": "boolean",
            "default": True,
            "description": "Send OpenAI Chat requests for Claude models to the anthropic upstream.",
        },
        "claude_prefixes": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["claude-", "claude/", "anthropic/"],
            "description": "A model starting with one of these is a Claude model.",
        },
    }
)

ANTHROPIC_PATHS = ("/v1/messages",)
OPENAI_PATHS = ("/v1/chat/completions",)


def is_claude(model: str | None, prefixes: list[str]) -> bool:
    name = (model or "").lower()
    return any(name.startswith(p) for p in prefixes)


def route_path(path: str) -> str:
    """The API path without a query string or an upstream's path prefix."""
    path = path.partition("?")[0]
    for known in ANTHROPIC_PATHS + OPENAI_PATHS:
        at = path.find(known)
        if at >= 0:
            return path[at:]
    return path


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    path = route_path(ctx.path)
    prefixes = options["claude_prefixes"]
    if ctx.dialect == "anthropic" and path.startswith(ANTHROPIC_PATHS):
        if not options["force"] and is_claude(request.model, prefixes):
            return None
        direction, to_dialect = "anthropic_to_openai", "openai_chat"
        upstream, target_path = options["upstream"], options["path"]
        if path.startswith("/v1/messages/count_tokens"):
            target_path = None  # answered by the proxy itself
    elif ctx.dialect == "openai_chat" and path.startswith(OPENAI_PATHS):
        if not options["reverse"] or not is_claude(request.model, prefixes):
            return None
        direction, to_dialect = "openai_to_anthropic", "anthropic"
        upstream, target_path = "anthropic", "/v1/messages"
    else:
        return None
    details = {
        "direction": direction,
        "from_dialect": ctx.dialect,
        "to_dialect": to_dialect,
        "upstream": upstream,
        "path": target_path,
        "model": request.model,
    }
    reason = f"{direction.replace('_to_', '→')}: {request.model} via {upstream}"
    return RuleResult(
        verdict(REWRITE, ID, PHASE, reason, details),
        context=dataclasses.replace(ctx, upstream=upstream),
    )


MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


def prefilter(raw: bytes, options: Mapping[str, Any], dialect: str | None) -> bool:
    """Only Anthropic and OpenAI Chat bodies whose model crosses over can be bridged."""
    if dialect not in ("anthropic", "openai_chat"):
        return False
    match = MODEL.search(raw)
    if match is None:
        return True  # no plain model field: let the parsed request decide
    claude = is_claude(match.group(1).decode("utf-8", "replace"), options["claude_prefixes"])
    if dialect == "anthropic":
        return options["force"] or not claude
    return options["reverse"] and claude


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "", prefilter)
