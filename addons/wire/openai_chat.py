"""OpenAI Chat Completions (`/v1/chat/completions`), plus legacy `/v1/completions` and
`/v1/embeddings`, as spoken by OpenAI and every OpenAI-compatible server.

A body's own spelling is recorded where the neutral form would lose it: `max_completion_tokens`
as `params["max_tokens_key"]`, and a legacy `prompt` / `input` in the one message's `raw`.

`prompt_tokens` counts cached tokens too; the neutral `input` does not, so it is
`prompt_tokens - prompt_tokens_details.cached_tokens`. Leading system/developer messages become
the neutral system prompt (which of the two roles was used is not kept).
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

DIALECT = "openai_chat"

FINISH_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}

_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "image_url"})
_MESSAGE_KEYS = frozenset(
    {
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "reasoning_content",
        "reasoning",
    }
)
_FUNCTION_KEYS = frozenset({"name", "description", "parameters"})
_SAME_PARAMS = (
    "temperature",
    "top_p",
    "user",
    "reasoning_effort",
    "stream_options",
    "parallel_tool_calls",
    "metadata",
)
_REQUEST_KEYS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "stream",
        "stop",
        *_SAME_PARAMS,
    }
)
_RESPONSE_KEYS = frozenset({"id", "model", "choices", "usage"})
_USAGE_KEYS = frozenset({"prompt_tokens", "completion_tokens"})
_RESPONSE_MESSAGE_KEYS = frozenset(
    {"role", "content", "tool_calls", "function_call", "reasoning_content", "reasoning", "refusal"}
)


def parse_part(p: Any) -> Block:
    if isinstance(p, str):
        return Block(TEXT, text=p)
    if not isinstance(p, dict):
        return Block(OTHER, raw=p)
    kind = p.get("type")
    if kind == "text":
        return Block(TEXT, text=as_str(p.get("text")) or "", raw=raw_if_more(p, _TEXT_KEYS))
    if kind == "image_url":
        image = p.get("image_url")
        url = as_str(image) or as_str(as_dict(image).get("url"))
        if url is not None:
            keeps_more = raw_if_more(p, _IMAGE_KEYS) or raw_if_more(as_dict(image), {"url"})
            return image_block(url, raw=p if keeps_more else None)
    if kind == "refusal":
        return Block(OTHER, text=as_str(p.get("refusal")) or "", raw=p)
    return Block(OTHER, raw=p)


def _content(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [Block(TEXT, text=content)]
    return [parse_part(p) for p in as_list(content)]


def parse_tool_call(tc: Any) -> Block:
    """An assistant tool call; `raw` keeps the element, so the exact argument text survives."""
    tc = as_dict(tc)
    fn = as_dict(tc.get("function"))
    args = fn.get("arguments")
    return Block(
        TOOL_CALL,
        id=as_str(tc.get("id")),
        name=as_str(fn.get("name")),
        arguments=parse_arguments(args) if isinstance(args, str) else args,
        raw=tc,
    )


def _function_call(fc: Any) -> Block:
    fc = as_dict(fc)
    args = fc.get("arguments")
    return Block(
        TOOL_CALL,
        name=as_str(fc.get("name")),
        arguments=parse_arguments(args) if isinstance(args, str) else args,
        raw=fc,
    )


def _reasoning(m: dict[str, Any]) -> str | None:
    return as_str(m.get("reasoning_content")) or as_str(m.get("reasoning"))


def parse_message(m: Any) -> Message:
    m = as_dict(m)  # a message that is not an object (null, a string) parses as an empty one
    role = as_str(m.get("role")) or "user"
    if role == "tool":
        result = Block(TOOL_RESULT, id=as_str(m.get("tool_call_id")))
        content = m.get("content")
        if isinstance(content, list):
            result.content = [parse_part(p) for p in content]
        else:
            result.text = as_str(content) or ""
        return Message("tool", [result], raw=raw_if_more(m, _MESSAGE_KEYS))
    if role == "function":  # legacy function result
        result = Block(TOOL_RESULT, name=as_str(m.get("name")), text=as_str(m.get("content")) or "")
        return Message("tool", [result], raw=m)
    blocks = []
    reasoning = _reasoning(m)
    if reasoning:
        blocks.append(Block(THINKING, text=reasoning))
    blocks.extend(_content(m.get("content")))
    blocks.extend(parse_tool_call(tc) for tc in as_list(m.get("tool_calls")))
    if isinstance(m.get("function_call"), dict):
        blocks.append(_function_call(m["function_call"]))
    if role == "developer":
        role = "system"
    return Message(
        role, blocks, raw=raw_if_more(m, _MESSAGE_KEYS) or (m if role != m.get("role") else None)
    )


def parse_tool(t: Any) -> Tool:
    t = as_dict(t)
    if t.get("type", "function") != "function" or not isinstance(t.get("function"), dict):
        return Tool(name=as_str(t.get("name")) or as_str(t.get("type")) or "", raw=t)
    fn = t["function"]
    return Tool(
        name=as_str(fn.get("name")) or "",
        description=as_str(fn.get("description")) or "",
        parameters=dict_or_none(fn.get("parameters")),
        raw=t if raw_if_more(fn, _FUNCTION_KEYS) or raw_if_more(t, {"type", "function"}) else None,
    )


def tool_choice(choice: Any) -> Any:
    if choice == "required":
        return "any"
    if isinstance(choice, dict):
        name = as_dict(choice.get("function")).get("name") or choice.get("name")
        if choice.get("type") == "function" and name is not None:
            return {"name": name}
    return choice


def _prompt_blocks(prompt: Any) -> list[Block]:
    if isinstance(prompt, str):
        return [Block(TEXT, text=prompt)]
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return [Block(TEXT, text=p) for p in prompt]
    return [Block(OTHER, raw=prompt)]  # token ids


_SYSTEM_ROLES = ("system", "developer")
_MESSAGES = PrefixMemo()  # a conversation's history, parsed once rather than every turn
_TOOLS = PrefixMemo()  # an agent offers the same tools every turn


def parse_request(body: dict[str, Any], path: str | None = None) -> Request:
    req = Request(DIALECT, model=as_str(body.get("model")), stream=body.get("stream") is True)
    known = set(_REQUEST_KEYS)
    if "messages" in body:
        messages = as_list(body.get("messages"))
        lead = 0  # system (developer) messages before the first other one are the system prompt
        while lead < len(messages) and as_dict(messages[lead]).get("role") in _SYSTEM_ROLES:
            req.system.extend(_content(messages[lead].get("content")))
            lead += 1
        req.messages = _MESSAGES.map(messages[lead:], parse_message)
    else:  # legacy completions take `prompt`, embeddings take `input`
        for key in ("prompt", "input"):
            if key in body:
                # `raw` says which field held the prompt, so a render keeps the legacy shape
                req.messages.append(
                    Message("user", _prompt_blocks(body[key]), raw={key: body[key]})
                )
                known.add(key)
                break
    req.tools = _TOOLS.map(as_list(body.get("tools")), parse_tool)
    req.tools += [
        Tool(
            name=as_str(fn.get("name")) or "",
            description=as_str(fn.get("description")) or "",
            parameters=dict_or_none(fn.get("parameters")),
            raw=fn,
        )
        for fn in map(as_dict, as_list(body.get("functions")))
    ]

    params = req.params
    for name in _SAME_PARAMS:
        if name in body:
            params[name] = body[name]
    for name in ("max_completion_tokens", "max_tokens"):
        if name in body:
            params["max_tokens"] = body[name]
            known.add(name)
            if name != "max_tokens":  # reasoning models (o1, o3, gpt-5) take only this name
                params["max_tokens_key"] = name
            break
    stop = body.get("stop")
    if stop is not None:
        params["stop"] = [stop] if isinstance(stop, str) else stop
    if "tool_choice" in body:
        params["tool_choice"] = tool_choice(body["tool_choice"])
    elif "function_call" in body:
        fc = body["function_call"]
        params["tool_choice"] = {"name": fc.get("name")} if isinstance(fc, dict) else fc
    req.extra = leftover(body, frozenset(known))
    return req


def parse_usage(u: Any) -> Usage:
    u = as_dict(u)
    prompt = as_int(u.get("prompt_tokens"))
    cached = as_int(as_dict(u.get("prompt_tokens_details")).get("cached_tokens"))
    if cached is None:
        cached = as_int(u.get("prompt_cache_hit_tokens"))  # DeepSeek
    return Usage(
        input=prompt - cached if prompt is not None and cached else prompt,
        output=as_int(u.get("completion_tokens")),
        cache_read=cached,
    )


def stop_reason(finish_reason: Any) -> str | None:
    if not isinstance(finish_reason, str):
        return None
    return FINISH_REASONS.get(finish_reason, finish_reason)


def parse_response(body: dict[str, Any]) -> Response:
    resp = Response(DIALECT, id=as_str(body.get("id")), model=as_str(body.get("model")))
    if isinstance(body.get("error"), dict) and "choices" not in body:
        err = body["error"]
        resp.error = error_text(err.get("type") or err.get("code"), err.get("message"))
        return resp
    choices = as_list(body.get("choices"))
    choice = as_dict(choices[0]) if choices else {}
    msg = choice.get("message")
    if isinstance(msg, dict):
        reasoning = _reasoning(msg)
        if reasoning:
            resp.blocks.append(Block(THINKING, text=reasoning))
        if msg.get("content") is not None:
            resp.blocks.extend(_content(msg.get("content")))
        if isinstance(msg.get("refusal"), str):
            resp.blocks.append(Block(OTHER, text=msg["refusal"], raw={"refusal": msg["refusal"]}))
        resp.blocks.extend(parse_tool_call(tc) for tc in as_list(msg.get("tool_calls")))
        if isinstance(msg.get("function_call"), dict):
            resp.blocks.append(_function_call(msg["function_call"]))
        more = leftover(msg, _RESPONSE_MESSAGE_KEYS)
        if more:
            resp.extra["message"] = more
    elif isinstance(choice.get("text"), str):  # legacy completions
        resp.blocks.append(Block(TEXT, text=choice["text"]))
    resp.stop_reason = stop_reason(choice.get("finish_reason"))
    if len(choices) > 1:
        resp.extra["choices"] = choices
    take_usage(resp, body.get("usage"), parse_usage, _USAGE_KEYS)
    resp.extra.update(leftover(body, _RESPONSE_KEYS))
    return resp


class StreamAccumulator(Accumulator):
    """`data: {chat.completion.chunk}` events ending with `data: [DONE]`."""

    dialect = DIALECT

    def __init__(self) -> None:
        super().__init__()
        self._text: Block | None = None
        self._thinking: Block | None = None
        self._refusal: Block | None = None
        self._calls: dict[int, Block] = {}
        self._call_ids: dict[str, int] = {}

    def _event(self, item: SSEEvent) -> None:
        data = item.data
        if data.strip() == "[DONE]":
            self.done = True
            return
        ev = load_event(data)
        if not isinstance(ev, dict):
            raise ValueError("chunk is not an object")
        resp = self._response
        if isinstance(ev.get("error"), dict):
            err = ev["error"]
            resp.error = error_text(err.get("type") or err.get("code"), err.get("message"))
        if resp.id is None:
            resp.id = as_str(ev.get("id"))
        if isinstance(ev.get("model"), str) and ev["model"]:
            resp.model = ev["model"]
        for choice in as_list(ev.get("choices")):
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta)
            elif isinstance(choice.get("text"), str):  # legacy completions stream
                self._append_text(choice["text"])
            if choice.get("finish_reason") is not None:
                resp.stop_reason = stop_reason(choice["finish_reason"])
        usage = ev.get("usage")
        if isinstance(usage, dict):
            resp.usage.merge(parse_usage(usage))

    def _append_text(self, text: str) -> None:
        if not text:
            return
        if self._text is None:
            self._text = self._add_block(Block(TEXT))
        self._grow(self._text, "text", text)
        self.output_started = True

    def _delta(self, delta: dict[str, Any]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._thinking is None:
                self._thinking = self._add_block(Block(THINKING))
            self._grow(self._thinking, "text", reasoning)
            self.output_started = True
        content = delta.get("content")
        if isinstance(content, str):
            self._append_text(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            if self._refusal is None:
                self._refusal = self._add_block(Block(OTHER, raw={"refusal": True}))
            self._grow(self._refusal, "text", refusal)
            self.output_started = True
        for tc in as_list(delta.get("tool_calls")):
            self._tool_call_delta(tc)
        if isinstance(delta.get("function_call"), dict):
            self._tool_call_delta({"index": 0, "function": delta["function_call"]})

    def _tool_call_delta(self, tc: dict[str, Any]) -> None:
        call_id = as_str(tc.get("id"))
        index = as_int(tc.get("index"))
        if index is None:  # some servers omit the index: place the call by its id
            if call_id is not None and call_id not in self._call_ids:
                index = len(self._calls)
            elif call_id is not None:
                index = self._call_ids[call_id]
            else:
                index = max(self._calls, default=0)
        block = self._calls.get(index)
        if block is None:
            block = self._calls[index] = self._add_block(Block(TOOL_CALL, arguments=""))
        fn = as_dict(tc.get("function"))
        if call_id and block.id is None:
            block.id = call_id
            self._call_ids[call_id] = index
        name = as_str(fn.get("name"))
        if name and not block.name:
            block.name = name
            self.output_started = True
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            self._grow(block, "arguments", args)
            self.output_started = True
