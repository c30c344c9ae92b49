import logging
import os
import random
import re
import sqlite3
import threading

import pytest

from addons.store import bodies
from addons.store import recorder as recorder_module
from addons.store.recorder import ABANDONED_ERROR, Recorder
from addons.store.schema import open_db


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "capture.db")


@pytest.fixture
def make_recorder(path):
    started: list[Recorder] = []

    def make(**kwargs) -> Recorder:
        recorder = Recorder(path, **kwargs)
        recorder.start().result(5)
        started.append(recorder)
        return recorder

    yield make
    for recorder in started:
        recorder.stop()


def read(path):
    db = open_db(path)
    bodies.register_functions(db)
    return db


def request_row(request_id: str, **fields) -> dict:
    return {
        "id": request_id,
        "started_at": "2026-01-01T00:00:00.000Z",
        "listener": "reverse",
        "method": "POST",
        "host": "api.anthropic.com",
        "path": "/v1/messages",
        "upstream": "anthropic",
        "dialect": "anthropic",
        "requested_model": "claude-sonnet-4-5",
        "is_stream": True,
        "request_headers": {"x-api-key": "sk-a…f00d"},
        "tools_offered": ["Read", "Bash"],
        **fields,
    }


def hold_writer(recorder: Recorder) -> threading.Event:
    """Block the writer thread until the returned event is set, so items pile up in the queue."""
    release = threading.Event()
    running = threading.Event()

    def wait(db):
        running.set()
        release.wait(10)

    recorder.submit(wait)
    assert running.wait(5)
    return release


def test_pending_then_finished(make_recorder, path):
    recorder = make_recorder()
    request = b'{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}'
    recorder.begin(request_row("r1"), request)
    assert recorder.flush(5)

    db = read(path)
    row = db["requests"].get("r1")
    assert row["state"] == "pending"
    assert row["request_bytes"] == len(request)
    assert bodies.load(db, row["request_body_id"]) == request
    assert row["request_headers"] == '{"x-api-key":"sk-a…f00d"}'
    assert row["tools_offered"] == '["Read","Bash"]' and row["is_stream"] == 1

    response = b'{"content":[{"type":"text","text":"hello"}]}'
    stream = b"event: message_start\ndata: {}\n\n"
    recorder.finish(
        request_row("r1", status=200, output_tokens=5, served_model="claude-sonnet-4-5-20250929"),
        response_body=response,
        stream_body=stream,
    )
    assert recorder.flush(5)
    row = db["requests"].get("r1")
    assert row["state"] == "complete" and row["status"] == 200 and row["output_tokens"] == 5
    assert row["ended_at"].endswith("Z")
    assert bodies.load(db, row["request_body_id"]) == request  # kept from begin
    assert bodies.load(db, row["response_body_id"]) == response
    assert (
        db.execute("SELECT body_text(stream_body_id) FROM requests").fetchone()[0]
        == stream.decode()
    )
    assert row["response_bytes"] == len(response)

    stats = recorder.stats()
    assert stats["begun"] == 1 and stats["recorded"] == 1
    assert stats["failed"] == 0 and stats["dropped"] == 0 and stats["queue_depth"] == 0
    assert stats["db_ok"] is True and stats["last_error"] is None
    assert stats["batches"] >= 2 and stats["write_ms_p50"] <= stats["write_ms_p95"]


def test_progress_items_in_one_batch_become_one_update(make_recorder, path):
    statements: list[str] = []
    recorder = make_recorder(on_connect=lambda db: db.conn.set_trace_callback(statements.append))
    release = hold_writer(recorder)
    recorder.begin(request_row("r1"))
    recorder.progress("r1", {"output_tokens": 1, "ttft_ms": 120.5})
    recorder.progress("r1", {"output_tokens": 7})
    recorder.progress("r1", {"output_tokens": 9, "response_text": "Hel"})
    statements.clear()
    release.set()
    assert recorder.flush(5)

    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    # SQLite traces the statement again for each trigger it fires (m002's sync triggers).
    assert len(set(updates)) == 1
    row = read(path)["requests"].get("r1")
    assert (row["state"], row["output_tokens"], row["ttft_ms"], row["response_text"]) == (
        "pending",
        9,
        120.5,
        "Hel",
    )


