"""The UI: Datasette as a child process of the suite, reachable through the proxy at `/__proxy/`.

On `running`, once the recorder has opened (and migrated) the database, this addon starts
`datasette serve <db> --host 127.0.0.1 --port <[ui] port> --setting base_url /__proxy/` with the
inspector plugin and generated metadata (plugin settings, canned queries, and `suite_url`, the
reverse listener to which Datasette forwards the rules API), restarts it if it dies (at most
`[ui] max_restarts` times in a row, with growing pauses, each logged), and stops it on `done`.
Requests for `/__proxy/*` arriving on the reverse listener, except the paths other addons answer
(`SUITE_PATHS`: health, rules, MCP), are pointed at it with `X-Forwarded-For` overwritten by the
real client address, which the plugin uses to decide who may see what.

Failure policy: the UI fails on its own. If Datasette is down, `/__proxy/*` answers 503 and LLM
traffic is untouched; a crash loop ends in one logged error, not a busy loop.

`[ui]` keys in mitm.toml, with their defaults:

    enabled = true
    host = "127.0.0.1"         # Datasette's own listener; the proxy forwards /__proxy/ to it
    port = 8001                # 0 picks a free port
    redact = true              # hide content from viewers off the client's subnet
    redact_ipv4_prefix = 24
    redact_ipv6_prefix = 64
    token = ""                 # needed by every non-loopback viewer; LLM_INSPECTOR_UI_TOKEN wins
    max_restarts = 5
    sql_time_limit_ms = 3000
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http
from mitmproxy.net.http import url
from mitmproxy.proxy.mode_specs import ReverseMode

from datasette_plugins.config import TOKEN_ENV, metadata
from datasette_plugins.redaction import is_loopback

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/__proxy"
BASE_URL = PREFIX + "/"
# Paths under PREFIX that other addons of the suite answer (and everything below them).
SUITE_PATHS = ("/__proxy/api/health", "/__proxy/api/rules", "/__proxy/mcp")
UI_FLOW = "inspector.ui"
READY_TIMEOUT_S = 60.0
STABLE_RUN_S = 60.0  # a run this long resets the restart budget
STARTUP_WAIT_S = 15.0  # how long a /__proxy/ request waits for Datasette to come up

# Run Datasette with the inspector plugin registered even if the package was not installed:
# the database is never served without the gate and the redaction.
LAUNCHER = """
import ctypes, os, signal, sys
try:  # Linux: stop when the suite stops, even if it is killed
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
except Exception:
    pass
if os.getppid() != int(os.environ["LLM_INSPECTOR_PARENT"]):
    sys.exit(0)
