"""Render the neutral model as Anthropic Messages: request and response bodies, and a stream
writer that turns neutral stream calls into Anthropic SSE events as they happen.

A neutral value with no Anthropic counterpart is left out and named in the caller's `dropped`
list (see `addons.wire.translate.DROPPED`). Rendering a request parsed from Anthropic itself
keeps what the parser kept in `raw` and `extra`, so a rule can rewrite a request in place:
no `max_tokens` when the client sent none (`/v1/messages/count_tokens`), and a legacy
`/v1/complete` body (recorded as `max_tokens_key`) goes back as a prompt.

Choices where the two APIs differ:
- OpenAI's `content_filter` finish becomes `refusal` (what Anthropic reports when its own filter
  stops a reply); an unknown stop reason becomes `end_turn`; a reply that made tool calls but
  ended "normally" (some servers say `stop`) says `tool_use`, or Claude Code would not run them.
- Thinking from a server without signatures is not sent back to Anthropic (it rejects thinking
  history without a valid signature); a streamed thinking block gets no invented signature.
- A tool result whose text starts with "Error: " (how an OpenAI client reports a failed tool) is
  sent with `is_error: true` and the prefix removed.
- `reasoning_effort` becomes a thinking budget (`THINKING_BUDGETS`), clamped below `max_tokens`;
  with thinking on, a `temperature` other than 1 or a `top_p` below 0.95 is dropped, since
  Anthropic refuses them.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .common import as_dict, as_int, dump_json, parse_arguments, sniff_image_type
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
    Usage,
)

DIALECT = "anthropic"

DEFAULT_MAX_TOKENS = 8192  # Anthropic requires max_tokens; every current Claude model allows this
MIN_THINKING_BUDGET = 1024
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}

STOP_REASONS = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
_STOP_FROM_NEUTRAL = {"content_filter": "refusal", "length": "max_tokens"}

_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def stop_reason(neutral: str | None, made_tool_calls: bool = False) -> str:
    """The Anthropic stop reason for a neutral one (see the module docstring)."""
    if made_tool_calls and neutral in (None, "end_turn"):
        return "tool_use"
    if neutral in STOP_REASONS:
        return neutral
    return _STOP_FROM_NEUTRAL.get(neutral or "", "end_turn")


def message_id(source_id: str | None, nonce: str | None = None) -> str:
    """A `msg_` id; an id we made from a `msg_` id earlier comes back unchanged."""
    if not source_id:
        return "msg_" + (nonce or uuid.uuid4().hex[:24])
    if source_id.startswith("msg_"):
        return source_id
    if source_id.startswith("chatcmpl-msg_"):
        return source_id[len("chatcmpl-") :]
    return "msg_" + source_id


def tool_use_id(source_id: str | None, fallback: str) -> str:
    """Anthropic accepts tool ids matching ^[A-Za-z0-9_-]+$; other servers are laxer
    (Kimi: `functions.get_weather:0`). The same id always maps the same way."""
    if not source_id:
        return fallback
    if source_id.isascii() and source_id.replace("_", "").replace("-", "").isalnum():
        return source_id
    return _BAD_ID_CHARS.sub("_", source_id)


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's `input` object; arguments that are not a JSON object are kept as text."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        value = parse_arguments(arguments)
        return value if isinstance(value, dict) else {"_raw_arguments": arguments}
    return {"_raw_arguments": dump_json(arguments)}


def render_usage(u: Usage) -> dict[str, int]:
    return {
        "input_tokens": u.input or 0,
        "cache_creation_input_tokens": u.cache_write or 0,
        "cache_read_input_tokens": u.cache_read or 0,
        "output_tokens": u.output or 0,
    }


def _keep_raw(d: dict[str, Any], raw: Any) -> dict[str, Any]:
    """Fields the Anthropic parser kept in `raw` and `d` does not set (same dialect only)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key not in d:
                d[key] = value
    return d


