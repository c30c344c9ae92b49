"""Helpers the rule modules share for reading and copying the neutral exchange.

Nothing here mutates its input: the `with_*` functions return copies that share every part they
do not change.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from itertools import compress
from typing import Any, TypeVar

from addons.wire.common import PrefixMemo
from addons.wire.model import TEXT, TOOL_CALL, TOOL_RESULT, Block, Message, Request

T = TypeVar("T")

# Raw-body markers, for prefilters: each tool call in a dialect's history holds its marker
# (Anthropic `"type":"tool_use"`, OpenAI/Ollama `"arguments"`, Gemini `"functionCall"`, OpenAI
# Responses `"type":"function_call"`), and tool definitions hold none of them.
TOOL_CALL_MARKERS = {
    "anthropic": (b'"tool_use"',),
    "openai_chat": (b'"arguments"',),
    "ollama": (b'"arguments"',),
    "gemini": (b'"functionCall"', b'"function_call"'),  # the REST API takes either spelling
    "openai_responses": (b'"function_call"',),
}
ANY_TOOL_CALL = (b'"tool_use"', b'"arguments"', b'"functionCall"', b'"function_call"')
TOOLS_MARKERS = (b'"tools"', b'"functionDeclarations"', b'"functions"')


def has_tool_calls(raw: bytes, at_least: int, dialect: str | None = None) -> bool:
    """False only when the raw request body holds fewer than `at_least` tool calls. Reads no
    further than the `at_least`-th marker: a prefilter on a 150 KB body costs microseconds."""
    found = 0
    for marker in TOOL_CALL_MARKERS.get(dialect or "", ANY_TOOL_CALL):
        at = raw.find(marker)
        while at >= 0:
            found += 1
            if found >= at_least:
                return True
            at = raw.find(marker, at + len(marker))
    return False


def offers_tools(raw: bytes, options: Any = None, dialect: str | None = None) -> bool:
    """Whether a raw request body may declare tools (a prefilter for post-flight rules)."""
    return any(marker in raw for marker in TOOLS_MARKERS)


ARGS_LIMIT = 1000  # characters of canonical arguments kept in a tool-call signature

# Sorted keys, compact, unicode kept: equal values give equal text. One encoder, built once
# (json.dumps with options builds a new one per call, which dominates small values).
CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

# Top-level OpenAI Chat body keys that the openai_chat parser maps into `Request.params`;
# every other top-level key it keeps in `Request.extra`.
_OPENAI_PARAM_KEYS = frozenset(
    {
        "temperature",
        "top_p",
        "user",
        "reasoning_effort",
        "stream_options",
        "parallel_tool_calls",
        "metadata",
        "max_tokens",
        "stop",
    }
)
# Ollama `options` that the ollama parser also copies to neutral names in `Request.params`.
_OLLAMA_OPTION_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "num_predict": "max_tokens",
    "stop": "stop",
}


class IdentityMemo:
    """`compute(obj)` remembered for the last `size` objects, by identity. Each entry holds its
    object, so that the object's id cannot be reused while the entry is here."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.entries: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

    def get(self, obj: Any, compute: Callable[[Any], T]) -> T:
        entry = self.entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = compute(obj)
        self.put(obj, value)
        return value

    def peek(self, obj: Any) -> Any:
        """What is remembered for `obj`, or None."""
        entry = self.entries.get(id(obj))
        return entry[1] if entry is not None and entry[0] is obj else None

    def put(self, obj: Any, value: Any) -> None:
        self.entries[id(obj)] = (obj, value)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


def is_user_turn(message: Message) -> bool:
    """A message the user wrote.

    Anthropic carries tool results in user messages: those are the tools talking, not the user.
    A user message counts as the user's unless it holds tool results and nothing else but
    tag-wrapped text (Claude Code's `<system-reminder>` blocks ride along with results); text
    the user typed after the results (Claude Code merges it into the same message) counts.
    """
    if message.role != "user":
        return False
    results = False
    for b in message.blocks:
        if b.type == TOOL_RESULT:
            results = True
        elif b.type == TEXT:
            text = b.text.lstrip()
            if text and text[0] != "<":
                return True
    return not results


_USER_TURNS = PrefixMemo()  # whether each message is a user turn, carried forward


def user_turns(messages: list[Message]) -> list[int]:
    """The indices of the messages that are user turns (`is_user_turn`).

    An agent resends its whole history every turn, and the parser hands back the same Message
    objects for the messages it has seen, so each message is looked at once (`PrefixMemo`):
    a Claude Code agent's long run of tool calls since the user last spoke is not walked
    again on every request.
    """
    flags = _USER_TURNS.map(messages, is_user_turn)
    return list(compress(range(len(flags)), flags))


