"""Bad input and faults: traffic is never broken by the inspector; every row says what happened."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading

import anthropic
import httpx
import ollama
import openai
import psutil
import pytest

from tests.harness import Proxy

CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1


def stream_anthropic(proxy, scenario: str, text: str = "go"):
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-scenario": scenario},
    )
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": text}]
    ) as stream:
        return stream.get_final_message()


# -- upstream unreachable: an error in the client's own dialect --------------------------------


def test_unreachable_anthropic_upstream_gives_anthropic_error(make_proxy):
    proxy = make_proxy(upstream_url=CLOSED)
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 502
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "api_error"
    assert "Connect call failed" in info.value.body["error"]["message"]
    [row] = proxy.wait_rows()
    assert row["status"] == 502 and row["state"] == "error"
    assert "Connect call failed" in row["error"]


def test_unreachable_openai_upstream_gives_openai_error(make_proxy):
    proxy = make_proxy(upstream_url=CLOSED)
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    assert info.value.body["type"] == "server_error"
    assert "failed" in info.value.message
    [row] = proxy.wait_rows()
    assert row["status"] == 502 and row["dialect"] == "openai_chat"


def test_unreachable_ollama_upstream_gives_ollama_error(make_proxy):
    proxy = make_proxy(upstream_url=CLOSED)
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=proxy.url).chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert "Connect call failed" in info.value.error
    [row] = proxy.wait_rows()
    assert row["status"] == 502 and row["upstream"] == "ollama"


def test_upstream_that_never_answers_gives_504(make_proxy):
    proxy = make_proxy("[timeouts]\nupstream_response_s = 1\n")
    client = anthropic.Anthropic(
        base_url=proxy.url, api_key="k", max_retries=0, default_headers={"x-fake-scenario": "hang"}
    )
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 504
    assert info.value.body["error"]["type"] == "timeout_error"
    [row] = proxy.wait_rows()
    assert row["status"] == 504 and "no response within 1 s" in row["error"]


# -- streams cut short ----------------------------------------------------------------------


def test_reset_mid_stream_ends_with_an_error_event_the_sdk_understands(proxy):
    with pytest.raises(anthropic.APIStatusError) as info:
        stream_anthropic(proxy, "reset-mid-stream,encoding=identity,chunks=10")
    assert "failed" in str(info.value)
    [row] = proxy.wait_rows()
    assert row["state"] == "error" and row["status"] == 200
    assert row["error"].startswith("upstream anthropic")
    assert row["stream_events"] >= 1  # what arrived before the reset is kept


def test_reset_mid_compressed_stream_closes_the_connection(proxy):
    # A compressed stream cannot take an appended plaintext event: the client sees the cut.
    with pytest.raises((httpx.HTTPError, anthropic.APIError)):
        stream_anthropic(proxy, "reset-mid-stream,encoding=zstd,chunks=10")
    [row] = proxy.wait_rows()
    assert row["state"] == "error"


def test_truncated_stream_is_recorded_as_cut_short(proxy):
    with pytest.raises((httpx.HTTPError, anthropic.APIError)):
        stream_anthropic(proxy, "truncate,encoding=identity,chunks=10")
    [row] = proxy.wait_rows()
    assert row["state"] == "error" and row["error"]


def test_error_event_mid_stream_is_recorded(proxy):
    with pytest.raises(anthropic.APIStatusError):
        stream_anthropic(proxy, "error-mid-stream,chunks=10")
    [row] = proxy.wait_rows()
    assert row["state"] == "error" and "overloaded" in row["error"]


def test_malformed_event_does_not_stop_capture(proxy):
    client = openai.OpenAI(
        base_url=f"{proxy.url}/v1",
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-scenario": "malformed,chunks=10"},
    )
    with pytest.raises(Exception):  # noqa: B017 - the SDK itself chokes on the garbage line
        list(
            client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    [row] = proxy.wait_rows()
    assert row["status"] == 200 and row["stream_events"] >= 10


def test_client_disconnect_mid_stream_leaves_no_pending_row(proxy):
    url = f"{proxy.url}/v1/messages"
    body = {
        "model": "claude-x",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx.stream(
        "POST",
        url,
        json=body,
        headers={"x-fake-scenario": "hang-mid-stream,chunks=10,encoding=identity"},
    ) as r:
        first = next(r.iter_lines())
        assert first.startswith("event: message_start")
    # The client has gone; the upstream still hangs.
    [row] = proxy.wait_rows()
    assert row["state"] == "error" and "client disconnected" in row["error"]
    assert proxy.query("select count(*) n from requests where state = 'pending'")[0]["n"] == 0


def test_idle_stream_is_cut_and_recorded(make_proxy):
    proxy = make_proxy("[timeouts]\nstream_idle_s = 1\n")
    with pytest.raises(anthropic.APIStatusError) as info:
        stream_anthropic(proxy, "hang-mid-stream,chunks=10,encoding=identity")
    assert "idle" in str(info.value)
    [row] = proxy.wait_rows()
    assert row["state"] == "error" and "stream idle for 1 s" in row["error"]


def test_streams_reach_the_client_before_the_upstream_finishes(proxy):
    """The upstream stalls after a few events: the client must already hold them."""
    url = f"{proxy.url}/v1/messages"
    body = {
        "model": "claude-x",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    headers = {"x-fake-scenario": "hang-mid-stream,chunks=20,after=6,encoding=identity"}
    with httpx.stream("POST", url, json=body, headers=headers) as r:
        lines = r.iter_lines()
        seen = [next(lines) for _ in range(12)]
        assert sum(line.startswith("event: ") for line in seen) >= 4
        # ...and while the stream is still open, its row is pending with live token counts.
        [row] = proxy.wait_rows(where="state = 'pending' and output_tokens > 0")
        assert row["is_stream"] == 1


# -- bad input: forwarded untouched, recorded ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json at all", b"\x00\x01\x02\xff\xfe binary", b'{"model": "caf\xe9"}', b"[1,2,3]"],
    ids=["empty", "text", "binary", "invalid-utf8", "json-array"],
)
def test_unparseable_bodies_are_forwarded_untouched_and_recorded(proxy, upstream, body):
    r = httpx.post(
        f"{proxy.url}/v1/messages", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code in (200, 400)
    [sent] = upstream.requests
    assert sent.body == body
    [row] = proxy.wait_rows()
    assert row["status"] == r.status_code and row["dialect"] == "anthropic"
    assert row["requested_model"] is None
    if body:
        import sqlite_utils

        from addons.store import bodies

        assert bodies.load(sqlite_utils.Database(proxy.db_path), row["request_body_id"]) == body


def test_unknown_paths_go_to_the_default_upstream_and_are_recorded(proxy, upstream):
    r = httpx.get(f"{proxy.url}/some/unknown/path?x=1")
    [sent] = upstream.requests
    assert sent.target == "/some/unknown/path?x=1"
    [row] = proxy.wait_rows()
    assert row["path"] == "/some/unknown/path?x=1" and row["status"] == r.status_code
    assert row["dialect"] is None


def test_suite_paths_are_never_forwarded(proxy, upstream):
    assert httpx.get(f"{proxy.url}/__proxy/nope").status_code == 404
    assert upstream.requests == []


# -- the database misbehaves: traffic is unaffected -----------------------------------------


def test_locked_database_costs_rows_not_traffic_and_recording_resumes(make_proxy):
    proxy = make_proxy("[storage]\nbusy_timeout_ms = 100\n")
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    ask = lambda text: client.messages.create(  # noqa: E731
        model="claude-x", max_tokens=5, messages=[{"role": "user", "content": text}]
    )
    ask("before")
    proxy.wait_rows(1)

    lock = sqlite3.connect(proxy.db_path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        assert ask("while locked").content[0].text.startswith("echo: while locked")
        health = _until_health(proxy, lambda h: h["rows"]["failed"] > 0)
        assert health["status"] == "degraded" and health["db"]["ok"] is False
        assert "locked" in health["db"]["last_error"]
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    ask("after")
    rows = proxy.wait_rows(where="prompt_preview = 'after'")
    assert rows[0]["state"] == "complete"
    assert _until_health(proxy, lambda h: h["db"]["ok"])["status"] == "ok"


def _until_health(proxy, predicate, timeout=15.0):
    from tests.harness import until

    def check():
        health = proxy.health()
        return health if predicate(health) else None

    return until(check, timeout, "health")


# -- memory and crashes ------------------------------------------------------------------


def test_fifty_megabyte_body_streams_through_with_bounded_memory(proxy, upstream):
    process = psutil.Process(proxy.process.pid)
    before = process.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    size = 50 * 1024 * 1024
    chunk = b"x" * (1024 * 1024)

    def body():
        for _ in range(size // len(chunk)):
            yield chunk

    try:
        r = httpx.post(
            f"{proxy.url}/v1/messages",
            content=body(),
            headers={"content-type": "application/json", "content-length": str(size)},
            timeout=60,
        )
    finally:
        stop.set()
        sampler.join()
    assert r.status_code in (200, 400)
    assert len(upstream.requests[0].body) == size
    growth_mb = (peak[0] - before) / 2**20
    assert growth_mb < 48, f"proxy RSS grew by {growth_mb:.1f} MB for a 50 MB body"
    [row] = proxy.wait_rows()
    assert row["request_bytes"] == size and row["request_body_id"] is None


def test_rows_left_pending_by_a_crash_are_marked_abandoned(make_proxy, tmp_path):
    first = make_proxy(tmp=tmp_path / "crash")
    url = f"{first.url}/v1/messages"
    body = {
        "model": "claude-x",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx.stream(
        "POST", url, json=body, headers={"x-fake-scenario": "hang-mid-stream,chunks=10"}
    ) as r:
        chunks = r.iter_bytes()  # keep the iterator: dropping it closes the response
        next(chunks)
        first.wait_rows(where="state = 'pending'")
        first.stop(signal.SIGKILL)
    second = Proxy(
        tmp_path / "crash", first.config_path.read_text().split('anthropic = "')[1].split('"')[0]
    ).start()
    try:
        [row] = second.wait_rows(where="state = 'abandoned'")
        assert "abandoned" in row["error"]
    finally:
        second.stop()


def test_health_reports_rows_queue_and_overhead(proxy):
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0)
    for i in range(3):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
    proxy.wait_rows(3)
    health = _until_health(proxy, lambda h: h["rows"]["recorded"] >= 3)
    assert health["status"] == "ok" and health["uptime_s"] > 0
    assert health["rows"]["not_recorded"] == 0 and health["queue_depth"] == 0
    assert health["overhead_ms"]["samples"] >= 3
    assert 0 < health["overhead_ms"]["p50"] <= health["overhead_ms"]["p99"]
    assert json.dumps(health)
