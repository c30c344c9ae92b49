"""The recorder process, for real: jobs in through a pipe, rows out in SQLite."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from addons.pipeline import Begin, Finish
from addons.worker import Worker
from tests.harness import until

BODY = json.dumps(
    {
        "model": "claude-x",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hello worker"}],
    }
).encode()
ANSWER = json.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
).encode()


def exchange(worker: Worker, flow_id: str) -> None:
    worker.submit(
        Begin(
            id=flow_id,
            started_at=1_790_000_000.0,
            listener="reverse",
            method="POST",
            scheme="http",
            host="127.0.0.1",
            path="/v1/messages",
            upstream="anthropic",
            upstream_url="http://x",
            peer_ip="127.0.0.1",
            headers=((b"user-agent", b"curl/8.5.0"),),
            body=BODY,
        )
    )
    worker.submit(
        Finish(
            id=flow_id,
            ended_at=1_790_000_001.0,
            status=200,
            headers=((b"content-type", b"application/json"),),
            body=ANSWER,
        )
    )


def rows(db) -> list[dict]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("select * from requests order by id")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


@pytest.fixture
def worker(tmp_path):
    w = Worker(tmp_path / "proxy.db", quiet=True)
    w.start()
    yield w
    w.stop()


def test_jobs_become_rows_and_summaries_come_back(worker, tmp_path):
    seen: list[dict] = []
    got = threading.Event()
    worker.on_summary(lambda s: (seen.append(s), got.set()))
    assert worker.call("ready").result(timeout=30) is True
    exchange(worker, "a1")
    [row] = until(
        lambda: [r for r in rows(tmp_path / "proxy.db") if r["state"] == "complete"], what="the row"
    )
    assert row["client_app"] == "curl" and row["output_tokens"] == 1
    assert row["prompt_preview"] == "hello worker"
    assert got.wait(10) and seen[0]["id"] == "a1" and "request_headers" not in seen[0]
    stats = until(
        lambda: worker.stats() if worker.stats().get("recorded") else None,
        what="stats from the recorder process",
    )
    assert stats["alive"] and stats["db_ok"] and stats["recorded"] == 1


def test_storage_calls_run_in_the_recorder_process(worker):
    entry = {"version": 1, "document": {"loop_detector": {"enabled": False}}, "at": "t", "by": "x"}
    assert worker.call("load_rules").result(timeout=30) is None
    worker.call("store_rules", entry, []).result(timeout=30)
    assert worker.call("load_rules").result(timeout=30)["current"] == entry
    with pytest.raises(RuntimeError, match="unknown call"):
        worker.call("drop_tables").result(timeout=30)


def test_a_dead_recorder_process_is_restarted_and_recording_goes_on(worker, tmp_path):
    worker.call("ready").result(timeout=30)
    first = worker.process
    first.kill()
    until(lambda: worker.process is not first and worker.stats()["alive"], what="a restart")
    worker.call("ready").result(timeout=30)
    exchange(worker, "b2")
    until(lambda: [r for r in rows(tmp_path / "proxy.db") if r["id"] == "b2"], what="the row")
    assert worker.stats()["restarts"] == 1


def test_submit_never_blocks_and_counts_what_it_drops(tmp_path):
    w = Worker(tmp_path / "proxy.db", quiet=True, queue_size=10)  # never started
    for i in range(100):
        exchange(w, f"x{i}")
    assert w.stats()["dropped"] == 190
