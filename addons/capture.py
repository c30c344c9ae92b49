"""Capture every LLM exchange: snapshots in the hooks, analysis and storage off the event loop.

Hooks do the least they can: take timestamps and references to header fields and bodies, wrap
streamed responses in a tap that relays each chunk unchanged while it decodes and accumulates it,
and hand snapshots to the pipeline. Upstream failures and timeouts are answered in the client's
own dialect (see `replies`).

Failure policy: observability fails open. Anything here that goes wrong is logged and counted and
the traffic goes on untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from mitmproxy import connection, ctx, http
from mitmproxy.hooks import UpdateHook

from addons import replies, wire
from addons.config import Config
from addons.pipeline import Begin, Chunks, Finish
from addons.routing import ROUTE, Route
from addons.wire import errors, translate
from addons.wire.common import encode_json
from addons.wire.decode import Decoder

log = logging.getLogger(__name__)

STATE = "inspector.state"
HOLD = "inspector.hold"  # (request, context) set by the gate: post-flight rules need it whole
THREAD = "inspector.thread"  # its conversation thread, when a rule already needed it
VERDICT = "inspector.verdict"  # the combined verdict of the rules
VERDICTS = "inspector.verdicts"  # every verdict, for the audit log
UPSTREAM_BODY = "inspector.upstream_body"  # the upstream's body, when the client got another
BRIDGE = "inspector.bridge"  # a Bridge: the client and the upstream speak different dialects
CLIENT_BODY = "inspector.client_body"  # what the client sent, when a rule sent something else


@dataclass(slots=True)
class Bridge:
    """A bridged exchange: what the client speaks, what the upstream speaks, how to answer."""

    direction: str  # "anthropic_to_openai" | "openai_to_anthropic"
    client_dialect: str
    upstream_dialect: str
    model: str | None  # the model the client asked for, named in translated responses
    input_tokens: int = 0  # an estimate for the translated stream's first event
    include_usage: bool = False  # the OpenAI client asked for a usage chunk

    def stream_translator(self) -> translate.StreamTranslator:
        translator: translate.StreamTranslator
        if self.direction == "anthropic_to_openai":
            translator = translate.OpenAIToAnthropicStream(
                model=self.model, input_tokens=self.input_tokens
            )
        else:
            translator = translate.AnthropicToOpenAIStream(
                model=self.model, include_usage=self.include_usage
            )
        translator.strict = True  # a malformed upstream event ends the stream with an error
        return translator

    def translate_body(self, body: bytes, status: int) -> bytes | None:
        """A whole upstream response (or error) in the client's dialect; None if not JSON."""
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        if self.direction == "anthropic_to_openai":
            out = translate.openai_to_anthropic_response(doc, model=self.model, status=status)
        else:
            out = translate.anthropic_to_openai_response(doc, model=self.model, status=status)
        return encode_json(out)


PROGRESS_INTERVAL_S = 0.25


