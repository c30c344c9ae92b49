"""The recorder: writes exchanges to SQLite on one thread so the event loop never waits on it.

Callers (addon hooks on the asyncio loop) put items on a bounded queue and return at once. One
writer thread takes them in batches, one transaction per batch. Failure policy: recording fails
open. A full queue drops the item; a database error loses the batch it hit. Both are counted in
`stats()`, warned about at most every 10 s, and the next batch tries again, so recording resumes
by itself when the database recovers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import orjson
import sqlite_utils

from . import bodies
from .schema import iso, now_iso, open_db

log = logging.getLogger(__name__)

T = TypeVar("T")

ABANDONED_ERROR = "abandoned: proxy stopped before the response completed"
WARN_INTERVAL_S = 10.0
# Background work gives way: after each record (and each analysed job) the thread offers its
# core to whatever else is waiting for it. On a machine with few cores, a process that keeps its
# core for a whole time slice delays the proxy's next wake-up by milliseconds (measured on 2
# cores: bare mitmdump's p99 rose from 2.4 to 6.5 ms beside a busy SCHED_IDLE process, and
# stayed at 2.6 ms when that process yielded every 0.2 ms). A yield with nobody waiting costs
# a system call and nothing else.
yield_cpu = getattr(os, "sched_yield", lambda: None)

# A long statement (a batch's rows through every trigger, a prune) gives way as well, every so
# many steps of SQLite's virtual machine: a batch write runs 3,000-5,000 of them a millisecond,
# so about every 0.2-0.3 ms. Without it, the statement inserting 20 rows ran 1 ms at a stretch.
GIVE_WAY_OPCODES = 1000


def _give_way() -> int:
    yield_cpu()
    return 0  # go on (non-zero would interrupt the statement)


# Errors after which the same connection will work again once the cause goes away. Any other
# error (read-only, file moved or removed, I/O, corruption, closed connection) reopens the file.
_KEEP_CONNECTION = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL")


@dataclasses.dataclass(slots=True)
class _Begin:
    row: dict[str, Any]
    body: bytes | None


@dataclasses.dataclass(slots=True)
class _Progress:
    request_id: str
    fields: dict[str, Any]


@dataclasses.dataclass(slots=True)
class _Finish:
    row: dict[str, Any]
    request_body: bytes | None
    response_body: bytes | None
    stream_body: bytes | None


@dataclasses.dataclass(slots=True)
class _Verdicts:
    request_id: str
    items: list[dict[str, Any]]


@dataclasses.dataclass(slots=True)
class _Analyse:
    """Run `fn(job)` on the writer thread while gathering a batch; its records join it."""

    fn: Callable[[Any], None]
    job: Any


@dataclasses.dataclass(slots=True)
class _Call:
    """Run `fn(db)` on the writer thread, outside any batch; ends a batch."""

    fn: Callable[[sqlite_utils.Database], Any]
    future: Future[Any]


@dataclasses.dataclass(slots=True)
class _Flush:
    done: threading.Event


class _Stop:
    pass


_Record = _Begin | _Progress | _Finish | _Verdicts
_Control = _Call | _Flush | _Stop
_Item = _Record | _Analyse | _Control


class Recorder:
    """Owns the capture database's only writer connection and the thread that uses it."""

    def __init__(
        self,
        path: str,
        *,
        queue_size: int = 10000,
        batch_max: int = 256,
        flush_interval: float = 0.05,
        busy_timeout_ms: int = 5000,
        block_s: float = 0.0,
        on_connect: Callable[[sqlite_utils.Database], None] | None = None,
    ):
        """`block_s`: how long a caller may wait for room in a full queue before its record is
        dropped (and counted). 0 never holds the caller; the recorder process waits, so that
        a burst backs up its pipe (and is counted in the proxy) rather than being lost here.
        `on_connect(db)` runs on the writer thread after each (re)open; a test hook."""
        self.path = str(path)
        self.block_s = block_s
        self.batch_max = batch_max
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.on_connect = on_connect
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._db: sqlite_utils.Database | None = None
        self._identity: tuple[int, int] | None = None
        self._columns: frozenset[str] = frozenset()
        self._unknown_columns: set[str] = set()
        self._drop_lock = threading.Lock()
        self._abort = threading.Event()
        self.recorded = 0
        self.begun = 0
        self.failed = 0
        self.dropped = 0
        self._writing = 0  # records (and a job being analysed) taken off the queue, not written
        self._gathering: list[_Record] | None = None  # the batch `_Analyse` jobs add to
        self.batches = 0
        self.db_ok = True
        self.last_error: str | None = None
        self._write_ms: deque[float] = deque(maxlen=1024)
        self._last_warning = float("-inf")
        self._suppressed = 0
        self._failing_since_ok = 0

    # -- the caller's side: never blocks, never raises ------------------------------------------

    def start(self) -> Future[int]:
        """Start the writer. Returns the future count of rows `sweep_abandoned` marked."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("recorder already started")
        self._abort.clear()
        self._thread = threading.Thread(
            target=self._run, name="llm-inspector-recorder", daemon=True
        )
        self._thread.start()
        return self.sweep_abandoned()

    def stop(self, timeout: float = 5.0) -> bool:
        """Write what is queued (within `timeout`), stop the thread, close the database.

        Returns True if everything queued was handled.
        """
        thread = self._thread
        if thread is None:
            return self._queue.empty()
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_Stop(), timeout=timeout)
        except queue.Full:
            pass
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            self._abort.set()
            thread.join(1.0)
        self._thread = None
        return not thread.is_alive() and self._queue.empty()

    def begin(self, row: dict[str, Any], request_body: bytes | None = None) -> None:
        """Record a request as it goes upstream: a row in state 'pending'."""
        self._put(_Begin(dict(row), request_body))

    def progress(self, request_id: str, fields: dict[str, Any]) -> None:
        """Update a pending row while its response runs; later fields win."""
        self._put(_Progress(request_id, dict(fields)))

    def finish(
        self,
        row: dict[str, Any],
        response_body: bytes | None = None,
        stream_body: bytes | None = None,
        *,
        request_body: bytes | None = None,
    ) -> None:
        """Record the final state of an exchange: `row` is the whole row, begin-time fields too.

        Inserts the row if its `begin` was lost. `request_body` is only stored when the row
        does not have one yet, so it is cheap to always pass it.
        """
        self._put(_Finish(dict(row), request_body, response_body, stream_body))

    def verdicts(self, request_id: str, items: list[dict[str, Any]]) -> None:
        """Record rule verdicts for a request; `seq` is assigned in order when missing."""
        self._put(_Verdicts(request_id, [dict(item) for item in items]))

    def analyse(self, fn: Callable[[Any], None], job: Any) -> None:
        """Run `fn(job)` on the writer thread as it gathers the next batch; the records `fn`
        makes there (`begin`, `progress`, `finish`, `verdicts`) join that batch. Analysis and
        writing then share one thread: no hand-over between them, and a job's rows go out in
        the batch that analysed it. `fn` must not raise. Queued like a record (see `block_s`)."""
        self._put(_Analyse(fn, job))

    def submit(self, fn: Callable[[sqlite_utils.Database], T]) -> Future[T]:
        """Run `fn(db)` on the writer thread between batches; its result arrives in the future.

        For the rare writes that are not records (settings, maintenance). `fn` runs outside a
        transaction: use `db.atomic()` in it. If the queue is full the future fails at once.
        """
        future: Future[T] = Future()
        try:
            self._queue.put_nowait(_Call(fn, future))
        except queue.Full:
            self._count_drop()
            future.set_exception(queue.Full("recorder queue is full"))
        return future

    def sweep_abandoned(self) -> Future[int]:
        """Mark rows left 'pending' by an earlier run as 'abandoned'. `start()` calls it first."""
        return self.submit(sweep_abandoned)

    def prune(self, older_than_days: float) -> Future[int]:
        """Delete requests started more than `older_than_days` ago and what only they used."""
        return self.submit(lambda db: prune(db, older_than_days))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued before this call is committed or failed.

        The one method that blocks: for tests and shutdown, not for the event loop.
        """
        if self._thread is None or not self._thread.is_alive():
            return self._queue.empty()
        marker = _Flush(threading.Event())
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(max(0.0, deadline - time.monotonic()))

    def stats(self) -> dict[str, Any]:
        timings = sorted(self._write_ms)
        return {
            "recorded": self.recorded,
            "begun": self.begun,
            "failed": self.failed,
            "dropped": self.dropped,
            "queue_depth": self._queue.qsize() + self._writing,
            "db_ok": self.db_ok,
            "last_error": self.last_error,
            "batches": self.batches,
            "write_ms_p50": _percentile(timings, 0.50),
            "write_ms_p95": _percentile(timings, 0.95),
        }

    def _put(self, item: _Record | _Analyse) -> None:
        if self._gathering is not None and threading.current_thread() is self._thread:
            self._gathering.append(item)  # made by a job being analysed: joins its batch
            self._writing += 1
            return
        try:
            if self.block_s:
                self._queue.put(item, timeout=self.block_s)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            self._count_drop()

    def _count_drop(self) -> None:
        with self._drop_lock:
            self.dropped += 1

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                try:
                    try:
                        records, control = self._collect()
                        if records:
                            self._write_batch(records)
                    finally:
                        self._writing = 0
                    if isinstance(control, _Stop):
                        break
                    if control is not None:
                        self._control(control)
                except Exception as e:  # the thread must survive anything
                    self._failure(e, 0)
        finally:
            self._close()

    def _collect(self) -> tuple[list[_Record], _Control | None]:
        """Wait for an item, then gather more until `flush_interval` has passed since it came,
        ending at a control or a whole batch. A job is analysed as it arrives, so that the
        analysis is spread over the interval rather than done in one burst before the write."""
        records: list[_Record] = []
        try:
            # Wakes up now and then so that an abort from stop() is seen on an idle queue.
            item = self._queue.get(timeout=0.5)
        except queue.Empty:
            return records, None
        deadline = time.monotonic() + self.flush_interval
        while True:
            self._writing = len(records) + 1  # taken off the queue: counted until written
            if isinstance(item, _Call | _Flush | _Stop):
                self._writing = len(records)
                return records, item
            if isinstance(item, _Analyse):
                self._gather(item, records)
            else:
                records.append(item)
            self._writing = len(records)
            if len(records) >= self.batch_max:
                return records, None
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return records, None

    def _gather(self, item: _Analyse, records: list[_Record]) -> None:
        """Analyse one job here; what it records goes straight into `records`."""
        self._gathering = records
        try:
            item.fn(item.job)
        except Exception:  # noqa: BLE001 - `fn` should not raise; the batch goes on regardless
            log.exception("llm-inspector: analysing a job failed")
        finally:
            self._gathering = None

    def _control(self, control: _Call | _Flush) -> None:
        if isinstance(control, _Flush):
            control.done.set()
            return
        if not control.future.set_running_or_notify_cancel():
            return
        try:
            db = self._connect()
            try:
                result = control.fn(db)
            finally:
                if db.conn.in_transaction:  # never let a batch start inside someone's transaction
                    db.conn.execute("ROLLBACK")
        except Exception as e:
            if isinstance(e, sqlite3.Error):
                self._failure(e, 0)
            control.future.set_exception(e)
        else:
            control.future.set_result(result)

    def _connect(self) -> sqlite_utils.Database:
        if self._db is not None and self._file_identity() != self._identity:
            # SQLite keeps writing to a removed or replaced file without an error.
            log.warning("llm-inspector: %s was removed or replaced; reopening it", self.path)
            self._close()
        if self._db is None:
            db = open_db(self.path, busy_timeout_ms=self.busy_timeout_ms)
            try:
                # Every insert inside a batch saves the pages it changes that the batch already
                # changed (index leaves, FTS, rollups) in a statement journal, in case it must
                # be undone alone. On disk that was 70 KB and 34 system calls more for each of
                # the benchmark's 1 KB exchanges (the WAL and its checkpoints take 27 KB); in
                # memory it is a copy.
                db.execute("PRAGMA temp_store = MEMORY")
                db.conn.set_progress_handler(_give_way, GIVE_WAY_OPCODES)
                bodies.register_functions(db)
                if self.on_connect is not None:
                    self.on_connect(db)
                self._columns = frozenset(db["requests"].columns_dict)
            except BaseException:
                db.close()
                raise
            self._db = db
            self._identity = self._file_identity()
        return self._db

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
            self._db = None

    def _write_batch(self, records: list[_Record]) -> None:
        valid = [r for r in records if _request_id(r)]
        if len(valid) < len(records):
            self._invalid(len(records) - len(valid))
            records = valid
            if not records:
                return
        started = time.perf_counter()
        try:
            db = self._connect()
            with _immediate(db):
                begun, recorded = self._apply(db, records)
        except Exception as e:
            self._failure(e, len(records))
            return
        self._write_ms.append((time.perf_counter() - started) * 1000)
        self.batches += 1
        self.begun += begun
        self.recorded += recorded
        if not self.db_ok:
            log.warning(
                "llm-inspector: recording resumed; %d records were lost while the database "
                "was failing",
                self._failing_since_ok,
            )
        self.db_ok = True
        self._failing_since_ok = 0

    def _apply(self, db: sqlite_utils.Database, records: list[_Record]) -> tuple[int, int]:
        """Write one batch inside the caller's transaction; returns (begun, recorded)."""
        conn = db.conn
        finished = {r.row.get("id") for r in records if isinstance(r, _Finish)}
        progress: dict[str, dict[str, Any]] = {}
        # An exchange that begins and ends in this batch is written once, as its finished row:
        # nobody could see its pending row, and it would cost every index and trigger twice.
        begins: dict[str, _Begin] = {}
        pending, finished_rows = _Inserts(conn, upsert=False), _Inserts(conn, upsert=True)
        begun = recorded = 0
        for record in records:
            if isinstance(record, _Progress):
                if record.request_id not in finished:
                    progress.setdefault(record.request_id, {}).update(record.fields)
            elif isinstance(record, _Begin) and record.row.get("id") in finished:
                begins[record.row["id"]] = record
        for record in records:
            yield_cpu()
            if isinstance(record, _Begin):
                if begins.get(record.row["id"]) is record:
                    begun += 1
                    continue
                row = self._row(record.row)
                row["state"] = "pending"
                row.setdefault("started_at", now_iso())
                _store_other_bodies(conn, row)
                if record.body is not None:
                    row["request_body_id"] = bodies.store(conn, record.body)
                    row.setdefault("request_bytes", len(record.body))
                pending.add(row)
                begun += 1
            elif isinstance(record, _Finish):
                finished_rows.add(
                    self._finish(conn, record, begins.pop(record.row.get("id"), None))
                )
                recorded += 1
            elif isinstance(record, _Verdicts):
                self._verdicts(conn, record)
        # Rows are inserted after their bodies, a statement for many: inside a transaction each
        # statement that fires triggers opens a statement journal and makes the FTS index write
        # out what it holds, which cost more than the insert itself (0.14 ms a row against
        # 0.06 in statements of 25).
        pending.write()
        finished_rows.write()
        for request_id, fields in progress.items():
            row = self._row({**fields, "id": request_id})
            del row["id"]
            if row:
                conn.execute(
                    f"UPDATE requests SET {', '.join(f'[{c}] = ?' for c in row)} "
                    "WHERE id = ? AND state = 'pending'",
                    [*row.values(), request_id],
                )
        return begun, recorded

    def _finish(
        self, conn: sqlite3.Connection, record: _Finish, begin: _Begin | None = None
    ) -> dict[str, Any]:
        """The finished row to upsert, its bodies stored; with its `begin` (same batch, not
        written), one row."""
        row = self._row(record.row if begin is None else {**begin.row, **record.row})
        _store_other_bodies(conn, row)
        row.setdefault("state", "complete")
        row.setdefault("ended_at", now_iso())
        if begin is not None and begin.body is not None:
            row["request_body_id"] = bodies.store(conn, begin.body)
            row.setdefault("request_bytes", len(begin.body))
        if record.response_body is not None:
            row["response_body_id"] = bodies.store(conn, record.response_body)
            row.setdefault("response_bytes", len(record.response_body))
        if record.stream_body is not None:
            row["stream_body_id"] = bodies.store(conn, record.stream_body)
        if record.request_body is not None and "request_body_id" not in row:
            existing = conn.execute(
                "SELECT request_body_id FROM requests WHERE id = ?", (row["id"],)
            ).fetchone()
            if existing is None or existing[0] is None:
                row["request_body_id"] = bodies.store(conn, record.request_body)
                row.setdefault("request_bytes", len(record.request_body))
        return row

    def _verdicts(self, conn: sqlite3.Connection, record: _Verdicts) -> None:
        for item in record.items:
            values = {
                "phase": item.get("phase"),
                "rule_id": item.get("rule_id"),
                "verdict": item.get("verdict"),
                "reason": item.get("reason"),
                "details": _sql_value(item.get("details")),
                "at": item.get("at") or now_iso(),
            }
            seq = item.get("seq")
            conn.execute(
                "INSERT OR REPLACE INTO verdicts "
                "(request_id, seq, phase, rule_id, verdict, reason, details, at) VALUES "
                "(:request_id, COALESCE(:seq, (SELECT COALESCE(MAX(seq), -1) + 1 FROM verdicts "
                "WHERE request_id = :request_id)), :phase, :rule_id, :verdict, :reason, "
                ":details, :at)",
                {"request_id": record.request_id, "seq": seq, **values},
            )

    def _invalid(self, count: int) -> None:
        self.failed += count
        self.last_error = "ValueError: record without a request id"
        log.warning("llm-inspector: %d records without a request id were not stored", count)

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        """Keep the columns the table has, as values SQLite takes; unknown keys are logged once."""
        unknown = row.keys() - self._columns
        if unknown - self._unknown_columns:
            self._unknown_columns |= unknown
            log.warning("llm-inspector: requests has no columns %s; not stored", sorted(unknown))
        columns = self._columns
        return {
            k: v if type(v) in _PLAIN else _sql_value(v) for k, v in row.items() if k in columns
        }

    def _failure(self, error: BaseException, lost: int) -> None:
        self.failed += lost
        self._failing_since_ok += lost
        self.db_ok = False
        self.last_error = f"{type(error).__name__}: {error}"
        name = getattr(error, "sqlite_errorname", "") or ""
        if not name.startswith(_KEEP_CONNECTION):
            self._close()
        now = time.monotonic()
        if now - self._last_warning < WARN_INTERVAL_S:
            self._suppressed += 1
            return
        more = (
            f" ({self._suppressed} more errors since the last warning)" if self._suppressed else ""
        )
        log.warning(
            "llm-inspector: could not write to %s, %d records lost: %s%s",
            self.path,
            lost,
            self.last_error,
            more,
        )
        self._last_warning = now
        self._suppressed = 0


