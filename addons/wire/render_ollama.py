"""Render the neutral model as Ollama's native API: `/api/chat` and `/api/generate` request
bodies (and `/api/embed`, `/api/embeddings`), a final non-streamed response, and a stream writer
that writes Ollama's NDJSON lines.

Which endpoint a request goes to is not part of the neutral model, so `render_request` takes the
request `path` (default `/api/chat`). Rendering a request parsed from Ollama itself keeps what the
parser kept in `raw` and `extra`, so a rule can rewrite a request in place; a value with no
Ollama counterpart is left out and named in the caller's `dropped` list.

Choices:
- `options` start from `params["options"]`; the neutral sampling names (max_tokens as
  `num_predict`, temperature, top_p, top_k, stop) override them when set. The parser copies those
  options to their neutral names, so a rule that removes one must remove it from `options` too.
- The system prompt of an Ollama request goes back as it came, one system message per block;
  from another dialect its text blocks are joined with "\\n" into one system message.
- Tool-call arguments are an object (`{"_raw_arguments": text}` for text that is not one).
  A tool result from another dialect gets the `tool_name` of the call it answers (Ollama's
  templates want it) and, when failed, an "Error: " prefix.
- Images go as base64 data; an image given by URL is dropped (Ollama takes no URLs).
- Ollama has no tool_choice, user or metadata: they are dropped. `reasoning_effort` and an
  Anthropic `thinking` object become `think: true/false`; OpenAI's `seed`, `frequency_penalty`
  and `presence_penalty` go into `options`, its `response_format` becomes `format`.
- `prompt_eval_count` is all prompt tokens (input plus cache reads and writes). Counts are sent
  only when known; durations (ns) come from `Response.extra`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
    Message,
    Request,
    Response,
    Usage,
)
from .render_anthropic import tool_input

DIALECT = "ollama"

DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
DONE_REASONS = {
    "end_turn": "stop",
    "tool_use": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "refusal": "stop",
    "content_filter": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
_MESSAGE_KEYS = frozenset(
    {"role", "content", "images", "tool_calls", "thinking", "tool_name", "tool_call_id"}
)
_OPTIONS = (
    ("max_tokens", "num_predict"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("stop", "stop"),
)
_PARAMS = frozenset(
    {"options", "keep_alive", "format", "thinking", "reasoning_effort", *(n for n, _ in _OPTIONS)}
)
_EXTRA_OPTIONS = ("seed", "frequency_penalty", "presence_penalty")  # OpenAI top-level fields
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_NOT_DONE_FIELDS = frozenset({"created_at", "done", "message", "response", "thinking"})


def endpoint(path: str | None) -> str:
    """Which Ollama endpoint a path names: chat (the default), generate, embed or embeddings."""
    if path:
        path = path.split("?", 1)[0].rstrip("/")
        for name in ("generate", "embeddings", "embed", "chat"):
            if path.endswith("/api/" + name):
                return name
    return "chat"


def done_reason(neutral: str | None) -> str:
    """Ollama's `done_reason` for a neutral stop reason; Ollama's own ("load", ...) pass through."""
    if neutral is None:
        return "stop"
    return DONE_REASONS.get(neutral, neutral)


def created_at(extra: dict[str, Any] | None = None) -> str:
    """The response's `created_at`, else the OpenAI `created` epoch, else now (UTC, ISO-8601)."""
    extra = extra or {}
    if isinstance(extra.get("created_at"), str):
        return extra["created_at"]
    created = as_int(extra.get("created"))
    stamp = datetime.fromtimestamp(created if created is not None else time.time(), UTC)
    return stamp.isoformat().replace("+00:00", "Z")


def done_fields(resp: Response) -> dict[str, Any]:
    """Fields for the final (`done: true`) object beyond the counts: the durations, and for a
    response that came from Ollama every other top-level field it kept."""
    extra = resp.extra
    fields = {k: extra[k] for k in DURATIONS if as_int(extra.get(k)) is not None}
    if resp.dialect == DIALECT:
        for key, value in extra.items():
            if key not in _NOT_DONE_FIELDS:
                fields.setdefault(key, value)
    return fields


