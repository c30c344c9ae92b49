"""Serve a Datasette instance over real HTTP on a free loopback port, in a thread.

Shared by the browser tests and `scripts/screenshots.py`.
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from datasette.app import Datasette

BASE_URL = "/__proxy/"
CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "Chromium is needed for the browser tests: apt-get update && apt-get install -y chromium "
    "(and pip install playwright; never `playwright install`)"
)


def make_datasette(db_path: str | None, **kwargs) -> Datasette:
    settings = {"base_url": BASE_URL, **kwargs.pop("settings", {})}
    files = [db_path] if db_path else []
    return Datasette(files, memory=not files, settings=settings, **kwargs)


@contextlib.contextmanager
def serve(ds: Datasette) -> Iterator[str]:
    """Yields the server's root URL, e.g. http://127.0.0.1:54321/__proxy/."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(ds.app(), log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{BASE_URL}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def launch_chromium(playwright):
    if not CHROMIUM.exists():
        raise FileNotFoundError(INSTALL_HINT)
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