def test_an_exchange_begun_and_finished_in_one_batch_is_one_insert(make_recorder, path):
    statements: list[str] = []
    recorder = make_recorder(on_connect=lambda db: db.conn.set_trace_callback(statements.append))
    release = hold_writer(recorder)
    request = b'{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"quick"}]}'
    recorder.begin(request_row("q1", client_app="curl", conversation_id="c1"), request)
    recorder.begin(request_row("q2"))  # still pending when the batch is written
    recorder.finish(
        request_row("q1", client_app="curl", conversation_id="c1", status=200, output_tokens=2),
        response_body=b'{"content":[]}',
    )
    recorder.verdicts("q1", [{"phase": "preflight", "rule_id": "r", "verdict": "warn"}])
    statements.clear()
    release.set()
    assert recorder.flush(5)

    # SQLite traces a statement again for each trigger it fires: count distinct statements.
    inserts = {s for s in statements if s.lstrip().startswith("INSERT INTO requests (")}
    assert len(inserts) == 2  # q1 once, finished; q2 once, pending
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE REQUESTS")]
    db = read(path)
    q1, q2 = db["requests"].get("q1"), db["requests"].get("q2")
    assert (q1["state"], q1["status"], q1["output_tokens"]) == ("complete", 200, 2)
    assert q1["request_bytes"] == len(request) and bodies.load(db, q1["request_body_id"]) == request
    assert q2["state"] == "pending"
    assert [v["verdict"] for v in db["verdicts"].rows_where("request_id = 'q1'")] == ["warn"]
    conversation = db["conversations"].get("c1")
    assert conversation["requests"] == 1 and conversation["output_tokens"] == 2
    assert recorder.stats()["begun"] == 2 and recorder.stats()["recorded"] == 1


def test_a_batch_inserts_its_rows_a_statement_for_many(make_recorder, path):
    statements: list[str] = []

    def connect(db):
        # Few enough variables for a statement that the batch needs several.
        db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)
        db.conn.set_trace_callback(statements.append)

    recorder = make_recorder(on_connect=connect)
    release = hold_writer(recorder)
    for i in range(10):
        fields = {"client_app": "curl", "conversation_id": "c1", "prompt_preview": f"tell {i}"}
        recorder.begin(request_row(f"m{i}", **fields), f"request {i}".encode())
        recorder.finish(
            request_row(f"m{i}", **fields, status=200, output_tokens=i, response_text=f"told {i}"),
            response_body=f"response {i}".encode(),
        )
    statements.clear()
    release.set()
    assert recorder.flush(5)

    inserts = {s for s in statements if s.lstrip().startswith("INSERT INTO requests (")}
    columns = len(request_row("m0", **fields, status=200, output_tokens=0, response_text=""))
    assert 1 < len(inserts) < 10  # a few statements, not one a row
    rows_per_statement = [len(re.findall(r"\('m\d'", s)) for s in inserts]
    assert sum(rows_per_statement) == 10
    assert max(rows_per_statement) <= 100 // (columns + 4)  # + two bodies, state, ended_at
    db = read(path)
    rows = list(db["requests"].rows_where(order_by="id"))
    assert [(r["id"], r["state"], r["output_tokens"]) for r in rows] == [
        (f"m{i}", "complete", i) for i in range(10)
    ]
    assert [bodies.load(db, r["request_body_id"]) for r in rows] == [
        f"request {i}".encode() for i in range(10)
    ]
    # The triggers saw every row: conversation summary, rollups and search.
    conversation = db["conversations"].get("c1")
    assert conversation["requests"] == 10 and conversation["output_tokens"] == sum(range(10))
    assert db.execute("SELECT sum(requests) FROM stats_hourly").fetchone()[0] == 10
    found = db.execute(
        "SELECT id FROM requests WHERE rowid IN "
        "(SELECT rowid FROM requests_fts WHERE requests_fts MATCH 'told')"
    ).fetchall()
    assert len(found) == 10


