"""OpenAI Responses API (`/v1/responses`).

Input items become neutral messages: message items keep their role, consecutive assistant-side
items (messages, function_call, reasoning) merge into one assistant message, and each
function_call_output becomes a "tool" message. `instructions` and leading system/developer
messages become the system prompt. `input_tokens` includes cached tokens, which are subtracted.
"""

from __future__ import annotations

from typing import Any

from .common import (
    Accumulator,
    PrefixMemo,
    as_dict,
    as_int,
    as_list,
    as_str,
    dict_or_none,
    error_text,
    image_block,
    leftover,
    load_event,
    parse_arguments,
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
from .openai_chat import tool_choice

DIALECT = "openai_responses"

_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
_TEXT_KEYS = frozenset({"type", "text"})
_MESSAGE_ITEM_KEYS = frozenset({"type", "role", "content"})
_FUNCTION_CALL_KEYS = frozenset({"type", "call_id", "name", "arguments"})
_TOOL_KEYS = frozenset({"type", "name", "description", "parameters"})
_SAME_PARAMS = (
    "temperature",
    "top_p",
    "user",
    "metadata",
    "previous_response_id",
    "parallel_tool_calls",
)
_REQUEST_KEYS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "stream",
        "max_output_tokens",
        *_SAME_PARAMS,
    }
)
_RESPONSE_KEYS = frozenset({"id", "model", "output", "usage", "error"})
_USAGE_KEYS = frozenset({"input_tokens", "output_tokens"})


def parse_part(p: Any) -> Block:
    if isinstance(p, str):
        return Block(TEXT, text=p)
    if not isinstance(p, dict):
        return Block(OTHER, raw=p)
    kind = p.get("type")
    if isinstance(kind, str) and kind in _TEXT_PARTS:
        return Block(TEXT, text=as_str(p.get("text")) or "", raw=raw_if_more(p, _TEXT_KEYS))
    if kind == "input_image":
        url = as_str(p.get("image_url"))
        if url is not None:
            return image_block(url, raw=raw_if_more(p, frozenset({"type", "image_url"})))
        return Block(IMAGE, raw=p)  # by file_id
    if kind == "refusal":
        return Block(OTHER, text=as_str(p.get("refusal")) or "", raw=p)
    return Block(OTHER, raw=p)


