"""Ollama's native API: `/api/chat`, `/api/generate`, `/api/embed` and `/api/embeddings`.

Ollama streams by default (a request without `"stream": false` gets NDJSON). Tool calls carry
their arguments as an object and have no id in older versions. Counts come only with the last
(`done: true`) object: `prompt_eval_count` is the input, `eval_count` the output; the durations
(nanoseconds, e.g. `prompt_eval_duration`) are kept in `Response.extra`. `options` stay whole in
`params["options"]`; the sampling ones among them are also copied to their neutral names.
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
    dump_json,
    leftover,
    load_event,
    raw_if_more,
    sniff_image_type,
)
from .framing import NDJSONParser
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
    Usage,
)
from .openai_chat import parse_tool

DIALECT = "ollama"

_MESSAGE_KEYS = frozenset({"role", "content", "images", "tool_calls", "thinking", "tool_name"})
_REQUEST_KEYS = frozenset(
    {
        "model",
        "messages",
        "prompt",
        "system",
        "images",
        "input",
        "tools",
        "stream",
        "options",
        "keep_alive",
        "format",
        "think",
    }
)
_OPTION_PARAMS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("num_predict", "max_tokens"),
    ("stop", "stop"),
)
_DONE_REASONS = {"stop": "end_turn", "length": "max_tokens"}
_CONTENT_KEYS = frozenset({"model", "message", "response", "thinking", "done_reason", "error"})


def _images(images: Any) -> list[Block]:
    blocks = []
    for data in as_list(images):
        if isinstance(data, str):
            blocks.append(Block(IMAGE, data=data, media_type=sniff_image_type(data)))
        else:
            blocks.append(Block(OTHER, raw=data))
    return blocks


def _tool_call(tc: Any, stream: bool = False) -> Block:
    tc = as_dict(tc)
    fn = as_dict(tc.get("function"))
    args = fn.get("arguments", {})
    if stream:  # streamed tool calls hold the argument text, like every dialect's stream
        args = args if isinstance(args, str) else dump_json(args)
    more = raw_if_more(tc, frozenset({"function", "id"})) or raw_if_more(
        fn, frozenset({"name", "arguments"})
    )
    return Block(
        TOOL_CALL,
        id=as_str(tc.get("id")),
        name=as_str(fn.get("name")),
        arguments=args,
        raw=tc if more else None,
    )


def parse_message(m: dict[str, Any]) -> Message:
    role = as_str(m.get("role")) or "user"
    raw = raw_if_more(m, _MESSAGE_KEYS)
    if role == "tool":
        result = Block(
            TOOL_RESULT, name=as_str(m.get("tool_name")), text=as_str(m.get("content")) or ""
        )
        result.id = as_str(m.get("tool_call_id"))
        return Message("tool", [result], raw=raw)
    blocks = []
    thinking = as_str(m.get("thinking"))
    if thinking:
        blocks.append(Block(THINKING, text=thinking))
    content = m.get("content")
    if isinstance(content, str):
        blocks.append(Block(TEXT, text=content))
    blocks.extend(_images(m.get("images")))
    blocks.extend(_tool_call(tc) for tc in as_list(m.get("tool_calls")))
    return Message(role, blocks, raw=raw)


_MESSAGES = PrefixMemo()  # a conversation's history, parsed once rather than every turn


def parse_element(m: Any) -> Message:
    """One element of `messages`, whatever it is (`parse_message` takes a dict)."""
    return parse_message(as_dict(m))


def parse_request(body: dict[str, Any], path: str | None = None) -> Request:
    embedding = "input" in body or (path is not None and "/api/embed" in path)
    req = Request(
        DIALECT,
        model=as_str(body.get("model")),
        stream=not embedding and body.get("stream") is not False,
    )
    if "messages" in body:
        messages = as_list(body.get("messages"))
        lead = 0  # system messages before the first other one are the system prompt
        while lead < len(messages) and as_dict(messages[lead]).get("role") == "system":
            req.system.append(Block(TEXT, text=as_str(messages[lead].get("content")) or ""))
            lead += 1
        req.messages = _MESSAGES.map(messages[lead:], parse_element)
    else:  # /api/generate and /api/embeddings take a prompt, /api/embed an input
        system = as_str(body.get("system"))
        if system:
            req.system.append(Block(TEXT, text=system))
        prompt = body.get("prompt", body.get("input"))
        if isinstance(prompt, str):
            blocks = [Block(TEXT, text=prompt)]
        elif isinstance(prompt, list):
            blocks = [
                Block(TEXT, text=p) if isinstance(p, str) else Block(OTHER, raw=p) for p in prompt
            ]
        else:
            blocks = []
        blocks.extend(_images(body.get("images")))
        if blocks:
            req.messages.append(Message("user", blocks))
    req.tools = [parse_tool(t) for t in as_list(body.get("tools"))]

    params = req.params
    options = body.get("options")
    if isinstance(options, dict):
        params["options"] = options
        for name, neutral in _OPTION_PARAMS:
            if name in options:
                params[neutral] = options[name]
        if isinstance(params.get("stop"), str):
            params["stop"] = [params["stop"]]
    for name in ("keep_alive", "format"):
        if name in body:
            params[name] = body[name]
    if "think" in body:
        params["thinking"] = body["think"]
    req.extra = leftover(body, _REQUEST_KEYS)
    return req


def _stop_reason(reason: Any, blocks: list[Block]) -> str | None:
    if not isinstance(reason, str):
        return None
    if reason == "stop" and any(b.type == TOOL_CALL for b in blocks):
        return "tool_use"
    return _DONE_REASONS.get(reason, reason)


def _usage(body: dict[str, Any]) -> Usage:
    return Usage(input=as_int(body.get("prompt_eval_count")), output=as_int(body.get("eval_count")))


def parse_response(body: dict[str, Any]) -> Response:
    resp = Response(DIALECT, model=as_str(body.get("model")))
    if body.get("error") is not None:
        resp.error = str(body["error"])
        return resp
    msg = body.get("message")
    if isinstance(msg, dict):
        resp.blocks = parse_message(msg).blocks
    else:  # /api/generate
        thinking = as_str(body.get("thinking"))
        if thinking:
            resp.blocks.append(Block(THINKING, text=thinking))
        if isinstance(body.get("response"), str):
            resp.blocks.append(Block(TEXT, text=body["response"]))
    resp.stop_reason = _stop_reason(body.get("done_reason"), resp.blocks)
    resp.usage = _usage(body)
    resp.extra = leftover(body, _CONTENT_KEYS | {"prompt_eval_count", "eval_count"})
    return resp


class StreamAccumulator(Accumulator):
    """NDJSON objects; the last one has `done: true`, the done_reason and the counts."""

    dialect = DIALECT

    def __init__(self) -> None:
        super().__init__()
        self._text: Block | None = None
        self._thinking: Block | None = None

    def _make_framer(self) -> NDJSONParser:
        return NDJSONParser()

    def _event(self, line: str) -> None:
        ev = load_event(line)
        if not isinstance(ev, dict):
            raise ValueError("line is not an object")
        resp = self._response
        if ev.get("error") is not None:
            resp.error = str(ev["error"])
            return
        if isinstance(ev.get("model"), str):
            resp.model = ev["model"]
        msg = ev.get("message")
        src = msg if isinstance(msg, dict) else ev
        self._thinking = self._append(self._thinking, THINKING, src.get("thinking"))
        self._text = self._append(self._text, TEXT, src.get("content", src.get("response")))
        for tc in as_list(src.get("tool_calls")):
            self._add_block(_tool_call(tc, stream=True))
            self.output_started = True
        if ev.get("done") is True:
            self.done = True
            resp.stop_reason = _stop_reason(ev.get("done_reason"), resp.blocks)
            resp.usage.merge(_usage(ev))
            resp.extra.update(leftover(ev, _CONTENT_KEYS | {"prompt_eval_count", "eval_count"}))

    def _append(self, block: Block | None, kind: str, text: Any) -> Block | None:
        if not isinstance(text, str) or not text:
            return block
        if block is None:
            block = self._add_block(Block(kind))
        self._grow(block, "text", text)
        self.output_started = True
        return block
