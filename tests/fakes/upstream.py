"""A fake model upstream that speaks the Anthropic, OpenAI, Ollama and Gemini wire formats.

Tests point real clients (SDKs, the Claude Code CLI, curl, the inspector under test) at it instead
of a provider. Answers are deterministic and derived from the request: `echo: <last user text>`
split into stream chunks; `use tool NAME` (with NAME among the offered tools) answers with a call
to NAME, and a turn that carries tool results answers `tool said: <result>`. Misbehaviour is
chosen per request by scenario (see `tests/fakes/scenario.py`).

It is a hand-rolled HTTP/1.1 server so that framing, flushing, compression, resets and truncation
are exactly what the scenario asks for.

In-process (async):

    upstream = FakeUpstream()            # or FakeUpstream(tls=ssl_context)
    port = await upstream.start()
    ...; upstream.requests; upstream.set_scenario("error=529", count=1)
    await upstream.stop()

In a thread (sync tests):

    with FakeUpstreamThread() as upstream:
        client = anthropic.Anthropic(base_url=upstream.url, api_key="x")

As a process:

    python -m tests.fakes.upstream --host 127.0.0.1 --port 0 [--tls-cert F --tls-key F]
    # prints "listening on PORT" once ready

Control endpoints (never logged, never compressed): `GET /__fake/requests` (JSON list of
{method, path, headers: [[name, value]], body_b64}), `POST /__fake/reset` (log, default scenario,
prompt cache), `POST /__fake/scenario` with `{"name": "chunks=3", "count": 2}` (the default for the
next `count` model requests; no count: until reset; empty name: clear), `GET /__fake/scenario`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import re
import signal
import socket
import ssl
import struct
import termios
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from tests.fakes import fake_anthropic, fake_gemini, fake_ollama, fake_openai
from tests.fakes.scenario import Scenario
from tests.fakes.wire import (
    BadRequest,
    Context,
    Encoder,
    Ids,
    JsonReply,
    PromptCache,
    Reply,
    Request,
    StreamReply,
    choose_encoding,
    encode_whole,
    scenario_from_texts,
)

SCENARIO_HEADER = "x-fake-scenario"
MAX_HEAD = 1 << 20
REASONS = {529: "Overloaded"}

Handler = Callable[[Context], Reply]
ErrorHandler = Callable[[Context, int, "str | None"], JsonReply]
TextsOf = Callable[[Any], list[str]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    error: ErrorHandler
    texts: TextsOf
    when: Callable[[Request], bool] | None = None


def _route(
    method: str,
    path: str,
    handler: Handler,
    error: ErrorHandler,
    texts: TextsOf,
    when: Callable[[Request], bool] | None = None,
) -> Route:
    return Route(method, re.compile(path), handler, error, texts, when)


def _is_anthropic(request: Request) -> bool:
    return (
        request.header("anthropic-version") is not None or request.header("x-api-key") is not None
    )


def _no_texts(body: Any) -> list[str]:
    return []


_A, _O, _L, _G = fake_anthropic, fake_openai, fake_ollama, fake_gemini
GEMINI_PATH = r"/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):(?P<action>{})"
ROUTES = (
    _route("POST", r"/v1/messages", _A.messages, _A.error, _A.user_texts),
    _route("POST", r"/v1/messages/count_tokens", _A.count_tokens, _A.error, _A.user_texts),
    _route("GET", r"/v1/models", _A.models, _A.error, _no_texts, when=_is_anthropic),
    _route("GET", r"/v1/models", _O.models, _O.error, _no_texts),
    _route("POST", r"/v1/chat/completions", _O.chat_completions, _O.error, _O.chat_user_texts),
    _route("POST", r"/v1/completions", _O.completions, _O.error, _O.completion_user_texts),
    _route("POST", r"/v1/embeddings", _O.embeddings, _O.error, _no_texts),
    _route("POST", r"/v1/responses", _O.responses, _O.error, _O.responses_user_texts),
    _route("POST", r"/api/chat", _L.chat, _L.error, _L.chat_user_texts),
    _route("POST", r"/api/generate", _L.generate, _L.error, _L.generate_user_texts),
    _route("POST", r"/api/embed", _L.embed, _L.error, _no_texts),
    _route("POST", r"/api/embeddings", _L.embeddings, _L.error, _no_texts),
    _route("GET", r"/api/tags", _L.tags, _L.error, _no_texts),
    _route("GET", r"/api/version", _L.version, _L.error, _no_texts),
    _route(
        "POST",
        GEMINI_PATH.format("generateContent|streamGenerateContent"),
        _G.generate,
        _G.error,
        _G.user_texts,
    ),
    _route("POST", GEMINI_PATH.format("countTokens"), _G.count_tokens, _G.error, _G.user_texts),
)


def _error_for_path(request: Request) -> ErrorHandler:
    if request.path.startswith(("/v1beta/", "/v1alpha/")):
        return fake_gemini.error
    if request.path.startswith("/api/"):
        return fake_ollama.error
    return fake_anthropic.error if _is_anthropic(request) else fake_openai.error


def server_tls(certfile: str, keyfile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(["http/1.1"])
    return context


class _Closed(Exception):
    """The connection is finished with (reset, truncated or hung up): do not reuse it."""


class FakeUpstream:
    def __init__(
        self,
        tls: ssl.SSLContext | tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.tls = server_tls(*tls) if isinstance(tls, tuple) else tls
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._log: list[Request] = []
        self._default: tuple[str, int | None] | None = None
        self._cache = PromptCache()
        self._seq = 0

    # --- public surface ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._default = None
        self._cache.clear()

    def set_scenario(self, spec: str | None, count: int | None = None) -> None:
        """Make `spec` the default scenario for the next `count` model requests (None: all)."""
        Scenario().with_spec(spec)  # refuse a bad spec now, not at the next request
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError(f"count must be a non-negative whole number, not {count!r}")
        with self._lock:
            self._default = (spec, count) if spec and count != 0 else None

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, ssl=self.tls, limit=MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # --- connections -------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await _read_request(reader, writer)
                except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                    await _write_plain(writer, 400, b"bad request\n")
                    break
                if request is None:
                    break
                if not await self._answer(request, reader, writer):
                    break
        except (_Closed, ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _answer(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        keep_alive = _keep_alive(request)
        if request.path.startswith("/__fake/"):
            await _write_json(
                writer, request, self._control(request), Scenario(), "identity", keep_alive
            )
            return keep_alive
        with self._lock:
            self._log.append(request)
            self._seq += 1
            seq = self._seq
        ids = Ids(f"{seq}:{hashlib.sha256(request.body).hexdigest()[:16]}")
        if request.path == "/" and request.method in ("GET", "HEAD"):
            running = JsonReply(
                200, b"fake upstream is running\n", content_type="text/plain; charset=utf-8"
            )
            await _write_json(writer, request, running, Scenario(), "identity", keep_alive)
            return keep_alive

        ctx, reply = self._dispatch(request, ids)
        scenario = ctx.scenario
        if scenario.hang:
            await _hang(reader)
        if scenario.ttfb_ms:
            await asyncio.sleep(scenario.ttfb_ms / 1000)
        encoding = choose_encoding(request.header("accept-encoding"), scenario.encoding)
        if isinstance(reply, JsonReply):
            await _write_json(writer, request, reply, scenario, encoding, keep_alive)
            return keep_alive
        await _write_stream(writer, reader, reply, scenario, encoding, keep_alive)
        return keep_alive

    def _dispatch(self, request: Request, ids: Ids) -> tuple[Context, Reply]:
        """The reply for a model request: a dialect's answer, or its error envelope."""
        ctx = Context(request, None, Scenario(), ids, self._cache)
        known_path = False
        for route in ROUTES:
            match = route.pattern.fullmatch(request.path)
            if not match:
                continue
            known_path = True
            if route.method != request.method or (route.when and not route.when(request)):
                continue
            ctx.params = match.groupdict()
            return ctx, self._run(route, ctx)
        status = 405 if known_path else 404
        message = "Method Not Allowed" if known_path else f"Not found: {request.path}"
        return ctx, _error_for_path(request)(ctx, status, message)

    def _run(self, route: Route, ctx: Context) -> Reply:
        request = ctx.request
        body_error = None
        if request.body:
            try:
                ctx.body = json.loads(request.body)
            except ValueError as e:
                body_error = f"Invalid JSON body: {e}"
        try:
            ctx.scenario = (
                Scenario()
                .with_spec(self._take_default())
                .with_spec(request.header(SCENARIO_HEADER))
                .with_spec(scenario_from_texts(route.texts(ctx.body)))
            )
        except ValueError as e:
            return route.error(ctx, 400, f"fake upstream: {e}")
        if body_error:
            return route.error(ctx, 400, body_error)
        if ctx.scenario.error:
            return route.error(ctx, ctx.scenario.error, None)
        try:
            return route.handler(ctx)
        except BadRequest as e:
            return route.error(ctx, 400, str(e))
        except Exception as e:  # a body shape the fake does not handle: say so, in dialect
            return route.error(ctx, 500, f"fake upstream failed on this request: {e!r}")

    def _take_default(self) -> str | None:
        with self._lock:
            if self._default is None:
                return None
            spec, remaining = self._default
            if remaining is not None:
                self._default = (spec, remaining - 1) if remaining > 1 else None
            return spec

    def _control(self, request: Request) -> JsonReply:
        action = (request.method, request.path)
        if action == ("GET", "/__fake/requests"):
            return JsonReply(
                200,
                [
                    {
                        "method": r.method,
                        "path": r.target,
                        "headers": [list(h) for h in r.headers],
                        "body_b64": base64.b64encode(r.body).decode(),
                    }
                    for r in self.requests
                ],
            )
        if action == ("POST", "/__fake/reset"):
            self.reset()
            return JsonReply(200, {"ok": True})
        if action == ("POST", "/__fake/scenario"):
            try:
                body = json.loads(request.body or b"{}")
                self.set_scenario(body.get("name"), body.get("count"))
            except (ValueError, AttributeError) as e:
                return JsonReply(400, {"error": str(e)})
        if action in (("POST", "/__fake/scenario"), ("GET", "/__fake/scenario")):
            with self._lock:
                spec, count = self._default or (None, None)
            return JsonReply(200, {"name": spec, "count": count})
        return JsonReply(404, {"error": f"no control endpoint {request.method} {request.path}"})


