"""Render the neutral model as OpenAI Chat Completions: request and response bodies, and a
stream writer that turns neutral stream calls into `chat.completion.chunk` events as they happen.

A neutral value with no OpenAI counterpart is left out and named in the caller's `dropped` list
(see `addons.wire.translate.DROPPED`). Rendering a request parsed from OpenAI itself keeps what
the parser kept in `raw` and `extra` (merged under what a rule may have edited): message and
part fields, tool-call elements with their exact argument text, `strict` tools, refusal parts,
`max_completion_tokens` (`params["max_tokens_key"]`), and the `prompt` / `input` of a legacy
completions or embeddings body.

Choices where the two APIs differ, made for the OpenAI-compatible servers people run locally:
- The system prompt is one system message, its text blocks joined with "\\n" (several system
  messages, or a list as content, break some servers' chat templates); only a same-dialect part
  with more than its text (`cache_control`) keeps the list.
- A user message with one plain text block sends a string; more parts send a list. Assistant
  text is one string (text blocks joined with nothing, as a client joins streamed text).
- Tool results become `tool` messages, in order, before the rest of their user message; a failed
  one (`is_error`) starts with "Error: ". Images inside a tool result cannot ride in a `tool`
  message, so they move to the user message that follows it.
- Thinking goes out as `reasoning_content` (the field DeepSeek, vLLM and llama.cpp use); an
  Anthropic thinking budget becomes `reasoning_effort` (>= 8000 high, >= 2000 medium, else low).
- Usage: `prompt_tokens` = input + cache read + cache write; `cached_tokens` = cache read.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .common import as_dict, as_int, dump_json, parse_arguments
from .errors import error_object
from .model import (
    IMAGE,
    OTHER,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Request,
    Response,
    Tool,
    Usage,
)

DIALECT = "openai_chat"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "content_filter": "content_filter",
}
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_MAX_TOKENS_KEYS = frozenset({"max_tokens", "max_completion_tokens"})
_PROMPT_KEYS = frozenset({"prompt", "input"})  # legacy /v1/completions, /v1/embeddings


def finish_reason(neutral: str | None, made_tool_calls: bool = False) -> str:
    """The OpenAI finish reason for a neutral stop reason; unknown ones become "stop"."""
    if made_tool_calls and neutral in (None, "end_turn"):
        return "tool_calls"
    return FINISH_REASONS.get(neutral or "", "stop")


def completion_id(source_id: str | None, nonce: str | None = None) -> str:
    """A `chatcmpl-` id; an id we made from a `chatcmpl-` id earlier comes back unchanged."""
    if not source_id:
        return "chatcmpl-" + (nonce or uuid.uuid4().hex[:24])
    if source_id.startswith("chatcmpl-"):
        return source_id
    if source_id.startswith("msg_chatcmpl-"):
        return source_id[len("msg_") :]
    return "chatcmpl-" + source_id


def reasoning_effort(thinking: Any) -> str | None:
    """Anthropic `thinking` as `reasoning_effort`; None when it says nothing (adaptive, absent)."""
    thinking = as_dict(thinking)
    kind = thinking.get("type")
    if kind == "disabled":
        return "none"
    if kind != "enabled":
        return None
    budget = as_int(thinking.get("budget_tokens")) or 0
    return "high" if budget >= 8000 else "medium" if budget >= 2000 else "low"


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as JSON text; `{"_raw_arguments": text}` (how unparseable arguments
    travel as an Anthropic `input`) is unwrapped back to the text."""
    if isinstance(arguments, str):
        return arguments
    if arguments is None:
        return "{}"
    if len(arguments) == 1 and isinstance(arguments.get("_raw_arguments"), str):
        return arguments["_raw_arguments"]
    return dump_json(arguments)


