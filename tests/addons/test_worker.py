"""The recorder process, for real: jobs in through a pipe, rows out in SQLite.

The proxy's side of it lives on mitmproxy's event loop; here a loop runs in a thread of its own
and the tests hand it their calls (`on_loop`), as the proxy's hooks would make them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

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


class LoopWorker:
    """A Worker on an event loop in its own thread; `on_loop(f, ...)` runs f there."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def on_loop(self, function: Callable[..., Any], *args: Any) -> Any:
        async def run() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


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
def running(tmp_path):
    lw = LoopWorker(Worker(tmp_path / "proxy.db", quiet=True))
    lw.on_loop(lw.worker.start)
    yield lw
    lw.on_loop(lw.worker.stop)
    lw.close()


@pytest.fixture
def worker(running):
    return running.worker


def test_jobs_become_rows_and_summaries_come_back(running, worker, tmp_path):
    seen: list[dict] = []
    got = threading.Event()
    running.on_loop(worker.on_summary, lambda s: (seen.append(s), got.set()))
    assert running.on_loop(worker.call, "ready").result(timeout=30) is True
    running.on_loop(exchange, worker, "a1")
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


def test_storage_calls_run_in_the_recorder_process(running, worker):
    def call(*args):
        return running.on_loop(worker.call, *args).result(timeout=30)

    entry = {"version": 1, "document": {"loop_detector": {"enabled": False}}, "at": "t", "by": "x"}
    assert call("load_rules") is None
    call("store_rules", entry, [])
    assert call("load_rules")["current"] == entry
    with pytest.raises(RuntimeError, match="unknown call"):
        call("drop_tables")


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
def test_the_recorder_process_runs_as_background_work(running, worker):
    """Every thread of it: nice 10, and SCHED_BATCH, so that its wake-ups never preempt the
    proxy (the kernel gives batch threads the CPU at the next tick, not at once)."""
    running.on_loop(worker.call, "ready").result(timeout=30)
    pid = worker.process.pid
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    assert len(threads) >= 2  # the reader and the writer at least
    for tid in threads:
        assert os.sched_getscheduler(tid) == os.SCHED_BATCH
        assert os.getpriority(os.PRIO_PROCESS, tid) == 10
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the proxy's own stays as it was


def test_call_sync_answers_before_the_loop_runs_again(running, worker):
    """What the rules hook does at start-up: it gets its answer while blocking the loop."""
    running.on_loop(exchange, worker, "s1")  # a job waiting ahead of the call goes first
    assert running.on_loop(worker.call_sync, "ready") is True


def test_a_dead_recorder_process_is_restarted_and_recording_goes_on(running, worker, tmp_path):
    running.on_loop(worker.call, "ready").result(timeout=30)
    first = worker.process
    first.kill()
    until(
        lambda: worker.process is not first and running.on_loop(worker.stats)["alive"],
        what="a restart",
    )
    running.on_loop(worker.call, "ready").result(timeout=30)
    running.on_loop(exchange, worker, "b2")
    until(lambda: [r for r in rows(tmp_path / "proxy.db") if r["id"] == "b2"], what="the row")
    assert running.on_loop(worker.stats)["restarts"] == 1


def test_stop_hands_over_everything_before_the_process_exits(tmp_path):
    lw = LoopWorker(Worker(tmp_path / "proxy.db", quiet=True))
    lw.on_loop(lw.worker.start)
    for i in range(300):
        lw.on_loop(exchange, lw.worker, f"e{i}")
    lw.on_loop(lw.worker.stop)  # before the 20 ms hand-over timer fires
    lw.close()
    assert len([r for r in rows(tmp_path / "proxy.db") if r["state"] == "complete"]) == 300


