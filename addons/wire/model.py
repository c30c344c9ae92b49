"""The protocol-neutral exchange: what rules, the recorder and the UI see of one LLM call.

Every dialect module in `addons.wire` parses its own request, response and stream events into
these types, and (for translation) renders them back out. Nothing here knows about mitmproxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Block types. A dialect that meets something with no neutral counterpart keeps it as "other"
# with the original in `raw`, so that nothing is silently dropped.
TEXT = "text"
IMAGE = "image"
THINKING = "thinking"
TOOL_CALL = "tool_call"
TOOL_RESULT = "tool_result"
OTHER = "other"


@dataclass(slots=True)
class Block:
    type: str
    text: str = ""
    # tool_call: id, name, arguments (parsed JSON when it parses, else the raw string)
    # tool_result: id (the call it answers), text or `content` blocks, is_error
    id: str | None = None
    name: str | None = None
    arguments: Any = None
    is_error: bool = False
    content: list[Block] | None = None
    # image: base64 `data` with `media_type`, or a `url`
    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    # thinking: provider signature, kept so a round trip does not lose it
    signature: str | None = None
    raw: Any = None


@dataclass(slots=True)
class Message:
    role: str  # "system" | "user" | "assistant" | "tool"
    blocks: list[Block] = field(default_factory=list)
    raw: Any = None  # the original message, when it carries more than role and blocks

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks if b.type == TEXT and b.text)


@dataclass(slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None  # JSON Schema of the arguments
    raw: Any = None


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: str  # the JSON text exactly as the model produced it
    id: str | None = None


@dataclass(slots=True)
class Usage:
    input: int | None = None  # prompt tokens, not counting cache reads/writes
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None

    def merge(self, other: Usage) -> None:
        """Take every field `other` knows; the latest non-null value wins."""
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)


@dataclass(slots=True)
class Request:
    """A parsed request body, in neutral form."""

    dialect: str
    model: str | None = None
    system: list[Block] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    stream: bool = False
    # Sampling and control parameters under neutral names: max_tokens, temperature, top_p, top_k,
    # stop (list[str]), tool_choice ("auto" | "any" | "none" | {"name": ...}), user, metadata,
    # thinking, reasoning_effort. Anything else the dialect sent stays in `extra`.
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def system_parts(self) -> list[str]:
        """The system prompt's texts, block by block (`system_text` joins them with "\n")."""
        return [b.text for b in self.system if b.type == TEXT and b.text]

    @property
    def system_text(self) -> str:
        return "\n".join(self.system_parts)


@dataclass(slots=True)
class Response:
    """A parsed response (whole body, or a stream accumulated so far)."""

    dialect: str
    id: str | None = None
    model: str | None = None
    blocks: list[Block] = field(default_factory=list)
    stop_reason: str | None = None  # neutral: end_turn, tool_use, max_tokens, stop_sequence, ...
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    # Top-level fields the dialect sent that the neutral ones do not capture (Anthropic
    # stop_sequence, OpenAI system_fingerprint, Ollama durations in ns, ...).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if b.type == TEXT)

    @property
    def tool_calls(self) -> list[ToolCall]:
        calls = []
        for b in self.blocks:
            if b.type != TOOL_CALL:
                continue
            args = b.arguments
            if not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
            calls.append(ToolCall(name=b.name or "", arguments=args, id=b.id))
        return calls