def render_usage(u: Usage) -> dict[str, Any]:
    cache_read = u.cache_read or 0
    prompt = (u.input or 0) + cache_read + (u.cache_write or 0)
    output = u.output or 0
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
    }
    if u.cache_read is not None or u.cache_write:
        usage["prompt_tokens_details"] = {"cached_tokens": cache_read}
    return usage


def _image(b: Block) -> dict[str, Any] | None:
    if b.data is not None:
        url = f"data:{b.media_type or 'image/png'};base64,{b.data}"
    elif b.url is not None:
        url = b.url
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def _kind(b: Block) -> str:
    raw = b.raw
    if b.type == OTHER and isinstance(raw, dict) and isinstance(raw.get("type"), str):
        return raw["type"]
    return b.type


def _other(b: Block, same: bool) -> dict[str, Any] | None:
    """A block the neutral model keeps as "other": its OpenAI part, when there is one."""
    raw = b.raw
    if same:
        return raw if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "document":
        return None
    source = as_dict(raw.get("source"))
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media_type = source.get("media_type") or "application/pdf"
        title = raw.get("title")
        return {
            "type": "file",
            "file": {
                "filename": title if isinstance(title, str) else "document.pdf",
                "file_data": f"data:{media_type};base64,{source['data']}",
            },
        }
    return None


class _Renderer:
    def __init__(self, req: Request, dropped: list[str]) -> None:
        self.same = req.dialect == DIALECT
        self.dropped = dropped

    def drop(self, what: str) -> None:
        self.dropped.append(what)

    def text_part(self, b: Block) -> dict[str, Any]:
        """A text part; on the same dialect with the fields the parser kept (`cache_control`)."""
        part = {"type": "text", "text": b.text}
        return {**b.raw, **part} if self.same and isinstance(b.raw, dict) else part

    def part(self, b: Block, path: str) -> dict[str, Any] | None:
        """A user content part."""
        if b.type == TEXT:
            return self.text_part(b) if b.text else None
        if b.type == IMAGE:
            part = _image(b)
            if part is not None and self.same and isinstance(b.raw, dict):
                return b.raw  # keeps `detail`
        elif b.type == OTHER:
            part = _other(b, self.same)
        else:
            part = None
        if part is None:
            self.drop(f"{path} ({_kind(b)})")
        return part

    def tool_message(self, b: Block, path: str, carried: list[dict[str, Any]]) -> dict[str, Any]:
        """A `tool` message for a tool result; its images go to `carried`."""
        if b.content is not None:
            texts = []
            parts = []
            for j, c in enumerate(b.content):
                sub = f"{path}.content[{j}]"
                if c.type == TEXT:
                    texts.append(c.text)
                    parts.append(self.text_part(c))
                elif c.type == IMAGE and (image := _image(c)) is not None:
                    carried.append(image)
                else:
                    part = self.part(c, sub)
                    if part is not None and part.get("type") == "text":
                        texts.append(part["text"])
                        parts.append(part)
                    elif part is not None:
                        carried.append(part)
            content: Any = parts if self.same else "\n".join(texts)
        else:
            content = b.text
        if b.is_error and not self.same:
            content = "Error: " + content
        return {"role": "tool", "tool_call_id": b.id or "", "content": content}

    def system(self, blocks: list[Block], path: str | None) -> str | list[dict[str, Any]]:
        """System content: the texts joined, or on the same dialect the parts as they came
        when one carries more than its text."""
        parts = []
        for j, b in enumerate(blocks):
            if b.type == TEXT:
                parts.append(self.text_part(b))
            elif path is not None:
                self.drop(f"{path}[{j}] ({_kind(b)})")
        if any(len(p) > 2 for p in parts):
            return parts
        return "\n".join(p["text"] for p in parts)

    def user(self, i: int, blocks: list[Block], out: list[dict[str, Any]], raw: Any = None) -> None:
        """A user message (`raw`: the message as it came) and the tool messages before it."""
        parts: list[dict[str, Any]] = []
        carried: list[dict[str, Any]] = []
        had_results = False
        for j, b in enumerate(blocks):
            path = f"messages[{i}].content[{j}]"
            if b.type == TOOL_RESULT:
                had_results = True
                out.append(self.tool_message(b, path, carried))
            else:
                part = self.part(b, path)
                if part is not None:
                    parts.append(part)
        parts = carried + parts
        if not parts and had_results:
            return
        msg: dict[str, Any] = {"role": "user", "content": parts}
        if not parts:
            msg["content"] = ""
        elif len(parts) == 1 and parts[0]["type"] == "text" and len(parts[0]) == 2:
            msg["content"] = parts[0]["text"]
        out.append({**raw, **msg} if self.same and isinstance(raw, dict) else msg)

    def tool_call(self, b: Block, fallback_id: str) -> dict[str, Any]:
        fn = {"name": b.name or "", "arguments": arguments_text(b.arguments)}
        call = {"id": b.id or fallback_id, "type": "function", "function": fn}
        raw = b.raw
        if not (self.same and isinstance(raw, dict) and isinstance(raw.get("function"), dict)):
            return call
        kept = raw["function"].get("arguments")
        if isinstance(kept, str) and parse_arguments(kept) == b.arguments:
            fn["arguments"] = kept  # the exact text, when a rule left the arguments alone
        return {**raw, **call, "function": {**raw["function"], **fn}}

    def assistant(self, i: int, blocks: list[Block]) -> dict[str, Any]:
        texts: list[str] = []
        parts: list[dict[str, Any]] = []  # the same dialect's parts, when one needs keeping
        keep_parts = False
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for j, b in enumerate(blocks):
            if b.type == TEXT:
                texts.append(b.text)
                part = self.text_part(b)
                keep_parts = keep_parts or len(part) > 2
                if b.text or len(part) > 2:
                    parts.append(part)
            elif b.type == THINKING:
                reasoning.append(b.text)
                if b.signature and not self.same:
                    self.drop(f"messages[{i}].content[{j}].signature")
            elif b.type == TOOL_CALL:
                calls.append(self.tool_call(b, f"call_{i}_{j}"))
            elif b.type == OTHER and b.text and isinstance(b.raw, dict) and "refusal" in b.raw:
                texts.append(b.text)
                if self.same and b.raw.get("type") == "refusal":
                    keep_parts = True  # a refusal part in history stays one
                    parts.append({**b.raw, "refusal": b.text})
            else:
                self.drop(f"messages[{i}].content[{j}] ({_kind(b)})")
        text = "".join(texts)
        content: Any = parts if keep_parts else text or None
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if any(reasoning):
            msg["reasoning_content"] = "".join(reasoning)
        if calls:
            msg["tool_calls"] = calls
        return msg