def test_submit_never_blocks_and_counts_what_it_drops(tmp_path):
    """A recorder process that stops reading: the pipe fills, the backlog reaches its bound,
    and from there each job is counted as dropped instead of held."""
    lw = LoopWorker(Worker(tmp_path / "proxy.db", quiet=True, max_backlog_bytes=200_000))
    worker = lw.worker
    lw.on_loop(worker.start)
    lw.on_loop(worker.call, "ready").result(timeout=30)
    worker.process.send_signal(signal.SIGSTOP)  # alive, reading nothing

    def hundred(start: int) -> int:
        for i in range(start, start + 100):
            exchange(worker, f"x{i}")
        worker.flush()
        return worker.dropped

    total = 0
    try:
        while lw.on_loop(hundred, total) == 0:  # until the pipe and the bound are full
            total += 100
            assert total < 200_000, "nothing was ever dropped"
        total += 100
        for _ in range(10):  # and on past it
            lw.on_loop(hundred, total)
            total += 100
        stats = lw.on_loop(worker.stats)
        assert stats["dropped"] > 0
        assert worker.backlog < 200_000 + 200_000  # the bound, plus at most one hand-over
    finally:
        worker.process.send_signal(signal.SIGCONT)
        lw.on_loop(worker.stop)
        lw.close()
    # Every exchange is a row or counted; what reached the recorder process before it stopped
    # is written, however much that is.
    recorded = len(rows(tmp_path / "proxy.db"))
    assert recorded + stats["dropped"] // 2 >= total - 1


def test_queue_depth_counts_jobs_in_the_pipe_until_they_are_written(running, worker, tmp_path):
    """Health's queue depth is 0 only once every job is a row: a job already in the pipe, or
    waiting in a stopped recorder process, still counts."""
    running.on_loop(worker.call, "ready").result(timeout=30)
    worker.process.send_signal(signal.SIGSTOP)
    try:
        for i in range(5):
            running.on_loop(exchange, worker, f"q{i}")
        running.on_loop(worker.flush)  # now in the pipe, not here
        assert not worker.pending and not worker.frames
        assert running.on_loop(worker.stats)["queue_depth"] == 10
    finally:
        worker.process.send_signal(signal.SIGCONT)
    until(
        lambda: running.on_loop(worker.stats)["queue_depth"] == 0, what="the recorder to catch up"
    )
    assert len([r for r in rows(tmp_path / "proxy.db") if r["state"] == "complete"]) == 5


def test_jobs_frames_carry_large_bodies_out_of_band_and_survive_partial_writes():
    """A frame is the head, the pickle, then each large body as it is; written in any pieces
    (a pipe takes what fits), it reads back as the same jobs, bodies byte for byte."""
    import random

    from addons.worker import OUT_OF_BAND, RecentBodies, pack_jobs, unwritten

    big = random.Random(3).randbytes(300_000)
    jobs = [
        Begin(
            id="b1", started_at=1.0, listener="reverse", method="POST", scheme="http",
            host="h", path="/v1/messages", upstream="anthropic", upstream_url="http://x",
            peer_ip="127.0.0.1", headers=((b"a", b"b"),), body=big,
        ),
        Finish(id="b1", ended_at=2.0, status=200, headers=(), body=ANSWER),
        ("call", 1, "ready", ()),
    ]  # fmt: skip
    parts = pack_jobs(jobs, RecentBodies())
    assert len(parts) == 3 and parts[2] == big and len(ANSWER) < OUT_OF_BAND
    assert len(parts[1]) < 2_000  # the pickle holds no copy of the big body
    size = sum(len(p) for p in parts)
    rng, written = random.Random(7), 0
    pieces = []
    while written < size:  # a writer that gets a little further each time
        rest = unwritten(parts, written)
        chunk = b"".join(bytes(p) for p in rest)[: rng.randint(1, 50_000)]
        pieces.append(chunk)
        written += len(chunk)
    got = read_back(pieces)
    assert got == jobs and type(got[0].body) is bytes


def read_back(pieces) -> list:
    """The jobs the recorder process reads from a pipe these pieces are written to."""
    import os

    from addons.worker import RecentBodies, read_jobs

    read_fd, write_fd = os.pipe()
    try:
        writer = threading.Thread(target=lambda: [os.write(write_fd, p) for p in pieces])
        writer.start()
        got = read_jobs(read_fd, RecentBodies())
        writer.join()
    finally:
        os.close(read_fd)
        os.close(write_fd)
    return got