class StreamTap:
    """The `flow.response.stream` callable: relays chunks as they come, watching them go by.

    It runs inside mitmproxy's proxy layer once per chunk, so it only notes the chunk and the
    time it arrived; decoding, framing and token counting happen in the recorder process, which
    gets the chunks every PROGRESS_INTERVAL_S (live token counts) and at the end. A bridged
    stream is also decoded and translated here, since the client needs the translation now.
    """

    __slots__ = (
        "bytes",
        "chunks",
        "decoder",
        "dialect",
        "encoding",
        "flow_id",
        "last_activity",
        "next_flush",
        "pipeline",
        "ship",
        "translator",
    )

    def __init__(
        self,
        flow_id: str,
        dialect: str | None,
        content_encoding: str | None,
        pipeline: Any,
        ship: bool = True,
        translator: translate.StreamTranslator | None = None,
    ) -> None:
        self.flow_id = flow_id
        self.pipeline = pipeline
        self.dialect = dialect
        self.encoding = content_encoding
        self.ship = ship  # False: a large non-LLM body, only counted
        self.chunks: list[tuple[float, bytes]] = []
        self.bytes = 0
        self.last_activity = time.monotonic()
        self.next_flush = self.last_activity  # the first chunk goes at once: the row goes live
        self.translator = translator  # bridged: the client gets this translation instead
        self.decoder = Decoder.for_encoding(content_encoding) if translator else None

    def __call__(self, data: bytes) -> bytes | list[bytes]:
        if not data:
            # End of stream. An empty bytes chunk would end a chunked body early: send nothing.
            self.flush()
            if self.translator is None or self.decoder is None:
                return []
            tail = self.translator.feed(self.decoder.flush()) + self.translator.finish()
            return [tail] if tail else []
        self.bytes += len(data)
        now = self.last_activity = time.monotonic()
        if self.ship:
            self.chunks.append((time.time(), data))
            if now >= self.next_flush:
                self.flush(now)
        if self.translator is None or self.decoder is None:
            return data
        out = self.translator.feed(self.decoder.feed(data))
        return out if out else []

    def flush(self, now: float | None = None) -> None:
        """Hand the chunks seen so far to the recorder (at most every PROGRESS_INTERVAL_S)."""
        if self.chunks:
            self.pipeline.submit(Chunks(self.flow_id, self.chunks, self.encoding, self.dialect))
            self.chunks = []
        self.next_flush = (now or time.monotonic()) + PROGRESS_INTERVAL_S


