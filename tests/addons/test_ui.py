"""The UI addon: which requests go to Datasette, how they are marked, and its settings."""

from __future__ import annotations

import asyncio
import json
import sys
from types import SimpleNamespace

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow, tutils

from addons.ui import UI, UI_FLOW, Settings, settings_of


def flow(path: str, mode: str = "reverse:http://127.0.0.1:9001@127.0.0.1:8000", peer="10.1.2.3"):
    client = tflow.tclient_conn()
    client.proxy_mode = ProxyMode.parse(mode)
    client.peername = (peer, 50000)
    client.sockname = ("192.168.1.10", 8000)
    client.timestamp_tls_setup = None
    req = tutils.treq(method=b"GET", path=path.encode(), host="127.0.0.1", port=9001)
    req.headers["host"] = "127.0.0.1:9001"
    req.headers["X-Forwarded-For"] = "6.6.6.6"  # a client's claim, never trusted
    req.headers["X-Real-IP"] = "6.6.6.6"
    return tflow.tflow(client_conn=client, req=req)


def run(result):
    """What mitmproxy does with a hook's result: awaits it when it is awaitable."""
    if result is not None:
        asyncio.run(result)


def ready_ui(**settings) -> UI:
    ui = UI(SimpleNamespace(), Settings(**settings))
    ui.port, ui.ready = 8765, True
    return ui


def test_ui_requests_are_sent_to_datasette_with_the_real_client_address():
    f = flow("/__proxy/api/requests?limit=5")
    run(ready_ui().requestheaders(f))
    req = f.request
    assert f.response is None and f.metadata[UI_FLOW] is True
    assert (req.scheme, req.host, req.port) == ("http", "127.0.0.1", 8765)
    assert req.path == "/__proxy/api/requests?limit=5"
    assert req.headers.get_all("X-Forwarded-For") == ["10.1.2.3"]
    assert "X-Real-IP" not in req.headers
    assert req.headers["X-Forwarded-Proto"] == "http"
    assert req.headers["X-Forwarded-Host"] == req.host_header == "192.168.1.10:8000"


def test_tls_clients_are_said_to_use_https():
    f = flow("/__proxy/")
    f.client_conn.timestamp_tls_setup = 946681201
    run(ready_ui().requestheaders(f))
    assert f.request.headers["X-Forwarded-Proto"] == "https"
    assert f.request.scheme == "http"  # Datasette itself is plain HTTP on loopback


def test_ipv4_mapped_peers_are_forwarded_as_ipv4():
    f = flow("/__proxy/", peer="::ffff:127.0.0.1")
    run(ready_ui().requestheaders(f))
    assert f.request.headers["X-Forwarded-For"] == "127.0.0.1"


@pytest.mark.parametrize(
    "path",
    [
        "/__proxy/api/health",
        "/__proxy/api/health/",
        "/__proxy/api/rules",
        "/__proxy/api/rules/history?x=1",
        "/__proxy/mcp",
        "/v1/messages",
        "/__proxyx",
        "/",
    ],
)
def test_health_and_llm_traffic_are_left_alone(path):
    f = flow(path)
    run(ready_ui().requestheaders(f))
    assert UI_FLOW not in f.metadata and f.response is None
    assert f.request.port == 9001


def test_only_the_reverse_listener_serves_the_ui():
    f = flow("/__proxy/api/requests", mode="regular")
    run(ready_ui().requestheaders(f))
    assert UI_FLOW not in f.metadata and f.request.port == 9001


def test_bare_prefix_redirects_to_the_ui():
    f = flow("/__proxy?x=1")
    run(ready_ui().requestheaders(f))
    assert f.response.status_code == 302
    assert f.response.headers["location"] == "/__proxy/?x=1"


def test_answers_503_while_datasette_is_down():
    ui = ready_ui()
    ui.ready = False
    f = flow("/__proxy/api/requests")
    run(ui.requestheaders(f))
    assert f.response.status_code == 503 and f.metadata[UI_FLOW] is True
    assert b"not running" in f.response.content


def test_disabled_ui_leaves_paths_to_health():
    f = flow("/__proxy/api/requests")
    run(ready_ui(enabled=False).requestheaders(f))
    assert f.response is None and UI_FLOW not in f.metadata


def test_settings_from_toml_dict_or_object(tmp_path):
    assert Settings.from_any(None) == Settings()
    assert Settings.from_any({"port": 9000, "redact": False}).port == 9000
    assert Settings.from_any(SimpleNamespace(port=9001, token="t")).token == "t"
    for bad in ({"port": "80"}, {"port": 70000}, {"redact": "yes"}, {"redact_ipv4_prefix": 33},
                {"port": True}):  # fmt: skip
        with pytest.raises(ValueError):
            Settings.from_any(bad)
    toml = tmp_path / "mitm.toml"
    toml.write_text("[ui]\nport = 8123\nredact_ipv6_prefix = 48\n")
    suite = SimpleNamespace(config=SimpleNamespace(extra={}, source=toml))
    assert settings_of(suite) == Settings(port=8123, redact_ipv6_prefix=48)
    suite = SimpleNamespace(config=SimpleNamespace(extra={"ui": {"port": 1}}, source=toml))
    assert settings_of(suite).port == 1