def test_a_row_finished_twice_in_one_batch_keeps_the_later_finish(make_recorder, path):
    recorder = make_recorder()
    release = hold_writer(recorder)
    # d2's finishes have different columns: the first would go in a later statement than the
    # second if rows were only grouped by their columns.
    recorder.finish(request_row("d1", status=499, state="error", error="client went away"))
    recorder.finish(request_row("d2", status=200, output_tokens=3))
    recorder.finish(request_row("d2", status=499, state="error", error="client went away"))
    release.set()
    assert recorder.flush(5)
    db = read(path)
    row = db["requests"].get("d2")
    assert (row["state"], row["status"], row["output_tokens"], row["error"]) == (
        "error",
        499,
        3,
        "client went away",
    )
    assert db.execute("SELECT sum(requests), sum(errors) FROM stats_hourly").fetchone() == (2, 2)


def test_a_long_statement_gives_way_as_it_runs(make_recorder, monkeypatch):
    """The writer is background work: inside one long statement it still offers its core to
    whatever waits for it, every GIVE_WAY_OPCODES steps of SQLite's virtual machine."""
    yields: list[str] = []
    monkeypatch.setattr(
        recorder_module, "yield_cpu", lambda: yields.append(threading.current_thread().name)
    )
    recorder = make_recorder()
    count = recorder.submit(
        lambda db: db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
            "SELECT count(*) FROM n"
        ).fetchone()[0]
    ).result(10)
    assert count == 100000
    assert len(yields) >= 100000 // recorder_module.GIVE_WAY_OPCODES  # several opcodes a row
    assert set(yields) == {"llm-inspector-recorder"}


def test_finish_supersedes_progress_queued_or_late(make_recorder, path):
    recorder = make_recorder()
    release = hold_writer(recorder)
    recorder.begin(request_row("r1"))
    recorder.progress("r1", {"output_tokens": 3})
    recorder.finish(request_row("r1", output_tokens=40, state="complete"))
    recorder.progress("r1", {"output_tokens": 4})  # queued after the finish, same batch
    release.set()
    assert recorder.flush(5)
    recorder.progress("r1", {"output_tokens": 5, "state": "pending"})  # a later batch
    assert recorder.flush(5)
    row = read(path)["requests"].get("r1")
    assert (row["state"], row["output_tokens"]) == ("complete", 40)


def test_finish_without_begin_records_the_whole_row(make_recorder, path):
    recorder = make_recorder()
    request = b'{"messages":[{"role":"user","content":"lost begin"}]}'
    recorder.finish(
        request_row("r9", status=529, state="error", error="overloaded"),
        response_body=b'{"type":"error"}',
        request_body=request,
    )
    assert recorder.flush(5)
    db = read(path)
    row = db["requests"].get("r9")
    assert row["state"] == "error" and row["status"] == 529 and row["error"] == "overloaded"
    assert row["host"] == "api.anthropic.com" and row["started_at"] == "2026-01-01T00:00:00.000Z"
    assert bodies.load(db, row["request_body_id"]) == request
    assert recorder.stats()["recorded"] == 1 and recorder.stats()["begun"] == 0


def test_abandoned_sweep_across_a_restart(path):
    first = Recorder(path)
    assert first.start().result(5) == 0
    first.begin(request_row("cut-off"))
    first.begin(request_row("done"))
    first.finish(request_row("done", status=200))
    assert first.stop()

    second = Recorder(path)
    try:
        assert second.start().result(5) == 1
        second.begin(request_row("new"))
        assert second.flush(5)
        db = read(path)
        cut_off = db["requests"].get("cut-off")
        assert cut_off["state"] == "abandoned"
        assert cut_off["error"] == ABANDONED_ERROR
        assert cut_off["ended_at"].endswith("Z")
        assert db["requests"].get("done")["state"] == "complete"
        assert db["requests"].get("new")["state"] == "pending"
    finally:
        second.stop()


def test_verdicts_are_numbered_in_order(make_recorder, path):
    recorder = make_recorder()
    recorder.begin(request_row("r1"))
    recorder.verdicts(
        "r1", [{"phase": "request", "rule_id": "loop", "verdict": "warn", "details": {"n": 3}}]
    )
    recorder.verdicts("r1", [{"phase": "response", "rule_id": "secrets", "verdict": "allow"}])
    assert recorder.flush(5)
    rows = list(read(path)["verdicts"].rows_where(order_by="seq"))
    assert [(r["seq"], r["rule_id"], r["details"]) for r in rows] == [
        (0, "loop", '{"n":3}'),
        (1, "secrets", None),
    ]