def test_every_body_field_of_a_job_goes_out_of_band():
    """The upstream's copy of a request and a buffered response travel beside the pickle too;
    headers and small bodies stay in it."""
    import random

    from addons.worker import RecentBodies, pack_jobs

    rng = random.Random(5)
    sent, upstream, answer = rng.randbytes(40_000), rng.randbytes(50_000), rng.randbytes(60_000)
    jobs = [
        Begin(
            id="b2", started_at=1.0, listener="reverse", method="POST", scheme="http",
            host="h", path="/v1/messages", upstream="openai", upstream_url="http://x",
            peer_ip="127.0.0.1", headers=((b"a", b"b" * 40_000),), body=sent,
            upstream_body=upstream,
        ),
        Finish(id="b2", ended_at=2.0, status=200, headers=(), body=answer),
    ]  # fmt: skip
    parts = pack_jobs(jobs, RecentBodies())
    assert [bytes(p) for p in parts[2:]] == [sent, upstream, answer]
    assert 40_000 < len(parts[1]) < 42_000  # the long header stayed in the pickle
    assert read_back(parts) == jobs


def test_large_bodies_through_a_full_pipe_are_stored_byte_for_byte(running, worker, tmp_path):
    """Bodies of 700 KB, more than the pipe holds at once: written in parts as it drains."""
    import random

    from addons.store import bodies

    running.on_loop(worker.call, "ready").result(timeout=30)
    sent = {}
    for i in range(4):
        body = json.dumps(
            {"model": "claude-x", "messages": [{"role": "user", "content": f"{i}"}],
             "pad": random.Random(i).randbytes(350_000).hex()}
        ).encode()  # fmt: skip
        sent[f"p{i}"] = body
        running.on_loop(
            worker.submit,
            Begin(
                id=f"p{i}", started_at=1_790_000_000.0, listener="reverse", method="POST",
                scheme="http", host="127.0.0.1", path="/v1/messages", upstream="anthropic",
                upstream_url="http://x", peer_ip="127.0.0.1", headers=(), body=body,
            ),
        )  # fmt: skip
    running.on_loop(worker.flush)

    def all_stored() -> list[dict] | None:
        found = [r for r in rows(tmp_path / "proxy.db") if r["request_body_id"]]
        return found if len(found) == 4 else None

    stored = until(all_stored, what="four rows with bodies")
    conn = sqlite3.connect(tmp_path / "proxy.db")
    try:
        for row in stored:
            assert bodies.load(conn, row["request_body_id"]) == sent[row["id"]]
    finally:
        conn.close()


@pytest.mark.parametrize("cut", [0, 3, 8, 12, 40, -1])
def test_a_frame_cut_short_reads_as_the_end_of_the_pipe(cut):
    """The proxy gone mid-frame: whatever part of it arrived, the reader sees EOFError."""
    import os

    from addons.worker import RecentBodies, pack_jobs, read_jobs

    job = Finish(id="c", ended_at=1.0, status=200, body=b"x" * 40_000)
    frame = b"".join(bytes(p) for p in pack_jobs([job], RecentBodies()))
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, frame[:cut])
        os.close(write_fd)
        with pytest.raises(EOFError):
            read_jobs(read_fd, RecentBodies())
    finally:
        os.close(read_fd)


def conversation_body(turns: int, seed: int = 0) -> bytes:
    """A Claude Code-like request at turn `turns`: the history so far with the cache marker on
    its last message, then the same system prompt and tools every turn."""
    rng = random.Random(seed)
    messages = [
        {"role": "user" if i % 2 else "assistant", "content": [{"type": "text", "text": text}]}
        for i, text in enumerate(rng.randbytes(6_000).hex() for _ in range(turns))
    ]
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    tools = [{"name": f"tool{i}", "input_schema": {"pad": "t" * 2_000}} for i in range(20)]
    return json.dumps(
        {"model": "claude-x", "messages": messages, "system": "s" * 20_000, "tools": tools}
    ).encode()


def through_the_pipe(bodies: list[bytes]) -> tuple[list[int], list[bytes]]:
    """Each body as a job through a real pipe, one frame each: the bytes sent for it beside
    the pickle, and the bodies the other end read back (each checked byte for byte)."""
    import os

    from addons.worker import RecentBodies, pack_jobs, read_jobs

    sender, receiver = RecentBodies(), RecentBodies()
    sent, received = [], []
    read_fd, write_fd = os.pipe()
    try:
        for i, body in enumerate(bodies):
            job = Finish(id=f"t{i}", ended_at=1.0, status=200, body=body)
            parts = pack_jobs([job], sender)
            sent.append(len(parts[2]))
            data = b"".join(bytes(p) for p in parts)
            writer = threading.Thread(target=os.write, args=(write_fd, data))
            writer.start()
            [got] = read_jobs(read_fd, receiver)
            writer.join()
            assert got.body == body, f"body {i}"
            received.append(got.body)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    return sent, received