def _counts(u: Usage) -> dict[str, int]:
    counts = {}
    if u.input is not None or u.cache_read is not None or u.cache_write is not None:
        counts["prompt_eval_count"] = (u.input or 0) + (u.cache_read or 0) + (u.cache_write or 0)
    if u.output is not None:
        counts["eval_count"] = u.output
    return counts


def _kind(b: Block) -> str:
    raw = b.raw
    if b.type == OTHER and isinstance(raw, dict) and isinstance(raw.get("type"), str):
        return raw["type"]
    return b.type


def _keep_raw(d: dict[str, Any], raw: Any) -> dict[str, Any]:
    """The fields of an Ollama message the parser did not map (same dialect only)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key not in _MESSAGE_KEYS and key not in d:
                d[key] = value
    return d


def _refusal(b: Block) -> bool:
    return b.type == OTHER and bool(b.text) and isinstance(b.raw, dict) and "refusal" in b.raw


class _Renderer:
    def __init__(self, same: bool, dropped: list[str]) -> None:
        self.same = same
        self.dropped = dropped
        self.names: dict[str, str] = {}  # tool call id -> name, for tool results from elsewhere

    def drop(self, what: str) -> None:
        self.dropped.append(what)

    def tool_call(self, b: Block) -> dict[str, Any]:
        args = b.arguments if isinstance(b.arguments, dict) else tool_input(b.arguments)
        fn: dict[str, Any] = {"name": b.name or "", "arguments": args}
        call: dict[str, Any] = {"id": b.id, "function": fn} if b.id else {"function": fn}
        if b.id and b.name:
            self.names[b.id] = b.name
        if self.same and isinstance(b.raw, dict):
            fn = {**as_dict(b.raw.get("function")), **fn}
            call = {**b.raw, **call, "function": fn}
        return call

    def image(self, b: Block, path: str, images: list[Any]) -> None:
        if b.type == IMAGE and b.data is not None:
            images.append(b.data)
        elif self.same and b.type == OTHER and b.raw is not None:
            images.append(b.raw)  # an `images` entry the parser could not read, as it came
        else:
            self.drop(f"{path} ({'image url' if b.url else _kind(b)})")

    def reply(self, blocks: list[Block], path: str) -> tuple[str, str, list[Any], list[Any], bool]:
        """An assistant-side message's parts: text, thinking, images, tool calls, had text."""
        texts: list[str] = []
        thinking: list[str] = []
        images: list[Any] = []
        calls: list[Any] = []
        for j, b in enumerate(blocks):
            sub = f"{path}[{j}]"
            if b.type == TEXT:
                texts.append(b.text)
            elif b.type == THINKING:
                thinking.append(b.text)
                if b.signature:
                    self.drop(f"{sub}.signature")
            elif b.type == TOOL_CALL:
                calls.append(self.tool_call(b))
            elif _refusal(b):
                texts.append(b.text)
            else:
                self.image(b, sub, images)
        return "".join(texts), "".join(thinking), images, calls, bool(texts)

    def message(self, i: int, m: Message, out: list[dict[str, Any]]) -> None:
        path = f"messages[{i}].content"
        blocks = m.blocks
        role = m.role
        if role == "tool" or any(b.type == TOOL_RESULT for b in blocks):
            rest = []
            for j, b in enumerate(blocks):
                if b.type == TOOL_RESULT:
                    result = self.tool_message(b, f"{path}[{j}]")
                    out.append(_keep_raw(result, m.raw) if self.same else result)
                else:
                    rest.append(b)
            if not rest:
                return
            blocks, role = rest, "user" if role == "tool" else role
        text, thinking, images, calls, had_text = self.reply(blocks, path)
        if role != "assistant":
            text = "\n".join(b.text for b in blocks if b.type == TEXT or _refusal(b))
        msg: dict[str, Any] = {"role": role}
        if had_text or not self.same:
            msg["content"] = text
        if thinking:
            msg["thinking"] = thinking
        if images:
            msg["images"] = images
        if calls:
            msg["tool_calls"] = calls
        out.append(_keep_raw(msg, m.raw) if self.same else msg)

    def tool_message(self, b: Block, path: str) -> dict[str, Any]:
        images: list[Any] = []
        if b.content is not None:
            texts = []
            for j, c in enumerate(b.content):
                if c.type == TEXT:
                    texts.append(c.text)
                else:
                    self.image(c, f"{path}.content[{j}]", images)
            content = "\n".join(texts)
        else:
            content = b.text
        if b.is_error:
            content = "Error: " + content
        msg: dict[str, Any] = {"role": "tool", "content": content}
        name = b.name if b.name or self.same else self.names.get(b.id or "")
        if name:
            msg["tool_name"] = name
        if b.id:
            msg["tool_call_id"] = b.id
        if images:
            msg["images"] = images
        return msg

    def system(self, req: Request) -> list[dict[str, Any]]:
        texts = []
        for j, b in enumerate(req.system):
            if b.type == TEXT:
                texts.append(b.text)
            else:
                self.drop(f"system[{j}] ({_kind(b)})")
        if not req.system:
            return []
        if self.same:
            return [{"role": "system", "content": t} for t in texts]
        return [{"role": "system", "content": "\n".join(texts)}]

    def prompt(self, req: Request, embedding: bool) -> tuple[list[Any], list[Any]]:
        """The texts and images of a /api/generate or embedding request's one prompt."""
        texts: list[Any] = []
        images: list[Any] = []
        for i, m in enumerate(req.messages):
            if m.role != "user":
                self.drop(f"messages[{i}] ({m.role} message: this endpoint takes one prompt)")
                continue
            for j, b in enumerate(m.blocks):
                if b.type == TEXT:
                    texts.append(b.text)
                elif embedding and b.type == OTHER and self.same:
                    texts.append(b.raw)  # an input item the parser could not read, as it came
                else:
                    self.image(b, f"messages[{i}].content[{j}]", images)
        return texts, images

    def tools(self, req: Request) -> list[dict[str, Any]]:
        out = []
        for i, t in enumerate(req.tools):
            raw = t.raw if isinstance(t.raw, dict) else None
            raw_fn = as_dict(raw.get("function")) if raw is not None else {}
            if raw is not None and not raw_fn:
                if self.same:
                    out.append(raw)
                    continue
                if raw.get("type") not in (None, "function", "custom"):
                    self.drop(f"tools[{i}] ({raw.get('type')})")
                    continue
            fn: dict[str, Any] = {"name": t.name}
            if t.description:
                fn["description"] = t.description
            if t.parameters is not None or not self.same:
                fn["parameters"] = t.parameters if t.parameters is not None else _EMPTY_SCHEMA
            if self.same and raw_fn and raw is not None:
                out.append({**raw, "function": {**raw_fn, **fn}})
            else:
                out.append({"type": "function", "function": fn})
        return out