@contextlib.contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[None]:
    """A write transaction that takes the write lock up front.

    `db.atomic()` begins DEFERRED: a batch that reads (body de-dup) before it writes would then
    fail with SQLITE_BUSY at once if another connection wrote in between, without waiting for
    busy_timeout.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            with contextlib.suppress(Exception):
                db.conn.execute("ROLLBACK")
        raise


def sweep_abandoned(db: sqlite_utils.Database) -> int:
    """Mark every 'pending' row as 'abandoned'; returns how many."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE requests SET state = 'abandoned', error = ?, ended_at = ? "
            "WHERE state = 'pending'",
            [ABANDONED_ERROR, now_iso()],
        )
    return cursor.rowcount


def prune(db: sqlite_utils.Database, older_than_days: float) -> int:
    """Delete finished requests older than the cutoff, their verdicts, and orphaned bodies."""
    cutoff = iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than_days))
    with db.atomic():
        old = "SELECT id FROM requests WHERE started_at < ? AND state != 'pending'"
        db.execute(f"DELETE FROM verdicts WHERE request_id IN ({old})", [cutoff])
        deleted = db.execute(
            "DELETE FROM requests WHERE started_at < ? AND state != 'pending'", [cutoff]
        ).rowcount
        db.execute(
            """
            DELETE FROM bodies WHERE id NOT IN (
                SELECT request_body_id FROM requests WHERE request_body_id IS NOT NULL
                UNION SELECT response_body_id FROM requests WHERE response_body_id IS NOT NULL
                UNION SELECT stream_body_id FROM requests WHERE stream_body_id IS NOT NULL
                UNION SELECT upstream_request_body_id FROM requests
                    WHERE upstream_request_body_id IS NOT NULL
            )
            """
        )
        db.execute(
            "DELETE FROM blobs WHERE hash NOT IN "
            "(SELECT json_each.value FROM bodies, json_each(bodies.segments))"
        )
    return deleted