from datasette_plugins.plugin import ensure_registered
ensure_registered()
from datasette.cli import cli
cli.main(args=sys.argv[1:], prog_name="datasette")
"""


@dataclass(frozen=True, slots=True)
class Settings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8001
    redact: bool = True
    redact_ipv4_prefix: int = 24
    redact_ipv6_prefix: int = 64
    token: str = ""
    max_restarts: int = 5
    sql_time_limit_ms: int = 3000

    @classmethod
    def from_any(cls, raw: Any) -> Settings:
        """From a `[ui]` table (dict) or an object with the same attribute names."""
        if raw is None:
            return cls()
        values = {}
        for f in fields(cls):
            value = raw.get(f.name) if isinstance(raw, dict) else getattr(raw, f.name, None)
            if value is None:
                continue
            expected = type(getattr(cls(), f.name))
            if expected is int and isinstance(value, bool) or not isinstance(value, expected):
                raise ValueError(f"[ui] {f.name} must be a {expected.__name__}, got {value!r}")
            values[f.name] = value
        settings = cls(**values)
        if not 0 <= settings.port < 65536:
            raise ValueError(f"[ui] port must be 0-65535, got {settings.port}")
        metadata("proxy", **settings.plugin_settings())  # validates the redaction settings
        return settings

    def plugin_settings(self) -> dict[str, Any]:
        return {
            "redact": self.redact,
            "ipv4_prefix": self.redact_ipv4_prefix,
            "ipv6_prefix": self.redact_ipv6_prefix,
        }


def settings_of(suite) -> Settings:
    """`[ui]` from the suite's configuration: a `ui` attribute if config.py has one, else the
    `extra` table, else the TOML file itself."""
    config = suite.config
    raw = getattr(config, "ui", None)
    if raw is None:
        raw = (getattr(config, "extra", None) or {}).get("ui")
    if raw is None and getattr(config, "source", None):
        try:
            raw = tomllib.loads(Path(config.source).read_text()).get("ui")
        except (OSError, tomllib.TOMLDecodeError):
            raw = None
    return Settings.from_any(raw)


def is_suite_path(path: str) -> bool:
    return any(path == own or path.startswith(own + "/") for own in SUITE_PATHS)


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def json_response(status: int, doc: dict[str, Any]) -> http.Response:
    return http.Response.make(
        status, json.dumps(doc).encode(), {"content-type": "application/json"}
    )


class UI:
    def __init__(self, suite, settings: Settings | None = None) -> None:
        self.suite = suite
        self._settings = settings
        self.port: int | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.ready = False
        self.became_ready = asyncio.Event()
        self.stopping = False
        self.task: asyncio.Task | None = None
        self.restarts = 0
        self.output: collections.deque[str] = collections.deque(maxlen=40)
        self.metadata_path: Path | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = settings_of(self.suite)
        return self._settings

    # -- lifecycle ---------------------------------------------------------------------------

    def configure(self, updated: set[str]) -> None:
        if "inspector_config" in updated:
            try:
                self._settings = settings_of(self.suite)
            except ValueError as e:
                raise exceptions.OptionsError(str(e)) from e

    def running(self) -> None:
        if not self.settings.enabled or self.task is not None:
            return
        settings = self.settings
        self.port = settings.port
        if not self.port or not port_free(settings.host, self.port):
            if self.port:
                # Another suite (or anything else) has it: the UI stays reachable at /__proxy/.
                log.warning("UI port %d is in use; Datasette gets a free port instead", self.port)
            self.port = free_port(settings.host)
        if not is_loopback(settings.host) and not (settings.token or os.environ.get(TOKEN_ENV)):
            log.warning(
                "UI listens on %s without a token: every non-loopback viewer will be refused "
                "until [ui] token or %s is set",
                settings.host,
                TOKEN_ENV,
            )
        self.task = asyncio.get_running_loop().create_task(self.supervise())

    def done(self) -> Awaitable[None] | None:
        """Stop Datasette. mitmproxy awaits this at shutdown, but calls it without awaiting when
        it unloads the script (a reload), so the stop goes on as a task of its own."""
        self.stopping = True
        try:
            return asyncio.get_running_loop().create_task(self.shut_down())
        except RuntimeError:  # no event loop: nothing to wait on, only the process to stop
            if self.process is not None and self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
            return None

    async def shut_down(self) -> None:
        await self.stop_process()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None
        self.remove_metadata()

    # -- routing -----------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """A UI request is sent to Datasette (awaited: it may wait for Datasette to start);
        anything else returns at once, with no coroutine made for it."""
        if flow.response is not None or not isinstance(flow.client_conn.proxy_mode, ReverseMode):
            return None
        path = flow.request.path.partition("?")[0]
        if not (path == PREFIX or path.startswith(BASE_URL)):
            return None
        if is_suite_path(path) or not self.settings.enabled:
            return None  # answered by another addon (health answers 404 when the UI is off)
        flow.metadata[UI_FLOW] = True
        if path == PREFIX:
            query = flow.request.path[len(PREFIX) :]
            flow.response = http.Response.make(302, b"", {"location": BASE_URL + query})
            return None
        return self.to_datasette(flow)

    async def to_datasette(self, flow: http.HTTPFlow) -> None:
        if not self.ready and self.starting:
            # Just started or restarting: wait a little rather than fail the page.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.became_ready.wait(), STARTUP_WAIT_S)
        if not self.ready or self.port is None:
            flow.response = json_response(
                503, {"error": "the UI (Datasette) is not running; see the suite's log"}
            )
            return
        point_at_ui(flow, self.port)

    @property
    def starting(self) -> bool:
        return self.task is not None and not self.task.done() and not self.stopping

    # -- the child process ----------------------------------------------------------------------

    def command(self, db_path: Path, metadata_path: Path) -> list[str]:
        settings = self.settings
        return [
            sys.executable,
            "-c",
            LAUNCHER,
            "serve",
            str(db_path),
            "--host",
            settings.host,
            "--port",
            str(self.port),
            "--setting",
            "base_url",
            BASE_URL,
            "--setting",
            "sql_time_limit_ms",
            str(settings.sql_time_limit_ms),
            # Facet suggestions time out one by one on a million rows; facets still work.
            "--setting",
            "suggest_facets",
            "off",
            "-m",
            str(metadata_path),
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["LLM_INSPECTOR_PARENT"] = str(os.getpid())
        env["PYTHONUNBUFFERED"] = "1"
        if self.settings.token and not env.get(TOKEN_ENV):
            env[TOKEN_ENV] = self.settings.token  # by environment: never in a metadata file
        return env

    def write_metadata(self, db_path: Path) -> Path:
        doc = metadata(
            db_path.stem, suite_url=reverse_listener_url(), **self.settings.plugin_settings()
        )
        handle, name = tempfile.mkstemp(prefix="llm-inspector-ui-", suffix=".json")
        with os.fdopen(handle, "w") as f:
            json.dump(doc, f, indent=2)
        return Path(name)

    def remove_metadata(self) -> None:
        """Datasette reads its metadata file once, as it starts: the file goes as soon as it is
        up, so that a suite that is killed leaves nothing behind."""
        if self.metadata_path is not None:
            with contextlib.suppress(OSError):
                self.metadata_path.unlink()

    async def supervise(self) -> None:
        try:
            await self.wait_for_database()
        except Exception as e:  # noqa: BLE001 - the UI fails alone
            log.error("UI not started: the database did not open: %s", e)
            return
        db_path = Path(self.suite.db_path).resolve()
        limit = self.settings.max_restarts
        while not self.stopping:
            started = time.monotonic()
            self.metadata_path = self.write_metadata(db_path)
            code = await self.run_once(db_path, self.metadata_path)
            self.remove_metadata()
            if self.stopping:
                break
            if time.monotonic() - started > STABLE_RUN_S:
                self.restarts = 0
            self.restarts += 1
            tail = "\n".join(self.output)
            if self.restarts > limit:
                log.error(
                    "UI (Datasette) exited with %s and was restarted %d times; giving up. "
                    "Last output:\n%s",
                    code,
                    limit,
                    tail,
                )
                break
            pause = min(30.0, 0.5 * 2 ** (self.restarts - 1))
            log.warning(
                "UI (Datasette) exited with %s; restarting in %.1f s (%d/%d). Last output:\n%s",
                code,
                pause,
                self.restarts,
                limit,
                tail,
            )
            await asyncio.sleep(pause)

    async def wait_for_database(self) -> None:
        """Until the recorder has opened the file, so that its migrations ran first."""
        worker = getattr(self.suite, "worker", None)
        if worker is not None:
            await asyncio.wrap_future(worker.call("ready"))
        elif not Path(self.suite.db_path).exists():
            raise FileNotFoundError(self.suite.db_path)

    async def run_once(self, db_path: Path, metadata_path: Path) -> int | None:
        self.output.clear()
        self.process = await asyncio.create_subprocess_exec(
            *self.command(db_path, metadata_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.environment(),
            cwd=str(ROOT),
        )
        reader = asyncio.create_task(self.read_output(self.process))
        waiter = asyncio.create_task(self.wait_ready())
        code = await self.process.wait()
        self.ready = False
        self.became_ready.clear()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await waiter
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader, 1.0)
        return code

    async def read_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.output.append(line)
            log.debug("datasette: %s", line)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        if host == "::":
            host = "::1"
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(host, self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self.remove_metadata()
            self.ready = True
            self.became_ready.set()
            log.info(
                "UI ready at %s (Datasette on %s)", BASE_URL, url.hostport("http", host, self.port)
            )
            return
        log.warning("UI (Datasette) did not accept connections within %.0f s", READY_TIMEOUT_S)

    async def stop_process(self) -> None:
        process = self.process
        self.ready = False
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def reverse_listener_url() -> str | None:
    """Where Datasette reaches the suite's own `/__proxy/api/rules`: the reverse listener."""
    proxyserver = getattr(getattr(ctx, "master", None), "addons", None)
    proxyserver = proxyserver.get("proxyserver") if proxyserver is not None else None
    for server in getattr(proxyserver, "servers", ()):
        if isinstance(server.mode, ReverseMode) and server.mode.transport_protocol == "tcp":
            for host, port, *_ in server.listen_addrs:
                if host in ("0.0.0.0", ""):
                    host = "127.0.0.1"
                elif host == "::":
                    host = "::1"
                return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return None


def point_at_ui(flow: http.HTTPFlow, port: int) -> None:
    """Send a `/__proxy/*` request to Datasette on 127.0.0.1:`port`, saying who asked."""
    request = flow.request
    client = flow.client_conn
    peer = client.peername[0] if client.peername else ""
    if peer.lower().startswith("::ffff:") and "." in peer:
        peer = peer[7:]
    listener = client.sockname
    public_host = (
        url.hostport("https" if client.tls_established else "http", listener[0], listener[1])
        if listener
        else "127.0.0.1"
    )
    request.scheme = "http"
    request.host = "127.0.0.1"
    request.port = port
    for name in ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host"):
        request.headers.pop(name, None)
    request.headers["X-Forwarded-For"] = peer
    request.headers["X-Forwarded-Proto"] = "https" if client.tls_established else "http"
    request.headers["X-Forwarded-Host"] = public_host
    request.host_header = public_host