def _options(req: Request, same: bool) -> dict[str, Any] | None:
    params = req.params
    base = params.get("options")
    options = dict(base) if isinstance(base, dict) else {}
    for neutral, name in _OPTIONS:
        value = params.get(neutral)
        if value is None:
            continue
        if name == "stop" and isinstance(options.get("stop"), str) and value == [options["stop"]]:
            continue  # the client's own spelling of the same stop
        options[name] = value
    if not same:
        for name in _EXTRA_OPTIONS:
            if req.extra.get(name) is not None:
                options[name] = req.extra[name]
    return options if options or isinstance(base, dict) else None


def _format(response_format: Any) -> Any:
    """OpenAI's `response_format` as Ollama's `format`: "json" or a JSON Schema."""
    rf = as_dict(response_format)
    if rf.get("type") == "json_object":
        return "json"
    if rf.get("type") == "json_schema":
        return as_dict(rf.get("json_schema")).get("schema")
    return None


def _think(params: dict[str, Any]) -> Any:
    """`think` for a request from another dialect: an Anthropic `thinking` object or an OpenAI
    `reasoning_effort` as true/false."""
    thinking = params.get("thinking")
    if thinking is not None and not isinstance(thinking, dict):
        return thinking
    kind = as_dict(thinking).get("type")
    if kind in ("enabled", "disabled"):
        return kind == "enabled"
    effort = params.get("reasoning_effort")
    if isinstance(effort, str):
        return effort != "none"
    return None