def _messages(req: Request, r: _Renderer) -> list[dict[str, Any]]:
    same = r.same
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": r.system(req.system, "system")})

    for i, m in enumerate(req.messages):
        role = m.role
        if role == "assistant":
            msg = r.assistant(i, m.blocks)
        elif role == "user":
            r.user(i, m.blocks, messages, m.raw)
            continue
        elif role == "tool":
            for j, b in enumerate(m.blocks):
                if b.type == TOOL_RESULT:
                    msg = r.tool_message(b, f"messages[{i}].content[{j}]", [])
                    if same and isinstance(m.raw, dict):
                        msg = {**m.raw, **msg} if m.raw.get("role") == "tool" else m.raw
                    messages.append(msg)
            continue
        elif role == "system":
            msg = {"role": "system", "content": r.system(m.blocks, None)}
        else:
            r.user(i, m.blocks, messages)
            continue
        if same and isinstance(m.raw, dict):
            msg = {**m.raw, **msg}
        messages.append(msg)
    return messages


def render_request(req: Request, dropped: list[str] | None = None) -> dict[str, Any]:
    """An OpenAI Chat Completions request body. What cannot be carried is appended to `dropped`.
    A legacy completions or embeddings request (same dialect) keeps its `prompt` / `input`.

    The body shares leaf objects (tool schemas) with `req`; copy before mutating.
    """
    r = _Renderer(req, dropped if dropped is not None else [])
    same = r.same
    params = req.params
    prompt_key = _prompt_key(req) if same else None
    body: dict[str, Any] = {"model": req.model}
    if prompt_key is None:
        body["messages"] = _messages(req, r)
        tools = _tools(req, r)
    else:
        body[prompt_key] = _prompt(req, prompt_key, r)
        tools = []
    if tools:
        body["tools"] = tools
        choice = _tool_choice(params.get("tool_choice"), r)
        if choice is not None:
            body["tool_choice"] = choice
        if params.get("parallel_tool_calls") is not None:
            body["parallel_tool_calls"] = params["parallel_tool_calls"]

    if params.get("max_tokens") is not None:
        key = params.get("max_tokens_key") if same else None
        body[key if key in _MAX_TOKENS_KEYS else "max_tokens"] = params["max_tokens"]
    for name in ("temperature", "top_p"):
        if params.get(name) is not None:
            body[name] = params[name]
    stop = params.get("stop")
    if isinstance(stop, list) and stop:
        body["stop"] = stop
    if params.get("top_k") is not None and not same:
        r.drop("top_k")

    effort = params.get("reasoning_effort")
    if effort is None and params.get("thinking") is not None:
        effort = reasoning_effort(params["thinking"])
    if effort is not None:
        body["reasoning_effort"] = effort

    if same:
        for name in ("user", "metadata"):
            if params.get(name) is not None:
                body[name] = params[name]
    else:
        metadata = as_dict(params.get("metadata"))
        for key in metadata:
            if key == "user_id" and isinstance(metadata[key], str):
                body["user"] = metadata[key]
            else:
                r.drop(f"metadata.{key}")

    if req.stream:
        body["stream"] = True
        options = params.get("stream_options") if same else None
        body["stream_options"] = options if isinstance(options, dict) else {"include_usage": True}
    if same:
        for key, value in req.extra.items():
            body.setdefault(key, value)
    return body


