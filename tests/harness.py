"""Run the real suite in a real `mitmdump` process, on free ports, in a temp folder."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"(reverse proxy to \S+|HTTP\(S\) proxy) listening at ([\d.]+):(\d+)")


class Proxy:
    """One suite process. Reverse listener on 127.0.0.1, regular (HTTPS_PROXY) on 127.0.0.2,
    both on ports the OS picks, so tests run beside a live proxy on 8000/8080."""

    def __init__(
        self,
        tmp: Path,
        upstream: str,
        toml: str = "",
        args: list[str] | None = None,
        tool: str = "mitmdump",
        script: Path | None = None,
    ):
        self.tmp = tmp
        self.db_path = tmp / "proxy.db"
        self.confdir = tmp / "certs"
        self.config_path = tmp / "mitm.toml"
        self.tmpdir = tmp / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.config_path.write_text(
            f"""
[listen]
reverse = "127.0.0.1:0"
regular = "127.0.0.2:0"
[upstreams]
anthropic = "{upstream}"
openai = "{upstream}"
ollama = "{upstream}"
gemini = "{upstream}"
{toml}
"""
        )
        self.args = args or []
        self.script = script or ROOT / "addons/main.py"  # another checkout's, for benchmarks
        self.tool = Path(sys.executable).parent / tool
        self.lines: list[str] = []
        self.new_lines: queue.Queue[str] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self.reverse_port = self.regular_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.reverse_port}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.2:{self.regular_port}"

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def start(self, timeout: float = 30.0) -> Proxy:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
        env["PYTHONUNBUFFERED"] = "1"
        env["LLM_INSPECTOR_DB"] = str(self.db_path)
        env["TMPDIR"] = str(self.tmpdir)  # whatever it leaves there goes with the test's folder
        self.process = subprocess.Popen(
            [
                str(self.tool),
                "--set",
                f"confdir={self.confdir}",
                "-s",
                str(self.script),
                "--set",
                f"inspector_config={self.config_path}",
                *self.args,
            ],
            cwd=self.tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not (self.reverse_port and self.regular_port):
            line = self.next_line(deadline)
            if m := LISTENING.search(line):
                port = int(m.group(3))
                if m.group(1).startswith("reverse"):
                    self.reverse_port = port
                else:
                    self.regular_port = port
        return self

    def _read(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.new_lines.put(line)
        self.new_lines.put("")

    def next_line(self, deadline: float) -> str:
        try:
            line = self.new_lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError("mitmdump said nothing in time:\n" + self.output) from None
        if line == "" and self.process and self.process.poll() is not None:
            raise RuntimeError("mitmdump exited:\n" + self.output)
        return line

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> str:
        rx = re.compile(pattern)
        for line in self.lines:
            if rx.search(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(deadline)
            if rx.search(line):
                return line

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    # -- the database, as a user would read it ------------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def wait_rows(
        self,
        count: int = 1,
        where: str = "state != 'pending'",
        params: tuple = (),
        timeout: float = 15.0,
    ) -> list[dict[str, Any]]:
        """Poll until `count` rows match: the recorder commits asynchronously by design."""
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.db_path.exists():
                try:
                    rows = self.query(
                        f"select * from requests where {where} order by started_at", params
                    )
                except sqlite3.OperationalError:
                    rows = []
                if len(rows) >= count:
                    return rows
            time.sleep(0.02)
        raise AssertionError(f"expected {count} rows where {where}, got {len(rows)}: {rows}")

    def health(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"{self.url}/__proxy/api/health", timeout=5).json()


def free_port() -> int:
    """A port nothing listens on now (for mitmweb, whose web port cannot be 0)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def body_json(proxy: Proxy, body_id: str) -> Any:
    import sqlite_utils

    from addons.store import bodies

    db = sqlite_utils.Database(proxy.db_path)
    try:
        return json.loads(bodies.load(db, body_id))
    finally:
        db.close()
