"""Off the event loop: turn captured flows into rows, then hand them to the recorder.

The proxy's hooks only take snapshots (timestamps, header fields, body references). Everything
that costs CPU per request (JSON parsing, client identification, threading, usage extraction,
header scrubbing) runs here, in the recorder process, so that it never sits between a client
and its upstream. The recorder's writer thread runs `analyse` on each job as it gathers a batch
(`Recorder.analyse`), so analysis and writing share one thread and the records a job makes join
the batch being gathered. Jobs keep their order, so a flow's progress never overtakes its begin.

Failure policy: fails open. A job that raises is logged and counted; the row is still written
with whatever was known.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mitmproxy.net import encoding

from addons import clients, credentials, threads, wire
from addons.store.recorder import yield_cpu
from addons.store.schema import iso_at
from addons.wire.common import PrefixMemo
from addons.wire.decode import Decoder
from addons.wire.model import TEXT, TOOL_CALL, Message, Request, Response

log = logging.getLogger(__name__)

PREVIEW_CHARS = 2000
RESPONSE_TEXT_CHARS = 8000


@dataclass(slots=True)
class Begin:
    id: str
    started_at: float
    listener: str
    method: str
    scheme: str
    host: str
    path: str
    upstream: str
    upstream_url: str
    peer_ip: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes | None
    body_size: int | None = None  # when the body was streamed through instead of buffered
    upstream_body: bytes | None = None  # what the upstream got, when a rule or bridge changed it
    thread: threads.Thread | None = None  # likewise its conversation thread


@dataclass(slots=True)
class Chunks:
    """Raw chunks of a streamed response as they went by (still content-encoded), with the
    time each arrived; sent every PROGRESS_INTERVAL_S while the stream runs."""

    id: str
    items: list[tuple[float, bytes]]
    encoding: str | None  # the upstream's content-encoding
    dialect: str | None  # the upstream's dialect (the client's, unless bridged)


@dataclass(slots=True)
class StreamState:
    """A stream being analysed: decoded, framed and accumulated off the event loop."""

    decoder: Decoder
    accumulator: Any  # a wire StreamAccumulator, or None for a dialect we do not parse
    kept: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    first_output_at: float | None = None


@dataclass(slots=True)
class Finish:
    id: str
    ended_at: float
    status: int | None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes | None = None  # raw (still content-encoded) body of a buffered response
    streamed: bool = False  # the body went by in Chunks jobs
    request_end: float | None = None  # when the request was sent: the start of TTFT
    response_bytes: int | None = None
    error: str | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None
    overhead_ms: float | None = None
    verdict: str = "allow"
    verdicts: Sequence[dict[str, Any]] = ()  # every rule verdict, in order
    response_dialect: str | None = None  # bridged: the upstream's dialect, not the client's


@dataclass(slots=True)
class Context:
    """What the begin job learned, kept until the flow finishes."""

    row: dict[str, Any]
    dialect: str | None
    request: Request | None


@dataclass(slots=True)
class Counters:
    jobs: int = 0  # analysed: their records are in the batch being gathered
    errors: int = 0
    last_error: str | None = None
    summaries: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)


# What the recorder needs of each message, carried forward from the conversation's last request:
# an agent resends its history every turn and the parser hands back the same Message objects.
_FACTS = PrefixMemo()


def _facts(message: Message) -> tuple[int, str]:
    """The message's characters (for the estimate) and, for a user message, its text."""
    chars = 0
    for block in message.blocks:
        chars += len(block.text)
        if block.type == TOOL_CALL and block.arguments is not None:
            chars += len(str(block.arguments))
        for inner in block.content or ():
            chars += len(inner.text)
    if message.role != "user":
        return chars, ""
    text = "\n".join(b.text for b in message.blocks if b.type == TEXT and b.text) or "\n".join(
        inner.text for b in message.blocks for inner in (b.content or ()) if inner.text
    )
    return chars, text


def estimate_tokens(request: Request) -> int:
    """A chars/3.5 estimate of the prompt, shown until the upstream reports real usage."""
    facts = _FACTS.map(request.messages, _facts)
    parts = request.system_parts
    system = sum(map(len, parts)) + len(parts) - 1 if parts else 0  # len(request.system_text)
    return int((system + sum(chars for chars, _ in facts)) / 3.5)


def last_user_text(request: Request) -> str:
    facts = _FACTS.map(request.messages, _facts)
    return next((text for _, text in reversed(facts) if text), "")[:PREVIEW_CHARS]


def usage_fields(response: Response, estimate_output: bool = False) -> dict[str, Any]:
    usage = response.usage
    fields: dict[str, Any] = {
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_read_tokens": usage.cache_read,
        "cache_write_tokens": usage.cache_write,
    }
    if estimate_output and usage.output is None:
        chars = sum(
            len(b.text) + (len(b.arguments) if isinstance(b.arguments, str) else 0)
            for b in response.blocks
        )
        fields["output_tokens"] = chars // 4
    return {k: v for k, v in fields.items() if v is not None}