def _tools(req: Request, r: _Renderer) -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(req.tools):
        raw = t.raw if isinstance(t.raw, dict) else None
        if r.same:
            if raw is not None:
                fn_raw = raw.get("function")
                if isinstance(fn_raw, dict) and raw.get("type", "function") == "function":
                    out.append({**raw, "function": _function(t, fn_raw)})
                elif "function" in raw or "type" in raw:
                    out.append(raw)  # not a function tool: as it came
                else:  # a legacy `functions` entry
                    out.append({"type": "function", "function": _function(t, raw)})
                continue
        elif raw is not None and raw.get("type") not in (None, "custom"):
            r.drop(f"tools[{i}] ({raw.get('type')})")
            continue
        fn: dict[str, Any] = {"name": t.name}
        if t.description:
            fn["description"] = t.description
        fn["parameters"] = t.parameters if t.parameters is not None else _EMPTY_SCHEMA
        if raw is not None and isinstance(raw.get("strict"), bool):
            fn["strict"] = raw["strict"]
        out.append({"type": "function", "function": fn})
    return out


def _function(t: Tool, raw: dict[str, Any]) -> dict[str, Any]:
    """A tool's `function` as it came (`strict`, ...), with what a rule may have edited."""
    fn = {**raw, "name": t.name}
    if t.description or isinstance(raw.get("description"), str):
        fn["description"] = t.description
    if t.parameters is not None:
        fn["parameters"] = t.parameters
    return fn


def _prompt_key(req: Request) -> str | None:
    """`prompt` or `input` when the request is a legacy completions or embeddings body."""
    if len(req.messages) != 1 or not isinstance(req.messages[0].raw, dict):
        return None
    raw = req.messages[0].raw
    key = next(iter(raw), None) if len(raw) == 1 else None
    return key if key in _PROMPT_KEYS else None