def test_bodies_that_repeat_earlier_ones_go_as_what_differs():
    """Each turn of a conversation sends only what is new in its body, a resent body sends
    nothing, another conversation all but the system prompt and tools it shares, an unrelated
    body all of it; every body reads back byte for byte."""
    from addons.worker import RECENT_MAX

    bodies = [conversation_body(turns) for turns in range(2, 8)]
    bodies.append(conversation_body(7))  # sent again
    bodies.append(conversation_body(3, seed=9))  # another conversation, the same tools
    bodies.append(conversation_body(8))  # the first one goes on after it
    bodies.append(random.Random(5).randbytes(RECENT_MAX + 1))  # too big to remember: whole
    bodies.append(conversation_body(9))
    sent, received = through_the_pipe(bodies)
    turns = sent[1:6] + sent[8:9] + sent[10:11]
    assert all(n < 20_000 for n in turns), sent  # a new message and the moved cache marker
    assert sent[0] == len(bodies[0]) and sent[9] == len(bodies[9])
    assert 36_000 <= sent[7] <= len(bodies[7]) - 60_000  # its 3 messages, not 60 KB of tools
    assert sent[6] == 0 and received[6] is received[5]  # the same bytes again: the same object


def test_a_turn_finds_the_turn_it_extends_behind_an_earlier_one_sent_again():
    """An early turn sent again (a retry, a rewind) is wholly inside the next turn too; the
    next turn still goes as what is new since the turn it extends."""
    bodies = [
        conversation_body(6),
        conversation_body(7),
        conversation_body(2),
        conversation_body(8),
    ]
    sent, _ = through_the_pipe(bodies)
    assert sent[2] < 20_000 and sent[3] < 20_000, sent
    assert len(bodies[3]) - len(bodies[2]) > 40_000  # what sending it against the newest costs


def test_a_new_recorder_process_gets_the_waiting_frames_packed_again(tmp_path):
    """Frames still waiting when the recorder process dies were packed against the bodies it
    remembered; the new process gets them packed again, and stores every body intact."""
    from addons.store import bodies

    lw = LoopWorker(Worker(tmp_path / "proxy.db", quiet=True))
    worker = lw.worker
    lw.on_loop(worker.start)
    lw.on_loop(worker.call, "ready").result(timeout=30)
    first = worker.process
    first.send_signal(signal.SIGSTOP)  # reads nothing: the pipe fills
    sent = {
        "r0": conversation_body(40, seed=3),  # 540 KB: into the pipe whole
        "x1": conversation_body(40, seed=1),  # unrelated, and more than the pipe has left
        "x2": conversation_body(40, seed=2),
        "r1": conversation_body(41, seed=3),  # r0's next turn: what differs from r0
    }
    try:
        for flow_id, body in sent.items():
            begin = Begin(
                id=flow_id, started_at=1_790_000_000.0, listener="reverse", method="POST",
                scheme="http", host="127.0.0.1", path="/v1/messages", upstream="anthropic",
                upstream_url="http://x", peer_ip="127.0.0.1", headers=(), body=body,
            )  # fmt: skip
            lw.on_loop(worker.submit, begin)
            lw.on_loop(worker.flush)
        waiting = lw.on_loop(lambda: [frame.batch[0].id for frame in worker.frames])
        assert waiting == ["x1", "x2", "r1"]  # r0 is in the pipe of the process that dies
        first.kill()
        until(lambda: worker.process is not first, what="a restart")
        lw.on_loop(worker.call, "ready").result(timeout=30)
        stored = until(
            lambda: {r["id"]: r for r in rows(tmp_path / "proxy.db") if r["id"] == "r1"} or None,
            what="r1's row",
        )
        conn = sqlite3.connect(tmp_path / "proxy.db")
        try:
            assert bodies.load(conn, stored["r1"]["request_body_id"]) == sent["r1"]
        finally:
            conn.close()
    finally:
        lw.on_loop(worker.stop)
        lw.close()