def test_unknown_fields_are_dropped_not_the_row(make_recorder, path, caplog):
    recorder = make_recorder()
    recorder.begin(request_row("r1", no_such_column="x"))
    recorder.begin({"method": "POST"})  # no id
    assert recorder.flush(5)
    assert read(path)["requests"].get("r1")["method"] == "POST"
    assert "no_such_column" in caplog.text
    stats = recorder.stats()
    assert stats["begun"] == 1 and stats["failed"] == 1


def test_a_write_lock_held_past_busy_timeout_fails_then_recovers(make_recorder, path, caplog):
    recorder = make_recorder(busy_timeout_ms=50)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        # Both batches are given up on while the lock is still held: with the default busy
        # timeout (5 s) the first alone would outlast these flushes.
        recorder.begin(request_row("a"))
        assert recorder.flush(3)
        recorder.begin(request_row("b"))
        recorder.finish(request_row("b"))
        assert recorder.flush(3)
        stats = recorder.stats()
        assert stats["failed"] == 3 and stats["db_ok"] is False
        assert "locked" in stats["last_error"]
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    recorder.finish(request_row("a", status=200))  # the finish brings back the lost begin
    assert recorder.flush(5)
    stats = recorder.stats()
    assert stats["db_ok"] is True and stats["recorded"] == 1
    assert read(path)["requests"].get("a")["state"] == "complete"
    assert "recording resumed" in caplog.text


def test_a_read_only_database_fails_then_recovers(path):
    """Root ignores file modes, so a test hook opens the connection with PRAGMA query_only=ON:
    SQLite then refuses writes with SQLITE_READONLY, as it does for a connection opened on a
    read-only file (checked by hand: after a read-only bind remount, new connections fail this
    way while an already-open one keeps writing). The recorder reopens after SQLITE_READONLY,
    which is what brings back write access once the file is writable again."""
    open_db(path).close()
    read_only = threading.Event()
    read_only.set()

    def on_connect(db):
        if read_only.is_set():
            db.execute("PRAGMA query_only = ON")

    recorder = Recorder(path, on_connect=on_connect)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            recorder.start().result(5)
        recorder.begin(request_row("lost"))
        assert recorder.flush(5)
        stats = recorder.stats()
        assert stats["failed"] == 1 and stats["db_ok"] is False
        assert "readonly" in stats["last_error"]

        read_only.clear()
        recorder.begin(request_row("kept"))
        assert recorder.flush(5)
        assert recorder.stats()["db_ok"] is True
        assert [r["id"] for r in read(path)["requests"].rows] == ["kept"]
    finally:
        recorder.stop()


def test_a_full_disk_fails_then_recovers(make_recorder, path):
    """PRAGMA max_page_count caps the file at its current size: SQLITE_FULL, as on a full disk.
    The cap belongs to the connection, so it is set on the recorder's own one."""
    recorder = make_recorder()

    def cap(db):
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        return db.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0]

    recorder.submit(cap).result(5)
    noise = random.Random(3).randbytes(200_000)
    recorder.begin(request_row("big"), noise)
    assert recorder.flush(5)
    stats = recorder.stats()
    assert stats["failed"] == 1 and stats["db_ok"] is False
    assert "full" in stats["last_error"]

    recorder.submit(lambda db: db.execute("PRAGMA max_page_count = 1073741823")).result(5)
    recorder.begin(request_row("big"), noise)
    assert recorder.flush(5)
    assert recorder.stats()["db_ok"] is True
    db = read(path)
    assert bodies.load(db, db["requests"].get("big")["request_body_id"]) == noise


def test_a_removed_database_file_is_recreated(make_recorder, path):
    recorder = make_recorder()
    recorder.begin(request_row("before"))
    assert recorder.flush(5)
    for suffix in ("", "-wal", "-shm"):
        os.remove(path + suffix)
    for attempt in range(3):
        recorder.begin(request_row(f"after{attempt}"))
        assert recorder.flush(5)
    ids = [r["id"] for r in read(path)["requests"].rows]
    assert ids[-1] == "after2"
    assert "before" not in ids