def _prompt(req: Request, key: str, r: _Renderer) -> Any:
    """The legacy `prompt` / `input` value, in the shape the client sent (string, list of
    strings, token ids)."""
    if req.system:
        r.drop(f"system (not taken by a `{key}` body)")
    values: list[Any] = []
    for j, b in enumerate(req.messages[0].blocks):
        if b.type == TEXT:
            values.append(b.text)
        elif b.type == OTHER and b.raw is not None:
            values.append(b.raw)  # token ids
        else:
            r.drop(f"messages[0].content[{j}] ({_kind(b)})")
    came_as_text = isinstance(req.messages[0].raw[key], str)
    if len(values) == 1 and (came_as_text or not isinstance(values[0], str)):
        return values[0]
    if came_as_text and all(isinstance(v, str) for v in values):
        return "\n".join(values)
    return values


def _tool_choice(choice: Any, r: _Renderer) -> Any:
    if choice is None:
        return None
    if choice == "any":
        return "required"
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        if "name" in choice and len(choice) == 1:
            return {"type": "function", "function": {"name": choice["name"]}}
        if r.same:
            return choice
    r.drop("tool_choice")
    return None


# --- responses ---------------------------------------------------------------------------


def render_response(
    resp: Response,
    *,
    model: str | None = None,
    created: int | None = None,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """An OpenAI `chat.completion` body (errors go through `errors.error_object`)."""
    notes = dropped if dropped is not None else []
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    refusal: list[str] = []
    for j, b in enumerate(resp.blocks):
        if b.type == TEXT:
            texts.append(b.text)
        elif b.type == THINKING:
            reasoning.append(b.text)
            if b.signature:
                notes.append(f"content[{j}].signature")
        elif b.type == TOOL_CALL:
            calls.append(
                {
                    "id": b.id or f"call_{j:02d}_{uuid.uuid4().hex[:16]}",
                    "type": "function",
                    "function": {"name": b.name or "", "arguments": arguments_text(b.arguments)},
                }
            )
        elif b.type == OTHER and b.text and isinstance(b.raw, dict) and "refusal" in b.raw:
            refusal.append(b.text)
        else:
            notes.append(f"content[{j}] ({_kind(b)})")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if refusal:
        message["refusal"] = "".join(refusal)
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    if created is None:
        created = as_int(resp.extra.get("created")) or int(time.time())
    return {
        "id": completion_id(resp.id),
        "object": "chat.completion",
        "created": created,
        "model": model or resp.model or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(resp.stop_reason, bool(calls)),
            }
        ],
        "usage": render_usage(resp.usage),
    }


# --- streams -----------------------------------------------------------------------------

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _ToolState:
    __slots__ = ("id", "name", "index", "pending")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.index: int | None = None  # the OpenAI tool_calls index, once announced
        self.pending: list[str] = []


