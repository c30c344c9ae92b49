"""Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`) and legacy `/v1/complete`.

Usage maps one to one: `input_tokens` already excludes cache reads and writes. Stop reasons are
the neutral vocabulary. Blocks with no neutral counterpart (document, redacted_thinking, server
tool use and results) are kept whole as "other". A legacy body's `max_tokens_to_sample` is
recorded as `params["max_tokens_key"]`, so a render can write `/v1/complete` back.
"""

from __future__ import annotations

import re
from typing import Any

from .common import (
    Accumulator,
    PrefixMemo,
    as_dict,
    as_int,
    as_list,
    as_str,
    dict_or_none,
    dump_json,
    error_text,
    leftover,
    load_event,
    raw_if_more,
    take_usage,
)
from .framing import SSEEvent
from .model import (
    IMAGE,
    OTHER,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Message,
    Request,
    Response,
    Tool,
    Usage,
)

DIALECT = "anthropic"

_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "source"})
_SOURCE_KEYS = frozenset({"type", "media_type", "data", "url"})
_TOOL_USE_KEYS = frozenset({"type", "id", "name", "input"})
_TOOL_RESULT_KEYS = frozenset({"type", "tool_use_id", "content", "is_error"})
_THINKING_KEYS = frozenset({"type", "thinking", "signature"})
_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema"})
_MESSAGE_KEYS = frozenset({"role", "content"})

