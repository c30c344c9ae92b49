"""Anthropic Messages ⇄ OpenAI Chat Completions: requests, responses, errors and streams.

Translation is parse-one, render-other: the dialect's parser (`anthropic`, `openai_chat`) builds
the neutral model and `render_anthropic` / `render_openai` write the other dialect. Streams are
translated event by event as chunks arrive, never buffered: a `StreamTranslator` reads each
source event into calls on a stream writer (`start`, `thinking`, `text`, `tool`, `set_stop`,
`add_usage`, `end`, `error`), which writes the target's events at once.

Everything with a counterpart maps (system, multi-part content, images, documents, tools and
tool_choice, tool calls and results, thinking, stop reasons, usage with cache tokens, sampling
parameters, stop sequences, user). What has none is in `DROPPED`, and each request translation
returns the list of what it left out of that request (`Translated.dropped`).

`count_tokens` is the estimate served on `/v1/messages/count_tokens` for a bridged model: it
errs high, since a count that is too low keeps Claude Code from compacting in time.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, NamedTuple

from . import anthropic, openai_chat
from .common import as_dict, as_int, as_list, as_str, dump_json, load_event
from .errors import ANTHROPIC_TYPES, OPENAI_TYPES, error_object
from .framing import SSEEvent, SSEParser
from .model import IMAGE, TEXT, THINKING, TOOL_CALL, TOOL_RESULT, Block, Request
from .render_anthropic import AnthropicStreamWriter
from .render_anthropic import render_request as render_anthropic_request
from .render_anthropic import render_response as render_anthropic_response
from .render_openai import OpenAIStreamWriter, reasoning_effort
from .render_openai import render_request as render_openai_request
from .render_openai import render_response as render_openai_response

ANTHROPIC = anthropic.DIALECT
OPENAI = openai_chat.DIALECT

# What has no counterpart, per direction: field -> what happens to it.
DROPPED: dict[tuple[str, str], dict[str, str]] = {
    (ANTHROPIC, OPENAI): {
        "cache_control": "dropped everywhere (system, messages, tools): OpenAI-compatible "
        "servers cache prompt prefixes by themselves, without breakpoints",
        "top_k": "dropped: not in the Chat Completions API (OpenAI rejects it)",
        "thinking.signature": "dropped, in history and as signature_delta: no reasoning "
        "signatures in Chat Completions",
        "redacted_thinking": "dropped: encrypted, only Anthropic can read it",
        "thinking {type: adaptive}": "no reasoning_effort sent: the server's default",
        "server tools": "dropped (web_search_*, web_fetch_*, code_execution_*, bash_*, "
        "text_editor_*, computer_*, memory_*, ...) with their server_tool_use and *_tool_result "
        "blocks: they run inside Anthropic",
        "document (url/file/content source)": "dropped; base64 documents become `file` parts, "
        "plain-text documents text parts",
        "search_result, container_upload blocks": "dropped",
        "citations": "dropped (the cited text is kept)",
        "tools[].input_examples, defer_loading, ...": "dropped: every tool field but name, "
        "description, input_schema and strict",
        "metadata (keys other than user_id)": "dropped; metadata.user_id becomes user",
        "container, mcp_servers, service_tier, context_management, output_config.format": "dropped"
        " (output_config.effort becomes reasoning_effort when thinking does not set one)",
        "x-anthropic-billing-header system block": "dropped: it changes every request and would "
        "defeat the upstream's prefix cache",
        "tool_result images": "moved to the user message after the tool messages (a tool message "
        "holds text only)",
        "tool_result is_error": 'carried as an "Error: " prefix on the tool message',
        "response stop_sequence, container, usage.server_tool_use, service_tier": "dropped",
        "usage.cache_creation_input_tokens": "added into prompt_tokens (no separate field)",
    },
    (OPENAI, ANTHROPIC): {
        "n, logprobs, top_logprobs, seed, logit_bias": "dropped",
        "frequency_penalty, presence_penalty": "dropped",
        "response_format, modalities, audio, prediction, store, service_tier": "dropped",
        "metadata, prompt_cache_key, prompt_cache_retention, safety_identifier": "dropped",
        "web_search_options, verbosity": "dropped",
        "stream_options": "not sent: honoured by the stream translator (usage chunk)",
        "tools[].function.strict and custom tools": "dropped",
        "messages[].name, image_url.detail": "dropped",
        "input_audio parts, file parts by file_id, assistant audio": "dropped; file parts with "
        "inline data become documents",
        "reasoning_content in history": "dropped: Anthropic accepts thinking history only with "
        "its own signature",
        "temperature > 1": "clamped to 1 (Anthropic's range is 0..1)",
        "temperature != 1, top_p < 0.95 with reasoning_effort": "dropped: Anthropic refuses them "
        "with thinking on",
        "system/developer messages after the first turn": "appended to the system prompt",
        "finish_reason stop after a stop sequence": "end_turn: OpenAI does not say which",
        "response logprobs, system_fingerprint, service_tier, choices[1:], "
        "completion_tokens_details": "dropped",
    },
}


class Translated(NamedTuple):
    body: dict[str, Any]
    dropped: list[str]  # what this request lost, as paths into the source body


# --- requests ----------------------------------------------------------------------------

_ANTHROPIC_BLOCK_KEYS = {
    TEXT: frozenset({"type", "text"}),
    IMAGE: frozenset({"type", "source"}),
    TOOL_CALL: frozenset({"type", "id", "name", "input"}),
    TOOL_RESULT: frozenset({"type", "tool_use_id", "content", "is_error"}),
    THINKING: frozenset({"type", "thinking", "signature"}),
}
_ANTHROPIC_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema", "strict"})
_ANTHROPIC_MAPPED_EXTRA = frozenset({"output_config"})
_OPENAI_PART_KEYS = {TEXT: frozenset({"type", "text"}), IMAGE: frozenset({"type", "image_url"})}
_OPENAI_MESSAGE_KEYS = frozenset(
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
_OPENAI_FUNCTION_KEYS = frozenset({"role", "name", "content"})
_MESSAGE_PATH = re.compile(r"^messages\[(\d+)\]")
_BILLING_HEADER = "x-anthropic-billing-header:"


def _leftover(raw: Any, known: frozenset[str], path: str, out: list[str]) -> None:
    if isinstance(raw, dict):
        for key in raw:
            if key not in known:
                out.append(f"{path}.{key}")


def _anthropic_block_notes(b: Block, path: str, out: list[str]) -> None:
    known = _ANTHROPIC_BLOCK_KEYS.get(b.type)
    if known is None:
        return
    _leftover(b.raw, known, path, out)
    if b.type == IMAGE:
        source = as_dict(as_dict(b.raw).get("source"))
        _leftover(source, frozenset({"type", "media_type", "data", "url"}), f"{path}.source", out)
    if b.type == TOOL_RESULT and b.content:
        for j, c in enumerate(b.content):
            _anthropic_block_notes(c, f"{path}.content[{j}]", out)


def anthropic_to_openai_request(
    body: dict[str, Any], *, target_model: str | None = None, strip_billing_header: bool = True
) -> Translated:
    """An Anthropic Messages request as an OpenAI Chat Completions request.

    A streaming request asks for `stream_options.include_usage`, so the final usage can be
    reported in Anthropic's `message_delta`.
    """
    return anthropic_request_to_openai(
        anthropic.parse_request(body),
        target_model=target_model,
        strip_billing_header=strip_billing_header,
    )


def anthropic_request_to_openai(
    req: Request, *, target_model: str | None = None, strip_billing_header: bool = True
) -> Translated:
    """A parsed Anthropic request (as rules left it) as an OpenAI Chat Completions body."""
    req = dataclasses.replace(req, params=dict(req.params))  # the caller's stays as it was
    dropped: list[str] = []
    first = req.system[0] if req.system else None
    if strip_billing_header and first and first.type == TEXT:
        if first.text.startswith(_BILLING_HEADER):
            req.system = req.system[1:]
            dropped.append("system[0] (x-anthropic-billing-header)")
    skipped = 1 if dropped else 0
    for j, b in enumerate(req.system):
        _anthropic_block_notes(b, f"system[{j + skipped}]", dropped)
    for i, m in enumerate(req.messages):
        _leftover(m.raw, frozenset({"role", "content"}), f"messages[{i}]", dropped)
        for j, b in enumerate(m.blocks):
            _anthropic_block_notes(b, f"messages[{i}].content[{j}]", dropped)
    for i, t in enumerate(req.tools):
        raw = t.raw
        if isinstance(raw, dict) and raw.get("type") in (None, "custom"):
            _leftover(raw, _ANTHROPIC_TOOL_KEYS, f"tools[{i}]", dropped)
    config = as_dict(req.extra.get("output_config"))
    effort = config.get("effort")
    if isinstance(effort, str) and reasoning_effort(req.params.get("thinking")) is None:
        req.params["reasoning_effort"] = "high" if effort == "max" else effort
    _leftover(config, frozenset({"effort"}), "output_config", dropped)
    for key in req.extra:
        if key not in _ANTHROPIC_MAPPED_EXTRA:
            dropped.append(key)
    if target_model is not None:
        req.model = target_model
    out = render_openai_request(req, dropped)
    return Translated(out, dropped)


def openai_to_anthropic_request(
    body: dict[str, Any],
    *,
    target_model: str | None = None,
    default_max_tokens: int | None = None,
) -> Translated:
    """An OpenAI Chat Completions request as an Anthropic Messages request.

    Anthropic requires `max_tokens`: without one, `default_max_tokens` (8192) is sent, plus the
    thinking budget when `reasoning_effort` turns thinking on.
    """
    req = openai_chat.parse_request(body)
    offset = len(as_list(body.get("messages"))) - len(req.messages)  # leading system messages
    return openai_request_to_anthropic(
        req, target_model=target_model, default_max_tokens=default_max_tokens, offset=offset
    )


def openai_request_to_anthropic(
    req: Request,
    *,
    target_model: str | None = None,
    default_max_tokens: int | None = None,
    offset: int = 0,
) -> Translated:
    """A parsed OpenAI Chat request (as rules left it) as an Anthropic Messages body; `offset`
    is the number of leading system messages, for the paths in the dropped list."""
    req = dataclasses.replace(req)  # the caller's stays as it was
    dropped: list[str] = []
    for i, m in enumerate(req.messages):
        path = f"messages[{i + offset}]"
        if isinstance(m.raw, dict):
            known = (
                _OPENAI_FUNCTION_KEYS if m.raw.get("role") == "function" else _OPENAI_MESSAGE_KEYS
            )
            _leftover(m.raw, known, path, dropped)
        for j, b in enumerate(m.blocks):
            _openai_block_notes(b, f"{path}.content[{j}]", dropped)
    for i, t in enumerate(req.tools):
        raw = t.raw
        if isinstance(raw, dict) and isinstance(raw.get("function"), dict):
            _leftover(raw, frozenset({"type", "function"}), f"tools[{i}]", dropped)
            _leftover(
                raw["function"],
                frozenset({"name", "description", "parameters"}),
                f"tools[{i}].function",
                dropped,
            )
    for key in req.extra:
        dropped.append(key)
    if target_model is not None:
        req.model = target_model
    notes: list[str] = []
    if default_max_tokens is None:
        out = render_anthropic_request(req, notes)
    else:
        out = render_anthropic_request(req, notes, default_max_tokens=default_max_tokens)
    if offset:  # the renderer counts neutral messages, which start after the system ones
        notes = [_MESSAGE_PATH.sub(lambda m: f"messages[{int(m[1]) + offset}]", n) for n in notes]
    dropped.extend(notes)
    return Translated(out, dropped)


def _openai_block_notes(b: Block, path: str, out: list[str]) -> None:
    raw = b.raw
    if b.type == TOOL_RESULT:
        for j, c in enumerate(b.content or ()):
            _openai_block_notes(c, f"{path}.content[{j}]", out)
    elif not isinstance(raw, dict):
        return
    elif b.type == TOOL_CALL:
        if "function" in raw:
            _leftover(raw, frozenset({"id", "type", "function", "index"}), path, out)
            _leftover(
                as_dict(raw.get("function")),
                frozenset({"name", "arguments"}),
                path + ".function",
                out,
            )
    elif b.type == IMAGE:
        _leftover(raw, _OPENAI_PART_KEYS[IMAGE], path, out)
        _leftover(as_dict(raw.get("image_url")), frozenset({"url"}), path + ".image_url", out)
    elif b.type == TEXT:
        _leftover(raw, _OPENAI_PART_KEYS[TEXT], path, out)


# --- responses and errors ----------------------------------------------------------------

_STATUS_BY_TYPE: dict[str, int] = {
    **{kind: status for status, kind in OPENAI_TYPES.items() if status != 413},
    **{kind: status for status, kind in ANTHROPIC_TYPES.items()},
    "api_error": 500,
    "server_error": 500,
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "context_length_exceeded": 400,
    "invalid_api_key": 401,
    "model_not_found": 404,
}


def error_status(kind: Any, default: int = 500) -> int:
    """The HTTP status an error type (either dialect's) stands for."""
    if isinstance(kind, int) and 400 <= kind < 600:
        return kind
    return _STATUS_BY_TYPE.get(kind, default) if isinstance(kind, str) else default


def _error_parts(body: Any) -> tuple[str | None, str]:
    """(type, message) of an error body in either dialect (or a bare string)."""
    if isinstance(body, str):
        return None, body
    body = as_dict(body)
    err = body.get("error")
    if isinstance(err, str):
        return None, err
    err = as_dict(err)
    kind = as_str(err.get("type")) or as_str(err.get("code"))
    message = err.get("message")
    return kind, message if isinstance(message, str) and message else (kind or "upstream error")


def is_error_body(body: Any) -> bool:
    body = as_dict(body)
    return body.get("type") == "error" or (
        "error" in body and "choices" not in body and "content" not in body
    )


def translate_error(body: Any, *, target: str, status: int | None = None) -> dict[str, Any]:
    """An upstream error body (either dialect, or a message) in `target`'s error shape."""
    kind, message = _error_parts(body)
    if status is None:
        status = error_status(kind)
    body = error_object(target, status, message)
    if target == OPENAI and kind and kind != body["error"]["type"]:
        body["error"]["code"] = kind  # the upstream's own error type, for the client to see
    return body


def openai_to_anthropic_response(
    body: dict[str, Any], *, model: str | None = None, status: int | None = None
) -> dict[str, Any]:
    """An OpenAI `chat.completion` (or error) body as an Anthropic Messages response."""
    if is_error_body(body):
        return translate_error(body, target=ANTHROPIC, status=status)
    return render_anthropic_response(openai_chat.parse_response(body), model=model)


def anthropic_to_openai_response(
    body: dict[str, Any],
    *,
    model: str | None = None,
    status: int | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """An Anthropic Messages (or error) body as an OpenAI `chat.completion`."""
    if is_error_body(body):
        return translate_error(body, target=OPENAI, status=status)
    return render_openai_response(anthropic.parse_response(body), model=model, created=created)


# --- count_tokens --------------------------------------------------------------------------

BYTES_PER_TOKEN = 3.5  # Claude's tokenizer averages ~3.5-4 bytes of English or code per token
IMAGE_TOKENS = 1600  # Anthropic's cost of an image at its largest (~1.15 megapixels)
DOCUMENT_BYTES_PER_PAGE = 100_000  # base64 bytes per page of a typical PDF, for ~1600 tokens/page
MESSAGE_TOKENS = 4  # role and framing per message
TOOLS_TOKENS = 350  # the tool-use system prompt Anthropic adds when tools are offered


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _block_bytes(b: Block) -> tuple[int, int]:
    """(text bytes, fixed tokens) of one block."""
    kind = b.type
    if kind in (TEXT, THINKING):
        return _size(b.text), 0
    if kind == IMAGE:
        return 0, IMAGE_TOKENS
    if kind == TOOL_CALL:
        args = b.arguments if isinstance(b.arguments, str) else dump_json(b.arguments)
        return _size(args) + _size(b.name or ""), 0
    if kind == TOOL_RESULT:
        size, fixed = _size(b.text), 0
        for c in b.content or ():
            s, f = _block_bytes(c)
            size, fixed = size + s, fixed + f
        return size, fixed
    raw = as_dict(b.raw)
    data = as_dict(raw.get("source")).get("data")
    if raw.get("type") == "document" and isinstance(data, str):
        if as_dict(raw.get("source")).get("type") == "text":
            return _size(data), 0
        return 0, IMAGE_TOKENS * max(1, math.ceil(len(data) / DOCUMENT_BYTES_PER_PAGE))
    return (_size(dump_json(b.raw)) if b.raw is not None else _size(b.text)), 0


def count_tokens(request: Request | dict[str, Any]) -> int:
    """An estimate of a request's input tokens (an Anthropic body, or any parsed request).

    ceil(UTF-8 bytes / 3.5) over system, messages and tool definitions, plus 1600 per image
    (and per ~100 KB of base64 document), 4 per message and 350 when tools are offered. It
    counts somewhat high on purpose, and no tokenizer is needed.
    """
    req = anthropic.parse_request(request) if isinstance(request, dict) else request
    size = 0
    fixed = 0
    for b in req.system:
        s, f = _block_bytes(b)
        size, fixed = size + s, fixed + f
    for m in req.messages:
        fixed += MESSAGE_TOKENS
        for b in m.blocks:
            s, f = _block_bytes(b)
            size, fixed = size + s, fixed + f
    if req.tools:
        fixed += TOOLS_TOKENS
        for t in req.tools:
            size += _size(t.name) + _size(t.description)
            schema = t.parameters if t.parameters is not None else t.raw
            if schema is not None:
                size += _size(dump_json(schema))
    return math.ceil(size / BYTES_PER_TOKEN) + fixed


def count_tokens_response(body: dict[str, Any]) -> dict[str, int]:
    """The `/v1/messages/count_tokens` answer for a bridged model."""
    return {"input_tokens": count_tokens(body)}


# --- streams -----------------------------------------------------------------------------

INCOMPLETE = "upstream stream ended before the response was complete"


class StreamTranslator:
    """One streamed response, translated as it arrives.

    `feed(data)` takes decoded body bytes cut anywhere and returns the bytes to send the client
    now (b"" while an event is incomplete); `finish()` at the end of the body returns the
    closing bytes, or an error event in the target dialect if the source stream was cut before
    its end; `fail(message)` ends the stream with an error event after an upstream failure.
    Nothing is sent after the stream has ended. Source events that cannot be understood are
    skipped and counted in `malformed` or, when `strict`, end the stream with an error event
    (a client should not take a response with a hole in it for a whole one); what could not
    be carried is in `dropped`.
    """

    strict = False

    source = ""
    target = ""

    def __init__(self, writer: AnthropicStreamWriter | OpenAIStreamWriter) -> None:
        self.writer = writer
        self.dropped: list[str] = []
        self.malformed = 0
        self.stopped = False  # the source said why it stopped: complete, even if cut after
        self._framer = SSEParser()

    @property
    def done(self) -> bool:
        return self.writer.closed

    def feed(self, data: bytes) -> bytes:
        if self.writer.closed:
            return b""
        try:
            events = self._framer.feed(data)
        except Exception:
            self.malformed += 1
            return b""
        self._events(events)
        return self.writer.take()

    def finish(self) -> bytes:
        if not self.writer.closed:
            try:
                self._events(self._framer.finish())
            except Exception:
                self.malformed += 1
        if not self.writer.closed:
            if self.stopped:
                self.writer.end()
            else:
                self.writer.error(502, INCOMPLETE)
        return self.writer.take()

    def fail(self, message: str, status: int = 502) -> bytes:
        self.writer.error(status, message)
        return self.writer.take()

    def keepalive(self) -> bytes:
        """Bytes that keep an idle client connection open without changing the response (an
        Anthropic `ping` event, an SSE comment for OpenAI); the caller decides when."""
        if self.writer.closed:
            return b""
        if self.target == ANTHROPIC:
            return b'event: ping\ndata: {"type":"ping"}\n\n'
        return b": keepalive\n\n"

    def _events(self, events: list[SSEEvent]) -> None:
        for event in events:
            if self.writer.closed:
                return
            try:
                self._event(event)
            except Exception:
                self.malformed += 1
                if self.strict:
                    preview = event.data[:80]
                    self.writer.error(502, f"upstream sent a malformed stream event: {preview!r}")

    def _event(self, event: SSEEvent) -> None:
        raise NotImplementedError

    def _drop(self, what: str) -> None:
        if what not in self.dropped:
            self.dropped.append(what)


class OpenAIToAnthropicStream(StreamTranslator):
    """OpenAI `chat.completion.chunk` events in, Anthropic Messages events out.

    `input_tokens` is what `message_start` reports before the upstream's usage is known
    (OpenAI reports usage only at the end, and only with `stream_options.include_usage`); the
    final `message_delta` carries the upstream's input, cache-read and output tokens.
    """

    source = OPENAI
    target = ANTHROPIC

    def __init__(
        self, *, model: str | None = None, input_tokens: int = 0, nonce: str | None = None
    ) -> None:
        super().__init__(AnthropicStreamWriter(model=model, input_tokens=input_tokens, nonce=nonce))
        self._call_ids: dict[str, int] = {}
        self._calls = 0

    def _event(self, event: SSEEvent) -> None:
        w = self.writer
        data = event.data
        if data.strip() == "[DONE]":
            w.end()
            return
        chunk = load_event(data)
        if not isinstance(chunk, dict):
            raise ValueError("chunk is not an object")
        if chunk.get("error") and not chunk.get("choices"):
            kind, message = _error_parts(chunk)
            w.error(error_status(kind if kind else as_dict(chunk["error"]).get("code")), message)
            return
        w.start(as_str(chunk.get("id")), as_str(chunk.get("model")))
        for choice in as_list(chunk.get("choices")):
            if not isinstance(choice, dict):
                continue
            if choice.get("index", 0) != 0:
                self._drop("choices[1:]")
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta)
            finish = choice.get("finish_reason")
            if finish is not None:
                w.set_stop(openai_chat.stop_reason(finish))
                self.stopped = True
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            w.add_usage(openai_chat.parse_usage(usage))

    def _delta(self, delta: dict[str, Any]) -> None:
        w = self.writer
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str):
            w.thinking(reasoning)
        content = delta.get("content")
        if isinstance(content, str):
            w.text(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str):
            w.text(refusal)
        for tc in as_list(delta.get("tool_calls")):
            if isinstance(tc, dict):
                self._tool_call(tc)
        if isinstance(delta.get("function_call"), dict):
            self._tool_call({"index": 0, "function": delta["function_call"]})

    def _tool_call(self, tc: dict[str, Any]) -> None:
        call_id = as_str(tc.get("id"))
        index = as_int(tc.get("index"))
        if index is None:  # some servers omit the index: place the call by its id
            if call_id is not None and call_id not in self._call_ids:
                index = self._calls
            elif call_id is not None:
                index = self._call_ids[call_id]
            else:
                index = max(self._calls - 1, 0)
        if call_id is not None and call_id not in self._call_ids:
            self._call_ids[call_id] = index
        self._calls = max(self._calls, index + 1)
        fn = as_dict(tc.get("function"))
        args = fn.get("arguments")
        self.writer.tool(
            index,
            id=call_id,
            name=as_str(fn.get("name")),
            arguments=args if isinstance(args, str) else None,
        )


