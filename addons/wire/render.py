"""One entry point for writing the neutral model back out in a client's own dialect.

A rule that rewrites a request or replaces a response works on the neutral `Request` /
`Response`; these functions turn the result back into the body (or stream) the client's dialect
expects. Dialects with a renderer: anthropic, openai_chat, ollama. Gemini and OpenAI Responses
have none yet: every function here returns None for them (and for unknown dialects), so the
caller forwards the original instead.

Errors are not rendered here: `errors.error_object` / `errors.stream_error_event` write them
with the status the caller knows.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import render_anthropic, render_ollama, render_openai
from .model import OTHER, TEXT, THINKING, TOOL_CALL, Request, Response, Usage
from .render_anthropic import AnthropicStreamWriter
from .render_ollama import OllamaStreamWriter
from .render_openai import OpenAIStreamWriter, arguments_text

RENDERERS: dict[str, ModuleType] = {
    "anthropic": render_anthropic,
    "openai_chat": render_openai,
    "ollama": render_ollama,
}
StreamWriter = AnthropicStreamWriter | OpenAIStreamWriter | OllamaStreamWriter
WRITERS: dict[str, type[StreamWriter]] = {
    "anthropic": AnthropicStreamWriter,
    "openai_chat": OpenAIStreamWriter,
    "ollama": OllamaStreamWriter,
}


def render_request(
    dialect: str, req: Request, *, path: str | None = None, dropped: list[str] | None = None
) -> dict[str, Any] | None:
    """The request body for `dialect`, or None when it has no renderer.

    `path` is the request path; only Ollama needs it (`/api/generate` and the embedding
    endpoints take a prompt, not messages). What the dialect cannot carry is added to `dropped`.
    """
    module = RENDERERS.get(dialect)
    if module is None:
        return None
    if module is render_ollama:
        return render_ollama.render_request(req, dropped, path=path)
    return module.render_request(req, dropped)


def render_response(
    dialect: str,
    resp: Response,
    *,
    model: str | None = None,
    path: str | None = None,
    dropped: list[str] | None = None,
) -> dict[str, Any] | None:
    """A whole (non-streamed) response body for `dialect`, or None when it has no renderer."""
    module = RENDERERS.get(dialect)
    if module is None:
        return None
    if module is render_ollama:
        return render_ollama.render_response(resp, model=model, path=path, dropped=dropped)
    return module.render_response(resp, model=model, dropped=dropped)


def stream_writer(dialect: str, **kw: Any) -> StreamWriter | None:
    """A fresh stream writer for `dialect` (keyword arguments go to its constructor), or None."""
    writer = WRITERS.get(dialect)
    return writer(**kw) if writer is not None else None


def write_response(writer: StreamWriter, resp: Response, dropped: list[str] | None = None) -> None:
    """Drive `writer` through a whole response: start, the blocks in order, the stop reason,
    the usage, and `end()` (or `error()` for a response that is an error)."""
    notes = dropped if dropped is not None else []
    u = resp.usage
    writer.start(
        id=resp.id,
        model=resp.model,
        usage=Usage(input=u.input, cache_read=u.cache_read, cache_write=u.cache_write),
    )
    for j, b in enumerate(resp.blocks):
        if b.type == THINKING:
            writer.thinking(b.text)
            if b.signature:
                writer.signature(b.signature)
        elif b.type == TEXT:
            writer.text(b.text)
        elif b.type == TOOL_CALL:
            writer.tool(j, id=b.id, name=b.name, arguments=arguments_text(b.arguments))
        elif b.type == OTHER and b.text and isinstance(b.raw, dict) and "refusal" in b.raw:
            writer.text(b.text)
        else:
            notes.append(f"content[{j}] ({b.type})")
    if resp.error is not None:
        writer.error(500, resp.error)
        return
    stop_sequence = resp.extra.get("stop_sequence") if resp.dialect == "anthropic" else None
    writer.set_stop(resp.stop_reason, stop_sequence if isinstance(stop_sequence, str) else None)
    writer.add_usage(u)
    writer.end()


def render_stream(
    dialect: str,
    resp: Response,
    *,
    model: str | None = None,
    path: str | None = None,
    dropped: list[str] | None = None,
) -> bytes | None:
    """A whole neutral response written as `dialect`'s stream (SSE or NDJSON), for replaying a
    corrected or repaired response to a client that asked to stream; None with no writer."""
    writer: StreamWriter | None
    if dialect == "ollama":
        created = resp.extra.get("created_at") if resp.dialect == "ollama" else None
        writer = OllamaStreamWriter(
            model=model,
            created_at=created if isinstance(created, str) else None,
            generate=render_ollama.endpoint(path) == "generate",
        )
        writer.extra.update(render_ollama.done_fields(resp))
    elif dialect == "openai_chat":
        created = resp.extra.get("created") if resp.dialect == "openai_chat" else None
        writer = OpenAIStreamWriter(
            model=model, created=created if isinstance(created, int) else None
        )
    else:
        writer = stream_writer(dialect, model=model)
    if writer is None:
        return None
    write_response(writer, resp, dropped)
    return writer.take()


__all__ = [
    "RENDERERS",
    "WRITERS",
    "StreamWriter",
    "render_request",
    "render_response",
    "render_stream",
    "stream_writer",
    "write_response",
]