def _image(b: Block) -> dict[str, Any] | None:
    if b.data is not None:
        media_type = b.media_type or sniff_image_type(b.data) or "image/png"
        source = {"type": "base64", "media_type": media_type, "data": b.data}
    elif b.url is not None:
        source = {"type": "url", "url": b.url}
    else:
        return None
    return {"type": "image", "source": source}


_FILE_DATA = re.compile(r"data:([^;,]*);base64,", re.IGNORECASE)


def _other(b: Block, same: bool) -> dict[str, Any] | None:
    """A block the neutral model keeps as "other": its Anthropic form, when there is one."""
    raw = b.raw
    if same:
        return raw if isinstance(raw, dict) else None
    if b.text:  # an OpenAI refusal: the words are the reply
        return {"type": "text", "text": b.text}
    if isinstance(raw, dict) and raw.get("type") == "file":  # OpenAI file part with inline data
        f = as_dict(raw.get("file"))
        data = f.get("file_data")
        m = _FILE_DATA.match(data) if isinstance(data, str) else None
        if m and isinstance(data, str):
            doc: dict[str, Any] = {
                "type": "document",
                "source": {
                    "type": "base64",
                    "media_type": m.group(1) or "application/pdf",
                    "data": data[m.end() :],
                },
            }
            if isinstance(f.get("filename"), str):
                doc["title"] = f["filename"]
            return doc
    return None


def _kind(b: Block) -> str:
    raw = b.raw
    if b.type == OTHER and isinstance(raw, dict) and isinstance(raw.get("type"), str):
        return raw["type"]
    return b.type


class _Renderer:
    """One request's rendering: the running notes and the tool ids made up along the way."""

    def __init__(self, req: Request, dropped: list[str]) -> None:
        self.same = req.dialect == DIALECT
        self.dropped = dropped
        self.ids_by_name: dict[str, str] = {}  # legacy function calls carry no id

    def drop(self, what: str) -> None:
        self.dropped.append(what)

    def block(self, b: Block, path: str) -> dict[str, Any] | None:
        kind = b.type
        d: dict[str, Any] | None
        if kind == TEXT:
            if not b.text:  # Anthropic rejects empty text blocks
                return None
            d = {"type": "text", "text": b.text}
        elif kind == IMAGE:
            d = _image(b)
            if d is None:
                if self.same and isinstance(b.raw, dict):
                    return b.raw
                self.drop(f"{path} (image without data or url)")
                return None
        elif kind == TOOL_CALL:
            d = self.tool_use(b, path)
        elif kind == TOOL_RESULT:
            d = self.tool_result(b, path)
        elif kind == THINKING:
            if not b.signature:
                if b.text:
                    self.drop(f"{path} (thinking without signature)")
                return None
            d = {"type": "thinking", "thinking": b.text, "signature": b.signature}
        else:
            d = _other(b, self.same)
            if d is None:
                self.drop(f"{path} ({_kind(b)})")
            return d
        return _keep_raw(d, b.raw) if self.same else d

    def tool_use(self, b: Block, path: str) -> dict[str, Any]:
        name = b.name or ""
        tid = tool_use_id(b.id, f"toolu_{_slug(path)}")
        self.ids_by_name[name] = tid
        return {"type": "tool_use", "id": tid, "name": name, "input": tool_input(b.arguments)}

    def tool_result(self, b: Block, path: str) -> dict[str, Any]:
        tid = tool_use_id(b.id, self.ids_by_name.get(b.name or "", f"toolu_{_slug(path)}"))
        d: dict[str, Any] = {"type": "tool_result", "tool_use_id": tid}
        is_error = b.is_error
        if b.content is not None:
            parts = []
            for j, c in enumerate(b.content):
                part = self.block(c, f"{path}.content[{j}]")
                if part is not None:
                    parts.append(part)
            if not self.same and parts and parts[0].get("type") == "text":
                text = parts[0]["text"]
                if text.startswith("Error: "):
                    is_error = True
                    parts[0] = {**parts[0], "text": text[7:]}
                    if not parts[0]["text"]:
                        parts.pop(0)
            if parts:
                d["content"] = parts
        else:
            text = b.text
            if not self.same and text.startswith("Error: "):
                is_error, text = True, text[7:]
            if text:
                d["content"] = text
        if is_error:
            d["is_error"] = True
        return d

    def blocks(self, blocks: list[Block], path: str) -> list[dict[str, Any]]:
        out = []
        for j, b in enumerate(blocks):
            d = self.block(b, f"{path}[{j}]")
            if d is not None:
                out.append(d)
        return out