class AnthropicToOpenAIStream(StreamTranslator):
    """Anthropic Messages events in, OpenAI `chat.completion.chunk` events out.

    `include_usage` is the client's `stream_options.include_usage`: a usage chunk before
    `[DONE]`. Signatures, redacted thinking and server-tool blocks have no counterpart.
    """

    source = ANTHROPIC
    target = OPENAI

    def __init__(
        self,
        *,
        model: str | None = None,
        include_usage: bool = False,
        created: int | None = None,
        nonce: str | None = None,
    ) -> None:
        super().__init__(
            OpenAIStreamWriter(
                model=model, include_usage=include_usage, created=created, nonce=nonce
            )
        )
        self._kinds: dict[int, str] = {}
        self._start_input: dict[int, Any] = {}

    def _event(self, event: SSEEvent) -> None:
        ev = load_event(event.data)
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        w = self.writer
        kind = ev.get("type", event.event)
        if kind == "content_block_delta":
            index = ev["index"]
            delta = ev["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                w.text(delta["text"])
            elif dtype == "thinking_delta":
                w.thinking(delta["thinking"])
            elif dtype == "input_json_delta":
                if self._kinds.get(index) == "tool_use" and delta["partial_json"]:
                    self._start_input.pop(index, None)
                    w.tool(index, arguments=delta["partial_json"])
            elif dtype == "signature_delta":
                self._drop("thinking.signature")
            else:
                self._drop(f"content_block_delta ({dtype})")
        elif kind == "content_block_start":
            index = as_int(ev["index"])
            block = as_dict(ev["content_block"])
            btype = block.get("type")
            if index is None or not isinstance(btype, str):
                raise ValueError("bad content_block_start")
            self._kinds[index] = btype
            if btype == "text":
                w.text(as_str(block.get("text")) or "")
            elif btype == "thinking":
                w.thinking(as_str(block.get("thinking")) or "")
            elif btype == "tool_use":
                w.tool(index, id=as_str(block.get("id")), name=as_str(block.get("name")))
                # Sent at the block's end if no input_json_delta comes: OpenAI clients parse
                # the arguments, and "" is not JSON.
                self._start_input[index] = block.get("input") or {}
            else:
                self._drop(btype)
        elif kind == "content_block_stop":
            index = as_int(ev.get("index"))
            if index in self._start_input:  # the input came whole in the start event
                w.tool(index, arguments=dump_json(self._start_input.pop(index)))
        elif kind == "message_start":
            msg = as_dict(ev.get("message"))
            w.start(
                as_str(msg.get("id")),
                as_str(msg.get("model")),
                anthropic.parse_usage(msg.get("usage")),
            )
        elif kind == "message_delta":
            usage = ev.get("usage")
            if isinstance(usage, dict):
                w.add_usage(anthropic.parse_usage(usage))
            reason = as_dict(ev.get("delta")).get("stop_reason")
            if reason is not None:
                self.stopped = True
                w.set_stop(as_str(reason))
        elif kind == "message_stop":
            w.end()
        elif kind == "error":
            err_kind, message = _error_parts(ev)
            w.error(error_status(err_kind), message, err_kind)


def stream_translator(source: str, target: str, **options: Any) -> StreamTranslator:
    """A translator for one streamed response from `source`'s dialect to `target`'s.

    Options: for an Anthropic target `model`, `input_tokens`; for an OpenAI target `model`,
    `include_usage`, `created`. ValueError for a pair not supported.
    """
    if (source, target) == (OPENAI, ANTHROPIC):
        return OpenAIToAnthropicStream(**options)
    if (source, target) == (ANTHROPIC, OPENAI):
        return AnthropicToOpenAIStream(**options)
    raise ValueError(f"no stream translation from {source} to {target}")


__all__ = [
    "DROPPED",
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "StreamTranslator",
    "Translated",
    "anthropic_to_openai_request",
    "anthropic_to_openai_response",
    "count_tokens",
    "count_tokens_response",
    "error_status",
    "is_error_body",
    "openai_to_anthropic_request",
    "openai_to_anthropic_response",
    "stream_translator",
    "translate_error",
]