_SAME_PARAMS = ("max_tokens", "temperature", "top_p", "top_k", "metadata", "thinking")
_REQUEST_KEYS = frozenset(
    {
        "model",
        "system",
        "messages",
        "tools",
        "tool_choice",
        "stream",
        "stop_sequences",
        "max_tokens_to_sample",
        "prompt",
        *_SAME_PARAMS,
    }
)
_RESPONSE_KEYS = frozenset({"id", "model", "content", "stop_reason", "usage", "completion"})
_USAGE_KEYS = frozenset(
    {"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
)


def parse_block(b: Any) -> Block:
    if isinstance(b, str):
        return Block(TEXT, text=b)
    if not isinstance(b, dict):
        return Block(OTHER, raw=b)
    kind = b.get("type")
    if kind == "text":
        return Block(TEXT, text=as_str(b.get("text")) or "", raw=raw_if_more(b, _TEXT_KEYS))
    if kind == "tool_use":
        return Block(
            TOOL_CALL,
            id=as_str(b.get("id")),
            name=as_str(b.get("name")),
            arguments=b.get("input", {}),
            raw=raw_if_more(b, _TOOL_USE_KEYS),
        )
    if kind == "tool_result":
        content = b.get("content")
        block = Block(
            TOOL_RESULT,
            id=as_str(b.get("tool_use_id")),
            is_error=b.get("is_error") is True,
            raw=raw_if_more(b, _TOOL_RESULT_KEYS),
        )
        if isinstance(content, list):
            block.content = [parse_block(c) for c in content]
        elif isinstance(content, str):
            block.text = content
        elif content is not None:
            block.raw = b
        return block
    if kind == "thinking":
        return Block(
            THINKING,
            text=as_str(b.get("thinking")) or "",
            signature=as_str(b.get("signature")),
            raw=raw_if_more(b, _THINKING_KEYS),
        )
    if kind == "image":
        source = as_dict(b.get("source"))
        raw = raw_if_more(b, _IMAGE_KEYS) or (b if raw_if_more(source, _SOURCE_KEYS) else None)
        if source.get("type") == "base64":
            return Block(
                IMAGE,
                media_type=as_str(source.get("media_type")),
                data=as_str(source.get("data")),
                raw=raw,
            )
        if source.get("type") == "url":
            return Block(IMAGE, url=as_str(source.get("url")), raw=raw)
        return Block(IMAGE, raw=b)
    return Block(OTHER, raw=b)


def _blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [Block(TEXT, text=content)]
    return [parse_block(b) for b in as_list(content)]


def parse_tool(t: Any) -> Tool:
    if not isinstance(t, dict):
        return Tool(name="", raw=t)
    kind = t.get("type")
    if kind not in (None, "custom"):  # a server tool such as web_search_20250305
        return Tool(name=as_str(t.get("name")) or str(kind), raw=t)
    return Tool(
        name=as_str(t.get("name")) or "",
        description=as_str(t.get("description")) or "",
        parameters=dict_or_none(t.get("input_schema")),
        raw=raw_if_more(t, _TOOL_KEYS),
    )


def parse_message(m: Any) -> Message:
    m = as_dict(m)
    role = as_str(m.get("role")) or "user"
    return Message(role, _blocks(m.get("content")), raw=raw_if_more(m, _MESSAGE_KEYS))


_MESSAGES = PrefixMemo()  # a conversation's history, parsed once rather than every turn
_TOOLS = PrefixMemo()  # an agent offers the same tools every turn
_SYSTEM = PrefixMemo(min_items=1)  # and sends the same system prompt

_TURN = re.compile(r"\n\n(Human|Assistant):")


def _complete_prompt(prompt: str) -> tuple[list[Block], list[Message]]:
    """Split a legacy "\\n\\nHuman: ...\\n\\nAssistant:" prompt into turns."""
    parts = _TURN.split(prompt)
    system = [Block(TEXT, text=parts[0])] if parts[0] else []
    messages = []
    for i in range(1, len(parts) - 1, 2):
        text = parts[i + 1]
        if text.startswith(" "):
            text = text[1:]
        role = "user" if parts[i] == "Human" else "assistant"
        messages.append(Message(role, [Block(TEXT, text=text)]))
    if messages and messages[-1].role == "assistant" and not messages[-1].blocks[0].text:
        messages.pop()  # the trailing "\n\nAssistant:" the model completes
    return system, messages


def parse_request(body: dict[str, Any], path: str | None = None) -> Request:
    req = Request(DIALECT, model=as_str(body.get("model")), stream=body.get("stream") is True)
    system = body.get("system")
    if isinstance(system, str):
        req.system = [Block(TEXT, text=system)] if system else []
    else:
        req.system = _SYSTEM.map(as_list(system), parse_block)

    if "messages" in body or not isinstance(body.get("prompt"), str):
        req.messages = _MESSAGES.map(as_list(body.get("messages")), parse_message)
    else:
        prefix, req.messages = _complete_prompt(body["prompt"])
        req.system = prefix + req.system

    req.tools = _TOOLS.map(as_list(body.get("tools")), parse_tool)

    params = req.params
    for name in _SAME_PARAMS:
        if name in body:
            params[name] = body[name]
    if "max_tokens_to_sample" in body:  # only /v1/complete takes it: the renderer's cue
        params["max_tokens"] = body["max_tokens_to_sample"]
        params["max_tokens_key"] = "max_tokens_to_sample"
    stop = body.get("stop_sequences")
    if stop is not None:
        params["stop"] = [stop] if isinstance(stop, str) else stop
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("auto", "any", "none"):
            params["tool_choice"] = kind
        elif kind == "tool":
            params["tool_choice"] = {"name": choice.get("name")}
        else:
            params["tool_choice"] = choice
        if choice.get("disable_parallel_tool_use") is True:
            params["parallel_tool_calls"] = False
    elif choice is not None:
        params["tool_choice"] = choice
    req.extra = leftover(body, _REQUEST_KEYS)
    return req


def parse_usage(u: Any) -> Usage:
    u = as_dict(u)
    return Usage(
        input=as_int(u.get("input_tokens")),
        output=as_int(u.get("output_tokens")),
        cache_read=as_int(u.get("cache_read_input_tokens")),
        cache_write=as_int(u.get("cache_creation_input_tokens")),
    )


def parse_response(body: dict[str, Any]) -> Response:
    resp = Response(DIALECT, id=as_str(body.get("id")), model=as_str(body.get("model")))
    if body.get("type") == "error" or (
        isinstance(body.get("error"), dict) and "content" not in body
    ):
        err = as_dict(body.get("error"))
        resp.error = error_text(err.get("type"), err.get("message"))
        return resp
    if isinstance(body.get("completion"), str):  # legacy /v1/complete
        resp.blocks = [Block(TEXT, text=body["completion"])]
    else:
        resp.blocks = [parse_block(b) for b in as_list(body.get("content"))]
    resp.stop_reason = as_str(body.get("stop_reason"))
    has_usage = take_usage(resp, body.get("usage"), parse_usage, _USAGE_KEYS)
    if not has_usage and as_int(body.get("input_tokens")) is not None:  # count_tokens
        resp.usage.input = as_int(body.get("input_tokens"))
    resp.extra.update(leftover(body, _RESPONSE_KEYS | {"input_tokens", "type", "role"}))
    return resp


class StreamAccumulator(Accumulator):
    """Anthropic SSE: message_start, content_block_start/delta/stop, message_delta, ..."""

    dialect = DIALECT

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[int, Block] = {}
        self._start_input: dict[int, Any] = {}

    def _event(self, item: SSEEvent) -> None:
        ev = load_event(item.data)
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        kind = ev.get("type", item.event)
        resp = self._response
        if kind == "content_block_delta":
            block = self._blocks[ev["index"]]
            delta = ev["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta["text"]
                self._grow(block, "text", text)
            elif dtype == "input_json_delta":
                text = delta["partial_json"]
                self._grow(block, "arguments", text)
            elif dtype == "thinking_delta":
                text = delta["thinking"]
                self._grow(block, "text", text)
            elif dtype == "signature_delta":
                block.signature = (block.signature or "") + delta["signature"]
                return
            else:
                return
            if text:
                self.output_started = True
        elif kind == "content_block_start":
            self._start_block(as_int(ev["index"]), ev["content_block"])
        elif kind == "message_start":
            msg = ev["message"]
            resp.id = as_str(msg.get("id")) or resp.id
            resp.model = as_str(msg.get("model")) or resp.model
            resp.usage.merge(parse_usage(msg.get("usage")))
            for block in as_list(msg.get("content")):
                self._add_block(parse_block(block))
        elif kind == "message_delta":
            delta = as_dict(ev.get("delta"))
            if delta.get("stop_reason") is not None:
                resp.stop_reason = as_str(delta["stop_reason"])
            if delta.get("stop_sequence") is not None:
                resp.extra["stop_sequence"] = delta["stop_sequence"]
            resp.usage.merge(parse_usage(ev.get("usage")))
        elif kind == "content_block_stop":
            self._stop_block(as_int(ev.get("index")))
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            err = as_dict(ev.get("error"))
            resp.error = error_text(err.get("type"), err.get("message"))
        elif kind == "completion":  # legacy /v1/complete stream
            text = as_str(ev.get("completion")) or ""
            block = self._blocks.get(0) or self._blocks.setdefault(0, self._add_block(Block(TEXT)))
            self._grow(block, "text", text)
            if text:
                self.output_started = True
            resp.model = as_str(ev.get("model")) or resp.model
            if ev.get("stop_reason") is not None:
                resp.stop_reason = as_str(ev["stop_reason"])
                self.done = True

    def _start_block(self, index: int | None, cb: dict[str, Any]) -> None:
        if index is None or not isinstance(cb, dict):
            raise ValueError("bad content_block_start")
        kind = cb.get("type")
        if kind == "text":
            block = Block(TEXT, text=as_str(cb.get("text")) or "", raw=raw_if_more(cb, _TEXT_KEYS))
            if block.text:
                self.output_started = True
        elif kind == "thinking":
            block = Block(
                THINKING,
                text=as_str(cb.get("thinking")) or "",
                signature=as_str(cb.get("signature")) or None,
            )
        elif kind == "tool_use":
            block = Block(
                TOOL_CALL,
                id=as_str(cb.get("id")),
                name=as_str(cb.get("name")),
                arguments="",
                raw=raw_if_more(cb, _TOOL_USE_KEYS),
            )
            self._start_input[index] = cb.get("input")
            self.output_started = True
        else:  # redacted_thinking, server_tool_use, web_search_tool_result, ...
            block = Block(OTHER, raw=cb)
            if "input" in cb:
                block.arguments = ""
                self._start_input[index] = cb.get("input")
        self._blocks[index] = self._add_block(block)

    def _stop_block(self, index: int | None) -> None:
        block = self._blocks.get(index) if index is not None else None
        if block is None or index not in self._start_input:
            return
        start = self._start_input.pop(index)
        if self._current(block, "arguments") == "":
            # No input_json_delta came: the input is the (normally empty) one the start carried.
            self._set(block, "arguments", dump_json(start if isinstance(start, dict) else {}))

    def _finish(self) -> None:
        for index in list(self._start_input):
            self._stop_block(index)