def _slug(path: str) -> str:
    return "_".join(re.findall(r"\d+", path))


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and parts[0].get("type") == "text" and len(parts[0]) == 2:
        return parts[0]["text"]
    return parts


def render_request(
    req: Request,
    dropped: list[str] | None = None,
    *,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """An Anthropic Messages request body. What cannot be carried is appended to `dropped`.

    The body shares leaf objects (tool schemas, tool inputs) with `req`; copy before mutating.
    """
    r = _Renderer(req, dropped if dropped is not None else [])
    same = r.same
    params = req.params
    if same and params.get("max_tokens_key") == "max_tokens_to_sample":
        return _complete_request(req, r)

    system = r.blocks(req.system, "system")
    messages: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] | None = None  # tool results waiting for their user message

    def flush() -> None:
        nonlocal pending
        if pending:
            messages.append({"role": "user", "content": pending})
        pending = None

    for i, m in enumerate(req.messages):
        path = f"messages[{i}].content"
        if m.role == "system":  # no system turns mid-conversation: fold into the system prompt
            system.extend(r.blocks(m.blocks, path))
            continue
        content = r.blocks(m.blocks, path)
        if m.role == "tool":
            pending = (pending or []) + content
            continue
        if m.role == "assistant":
            flush()
            if not content:
                if m.blocks:
                    r.drop(f"messages[{i}] (assistant message with nothing to send)")
                continue
            msg: dict[str, Any] = {"role": "assistant", "content": _content(content)}
        else:
            if pending:
                content = pending + content
                pending = None
            if not content:
                r.drop(f"messages[{i}] (empty user message)")
                continue
            msg = {"role": "user", "content": _content(content)}
        if same and isinstance(m.raw, dict):
            _keep_raw(msg, m.raw)
        messages.append(msg)
    flush()

    body: dict[str, Any] = {"model": req.model}
    max_tokens = as_int(params.get("max_tokens"))
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    elif not same:  # a client's own request without one is for /v1/messages/count_tokens
        body["max_tokens"] = default_max_tokens
    if system:
        body["system"] = _content(system)
    body["messages"] = messages

    tools = _tools(req, r)
    if tools:
        body["tools"] = tools
        choice = _tool_choice(params.get("tool_choice"), r)
        if params.get("parallel_tool_calls") is False:
            choice = choice or {"type": "auto"}
            if choice.get("type") != "none":
                choice = {**choice, "disable_parallel_tool_use": True}
        if choice is not None:
            body["tool_choice"] = choice

    _sampling(params, body)
    if not same and isinstance(body.get("temperature"), int | float) and body["temperature"] > 1:
        body["temperature"] = 1.0
        r.drop("temperature (above 1, clamped to 1)")

    if same:
        if params.get("metadata") is not None:
            body["metadata"] = params["metadata"]
    else:
        if isinstance(params.get("user"), str):
            body["metadata"] = {"user_id": params["user"]}
        if params.get("metadata") is not None:
            r.drop("metadata")

    thinking = params.get("thinking")
    if thinking is None and not same:
        thinking = _thinking(params.get("reasoning_effort"), max_tokens, body, r)
    if thinking is not None:
        body["thinking"] = thinking
        if not same and as_dict(thinking).get("type") == "enabled":
            t = body.get("temperature")
            if t is not None and t != 1:
                del body["temperature"]
                r.drop("temperature (Anthropic requires 1 with thinking)")
            p = body.get("top_p")
            if p is not None and p < 0.95:
                del body["top_p"]
                r.drop("top_p (Anthropic requires >= 0.95 with thinking)")

    if req.stream:
        body["stream"] = True
    if same:
        for key, value in req.extra.items():
            body.setdefault(key, value)
    return body


