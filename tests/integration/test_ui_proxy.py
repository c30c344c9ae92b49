"""The UI through the proxy: the suite starts Datasette and serves it at /__proxy/."""

from __future__ import annotations

import re
import socket

import anthropic
import httpx

from tests.harness import until

READY = r"UI ready at /__proxy/ \(Datasette on 127\.0\.0\.1:(\d+)\)"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_requests_made_through_the_proxy_are_listed_at_proxy_api(make_proxy):
    proxy = make_proxy("[ui]\nport = 0\n")
    ready = proxy.wait_for_output(READY, timeout=60)
    ui_port = int(re.search(READY, ready).group(1))
    # Datasette has read its metadata file: it is gone, so a suite that is killed leaves none.
    assert not list(proxy.tmpdir.glob("llm-inspector-ui-*"))

    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=20,
        messages=[{"role": "user", "content": "hello from the ui test"}],
    )
    [row] = proxy.wait_rows()

    def listed():
        response = httpx.get(f"{proxy.url}/__proxy/api/requests", timeout=10)
        assert response.status_code == 200, response.text
        return [item for item in response.json()["items"] if item["id"] == row["id"]]

    [item] = until(listed, timeout=20, what="the request in /__proxy/api/requests")
    assert item["prompt_preview"] == "hello from the ui test"
    assert item["requested_model"] == "claude-haiku-4-5" and item["redacted"] is False

    detail = httpx.get(f"{proxy.url}/__proxy/api/requests/{row['id']}", timeout=10).json()
    assert detail["request_body"]["messages"][0]["content"] == "hello from the ui test"
    timeline = httpx.get(
        f"{proxy.url}/__proxy/api/conversations/{row['conversation_id']}", timeout=10
    ).json()
    assert timeline["turns"][0]["new_messages"][0]["blocks"][0]["text"] == (
        "hello from the ui test"
    )

    # The proxy says who the viewer is: a client's own X-Forwarded-For is overwritten.
    info = httpx.get(
        f"{proxy.url}/__proxy/api/info", headers={"X-Forwarded-For": "10.9.9.9"}, timeout=10
    ).json()
    assert info["viewer"] == {"ip": "127.0.0.1", "sees_everything": True}
    assert info["database"] == str(proxy.db_path.resolve())

    # Health is still the suite's own; the bare prefix leads to the UI; pages and canned
    # queries come from Datasette.
    assert "uptime_s" in httpx.get(f"{proxy.url}/__proxy/api/health", timeout=10).json()
    bare = httpx.get(f"{proxy.url}/__proxy", timeout=10)
    assert bare.status_code == 302 and bare.headers["location"] == "/__proxy/"
    assert httpx.get(f"{proxy.url}/__proxy/proxy/slowest_requests.json", timeout=10).is_success
    assert port_open(ui_port)

    proxy.stop()
    until(lambda: not port_open(ui_port), timeout=10, what="Datasette to stop with the suite")


def test_the_ui_can_be_turned_off(make_proxy):
    proxy = make_proxy("[ui]\nenabled = false\n")
    response = httpx.get(f"{proxy.url}/__proxy/api/requests", timeout=10)
    assert response.status_code == 404
    assert "uptime_s" in httpx.get(f"{proxy.url}/__proxy/api/health", timeout=10).json()