def render_request(
    req: Request, dropped: list[str] | None = None, *, path: str | None = None
) -> dict[str, Any]:
    """An Ollama request body for `path` (default `/api/chat`). What cannot be carried is
    appended to `dropped`.

    The body shares leaf objects (tool schemas, options) with `req`; copy before mutating.
    """
    same = req.dialect == DIALECT
    r = _Renderer(same, dropped if dropped is not None else [])
    kind = endpoint(path)
    params = req.params
    body: dict[str, Any] = {"model": req.model}

    if kind == "chat":
        messages = r.system(req)
        for i, m in enumerate(req.messages):
            r.message(i, m, messages)
        body["messages"] = messages
        tools = r.tools(req)
        if tools:
            body["tools"] = tools
    else:
        if req.tools:
            r.drop(f"tools (not taken by /api/{kind})")
        texts, images = r.prompt(req, embedding=kind != "generate")
        if kind == "generate":
            system = "\n".join(b.text for b in req.system if b.type == TEXT)
            if system:
                body["system"] = system
            if texts:
                body["prompt"] = "\n".join(texts)
            if images:
                body["images"] = images
        else:
            if req.system:
                r.drop(f"system (not taken by /api/{kind})")
            if images:
                r.drop(f"images (not taken by /api/{kind})")
            if texts:
                name = "input" if kind == "embed" else "prompt"
                body[name] = texts[0] if len(texts) == 1 and isinstance(texts[0], str) else texts

    talks = kind in ("chat", "generate")
    if talks:
        body["stream"] = req.stream
        if "format" in params:
            body["format"] = params["format"]
        elif not same and (fmt := _format(req.extra.get("response_format"))) is not None:
            body["format"] = fmt
    options = _options(req, same)
    if options is not None:
        body["options"] = options
    if "keep_alive" in params:
        body["keep_alive"] = params["keep_alive"]
    think = params.get("thinking") if same else _think(params)
    if talks and (think is not None or (same and "thinking" in params)):
        body["think"] = think

    for name, value in params.items():
        if name not in _PARAMS and value is not None:
            r.drop(name)
    if same:
        for key, value in req.extra.items():
            body.setdefault(key, value)
    else:
        for key in req.extra:
            if key not in _EXTRA_OPTIONS and key != "response_format":
                r.drop(key)
    return body


# --- responses ---------------------------------------------------------------------------