def _sampling(params: dict[str, Any], body: dict[str, Any]) -> None:
    stop = params.get("stop")
    if isinstance(stop, list) and stop:
        body["stop_sequences"] = stop
    for name in ("temperature", "top_p", "top_k"):
        if params.get(name) is not None:
            body[name] = params[name]


def _complete_request(req: Request, r: _Renderer) -> dict[str, Any]:
    """A legacy `/v1/complete` body: the turns written back into one "\\n\\nHuman: ..." prompt."""
    prompt = [b.text for b in req.system if b.type == TEXT]
    for i, m in enumerate(req.messages):
        turn = {"user": "Human", "assistant": "Assistant"}.get(m.role)
        if turn is None:
            r.drop(f"messages[{i}] ({m.role} turn)")
            continue
        for j, b in enumerate(m.blocks):
            if b.type != TEXT:
                r.drop(f"messages[{i}].content[{j}] ({_kind(b)})")
        prompt.append(f"\n\n{turn}: {m.text}")
    if not req.messages or req.messages[-1].role != "assistant":
        prompt.append("\n\nAssistant:")  # the turn the model completes
    params = req.params
    body: dict[str, Any] = {"model": req.model, "prompt": "".join(prompt)}
    if params.get("max_tokens") is not None:
        body["max_tokens_to_sample"] = params["max_tokens"]
    _sampling(params, body)
    if params.get("metadata") is not None:
        body["metadata"] = params["metadata"]
    if req.stream:
        body["stream"] = True
    for key, value in req.extra.items():
        body.setdefault(key, value)
    return body


def _thinking(
    effort: Any, max_tokens: int | None, body: dict[str, Any], r: _Renderer
) -> dict[str, Any] | None:
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        if effort not in (None, "none"):
            r.drop(f"reasoning_effort ({effort!r} has no thinking budget)")
        return None
    if max_tokens is None:
        body["max_tokens"] = body["max_tokens"] + budget  # room for the answer after thinking
    else:
        # OpenAI's limit counts reasoning too, as Anthropic's does: keep half for the answer.
        budget = min(budget, max(max_tokens // 2, MIN_THINKING_BUDGET))
        if budget >= max_tokens:
            r.drop("reasoning_effort (max_tokens too small for a thinking budget)")
            return None
    return {"type": "enabled", "budget_tokens": budget}


def _tools(req: Request, r: _Renderer) -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(req.tools):
        raw = t.raw if isinstance(t.raw, dict) else None
        if r.same:
            if raw is not None and raw.get("type") not in (None, "custom"):
                out.append(raw)  # a server tool, as it came
                continue
        elif raw is not None and raw.get("type") not in (None, "function"):
            r.drop(f"tools[{i}] ({raw.get('type')})")
            continue
        d: dict[str, Any] = {"name": t.name}
        if t.description:
            d["description"] = t.description
        d["input_schema"] = t.parameters if t.parameters is not None else _EMPTY_SCHEMA
        out.append(_keep_raw(d, raw) if r.same else d)
    return out


def _tool_choice(choice: Any, r: _Renderer) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "any", "none"):
        return {"type": choice}
    if isinstance(choice, dict):
        if "name" in choice and len(choice) == 1:
            return {"type": "tool", "name": choice["name"]}
        if r.same:
            return choice
    r.drop("tool_choice")
    return None


# --- responses ---------------------------------------------------------------------------


def render_response(
    resp: Response, *, model: str | None = None, dropped: list[str] | None = None
) -> dict[str, Any]:
    """An Anthropic Messages response body (a message; errors go through `errors.error_object`)."""
    same = resp.dialect == DIALECT
    notes = dropped if dropped is not None else []
    content: list[dict[str, Any]] = []
    made_calls = False
    for j, b in enumerate(resp.blocks):
        d: dict[str, Any] | None
        if b.type == TEXT:
            if not b.text:
                continue
            d = {"type": "text", "text": b.text}
        elif b.type == THINKING:
            d = {"type": "thinking", "thinking": b.text, "signature": b.signature or ""}
        elif b.type == TOOL_CALL:
            made_calls = True
            d = {
                "type": "tool_use",
                "id": tool_use_id(b.id, f"toolu_{j:02d}_{uuid.uuid4().hex[:16]}"),
                "name": b.name or "",
                "input": tool_input(b.arguments),
            }
        else:
            d = _other(b, same) if b.type == OTHER else None
            if d is None:
                notes.append(f"content[{j}] ({_kind(b)})")
            else:
                content.append(d)
            continue
        content.append(_keep_raw(d, b.raw) if same else d)  # text keeps its `citations`
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model or resp.model or "",
        "content": content,
        "stop_reason": stop_reason(resp.stop_reason, made_calls),
        "stop_sequence": resp.extra.get("stop_sequence") if same else None,
        "usage": render_usage(resp.usage),
    }


