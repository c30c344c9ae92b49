"""The `if` of a routing rule: conditions on the request and its client, all of which must hold.

Shared by model_router and ollama_options (and the shadow_router to come). An empty `if` matches
every request. Strings may be given as a list, meaning any of them.

| condition            | holds when                                                           |
|----------------------|----------------------------------------------------------------------|
| `from_model`         | the model is exactly one of these                                    |
| `from_model_prefix`  | the model starts with one of these                                   |
| `from_client`        | the client IP is exactly one of these                                |
| `from_client_prefix` | the client IP starts with one of these (`"10.0."`, `"192.168.1."`)   |
| `from_client_app`    | the client app (`claude-code`, `vscode-copilot`, ...) is one of these |
| `path_prefix`        | the request path starts with one of these                            |
| `has_tools`          | the request declares tools (true) or none (false)                    |
| `has_images`         | a message carries an image (true) or none does (false)              |
| `prompt_chars_lt`    | the prompt has fewer characters than this                            |
| `prompt_chars_gt`    | the prompt has more characters than this                             |

Prompt characters are the text the model reads in the messages: text blocks and tool results;
the system prompt, thinking and tool-call arguments are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from addons.wire.model import IMAGE, TEXT, TOOL_RESULT, Block, Request

from .base import RuleContext

_STRINGS: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]
}

CONDITIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "All given conditions must hold; an empty object matches every request.",
    "properties": {
        "from_model": {**_STRINGS, "description": "Model name, exact."},
        "from_model_prefix": {**_STRINGS, "description": "Model name prefix."},
        "from_client": {**_STRINGS, "description": "Client IP, exact."},
        "from_client_prefix": {**_STRINGS, "description": "Client IP prefix."},
        "from_client_app": {**_STRINGS, "description": "Client app, e.g. claude-code."},
        "path_prefix": {**_STRINGS, "description": "Request path prefix."},
        "has_tools": {"type": "boolean"},
        "has_images": {"type": "boolean"},
        "prompt_chars_lt": {"type": "integer", "minimum": 0},
        "prompt_chars_gt": {"type": "integer", "minimum": 0},
    },
}


def _any(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _block_chars(block: Block) -> int:
    if block.type == TEXT:
        return len(block.text)
    if block.type == TOOL_RESULT:
        n = len(block.text)
        for inner in block.content or ():
            if inner.type == TEXT:
                n += len(inner.text)
        return n
    return 0


def prompt_chars(request: Request) -> int:
    return sum(_block_chars(b) for m in request.messages for b in m.blocks)


def has_images(request: Request) -> bool:
    for m in request.messages:
        for b in m.blocks:
            if b.type == IMAGE:
                return True
            if b.type == TOOL_RESULT and any(c.type == IMAGE for c in b.content or ()):
                return True
    return False


class Matcher:
    """Evaluates conditions against one request, computing the costly facts at most once."""

    def __init__(self, request: Request, ctx: RuleContext, model: str | None = None) -> None:
        self.request = request
        self.ctx = ctx
        self.model = request.model if model is None else model
        self._chars: int | None = None

    @property
    def chars(self) -> int:
        if self._chars is None:
            self._chars = prompt_chars(self.request)
        return self._chars

    def matches(self, cond: Mapping[str, Any]) -> bool:
        model = self.model or ""
        ip = self.ctx.client_ip or ""
        if "from_model" in cond and model not in _any(cond["from_model"]):
            return False
        if "from_model_prefix" in cond and not model.startswith(
            tuple(_any(cond["from_model_prefix"]))
        ):
            return False
        if "from_client" in cond and ip not in _any(cond["from_client"]):
            return False
        if "from_client_prefix" in cond and not ip.startswith(
            tuple(_any(cond["from_client_prefix"]))
        ):
            return False
        if "from_client_app" in cond and (self.ctx.client_app or "") not in _any(
            cond["from_client_app"]
        ):
            return False
        if "path_prefix" in cond and not self.ctx.path.startswith(tuple(_any(cond["path_prefix"]))):
            return False
        if "has_tools" in cond and bool(self.request.tools) != cond["has_tools"]:
            return False
        if "has_images" in cond and has_images(self.request) != cond["has_images"]:
            return False
        if "prompt_chars_lt" in cond and not self.chars < cond["prompt_chars_lt"]:
            return False
        if "prompt_chars_gt" in cond and not self.chars > cond["prompt_chars_gt"]:
            return False
        return True