def _content(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [Block(TEXT, text=content)]
    return [parse_part(p) for p in as_list(content)]


def function_call_block(item: dict[str, Any], arguments: Any = None) -> Block:
    if arguments is None:
        args = item.get("arguments")
        arguments = parse_arguments(args) if isinstance(args, str) else args
    return Block(
        TOOL_CALL,
        id=as_str(item.get("call_id")),
        name=as_str(item.get("name")),
        arguments=arguments,
        raw=item,
    )


def reasoning_block(item: dict[str, Any]) -> Block:
    summary = [as_str(as_dict(s).get("text")) or "" for s in as_list(item.get("summary"))]
    if not any(summary):  # open-weight models send the reasoning itself as content
        summary = [as_str(as_dict(c).get("text")) or "" for c in as_list(item.get("content"))]
    return Block(
        THINKING,
        text="\n\n".join(s for s in summary if s),
        signature=as_str(item.get("encrypted_content")),
        raw=item,
    )


def _output_item(item: Any) -> list[Block]:
    """The neutral blocks of one output item (also an assistant-side input item)."""
    if not isinstance(item, dict):
        return [Block(OTHER, raw=item)]
    kind = item.get("type")
    if kind == "message" or (kind is None and "role" in item):
        return _content(item.get("content"))
    if kind == "function_call":
        return [function_call_block(item)]
    if kind == "reasoning":
        return [reasoning_block(item)]
    return [Block(OTHER, raw=item)]


def parse_item(item: Any) -> Message:
    """The message one `input` item is. An assistant-side item (the assistant's text, a call,
    reasoning) comes as an assistant message of its own, which `parse_request` merges into
    the assistant message before it; a leading system or developer message goes to the system
    prompt there instead."""
    if not isinstance(item, dict):
        return Message("user", [Block(OTHER, raw=item)])
    if item.get("type") == "function_call_output":
        result = Block(TOOL_RESULT, id=as_str(item.get("call_id")), raw=item)
        output = item.get("output")
        if isinstance(output, list):
            result.content = [parse_part(p) for p in output]
        else:
            result.text = as_str(output) or ""
        return Message("tool", [result])
    role = as_str(item.get("role"))
    if role is not None and role != "assistant" and item.get("type") in (None, "message"):
        neutral = "system" if role == "developer" else role
        raw = raw_if_more(item, _MESSAGE_ITEM_KEYS) or (item if neutral != role else None)
        return Message(neutral, _content(item.get("content")), raw=raw)
    return Message("assistant", _output_item(item))


_ITEMS = PrefixMemo()  # a conversation's history, parsed once rather than every turn


def parse_request(body: dict[str, Any], path: str | None = None) -> Request:
    req = Request(DIALECT, model=as_str(body.get("model")), stream=body.get("stream") is True)
    instructions = as_str(body.get("instructions"))
    if instructions:
        req.system.append(Block(TEXT, text=instructions))
    items = body.get("input")
    if isinstance(items, str):
        req.messages.append(Message("user", [Block(TEXT, text=items)]))
    for message in _ITEMS.map(as_list(items), parse_item):
        if message.role == "system" and not req.messages:  # a system or developer message
            req.system.extend(message.blocks)
        elif message.role == "assistant" and req.messages and req.messages[-1].role == "assistant":
            # Merged into the one before it, as a new message: the parsed items are shared
            # with the turns after this one.
            last = req.messages[-1]
            req.messages[-1] = Message(last.role, [*last.blocks, *message.blocks], last.raw)
        else:
            req.messages.append(message)
    req.tools = [parse_tool(t) for t in as_list(body.get("tools"))]

    params = req.params
    for name in _SAME_PARAMS:
        if name in body:
            params[name] = body[name]
    if "max_output_tokens" in body:
        params["max_tokens"] = body["max_output_tokens"]
    if "tool_choice" in body:
        params["tool_choice"] = tool_choice(body["tool_choice"])
    known = set(_REQUEST_KEYS)
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and "effort" in reasoning:
        params["reasoning_effort"] = reasoning["effort"]
        known.add("reasoning")
        rest = leftover(reasoning, frozenset({"effort"}))
        if rest:
            req.extra["reasoning"] = rest
    req.extra.update(leftover(body, frozenset(known)))
    return req


def parse_tool(t: Any) -> Tool:
    t = as_dict(t)
    if t.get("type") != "function":  # web_search, file_search, mcp, custom, ...
        return Tool(name=as_str(t.get("name")) or as_str(t.get("type")) or "", raw=t)
    return Tool(
        name=as_str(t.get("name")) or "",
        description=as_str(t.get("description")) or "",
        parameters=dict_or_none(t.get("parameters")),
        raw=raw_if_more(t, _TOOL_KEYS),
    )


def parse_usage(u: Any) -> Usage:
    u = as_dict(u)
    prompt = as_int(u.get("input_tokens"))
    cached = as_int(as_dict(u.get("input_tokens_details")).get("cached_tokens"))
    return Usage(
        input=prompt - cached if prompt is not None and cached else prompt,
        output=as_int(u.get("output_tokens")),
        cache_read=cached,
    )


def _stop_reason(body: dict[str, Any], blocks: list[Block]) -> str | None:
    status = body.get("status")
    if status == "completed":
        return "tool_use" if any(b.type == TOOL_CALL for b in blocks) else "end_turn"
    if status == "incomplete":
        reason = as_dict(body.get("incomplete_details")).get("reason")
        if reason == "max_output_tokens":
            return "max_tokens"
        return as_str(reason) or "incomplete"
    return None


def _error(body: dict[str, Any]) -> str | None:
    err = body.get("error")
    if isinstance(err, dict):
        return error_text(err.get("code") or err.get("type"), err.get("message"))
    return None


def parse_response(body: dict[str, Any]) -> Response:
    resp = Response(DIALECT, id=as_str(body.get("id")), model=as_str(body.get("model")))
    for item in as_list(body.get("output")):
        resp.blocks.extend(_output_item(item))
    resp.stop_reason = _stop_reason(body, resp.blocks)
    resp.error = _error(body)
    take_usage(resp, body.get("usage"), parse_usage, _USAGE_KEYS)
    resp.extra.update(leftover(body, _RESPONSE_KEYS))
    return resp


class StreamAccumulator(Accumulator):
    """Typed SSE events: response.created, response.output_text.delta, ... response.completed."""

    dialect = DIALECT

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[int, Block] = {}  # by output_index; text items hold their TEXT block
        self._by_id: dict[str, int] = {}
        self._parts: dict[int, int] = {}  # reasoning block -> summary_index being streamed

    def _block(self, ev: dict[str, Any], kind: str) -> Block:
        index = as_int(ev.get("output_index"))
        if index is None:
            index = self._by_id.get(as_str(ev.get("item_id")) or "", -1)
        block = self._items.get(index)
        if block is None:
            block = Block(kind, arguments="" if kind == TOOL_CALL else None)
            self._items[index] = self._add_block(block)
        return block

    def _event(self, item: SSEEvent) -> None:
        ev = load_event(item.data)
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        kind = ev.get("type", item.event)
        resp = self._response
        if kind == "response.output_text.delta":
            self._delta(self._block(ev, TEXT), "text", ev["delta"])
        elif kind == "response.function_call_arguments.delta":
            self._delta(self._block(ev, TOOL_CALL), "arguments", ev["delta"])
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            block = self._block(ev, THINKING)
            part = as_int(ev.get("summary_index")) or 0
            if self._parts.get(id(block), 0) != part:  # summaries are joined by a blank line
                self._parts[id(block)] = part
                if self._current(block, "text"):
                    self._grow(block, "text", "\n\n")
            self._delta(block, "text", ev["delta"])
        elif kind == "response.refusal.delta":
            self._delta(self._block(ev, OTHER), "text", ev["delta"])
        elif kind == "response.function_call_arguments.done":
            if isinstance(ev.get("arguments"), str):
                self._set(self._block(ev, TOOL_CALL), "arguments", ev["arguments"])
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(as_int(ev.get("output_index")), ev["item"], kind.endswith("done"))
        elif kind in ("response.created", "response.in_progress"):
            self._header(ev["response"])
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._final(ev["response"])
            self.done = True
        elif kind == "error":
            resp.error = error_text(ev.get("code") or ev.get("type"), ev.get("message"))

    def _delta(self, block: Block, attr: str, text: str) -> None:
        self._grow(block, attr, text)
        if text:
            self.output_started = True

    def _header(self, r: dict[str, Any]) -> None:
        self._response.id = as_str(r.get("id")) or self._response.id
        self._response.model = as_str(r.get("model")) or self._response.model

    def _item(self, index: int | None, item: dict[str, Any], done: bool) -> None:
        if index is None:
            raise ValueError("output item without output_index")
        item_id = as_str(item.get("id"))
        if item_id:
            self._by_id[item_id] = index
        kind = item.get("type")
        if kind == "function_call":
            block = self._block({"output_index": index}, TOOL_CALL)
            block.id = as_str(item.get("call_id")) or block.id
            block.name = as_str(item.get("name")) or block.name
            block.raw = item
            args = item.get("arguments")
            if done and isinstance(args, str):
                self._set(block, "arguments", args)
            elif args:
                self._grow(block, "arguments", args)
            self.output_started = True
        elif kind == "reasoning":
            block = self._block({"output_index": index}, THINKING)
            block.signature = as_str(item.get("encrypted_content")) or block.signature
            if done:
                block.raw = item
                if not self._current(block, "text"):
                    self._set(block, "text", reasoning_block(item).text)
        elif kind == "message":
            if done and index not in self._items:  # deltas were missed: take the whole text
                text = "".join(b.text for b in _content(item.get("content")) if b.type == TEXT)
                if text:
                    self._set(self._block({"output_index": index}, TEXT), "text", text)
        elif done and index not in self._items:
            self._items[index] = self._add_block(Block(OTHER, raw=item))

    def _final(self, r: dict[str, Any]) -> None:
        self._header(r)
        resp = self._response
        if not resp.blocks:  # no deltas were seen: take the output the final event carries
            for item in as_list(r.get("output")):
                for block in _output_item(item):
                    if block.type == TOOL_CALL and isinstance(as_dict(item).get("arguments"), str):
                        block.arguments = item["arguments"]  # streams keep the argument text
                    resp.blocks.append(block)
        resp.stop_reason = _stop_reason(r, resp.blocks) or resp.stop_reason
        resp.error = _error(r) or resp.error
        if isinstance(r.get("usage"), dict):
            resp.usage.merge(parse_usage(r["usage"]))