# --- HTTP/1.1 ---------------------------------------------------------------------------------


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise
        return None
    lines = head[:-4].decode("latin-1").lstrip("\r\n").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    request = Request(method, target, headers, b"", version)
    if (request.header("expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    if "chunked" in (request.header("transfer-encoding") or "").lower():
        request.body = await _read_chunked(reader)
    elif request.header("content-length"):
        request.body = await reader.readexactly(int(request.header("content-length") or 0))
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _keep_alive(request: Request) -> bool:
    tokens = {t.strip().lower() for t in (request.header("connection") or "").split(",")}
    if request.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = REASONS.get(status, "Unknown")
    return f"HTTP/1.1 {status} {reason}\r\n".encode()


async def _write_head(
    writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], scenario: Scenario
) -> None:
    lines = [_status_line(status)] + [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers]
    lines.append(b"\r\n")
    if not scenario.slow_headers_ms:
        writer.write(b"".join(lines))
        await writer.drain()
        return
    for i, line in enumerate(lines):
        if i:
            await asyncio.sleep(scenario.slow_headers_ms / 1000)
        writer.write(line)
        await writer.drain()


def _base_headers(content_type: str, encoding: str, keep_alive: bool) -> list[tuple[str, str]]:
    headers = [
        ("Date", formatdate(usegmt=True)),
        ("Server", "fake-upstream"),
        ("Content-Type", content_type),
    ]
    if encoding != "identity":
        headers += [("Content-Encoding", encoding), ("Vary", "Accept-Encoding")]
    headers.append(("Connection", "keep-alive" if keep_alive else "close"))
    return headers


async def _write_json(
    writer: asyncio.StreamWriter,
    request: Request,
    reply: JsonReply,
    scenario: Scenario,
    encoding: str,
    keep_alive: bool,
) -> None:
    payload = reply.payload()
    if not payload:
        encoding = "identity"
    if encoding != "identity":
        payload = encode_whole(encoding, payload)
    headers = _base_headers(reply.content_type, encoding, keep_alive)
    headers += [("Content-Length", str(len(payload))), *reply.headers]
    await _write_head(writer, reply.status, headers, scenario)
    if request.method != "HEAD":
        writer.write(payload)
        await writer.drain()


async def _write_plain(writer: asyncio.StreamWriter, status: int, text: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        head = f"Content-Type: text/plain\r\nContent-Length: {len(text)}\r\nConnection: close\r\n"
        writer.write(_status_line(status) + head.encode() + b"\r\n" + text)
        await writer.drain()


async def _write_stream(
    writer: asyncio.StreamWriter,
    reader: asyncio.StreamReader,
    reply: StreamReply,
    scenario: Scenario,
    encoding: str,
    keep_alive: bool,
) -> None:
    headers = _base_headers(reply.content_type, encoding, keep_alive)
    headers += [("Transfer-Encoding", "chunked"), *reply.headers]
    await _write_head(writer, reply.status, headers, scenario)
    encoder = Encoder(encoding)

    async def send(data: bytes, encode: bool = True) -> None:
        frame = encoder.frame(data) if encode else data
        if frame:  # an empty chunk would end the body
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()

    events = reply.events
    cut = -1
    if scenario.mid_stream_fault:
        cut = len(events) // 2 if scenario.after is None else scenario.after
        cut = min(max(cut, 1), len(events))
    for i in range(len(events) + 1):
        if i == cut:
            if scenario.malformed:
                await send(reply.malformed_event)
            if scenario.error_mid:
                await send(reply.error_event)
                break
            if scenario.reset:
                await _reset(writer)
            if scenario.truncate:
                writer.close()
                raise _Closed
            if scenario.hang_mid:
                await _hang(reader)
        if i == len(events):
            break
        if i and scenario.delay_ms:
            await asyncio.sleep(scenario.delay_ms / 1000)
        await send(events[i])
    await send(encoder.finish(), encode=False)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _hang(reader: asyncio.StreamReader) -> None:
    """Never answer; give up the connection only when the client does."""
    while await reader.read(65536):
        pass
    raise _Closed


async def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), after the kernel has sent everything written before."""
    for _ in range(200):  # asyncio's buffer first (TLS has its own), then the kernel's
        if not writer.transport.get_write_buffer_size():
            break
        await asyncio.sleep(0.001)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        for _ in range(200):
            try:
                unsent = struct.unpack(
                    "i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                )[0]
            except OSError:
                break
            if not unsent:
                break
            await asyncio.sleep(0.001)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    raise _Closed


# --- running it -------------------------------------------------------------------------------


class FakeUpstreamThread:
    """FakeUpstream on its own event loop in a daemon thread, for synchronous tests."""

    def __init__(
        self,
        tls: ssl.SSLContext | tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server = FakeUpstream(tls, host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                ready.set_result(loop.run_until_complete(self.server.start()))
            except BaseException as e:  # reported to start()'s caller
                ready.set_exception(e)
                loop.close()
                return
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        return ready.result(timeout=10)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeUpstreamThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def reset(self) -> None:
        self.server.reset()

    def set_scenario(self, spec: str | None, count: int | None = None) -> None:
        self.server.set_scenario(spec, count)


async def _serve(args: argparse.Namespace) -> None:
    tls = server_tls(args.tls_cert, args.tls_key) if args.tls_cert else None
    upstream = FakeUpstream(tls, args.host, args.port)
    if args.scenario:
        upstream.set_scenario(args.scenario)
    port = await upstream.start()
    print(f"listening on {port}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await upstream.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.upstream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS with")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--scenario", help="default scenario for every request")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