# --- streams -----------------------------------------------------------------------------


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {dump_json(data)}\n\n"


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _ToolState:
    __slots__ = ("id", "name", "index", "pending")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.index: int | None = None  # the content block, once opened
        self.pending: list[str] = []  # argument fragments that came before the name


class AnthropicStreamWriter:
    """Neutral stream calls in, Anthropic SSE text out (appended to `out`).

    Exactly one `message_start` (at the first call), content blocks opened and closed as the
    kind of delta changes (thinking, text, one tool_use block per tool call), then on `end()`
    one `message_delta` carrying the stop reason and the final usage (input, cache read and
    write, output: how the current API reports it) and `message_stop`. `message_start` carries
    the input tokens known then: the upstream's, else `input_tokens` (an estimate, or 0).
    """

    def __init__(
        self, *, model: str | None = None, input_tokens: int = 0, nonce: str | None = None
    ) -> None:
        self.out: list[str] = []
        self.model = model
        self.nonce = nonce or uuid.uuid4().hex[:24]
        self.usage = Usage()
        self.stop: str | None = None
        self.stop_sequence: str | None = None
        self.started = False
        self.closed = False
        self._input_estimate = input_tokens
        self._index = -1
        self._open: Any = None  # "text", "thinking", a tool key, or None
        self._tools: dict[Any, _ToolState] = {}
        self._made_calls = False
        # Text and thinking that arrive while a tool call's block is open wait for it to close:
        # closing it early would leave its remaining argument fragments with no open block.
        # Nothing acts on a tool call before the message ends, so only the text waits.
        self._deferred: list[tuple[str, str]] = []

    def start(self, id: str | None = None, model: str | None = None, usage: Usage | None = None):
        if self.started or self.closed:
            return
        self.started = True
        if usage is not None:
            self.usage.merge(usage)
        u = render_usage(self.usage)
        if self.usage.input is None:
            u["input_tokens"] = self._input_estimate
        message: dict[str, Any] = {
            "id": message_id(id, self.nonce),
            "type": "message",
            "role": "assistant",
            "model": self.model or model or "",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": u,
        }
        self.out.append(_event("message_start", {"type": "message_start", "message": message}))

    def _close(self) -> None:
        if self._open is not None:
            self.out.append(
                'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
                + str(self._index)
                + "}\n\n"
            )
            self._open = None

    def _open_block(self, key: Any, block: dict[str, Any]) -> int:
        self.start()
        self._close()
        self._index += 1
        self._open = key
        self.out.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )
        return self._index

    def _delta(self, index: int, delta: str) -> None:
        self.out.append(
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(index)
            + ',"delta":'
            + delta
            + "}\n\n"
        )

    def _tool_open(self) -> bool:
        return self._open is not None and self._open not in ("text", "thinking")

    def _close_tool(self) -> None:
        """Close the open tool block and send the text that waited for it."""
        self._close()
        deferred, self._deferred = self._deferred, []
        for kind, text in deferred:
            if kind == "text":
                self.text(text)
            else:
                self.thinking(text)

    def thinking(self, text: str) -> None:
        if not text or self.closed:
            return
        if self._tool_open():
            self._deferred.append(("thinking", text))
            return
        if self._open != "thinking":
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        self._delta(self._index, '{"type":"thinking_delta","thinking":' + _dumps(text) + "}")

    def signature(self, signature: str) -> None:
        if signature and self._open == "thinking" and not self.closed:
            self._delta(
                self._index, '{"type":"signature_delta","signature":' + _dumps(signature) + "}"
            )

    def text(self, text: str) -> None:
        if not text or self.closed:
            return
        if self._tool_open():
            self._deferred.append(("text", text))
            return
        if self._open != "text":
            self._open_block("text", {"type": "text", "text": ""})
        self._delta(self._index, '{"type":"text_delta","text":' + _dumps(text) + "}")

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
        if st.index is None:
            if arguments:
                st.pending.append(arguments)
            if st.name:
                self._open_tool(key, st)
            return
        if arguments:
            # Also when the block is closed (a server interleaving two calls' arguments):
            # Anthropic blocks are sequential, and the fragment is better late than lost.
            self._input_delta(st.index, arguments)

    def _open_tool(self, key: Any, st: _ToolState) -> None:
        fallback = f"toolu_{self.nonce}_{len(self._tools):02d}"
        block = {
            "type": "tool_use",
            "id": tool_use_id(st.id, fallback),
            "name": st.name or "",
            "input": {},
        }
        if self._tool_open():
            self._close_tool()
        st.index = self._open_block(key, block)
        self._made_calls = True
        for fragment in st.pending:
            self._input_delta(st.index, fragment)
        st.pending = []

    def _input_delta(self, index: int, fragment: str) -> None:
        self._delta(index, '{"type":"input_json_delta","partial_json":' + _dumps(fragment) + "}")

    def set_stop(self, reason: str | None, stop_sequence: str | None = None) -> None:
        self.stop = reason
        self.stop_sequence = stop_sequence

    def add_usage(self, usage: Usage) -> None:
        self.usage.merge(usage)

    def end(self) -> None:
        """Close the open block and end the message with its stop reason and usage."""
        if self.closed:
            return
        self.start()
        for key, st in self._tools.items():
            if st.index is None:  # arguments came, a name never did
                self._open_tool(key, st)
        if self._tool_open():
            self._close_tool()
        self._close()
        u = self.usage
        usage: dict[str, int] = {}
        if u.input is not None:
            usage["input_tokens"] = u.input
        if u.cache_write is not None:
            usage["cache_creation_input_tokens"] = u.cache_write
        if u.cache_read is not None:
            usage["cache_read_input_tokens"] = u.cache_read
        usage["output_tokens"] = u.output or 0
        delta = {
            "stop_reason": stop_reason(self.stop, self._made_calls),
            "stop_sequence": self.stop_sequence,
        }
        self.out.append(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        self.out.append('event: message_stop\ndata: {"type":"message_stop"}\n\n')
        self.closed = True

    def error(self, status: int, message: str, code: str | None = None) -> None:
        """A final `error` event, as Anthropic sends one mid-stream (its type follows from the
        status; Anthropic's envelope has no place for a `code`)."""
        if self.closed:
            return
        self.out.append(_event("error", error_object(DIALECT, status, message)))
        self.closed = True

    def take(self) -> bytes:
        """The text written since the last call, as bytes."""
        if not self.out:
            return b""
        data = "".join(self.out).encode()
        self.out.clear()
        return data