class OpenAIStreamWriter:
    """Neutral stream calls in, `data: {chat.completion.chunk}` text out (appended to `out`).

    A first chunk with the assistant role, then content / `reasoning_content` / `tool_calls`
    deltas (the first delta of a call has its index, id, type and name, the rest argument
    fragments), a chunk with the finish reason as soon as it is known, a usage chunk (empty
    `choices`) when the client asked `stream_options.include_usage`, and `data: [DONE]`.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        include_usage: bool = True,
        created: int | None = None,
        nonce: str | None = None,
    ) -> None:
        self.out: list[str] = []
        self.model = model
        self.include_usage = include_usage
        self.created = created if created is not None else int(time.time())
        self.nonce = nonce or uuid.uuid4().hex[:24]
        self.usage = Usage()
        self.stop: str | None = None
        self.started = False
        self.closed = False
        self._finished = False
        self._head = ""
        self._tools: dict[Any, _ToolState] = {}
        self._made_calls = False

    def start(self, id: str | None = None, model: str | None = None, usage: Usage | None = None):
        if self.started or self.closed:
            return
        self.started = True
        if usage is not None:
            self.usage.merge(usage)
        self._head = (
            '{"id":'
            + _dumps(completion_id(id, self.nonce))
            + ',"object":"chat.completion.chunk","created":'
            + str(self.created)
            + ',"model":'
            + _dumps(self.model or model or "")
            + ',"choices":'
        )
        self._chunk('{"role":"assistant","content":""}')

    def _chunk(self, delta: str, finish: str | None = None) -> None:
        finish_json = "null" if finish is None else _dumps(finish)
        self.out.append(
            "data: "
            + self._head
            + '[{"index":0,"delta":'
            + delta
            + ',"logprobs":null,"finish_reason":'
            + finish_json
            + "}]}\n\n"
        )

    def thinking(self, text: str) -> None:
        if text and not self._finished and not self.closed:
            self.start()
            self._chunk('{"reasoning_content":' + _dumps(text) + "}")

    def signature(self, signature: str) -> None:
        pass  # no counterpart

    def text(self, text: str) -> None:
        if text and not self._finished and not self.closed:
            self.start()
            self._chunk('{"content":' + _dumps(text) + "}")

    def tool(
        self, key: Any, id: str | None = None, name: str | None = None, arguments: str | None = None
    ) -> None:
        if self._finished or self.closed:
            return
        st = self._tools.get(key)
        if st is None:
            st = self._tools[key] = _ToolState()
        if id and st.id is None:
            st.id = id
        if name and not st.name:
            st.name = name
        if st.index is None:
            if arguments:
                st.pending.append(arguments)
            if st.name:
                self._announce(st)
            return
        if arguments:
            self._arguments(st.index, arguments)

    def _announce(self, st: _ToolState) -> None:
        self.start()
        st.index = sum(1 for t in self._tools.values() if t.index is not None)
        call = {
            "index": st.index,
            "id": st.id or f"call_{self.nonce}_{st.index:02d}",
            "type": "function",
            "function": {"name": st.name or "", "arguments": ""},
        }
        self._chunk('{"tool_calls":[' + _dumps(call) + "]}")
        self._made_calls = True
        for fragment in st.pending:
            self._arguments(st.index, fragment)
        st.pending = []

    def _arguments(self, index: int, fragment: str) -> None:
        self._chunk(
            '{"tool_calls":[{"index":'
            + str(index)
            + ',"function":{"arguments":'
            + _dumps(fragment)
            + "}}]}"
        )

    def set_stop(self, reason: str | None, stop_sequence: str | None = None) -> None:
        """The stop reason: sent at once (OpenAI clients need nothing else to finish a choice)."""
        self.stop = reason
        self._finish_chunk()

    def _finish_chunk(self) -> None:
        if self._finished or self.closed:
            return
        self.start()
        for st in self._tools.values():
            if st.index is None:
                self._announce(st)
        self._finished = True
        self._chunk("{}", finish_reason(self.stop, self._made_calls))

    def add_usage(self, usage: Usage) -> None:
        self.usage.merge(usage)

    def end(self) -> None:
        if self.closed:
            return
        self._finish_chunk()
        if self.include_usage:
            self.out.append(
                "data: " + self._head + '[],"usage":' + _dumps(render_usage(self.usage)) + "}\n\n"
            )
        self.out.append("data: [DONE]\n\n")
        self.closed = True

    def error(self, status: int, message: str, code: str | None = None) -> None:
        """An error chunk (the OpenAI SDKs raise on it) and `[DONE]`."""
        if self.closed:
            return
        body = error_object(DIALECT, status, message, code)
        self.out.append(f"data: {dump_json(body)}\n\ndata: [DONE]\n\n")
        self.closed = True

    def take(self) -> bytes:
        if not self.out:
            return b""
        data = "".join(self.out).encode()
        self.out.clear()
        return data