def render_response(
    resp: Response,
    *,
    model: str | None = None,
    path: str | None = None,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """A final (non-streamed) `/api/chat` object, or `/api/generate` when `path` says so.
    A response that is an error becomes Ollama's `{"error": "..."}`."""
    if resp.error is not None:
        return error_object(DIALECT, 500, resp.error)
    r = _Renderer(resp.dialect == DIALECT, dropped if dropped is not None else [])
    text, thinking, images, calls, _ = r.reply(resp.blocks, "content")
    body: dict[str, Any] = {
        "model": model or resp.model or "",
        "created_at": created_at(resp.extra),
    }
    if endpoint(path) == "generate":
        body["response"] = text
        if thinking:
            body["thinking"] = thinking
        if calls:
            r.drop("tool_calls (not returned by /api/generate)")
    else:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        if images:
            message["images"] = images
        if calls:
            message["tool_calls"] = calls
        body["message"] = message
    body["done"] = True
    body["done_reason"] = done_reason(resp.stop_reason)
    body.update(_counts(resp.usage))
    for key, value in done_fields(resp).items():
        body.setdefault(key, value)
    return body


# --- streams -----------------------------------------------------------------------------


class _ToolState:
    __slots__ = ("id", "name", "arguments")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class OllamaStreamWriter:
    """Neutral stream calls in, Ollama NDJSON lines out (appended to `out`).

    One line per thinking or text fragment (`done: false`); Ollama sends a tool call whole, with
    its arguments as an object, so tool calls are gathered and sent in one line just before the
    last one, which has `done: true`, the `done_reason`, the counts and the fields in `extra`
    (durations, set by the caller). With `generate=True` the lines are `/api/generate`'s
    (`response` instead of `message`; tool calls have no place there and are left out).
    """

    def __init__(
        self, *, model: str | None = None, created_at: str | None = None, generate: bool = False
    ) -> None:
        self.out: list[str] = []
        self.model = model
        self.created_at = created_at
        self.generate = generate
        self.usage = Usage()
        self.stop: str | None = None
        self.extra: dict[str, Any] = {}
        self.started = False
        self.closed = False
        self._tools: dict[Any, _ToolState] = {}

    def start(self, id: str | None = None, model: str | None = None, usage: Usage | None = None):
        if self.started or self.closed:
            return
        self.started = True
        self.model = self.model or model
        if usage is not None:
            self.usage.merge(usage)

    def _line(self, fields: dict[str, Any], done: bool = False) -> None:
        line = {
            "model": self.model or "",
            "created_at": self.created_at or created_at(),
            **fields,
            "done": done,
        }
        self.out.append(dump_json(line) + "\n")

    def _delta(self, content: str = "", **more: Any) -> None:
        self.start()
        if self.generate:
            self._line({"response": content, **more})
        else:
            self._line({"message": {"role": "assistant", "content": content, **more}})

    def thinking(self, text: str) -> None:
        if text and not self.closed:
            self._delta(thinking=text)

    def signature(self, signature: str) -> None:
        pass  # no counterpart

    def text(self, text: str) -> None:
        if text and not self.closed:
            self._delta(text)

    def tool(
        self, key: Any, id: str | None = None, name: str | None = None, arguments: str | None = None
    ) -> None:
        """A tool call's start (id, name) and/or an argument fragment; `key` tells calls apart."""
        if self.closed:
            return
        st = self._tools.get(key)
        if st is None:
            st = self._tools[key] = _ToolState()
        if id and st.id is None:
            st.id = id
        if name and not st.name:
            st.name = name
        if arguments:
            st.arguments.append(arguments)

    def set_stop(self, reason: str | None, stop_sequence: str | None = None) -> None:
        self.stop = reason

    def add_usage(self, usage: Usage) -> None:
        self.usage.merge(usage)

    def _flush_tools(self) -> None:
        if not self._tools or self.generate:
            return
        calls = []
        for st in self._tools.values():
            text = "".join(st.arguments)
            args = parse_arguments(text) if text else {}
            fn = {"name": st.name or "", "arguments": tool_input(args)}
            calls.append({"id": st.id, "function": fn} if st.id else {"function": fn})
        self._tools = {}
        self._delta(tool_calls=calls)

    def end(self) -> None:
        """Send the gathered tool calls and the last line, with the stop reason and counts."""
        if self.closed:
            return
        self.start()
        self._flush_tools()
        body: dict[str, Any] = (
            {"response": ""} if self.generate else {"message": {"role": "assistant", "content": ""}}
        )
        body["done_reason"] = done_reason(self.stop)
        body.update(_counts(self.usage))
        for key, value in self.extra.items():
            body.setdefault(key, value)
        self._line(body, done=True)
        self.closed = True

    def error(self, status: int, message: str, code: str | None = None) -> None:
        """A final `{"error": ...}` line, which Ollama's clients raise on."""
        if self.closed:
            return
        self.out.append(dump_json(error_object(DIALECT, status, message)) + "\n")
        self.closed = True

    def take(self) -> bytes:
        if not self.out:
            return b""
        data = "".join(self.out).encode()
        self.out.clear()
        return data


__all__ = [
    "DIALECT",
    "OllamaStreamWriter",
    "created_at",
    "done_fields",
    "done_reason",
    "endpoint",
    "render_request",
    "render_response",
]