class RequestTap:
    """Counts a request body that is too large to buffer while it streams through."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, data: bytes) -> bytes | list[bytes]:
        if not data:
            return []
        self.bytes += len(data)
        return data


@dataclass(slots=True)
class FlowState:
    id: str
    route: Route
    dialect: str | None  # the client's
    path: str = ""  # as the client sent it, before any rule or bridge changed it
    overhead: float = 0.0  # seconds spent in this addon's hooks for the flow
    request_tap: RequestTap | None = None
    tap: StreamTap | None = None
    headers_deadline: float | None = None
    timed_out: str | None = None
    done: bool = False


class Capture:
    def __init__(self, suite) -> None:
        self.suite = suite
        self.inflight: dict[str, http.HTTPFlow] = {}
        self.overheads: deque[float] = deque(maxlen=2000)
        self.marks: OrderedDict[str, http.HTTPFlow] = OrderedDict()
        self.watchdog: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.keep_marks = False

    @property
    def config(self) -> Config:
        return self.suite.config

    @property
    def pipeline(self) -> Any:
        """Where snapshots go: the recorder process (addons/worker.py)."""
        return self.suite.worker

    # -- lifecycle -------------------------------------------------------------------------

    def running(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.watchdog is None:
            self.watchdog = self.loop.create_task(self.watch_timeouts())
        self.keep_marks = ctx.master.addons.get("view") is not None  # mitmweb, mitmproxy
        if self.keep_marks:
            self.suite.worker.on_summary(self.mark)

    def done(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    # -- hooks -------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        route: Route | None = flow.metadata.get(ROUTE)
        if route is None or STATE in flow.metadata:
            return
        started = time.perf_counter()
        path = flow.request.path
        state = FlowState(flow.id, route, wire.detect(flow.request.method, path), path)
        if flow.request.stream:
            # mitmproxy streams bodies over max_body_bytes (stream_large_bodies): count them only.
            state.request_tap = RequestTap()
            flow.request.stream = state.request_tap
        flow.metadata[STATE] = state
        state.overhead += time.perf_counter() - started

    def request(self, flow: http.HTTPFlow) -> None:
        state: FlowState | None = flow.metadata.get(STATE)
        if state is None:
            return
        started = time.perf_counter()
        request = flow.request
        tap = state.request_tap
        self.pipeline.submit(
            Begin(
                id=state.id,
                started_at=request.timestamp_start,
                listener=state.route.listener,
                method=request.method,
                scheme=request.scheme,
                host=request.host,
                path=state.path,
                upstream=state.route.upstream,
                upstream_url=state.route.url,
                peer_ip=flow.client_conn.peername[0] if flow.client_conn.peername else "",
                headers=request.headers.fields,
                body=None if tap else flow.metadata.get(CLIENT_BODY, request.raw_content),
                upstream_body=request.raw_content if CLIENT_BODY in flow.metadata else None,
                body_size=tap.bytes if tap else None,
                thread=flow.metadata.get(THREAD),
            )
        )
        if flow.response is None:
            self.inflight[flow.id] = flow
            state.headers_deadline = time.monotonic() + self.config.upstream_response_s
        state.overhead += time.perf_counter() - started

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state: FlowState | None = flow.metadata.get(STATE)
        if state is None or flow.response is None:
            return
        started = time.perf_counter()
        state.headers_deadline = None
        response = flow.response
        bridge: Bridge | None = flow.metadata.get(BRIDGE)
        if HOLD in flow.metadata or response.raw_content is not None:
            pass  # held whole for the rules, or made by the suite itself: nothing streams
        elif bridge is not None:
            if wire.is_stream_response(response.headers.get("content-type", "")):
                state.tap = StreamTap(
                    flow.id,
                    bridge.upstream_dialect,
                    response.headers.get("content-encoding"),
                    self.pipeline,
                    translator=bridge.stream_translator(),
                )
                for header in ("content-encoding", "content-length"):
                    response.headers.pop(header, None)  # the client gets plain translated events
                response.stream = state.tap
            # else: buffered whole and translated in the response hook
        elif response.stream or wire.is_stream_response(response.headers.get("content-type", "")):
            events = not response.stream  # False: mitmproxy streams it only for its size
            state.tap = StreamTap(
                flow.id,
                state.dialect,
                response.headers.get("content-encoding"),
                self.pipeline,
                ship=events,
            )
            response.stream = state.tap
        state.overhead += time.perf_counter() - started

    def response(self, flow: http.HTTPFlow) -> None:
        state: FlowState | None = flow.metadata.get(STATE)
        if state is None or state.done:
            return
        started = time.perf_counter()
        bridge: Bridge | None = flow.metadata.get(BRIDGE)
        if bridge is not None and state.tap is None and flow.response.raw_content is not None:
            translate_whole(flow, bridge)
        self.finish(
            flow, state, error=state.timed_out, status=flow.response.status_code, started=started
        )

    def error(self, flow: http.HTTPFlow) -> None:
        state: FlowState | None = flow.metadata.get(STATE)
        if state is None or state.done or flow.error is None:
            return
        started = time.perf_counter()
        reason = flow.error.msg
        client_gone = "client disconnected" in reason.lower()
        if state.timed_out:
            status, message = 504, state.timed_out
        elif client_gone:
            status, message = 499, f"client disconnected: {reason}"
        else:
            status = 502
            message = f"upstream {state.route.upstream} ({state.route.url}) failed: {reason}"
        tap = state.tap
        if tap is not None and tap.translator is not None:
            trailer = tap.translator.fail(message, status)  # closes the translated stream
        else:
            trailer = errors.stream_error_event(state.dialect, status, message)
        if not client_gone:
            replies.register(
                flow,
                replies.Reply(
                    status=status,
                    content_type="application/json",
                    body=errors.error_body(state.dialect, status, message, "upstream_error"),
                    trailer=trailer,
                ),
            )
        if flow.response is not None:
            status = flow.response.status_code  # the client already has this status
        self.finish(flow, state, error=message, status=status, started=started)

    def client_disconnected(self, client: connection.Client) -> None:
        replies.forget(client.id)

    # -- finishing ---------------------------------------------------------------------------

    def finish(
        self,
        flow: http.HTTPFlow,
        state: FlowState,
        *,
        error: str | None,
        status: int | None,
        started: float,
    ) -> None:
        state.done = True
        self.inflight.pop(flow.id, None)
        response = flow.response
        tap = state.tap
        ended = (response and response.timestamp_end) or time.time()
        request_end = flow.request.timestamp_end or flow.request.timestamp_start
        first = None  # a stream's first token is found by the recorder process
        if tap is None and response is not None and response.timestamp_start:
            first = response.timestamp_start
        if tap is not None:
            tap.flush()
        state.overhead += time.perf_counter() - started
        overhead_ms = state.overhead * 1000
        self.overheads.append(overhead_ms)
        self.pipeline.submit(
            Finish(
                id=state.id,
                ended_at=ended,
                status=status,
                headers=response.headers.fields if response is not None else (),
                body=flow.metadata.get(UPSTREAM_BODY, response.raw_content)
                if response is not None and tap is None
                else None,
                streamed=tap is not None and tap.ship,
                request_end=request_end,
                response_bytes=tap.bytes
                if tap
                else (len(response.raw_content or b"") if response else None),
                error=error,
                ttft_ms=(first - request_end) * 1000 if first else None,
                latency_ms=(ended - flow.request.timestamp_start) * 1000,
                overhead_ms=overhead_ms,
                verdict=flow.metadata.get(VERDICT, "allow"),
                verdicts=flow.metadata.get(VERDICTS, ()),
                response_dialect=bridge.upstream_dialect
                if (bridge := flow.metadata.get(BRIDGE))
                else None,
            )
        )
        if self.keep_marks:
            self.marks[state.id] = flow
            while len(self.marks) > 2000:
                self.marks.popitem(last=False)

    # -- timeouts ------------------------------------------------------------------------

    async def watch_timeouts(self) -> None:
        while True:
            await asyncio.sleep(
                min(
                    PROGRESS_INTERVAL_S,
                    self.config.upstream_response_s / 4,
                    self.config.stream_idle_s / 4,
                )
            )
            try:
                self.expire(time.monotonic())
            except Exception:  # noqa: BLE001
                log.exception("timeout watchdog failed")

    def expire(self, now: float) -> None:
        for flow in list(self.inflight.values()):
            state: FlowState = flow.metadata[STATE]
            if state.timed_out:
                continue
            if state.tap is not None and state.tap.chunks and now >= state.tap.next_flush:
                state.tap.flush(now)  # live counts for a stream that went quiet
            if state.headers_deadline is not None and now > state.headers_deadline:
                state.timed_out = (
                    f"upstream {state.route.upstream} sent no response within "
                    f"{self.config.upstream_response_s:g} s"
                )
            elif (
                state.tap is not None and now - state.tap.last_activity > self.config.stream_idle_s
            ):
                state.timed_out = (
                    f"upstream {state.route.upstream} stream idle for "
                    f"{self.config.stream_idle_s:g} s"
                )
            else:
                continue
            log.warning("%s (flow %s)", state.timed_out, flow.id)
            if not replies.abort_upstream(flow):
                log.warning("could not abort the upstream connection of flow %s", flow.id)

    # -- mitmweb: the raw flow list tells the same story as the log ------------------------

    def mark(self, row: dict[str, Any]) -> None:
        flow = self.marks.pop(row["id"], None)
        if flow is None:
            return
        flow.marked = ":robot:"
        flow.comment = summary_line(row)
        ctx.master.addons.trigger(UpdateHook([flow]))


def translate_whole(flow: http.HTTPFlow, bridge: Bridge) -> None:
    """A buffered bridged response: the client gets it in its own dialect, the row keeps the
    upstream's."""
    response = flow.response
    assert response is not None
    upstream = response.get_content(strict=False) or b""
    translated = bridge.translate_body(upstream, response.status_code)
    if translated is None:
        return  # not JSON: pass it on as it came
    flow.metadata[UPSTREAM_BODY] = upstream
    response.headers.pop("content-encoding", None)
    response.content = translated
    response.headers["content-type"] = "application/json"


def dash(value: Any) -> str:
    return "-" if value is None else str(value)


def summary_line(row: dict[str, Any]) -> str:
    tokens_in = row.get("input_tokens")
    tokens_out = row.get("output_tokens")
    parts = [
        row.get("client_app") or "unknown",
        row.get("served_model") or row.get("requested_model") or "-",
        f"{dash(tokens_in)}→{dash(tokens_out)} tok",
        row.get("verdict") or "allow",
    ]
    if row.get("error"):
        parts.append(f"error: {row['error'][:80]}")
    return " · ".join(str(p) for p in parts)