def test_command_environment_and_metadata(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_INSPECTOR_UI_TOKEN", raising=False)
    ui = UI(SimpleNamespace(), Settings(port=8001, token="s3cr3t-value", redact_ipv4_prefix=16))
    ui.port = 8001
    db = tmp_path / "proxy.db"
    meta_path = ui.write_metadata(db)
    try:
        meta = meta_path.read_text()
        assert '"redact_ipv4_prefix": 16' in meta and "s3cr3t-value" not in meta
        assert '"slowest_requests"' in meta
    finally:
        meta_path.unlink()
    cmd = ui.command(db, meta_path)
    assert cmd[0] == sys.executable and cmd[3:5] == ["serve", str(db)]
    joined = " ".join(cmd[3:])
    assert "--host 127.0.0.1 --port 8001" in joined and "base_url /__proxy/" in joined
    assert "sql_time_limit_ms 3000" in joined and "immutable" not in joined
    env = ui.environment()
    assert env["LLM_INSPECTOR_UI_TOKEN"] == "s3cr3t-value"


async def test_requests_wait_for_datasette_while_it_starts(monkeypatch):
    monkeypatch.setattr("addons.ui.STARTUP_WAIT_S", 2.0)
    ui = ready_ui()
    ui.ready = False
    ui.task = asyncio.get_running_loop().create_future()  # a supervisor still at work
    f = flow("/__proxy/api/requests")

    async def comes_up():
        await asyncio.sleep(0.2)
        ui.ready = True
        ui.became_ready.set()

    await asyncio.gather(ui.requestheaders(f), comes_up())  # a UI path: a coroutine
    assert f.response is None and f.request.port == 8765
    ui.task.cancel()


async def test_supervisor_restarts_a_crashing_child_then_gives_up(tmp_path, caplog):
    db = tmp_path / "proxy.db"
    db.touch()
    ui = UI(SimpleNamespace(db_path=db), Settings(port=1, max_restarts=2))
    ui.port = 1
    ui.command = lambda *_: [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    await asyncio.wait_for(ui.supervise(), 20)
    assert ui.restarts == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("restarting" in m for m in messages) == 2
    assert any("giving up" in m and "boom" in m for m in messages)
    await ui.done()
    assert not ui.metadata_path.exists()


async def test_datasette_stops_when_the_script_is_unloaded_without_awaiting_done(tmp_path):
    """A script reload: mitmproxy calls `done` and does not await what it returns."""
    db = tmp_path / "proxy.db"
    db.touch()
    ui = UI(SimpleNamespace(db_path=db), Settings(port=1))
    ui.port = 1
    ui.command = lambda *_: [sys.executable, "-c", "import time; time.sleep(60)"]
    ui.task = asyncio.get_running_loop().create_task(ui.supervise())
    deadline = asyncio.get_running_loop().time() + 20
    while ui.process is None:  # the supervisor has started the child
        assert asyncio.get_running_loop().time() < deadline, "the child never started"
        await asyncio.sleep(0.01)
    child = ui.process
    stopping = ui.done()  # not awaited
    await asyncio.wait_for(child.wait(), 10)
    assert child.returncode is not None
    await stopping  # the task finishes on its own; awaited here only to end the test cleanly
    assert ui.task is None and not ui.metadata_path.exists()


@pytest.mark.parametrize(
    "listen, expected",
    [
        (("127.0.0.1", 8000), "http://127.0.0.1:8000"),
        (("0.0.0.0", 8000), "http://127.0.0.1:8000"),
        (("::", 8000, 0, 0), "http://[::1]:8000"),
        (("::1", 8000, 0, 0), "http://[::1]:8000"),
    ],
)
def test_datasette_is_told_where_the_rules_api_is(tmp_path, monkeypatch, listen, expected):
    regular = SimpleNamespace(mode=ProxyMode.parse("regular@8080"), listen_addrs=(("::", 8080),))
    reverse = SimpleNamespace(
        mode=ProxyMode.parse("reverse:http://127.0.0.1:9001@8000"), listen_addrs=(listen,)
    )
    proxyserver = SimpleNamespace(servers=[regular, reverse])
    master = SimpleNamespace(addons=SimpleNamespace(get=lambda name: proxyserver))
    monkeypatch.setattr("addons.ui.ctx.master", master, raising=False)
    ui = UI(SimpleNamespace(), Settings(port=8001))
    meta_path = ui.write_metadata(tmp_path / "proxy.db")
    try:
        settings = json.loads(meta_path.read_text())["plugins"]["llm-inspector"]
    finally:
        meta_path.unlink()
    assert settings["suite_url"] == expected