def response_fields(response: Response) -> dict[str, Any]:
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls]
    fields = usage_fields(response)
    fields.update(
        served_model=response.model,
        stop_reason=response.stop_reason,
        tool_calls=calls or None,
        response_text=response.text[:RESPONSE_TEXT_CHARS] or None,
    )
    if any(v is not None for v in usage_fields(response).values()):
        fields["tokens_estimated"] = 0
    return fields


def decode(body: bytes, headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
    """`body` without its content-encoding; as is when there is none or it does not decode."""
    enc = next((v for k, v in headers if k.lower() == b"content-encoding"), b"")
    if not enc or enc.lower() == b"identity":
        return body
    try:
        return encoding.decode(body, enc.decode("latin-1"))
    except ValueError:
        return body


def upstream_error_message(dialect: str | None, body: bytes) -> str | None:
    """The message of an error body in any of the known shapes, or its first bytes."""
    try:
        doc = json.loads(body)
    except ValueError:
        text = body[:300].decode("utf-8", "replace").strip()
        return text or None
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, str):
            return err
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
    return None


class Pipeline:
    def __init__(
        self,
        recorder: Any,
        *,
        threader: threads.SharedThreader | None = None,
        max_keep: int = 16 * 1024 * 1024,
    ) -> None:
        self.recorder = recorder
        self.streams: dict[str, StreamState] = {}
        self.max_keep = max_keep
        self.threader = threader or threads.SharedThreader()
        self.contexts: OrderedDict[str, Context] = OrderedDict()
        self.counters = Counters()

    def on_summary(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback(row)` (where `analyse` runs) for every finished exchange."""
        self.counters.summaries.append(callback)

    def analyse(self, job: Begin | Chunks | Finish) -> None:
        """Handle one job, never raising: a failure is logged and counted. Then offers the
        core to whatever else is waiting for it (see `yield_cpu`)."""
        try:
            self.handle(job)
        except Exception as e:  # noqa: BLE001 - observability fails open
            self.counters.errors += 1
            self.counters.last_error = f"{type(e).__name__}: {e}"
            log.exception("analysis of %s failed", type(job).__name__)
        finally:
            self.counters.jobs += 1
        yield_cpu()

    # -- the analysis itself (one thread at a time) -----------------------------------------

    def handle(self, job: Begin | Chunks | Finish) -> None:
        match job:
            case Begin():
                context = self.begin(job)
                self.contexts[job.id] = context
                while len(self.contexts) > 10000:
                    self.contexts.popitem(last=False)
                self.recorder.begin(dict(context.row), job.body)
            case Chunks():
                stream = self.stream_state(job)
                if stream.accumulator is not None and job.id in self.contexts:
                    fields = usage_fields(stream.accumulator.response, estimate_output=True)
                    self.recorder.progress(job.id, fields)
            case Finish():
                context = self.contexts.pop(job.id, None)
                stream = self.streams.pop(job.id, None)
                row = self.finish(job, context, stream)
                kept = bytes(stream.kept) if stream is not None and stream.kept else None
                self.recorder.finish(row, job.body and self.decoded(job), kept)
                if job.verdicts:
                    self.recorder.verdicts(
                        job.id, [dict(v, at=row["ended_at"]) for v in job.verdicts]
                    )
                for callback in self.counters.summaries:
                    try:
                        callback(row)
                    except Exception:  # noqa: BLE001
                        log.exception("summary callback failed")

    def stream_state(self, job: Chunks) -> StreamState:
        stream = self.streams.get(job.id)
        if stream is None:
            known = job.dialect in wire.DIALECTS
            accumulator = wire.stream_accumulator(job.dialect) if known else None
            stream = self.streams[job.id] = StreamState(
                Decoder.for_encoding(job.encoding), accumulator
            )
        items = job.items
        for i, (at, data) in enumerate(items):
            if stream.first_output_at is not None:
                # The time to first token is known: the rest of these chunks are framed as one
                # (an event a chunk at 200 events a second: a quarter of the analysis went on
                # feeding them one at a time).
                self._feed(stream, b"".join(stream.decoder.feed(d) for _, d in items[i:]))
                break
            if self._feed(stream, stream.decoder.feed(data)):
                stream.first_output_at = at
        return stream

    def _feed(self, stream: StreamState, plain: bytes) -> bool:
        """Keep and frame decoded stream bytes; True if the first output came in them."""
        if not plain:
            return False
        self._keep(stream, plain)
        return stream.accumulator is not None and stream.accumulator.feed(plain)

    def _keep(self, stream: StreamState, plain: bytes) -> None:
        """The raw stream is kept up to `max_keep` bytes: past it, a prefix of it."""
        if stream.truncated or len(stream.kept) + len(plain) > self.max_keep:
            stream.truncated = True
            stream.kept += plain[: max(0, self.max_keep - len(stream.kept))]
        else:
            stream.kept += plain

    def begin(self, job: Begin) -> Context:
        dialect = wire.detect(job.method, job.path)
        request = None
        if dialect and job.body:
            request = wire.parse_request(dialect, decode(job.body, job.headers), job.path)
        headers = credentials.scrub_headers(job.headers)
        system = request.system_parts if request else []
        tools = [t.name for t in request.tools] if request else []
        row: dict[str, Any] = {
            "id": job.id,
            "started_at": iso_at(job.started_at),
            "state": "pending",
            "listener": job.listener,
            "method": job.method,
            "scheme": job.scheme,
            "host": job.host,
            "path": credentials.scrub_path(job.path),
            "upstream": job.upstream,
            "upstream_url": job.upstream_url,
            "dialect": dialect,
            "client_ip": clients.client_ip(headers, job.peer_ip),
            "client_app": clients.identify_client(headers, system, tools),
            "user_agent": headers.get("user-agent"),
            "request_headers": headers,
            "verdict": "allow",
        }
        if job.upstream_body is not None:  # stored as a body by the recorder
            row["upstream_request_body_id"] = job.upstream_body
            row["upstream_request_bytes"] = len(job.upstream_body)
        if job.body_size is not None:
            row["request_bytes"] = job.body_size
            row["error"] = None
        if request is not None:
            thread = job.thread or self.threader.assign(headers, request)
            row.update(
                requested_model=request.model,
                is_stream=int(request.stream),
                session_id=thread.session_id,
                conversation_id=thread.conversation_id,
                parent_conversation_id=thread.parent_conversation_id,
                turn_index=thread.turn_index,
                tools_offered=tools or None,
                prompt_preview=last_user_text(request) or None,
                input_tokens=estimate_tokens(request),
                tokens_estimated=1,
            )
        return Context(row, dialect, request)

    def decoded(self, job: Finish) -> bytes | None:
        """The response body with its content-encoding removed (what the client's SDK reads)."""
        return None if job.body is None else decode(job.body, job.headers)

    def finish(
        self, job: Finish, context: Context | None, stream: StreamState | None = None
    ) -> dict[str, Any]:
        row = dict(context.row) if context else {"id": job.id, "verdict": job.verdict}
        dialect = job.response_dialect or (context.dialect if context else None)
        content_type = next(
            (v.decode("latin-1") for k, v in job.headers if k.lower() == b"content-type"), ""
        )
        row.update(
            ended_at=iso_at(job.ended_at),
            status=job.status,
            response_headers=credentials.scrub_headers(job.headers) if job.headers else None,
            latency_ms=job.latency_ms,
            ttft_ms=job.ttft_ms,
            overhead_ms=job.overhead_ms,
            response_bytes=job.response_bytes,
            verdict=job.verdict,
        )
        error = job.error
        response = None
        if stream is not None and stream.accumulator is not None:
            tail = stream.decoder.flush()
            if tail:
                self._keep(stream, tail)
                stream.accumulator.feed(tail)
            response = stream.accumulator.finish()
            row["stream_events"] = stream.accumulator.events
            if stream.first_output_at is not None and job.request_end:
                row["ttft_ms"] = (stream.first_output_at - job.request_end) * 1000
            if not error and stream.decoder.failed:
                error = f"could not decode the stream: {stream.decoder.failed}"
            if not error and not stream.accumulator.done and not response.error:
                error = "stream ended before its final event (upstream cut it short)"
            if not error and stream.accumulator.malformed:
                error = f"upstream sent {stream.accumulator.malformed} malformed stream event(s)"
        elif response is None and dialect and job.body:
            body = self.decoded(job)
            if wire.is_stream_response(content_type):  # held whole for post-flight rules
                response = wire.parse_stream(dialect, body) if body else None
            elif "json" in content_type:
                response = wire.parse_response(dialect, body) if body else None
        if response is not None:
            row.update(response_fields(response))
            if response.error and not error:
                error = response.error
                if job.status is not None and job.status >= 400:
                    error = f"upstream {job.status}: {error}"
            if response.id and context and context.row.get("conversation_id"):
                self.threader.note_response(response.id, context.row["conversation_id"])
        if job.status is not None and job.status >= 400 and not error:
            body = self.decoded(job) or b""
            error = f"upstream {job.status}: {upstream_error_message(dialect, body) or ''}".strip()
        row["error"] = error
        row["state"] = "error" if error else "complete"
        return row