def tool_calls(messages: list[Message]) -> Iterator[Block]:
    """Every tool call the assistant made, in order (Anthropic tool_use, OpenAI and Ollama
    tool_calls alike)."""
    for m in messages:
        if m.role == "assistant":
            for b in m.blocks:
                if b.type == TOOL_CALL:
                    yield b


def canonical_args(arguments: Any) -> str:
    """Arguments as canonical JSON (sorted keys, compact), so equal calls compare equal.

    A string is parsed as JSON first; one that does not parse is kept trimmed. Either way the
    result is cut to ARGS_LIMIT characters.
    """
    value = arguments
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return value.strip()[:ARGS_LIMIT]
    try:
        text = CANONICAL.encode(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text[:ARGS_LIMIT]


def result_text(block: Block) -> str:
    """The text of a tool result, whether given as a string or as content blocks."""
    parts = [block.text] if block.text else []
    parts.extend(c.text for c in block.content or () if c.type == TEXT and c.text)
    return "\n".join(parts)


def arguments_object(arguments: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Tool-call arguments as an object, or None and why not.

    No arguments, or an empty string, mean `{}` (models send that for tools without
    parameters).
    """
    if arguments is None:
        return {}, None
    if isinstance(arguments, dict):
        return arguments, None
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}, None
        try:
            value = json.loads(arguments)
        except (ValueError, RecursionError) as e:
            return None, f"arguments are not valid JSON: {e}"
        if isinstance(value, dict):
            return value, None
    return None, "arguments must be a JSON object"


def with_arguments(block: Block, args: dict[str, Any]) -> Block:
    """A copy of a tool-call block with new arguments, in the form the old ones had (JSON text
    stays JSON text), with the original element in `raw` updated to match."""
    text_form = isinstance(block.arguments, str)
    value: Any = json.dumps(args, ensure_ascii=False, separators=(",", ":")) if text_form else args
    raw = block.raw
    if isinstance(raw, dict):
        fn = raw.get("function")
        if isinstance(fn, dict) and "arguments" in fn:
            as_text = isinstance(fn["arguments"], str)
            new_args = json.dumps(args, ensure_ascii=False) if as_text else args
            raw = {**raw, "function": {**fn, "arguments": new_args}}
        elif "input" in raw:
            raw = {**raw, "input": args}
        elif "arguments" in raw:  # a legacy function_call
            as_text = isinstance(raw["arguments"], str)
            raw = {**raw, "arguments": json.dumps(args, ensure_ascii=False) if as_text else args}
    return dataclasses.replace(block, arguments=value, raw=raw)


def with_system_note(request: Request, note: str) -> Request:
    """A copy of the request with `note` appended to the system prompt as its own block."""
    return dataclasses.replace(request, system=[*request.system, Block(TEXT, text=note)])


def top_level(request: Request, key: str) -> Any:
    """A top-level body parameter, wherever the parser put it (`params` or `extra`)."""
    if key in request.params:
        return request.params[key]
    return request.extra.get(key)


def has_top_level(request: Request, key: str) -> bool:
    return key in request.params or key in request.extra


def with_top_level(request: Request, values: dict[str, Any]) -> Request:
    """A copy with top-level body parameters set where the parser would have put them had the
    client sent them: the keys the OpenAI Chat parser maps go to `params`, the rest to `extra`."""
    params = dict(request.params)
    extra = dict(request.extra)
    for key, value in values.items():
        if key in _OPENAI_PARAM_KEYS:
            params[key] = [value] if key == "stop" and isinstance(value, str) else value
            extra.pop(key, None)
        else:
            extra[key] = value
    return dataclasses.replace(request, params=params, extra=extra)


def with_params(request: Request, values: dict[str, Any]) -> Request:
    """A copy with these neutral `params` set (Ollama's top-level `keep_alive` and `format`
    live there)."""
    return dataclasses.replace(request, params={**request.params, **values})


def with_ollama_options(request: Request, options: dict[str, Any]) -> Request:
    """A copy of a native Ollama request with `options` merged into `params["options"]`, and
    the sampling ones mirrored to their neutral names as the parser does."""
    params = dict(request.params)
    merged = dict(params.get("options") or {})
    merged.update(options)
    params["options"] = merged
    for name, neutral in _OLLAMA_OPTION_PARAMS.items():
        if name in options:
            value = options[name]
            params[neutral] = [value] if name == "stop" and isinstance(value, str) else value
    return dataclasses.replace(request, params=params)


def ollama_options(request: Request) -> dict[str, Any]:
    options = request.params.get("options")
    return options if isinstance(options, dict) else {}


def names(items: list[str], limit: int) -> str:
    """`a, b, c` with at most `limit` names, then `…`."""
    shown = ", ".join(items[:limit])
    return shown + ("…" if len(items) > limit else "")