def _request_id(record: _Record) -> Any:
    if isinstance(record, _Begin | _Finish):
        return record.row.get("id")
    return record.request_id


def _store_other_bodies(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    """A `*_body_id` column given as bytes (e.g. `upstream_request_body_id`) is stored as a
    de-duplicated body and replaced by its id."""
    for name, value in row.items():
        if name.endswith("_body_id") and isinstance(value, bytes):
            row[name] = bodies.store(conn, value)


# What SQLite takes as it is. Looked up by exact type first: a row has some 40 columns, and
# `isinstance` against a union of four types was a tenth of the recorder's time on a 1 KB exchange.
_PLAIN = frozenset({str, int, float, bytes, bool, type(None)})


def _sql_value(value: Any) -> Any:
    if type(value) in _PLAIN or isinstance(value, str | int | float | bytes):
        return value  # a subclass of one of them too (bool is an int)
    if isinstance(value, dict | list | tuple):
        try:  # compact, unicode kept: the text json.dumps would give, several times faster
            return orjson.dumps(value, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):  # keys that are not strings, huge ints
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


class _Inserts:
    """Rows for `requests`, inserted a statement for all that have the same columns: new rows
    (`upsert=False`: a row that exists is left alone) or finished ones (`upsert=True`: the
    columns given replace the row's). A row whose id comes again is written after the ones
    before it, so that the later one wins as it would one statement at a time."""

    def __init__(self, conn: sqlite3.Connection, *, upsert: bool):
        self.conn = conn
        self.limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.upsert = upsert
        self.groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self.ids: set[Any] = set()

    def add(self, row: dict[str, Any]) -> None:
        if row["id"] in self.ids:
            self.write()
        self.ids.add(row["id"])
        self.groups.setdefault(tuple(row), []).append(row)

    def write(self) -> None:
        for columns, rows in self.groups.items():
            if self.upsert:
                updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c != "id")
                conflict = f"DO UPDATE SET {updates}"
            else:
                conflict = "DO NOTHING"
            per_statement = max(1, self.limit // len(columns))
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                values = ", ".join([f"({_marks(columns)})"] * len(chunk))
                self.conn.execute(
                    f"INSERT INTO requests ({_names(columns)}) VALUES {values} "
                    f"ON CONFLICT (id) {conflict}",
                    [row[c] for row in chunk for c in columns],
                )
        self.groups.clear()
        self.ids.clear()


def _names(columns: list[str]) -> str:
    return ", ".join(f"[{c}]" for c in columns)


def _marks(columns: list[str]) -> str:
    return ", ".join("?" * len(columns))


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)