def in_a_thread(work) -> threading.Thread:
    """`work` run in a thread the test can see finish (or not: one that blocks never ends)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_full_queue_drops_without_blocking(path):
    recorder = Recorder(path, queue_size=10_000)  # never started: nothing drains the queue
    body = b'{"messages":[]}'
    caller = in_a_thread(
        lambda: [recorder.begin(request_row(f"r{i}"), body) for i in range(20_000)]
    )
    caller.join(30)
    assert not caller.is_alive()  # a blocking put would wait forever: nothing drains
    stats = recorder.stats()
    assert stats["dropped"] == 10_000 and stats["queue_depth"] == 10_000
    assert recorder.stop() is False  # queued items were never written


def test_a_blocking_recorder_holds_its_caller_instead_of_dropping(make_recorder, path):
    """The recorder process's setting: a burst waits for the writer, nothing is dropped."""
    recorder = make_recorder(queue_size=5, block_s=30)
    release = hold_writer(recorder)
    done = threading.Event()

    def burst():
        for i in range(50):
            recorder.begin(request_row(f"b{i}"))
        done.set()

    threading.Thread(target=burst, daemon=True).start()
    assert not done.wait(0.3)  # held: the queue is full and the writer is busy
    release.set()
    assert done.wait(10) and recorder.flush(10)
    assert recorder.stats()["dropped"] == 0
    assert read(path).execute("SELECT count(*) FROM requests").fetchone()[0] == 50


def test_a_busy_writer_never_blocks_the_caller(make_recorder, path):
    recorder = make_recorder(queue_size=1000)
    release = hold_writer(recorder)
    caller = in_a_thread(
        lambda: [recorder.progress(f"r{i}", {"output_tokens": i}) for i in range(20_000)]
    )
    caller.join(30)
    assert not caller.is_alive()  # done while the writer is still held
    release.set()
    assert recorder.stats()["dropped"] == 19_000
    assert recorder.flush(5)
    assert recorder.stats()["queue_depth"] == 0


def test_the_writer_survives_a_failing_call(make_recorder, path):
    recorder = make_recorder()

    def boom(db):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        recorder.submit(boom).result(5)
    recorder.begin(request_row("r1"))
    assert recorder.flush(5)
    assert read(path)["requests"].get("r1")["state"] == "pending"
    assert recorder.stats()["db_ok"] is True


def test_prune_deletes_old_requests_and_orphaned_bodies(make_recorder, path):
    recorder = make_recorder()
    shared = b'{"system":"same every time","messages":[{"role":"user","content":"old"}]}'
    recorder.finish(
        request_row("old", started_at="2020-01-01T00:00:00.000Z"), b"only old", request_body=shared
    )
    recorder.verdicts("old", [{"rule_id": "x", "verdict": "allow"}])
    recorder.finish(
        request_row("new", started_at="2999-01-01T00:00:00.000Z"),
        b"only new",
        request_body=shared.replace(b'"old"', b'"new"'),
    )
    assert recorder.prune(30).result(5) == 1
    db = read(path)
    assert [r["id"] for r in db["requests"].rows] == ["new"]
    assert db["verdicts"].count == 0
    assert db["bodies"].count == 2
    new = db["requests"].get("new")
    assert bodies.load(db, new["response_body_id"]) == b"only new"
    assert b'"new"' in bodies.load(db, new["request_body_id"])
    assert db.execute("SELECT count(*) FROM blobs WHERE size = 8").fetchone()[0] == 1


def test_a_batch_waits_out_its_interval_but_a_flush_or_a_full_batch_does_not(make_recorder, path):
    """Records gathered for a batch wait for the flush interval; a flush, a call, or a whole
    batch's worth of records goes at once."""
    written = threading.Event()

    def trace(statement: str) -> None:
        if statement.lstrip().startswith("INSERT INTO requests") and "'b2'" in statement:
            written.set()

    recorder = make_recorder(
        flush_interval=30.0, batch_max=3, on_connect=lambda db: db.conn.set_trace_callback(trace)
    )
    recorder.begin(request_row("a1"))
    assert recorder.flush(5)  # not held for 30 s
    assert read(path)["requests"].get("a1")["state"] == "pending"
    assert recorder.submit(lambda db: db.execute("SELECT 1").fetchone()[0]).result(5) == 1
    for i in range(3):
        recorder.begin(request_row(f"b{i}"))
    assert written.wait(5)  # a whole batch: written without waiting out the 30 s


def test_a_batch_writes_its_pages_once_not_a_statement_journal_per_insert(make_recorder, path):
    """Each insert in a batch touches pages the batch already changed (index leaves, FTS,
    rollups); a statement journal on disk wrote them again for every insert, several times
    what the WAL gets. Measured as the writer thread's bytes written (Linux /proc)."""
    writer: list[int] = []
    recorder = make_recorder(on_connect=lambda db: writer.append(threading.get_native_id()))
    assert recorder.flush(5) and writer
    io = f"/proc/self/task/{writer[0]}/io"

    def written() -> int:
        with open(io) as f:
            return int(next(line for line in f if line.startswith("wchar:")).split()[1])

    release = hold_writer(recorder)
    n = 100
    for i in range(n):
        row = request_row(f"r{i}", conversation_id="c1", prompt_preview=f"question {i}")
        recorder.begin(row, b'{"messages":[{"role":"user","content":"question %d"}]}' % i)
        text = " ".join(f"word{i}-{j}" for j in range(150))
        recorder.finish(
            {**row, "status": 200, "output_tokens": 150, "response_text": text},
            response_body=text.encode(),
        )
    before = written()
    release.set()
    assert recorder.flush(5)
    per_exchange = (written() - before) / n

    assert read(path)["requests"].count == n
    assert per_exchange < 24 * 1024  # 72 KB with the statement journal on disk, 6 KB in memory


def test_analysed_jobs_run_on_the_writer_and_their_records_join_the_batch(make_recorder, path):
    """`analyse(fn, job)`: the recorder process's analysis runs on the writer thread as it
    gathers a batch, and the rows a job makes are written with that batch, in job order."""
    statements: list[str] = []
    recorder = make_recorder(on_connect=lambda db: db.conn.set_trace_callback(statements.append))
    threads_seen = []

    def analyse(job):
        threads_seen.append(threading.current_thread().name)
        kind, request_id = job
        if kind == "begin":
            recorder.begin(request_row(request_id))
        else:
            recorder.finish(request_row(request_id, status=200, output_tokens=3))

    release = hold_writer(recorder)
    for job in (("begin", "a1"), ("begin", "a2"), ("finish", "a1")):
        recorder.analyse(analyse, job)
    assert recorder.stats()["queue_depth"] == 3  # three jobs, nothing analysed yet
    statements.clear()
    release.set()
    assert recorder.flush(5)

    assert threads_seen == ["llm-inspector-recorder"] * 3
    db = read(path)
    assert (db["requests"].get("a1")["state"], db["requests"].get("a2")["state"]) == (
        "complete",
        "pending",
    )
    # a1 began and finished in the batch its jobs were analysed in: one insert, finished
    inserts = {s for s in statements if s.lstrip().startswith("INSERT INTO requests (")}
    assert len(inserts) == 2


def test_a_job_being_analysed_still_counts_in_the_queue_depth(make_recorder, path):
    """Health's queue depth is 0 only once a job's rows are written: while it is analysed it
    counts as itself, then as the records it has made."""
    recorder = make_recorder()
    made_one, carry_on = threading.Event(), threading.Event()

    def analyse(request_id):
        recorder.begin(request_row(request_id))
        made_one.set()
        carry_on.wait(10)

    recorder.analyse(analyse, "slow")
    assert made_one.wait(5)
    assert recorder.stats()["queue_depth"] == 2  # the job in hand and the row it made
    carry_on.set()
    assert recorder.flush(5)
    assert recorder.stats()["queue_depth"] == 0
    assert read(path)["requests"].get("slow")["state"] == "pending"


def test_a_failing_analysis_loses_nothing_else_in_its_batch(make_recorder, path, caplog):
    recorder = make_recorder()

    def analyse(request_id):
        if request_id == "bad":
            raise RuntimeError("boom")
        recorder.begin(request_row(request_id))

    release = hold_writer(recorder)
    for request_id in ("ok1", "bad", "ok2"):
        recorder.analyse(analyse, request_id)
    release.set()
    assert recorder.flush(5)
    assert sorted(r["id"] for r in read(path)["requests"].rows) == ["ok1", "ok2"]
    assert "analysing a job failed" in caplog.text
