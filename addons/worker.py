"""The recorder process: analysis and SQLite live beside mitmproxy, not inside it.

mitmproxy serves every flow from one event loop under one GIL. Parsing bodies, counting tokens,
threading conversations, printing the live log and writing SQLite all cost CPU per request; in
the proxy's own process they would hold the GIL that the event loop needs (measured: the proxy's
throughput halved). So the proxy only takes snapshots and hands them, pickled in batches every
20 ms, through a pipe to this process, which runs the analysis `Pipeline`, the `Recorder` and the
console log on the other core.

Proxy side: `Worker` (start, submit, call, call_sync, stats, on_summary, stop), driven by the
proxy's event loop alone: non-blocking pipes, a timer for the hand-over, no thread. A job's
large bodies travel out of band (PEP 574): the frame lists them after the pickle and `writev`
sends them from the flow's own bytes, instead of copying each into the pickle and the pickle
into the frame on the event loop; a body that mostly repeats one sent lately goes as the part
that differs (`RecentBodies`). Its `submit` never blocks the loop: past a bound on the bytes
waiting for the pipe it drops and counts, when the recorder process cannot keep up. The
recorder process sends back stats (twice a second), a compact summary of every finished
exchange (for mitmweb marks and the rules' conversation history) and the results of `call`s
(the rules document in the settings table).

Child side: `python -m addons.worker --db PATH --jobs-fd N --results-fd N [...]`.

Failure policy: fails open. If the recorder process dies, the proxy counts what it could not
hand over, logs it, and starts a new one (a few times); traffic is never held up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import io
import itertools
import logging
import operator
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from addons.overlap import common_prefix, common_suffix

ROOT = Path(__file__).resolve().parent.parent
FRAME = struct.Struct("!I")  # results frames: the size of the pickle that follows
JOBS_HEAD = struct.Struct("!II")  # jobs frames: pickle size, out-of-band bodies; a BODY_HEAD each
BODY_HEAD = struct.Struct("!IIII")  # an out-of-band body: age, prefix, suffix, bytes sent
OUT_OF_BAND = 32 * 1024  # bodies from this size go beside the pickle, not through it
RECENT_BODIES = 6  # out-of-band bodies both ends of the pipe remember
RECENT_MAX = 4 * 1024 * 1024  # a larger body goes whole and is not remembered
IOV_MAX = 1024  # parts per writev
BATCH = 512  # jobs per pickled frame at most
PIPE_SIZE = 1 << 20  # Linux's default limit for an unprivileged process
SEND_INTERVAL_S = 0.02  # the hand-over timer: one pickle and one write per interval, not per job
STATS_INTERVAL_S = 0.5
SHUTDOWN_S = 30.0  # at exit, for writing what is queued (a full 1 MB pipe takes a few s)
SUMMARY_KEYS = (
    "id", "started_at", "state", "status", "client_app", "requested_model", "served_model",
    "conversation_id", "tools_offered", "tool_calls", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "verdict", "error", "latency_ms", "ttft_ms",
    "method", "path",
)  # fmt: skip

log = logging.getLogger(__name__)


def write_frame(fd: int, payload: Any) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(FRAME.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


class JobPickler(pickle.Pickler):
    """Pickles a job (a dataclass) as its class and field values, with its large bodies out of
    band: `buffer_callback` gets them as `PickleBuffer`s, and `read_jobs` hands them back to
    `pickle.loads` as bytes. (A class and a tuple pickle in C; pickle's own way with a
    dataclass goes through `copyreg` and its `__getstate__` in Python, twice the time.)"""

    def reducer_override(self, obj: Any) -> Any:
        shape = _job_shape(type(obj))
        if shape is None:
            return NotImplemented
        values, bodies = shape
        args = values(obj)
        for i in bodies:  # the fields that may hold a body
            value = args[i]
            if type(value) is bytes and len(value) >= OUT_OF_BAND:
                args = (*args[:i], pickle.PickleBuffer(value), *args[i + 1 :])
        return type(obj), args


@functools.cache
def _job_shape(cls: type) -> tuple[Callable[[Any], tuple[Any, ...]], tuple[int, ...]] | None:
    """For a dataclass whose `__init__` takes all its fields: a function giving their values
    in that order (one C call), and the positions of the fields annotated `bytes` (or
    `bytes | None`), which alone may go out of band."""
    if not dataclasses.is_dataclass(cls):
        return None
    fields = dataclasses.fields(cls)
    if not fields or not all(f.init for f in fields):
        return None
    getter = operator.attrgetter(*(f.name for f in fields))
    values = getter if len(fields) > 1 else lambda obj: (getter(obj),)
    bodies = tuple(
        i
        for i, f in enumerate(fields)
        if "bytes" in {part.strip() for part in str(f.type).split("|")}
    )
    return values, bodies


class RecentBodies:
    """The last few out-of-band bodies, in the order the jobs pipe carried them, remembered by
    both of its ends alike. An agent resends its conversation every turn, so a body mostly
    repeats one sent just before: the proxy sends only the bytes between the longest prefix
    and suffix it shares with one of these (its age, 1 for the newest, and their lengths),
    and the recorder process puts it back together from its own copy."""

    def __init__(self) -> None:
        self.bodies: deque[bytes] = deque(maxlen=RECENT_BODIES)

    def encode(self, body: bytes) -> tuple[bytes, memoryview]:
        """The BODY_HEAD and the bytes to send for `body` (whole when little repeats)."""
        view = memoryview(body)
        age = prefix = suffix = 0
        for i, old in enumerate(reversed(self.bodies), 1):
            if len(old) <= prefix + suffix:
                continue  # it cannot share more than itself: an earlier turn of the best one
            same = common_prefix(old, view)
            end = common_suffix(old, view, min(len(old), len(body)) - same)
            if same + end > prefix + suffix:
                age, prefix, suffix = i, same, end
                if same + end == len(body):
                    break
        if (prefix + suffix) * 2 < len(body):
            age = prefix = suffix = 0
        self.remember(body)
        middle = view[prefix : len(body) - suffix]
        return BODY_HEAD.pack(age, prefix, suffix, len(middle)), middle

    def decode(self, age: int, prefix: int, suffix: int, middle: bytes) -> bytes:
        if age:
            old = self.bodies[-age]
            if prefix == len(old) and not middle and not suffix:  # sent again: the same object
                middle = old
            else:
                view = memoryview(old)
                middle = b"".join((view[:prefix], middle, view[len(old) - suffix :]))
        self.remember(middle)
        return middle

    def remember(self, body: bytes) -> None:
        if len(body) <= RECENT_MAX:
            self.bodies.append(body)


def pack_jobs(jobs: list[Any], recent: RecentBodies) -> list[bytes | memoryview]:
    """One jobs frame as the parts to write: head, pickle, then what is sent of each
    out-of-band body (see RecentBodies)."""
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    JobPickler(stream, protocol=5, buffer_callback=buffers.append).dump(jobs)
    data = stream.getvalue()
    heads, bodies = [], []
    for buffer in buffers:
        head, body = recent.encode(buffer.raw().obj)
        heads.append(head)
        bodies.append(body)
    return [JOBS_HEAD.pack(len(data), len(bodies)) + b"".join(heads), data, *bodies]


def read_jobs(fd: int, recent: RecentBodies) -> list[Any]:
    """Read one frame that `pack_jobs` made; EOFError at the end of the pipe."""
    head = read_exact(fd, JOBS_HEAD.size)
    if head is None:
        raise EOFError
    size, count = JOBS_HEAD.unpack(head)
    heads = read_exact(fd, BODY_HEAD.size * count)
    data = read_exact(fd, size)
    if heads is None or data is None:
        raise EOFError
    bodies = []
    for age, prefix, suffix, sent in BODY_HEAD.iter_unpack(heads):
        middle = read_exact(fd, sent)
        if middle is None:
            raise EOFError
        bodies.append(recent.decode(age, prefix, suffix, middle))
    return pickle.loads(data, buffers=bodies)


@dataclasses.dataclass(slots=True)
class Frame:
    """A jobs frame waiting for the pipe."""

    parts: list[bytes | memoryview]  # what `pack_jobs` made
    batch: list[Any]  # its jobs, to pack again for a new process (which remembers no bodies)
    work: int  # of those, pipeline jobs (not calls)
    size: int  # bytes


def unwritten(parts: list[bytes | memoryview], skip: int) -> list[bytes | memoryview]:
    """What is left of `parts` after its first `skip` bytes (at most IOV_MAX of them)."""
    rest: list[bytes | memoryview] = []
    for part in parts:
        if skip >= len(part):
            skip -= len(part)
            continue
        rest.append(memoryview(part)[skip:] if skip else part)
        skip = 0
        if len(rest) == IOV_MAX:
            break
    return rest


def read_exact(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


# -- the proxy's side ---------------------------------------------------------------------


class Worker:
    """The recorder process, seen from the proxy. Every method runs on the proxy's event loop:
    the pipes are non-blocking and watched by the loop, so no thread of ours ever competes with
    the loop for the GIL (a thread that holds it while the OS has it waiting for a core stalls
    every flow: that was the p99)."""

    def __init__(
        self,
        db_path: Path,
        *,
        busy_timeout_ms: int = 5000,
        quiet: bool = False,
        max_keep: int = 16 * 1024 * 1024,
        max_backlog_bytes: int = 256 * 1024 * 1024,
        max_restarts: int = 5,
    ) -> None:
        self.args = [
            "--db", str(db_path), "--busy-timeout-ms", str(busy_timeout_ms),
            "--max-keep", str(max_keep), *(["--quiet"] if quiet else []),
        ]  # fmt: skip
        self.max_backlog_bytes = max_backlog_bytes
        self.max_restarts = max_restarts
        self.restarts = 0
        self.dropped = 0  # jobs never handed over (backlog full, or the process was down)
        self.latest: dict[str, Any] = {}
        self.summaries: list[Callable[[dict[str, Any]], None]] = []
        self.calls: dict[int, Future] = {}
        self.ids = itertools.count(1)
        self.process: subprocess.Popen | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.jobs_fd = self.results_fd = -1
        self.pending: list[Any] = []  # jobs since the last hand-over
        self.frames: deque[Frame] = deque()  # oldest first
        self.recent = RecentBodies()  # the bodies the process was sent lately, as it has them
        self.sent = 0  # pipeline jobs written to this process's pipe (not calls)
        self.written = 0  # bytes of frames[0] already in the pipe
        self.backlog = 0  # bytes in frames
        self.flushing: asyncio.TimerHandle | None = None
        self.inbox = bytearray()
        self.stopping = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the recorder process; call on the running event loop."""
        self.loop = asyncio.get_running_loop()
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "addons.worker", "--jobs-fd", str(jobs_r),
             "--results-fd", str(results_w), *self.args],
            pass_fds=(jobs_r, results_w), cwd=ROOT, env=env,
        )  # fmt: skip
        os.close(jobs_r)
        os.close(results_w)
        with contextlib.suppress(AttributeError, OSError):  # Linux: a 150 KB body, one write
            fcntl.fcntl(jobs_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(jobs_w, False)
        os.set_blocking(results_r, False)
        self.jobs_fd, self.results_fd = jobs_w, results_r
        self.written = 0  # a frame the last process got only part of goes again, whole
        self.recent = RecentBodies()
        frames, self.frames, self.backlog = self.frames, deque(), 0
        for frame in frames:  # packed against the bodies the last process remembered
            self.add_frame(frame.batch)
        self.sent = 0
        self.latest = {}
        self.inbox.clear()
        self.loop.add_reader(results_r, self.receive)
        if self.summaries and self.restarts:
            self.pending.insert(0, ("subscribe",))  # a new process: ask again
        self.schedule(0)

    def stop(self, timeout: float = 2 * SHUTDOWN_S) -> None:
        """Hand over everything still here, let the process finish it, and wait for it."""
        self.stopping = True
        if self.flushing is not None:
            self.flushing.cancel()
        self.pack()
        if self.process is None:
            return
        self.loop.remove_reader(self.results_fd)  # type: ignore[union-attr]
        self.loop.remove_writer(self.jobs_fd)  # type: ignore[union-attr]
        with contextlib.suppress(OSError):
            os.set_blocking(self.jobs_fd, True)
            self.write()
        with contextlib.suppress(OSError):
            os.close(self.jobs_fd)  # end of jobs: the process finishes its queue and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.results_fd)
        self.fail_calls()

    # -- called on the event loop: never blocks -------------------------------------------

    def submit(self, job: Any) -> None:
        if self.backlog >= self.max_backlog_bytes or self.stopping:
            self.dropped += 1
            return
        self.pending.append(job)
        if self.flushing is None:
            self.schedule(SEND_INTERVAL_S)

    def call(self, name: str, *args: Any) -> Future:
        """Run a named storage function in the recorder process (see CALLS)."""
        future: Future = Future()
        call_id = next(self.ids)
        self.calls[call_id] = future
        self.pending.append(("call", call_id, name, args))
        self.schedule(0)
        return future

    def call_sync(self, name: str, *args: Any, timeout: float = 30.0) -> Any:
        """`call` for hooks that must have the answer before the proxy serves anything (the
        rules at start-up): waits for it, reading the results pipe here, blocking the loop."""
        future = self.call(name, *args)
        self.flush()
        deadline = time.monotonic() + timeout
        while not future.done():
            left = deadline - time.monotonic()
            if left <= 0 or self.process is None or self.process.poll() is not None:
                raise TimeoutError(f"the recorder process did not answer {name!r}")
            if self.frames:
                select.select([self.results_fd], [self.jobs_fd], [], left)
                with contextlib.suppress(BlockingIOError, BrokenPipeError):
                    self.write()
            else:
                select.select([self.results_fd], [], [], left)
            self.receive()
        return future.result()

    def on_summary(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """`callback(summary)` on the event loop, for every finished exchange. The recorder
        process sends summaries only once someone asked: each costs the proxy a little time."""
        if callback in self.summaries:
            return
        self.summaries.append(callback)
        if len(self.summaries) == 1:
            self.pending.append(("subscribe",))
            self.schedule(0)

    def stats(self) -> dict[str, Any]:
        """The recorder process's last report (at most STATS_INTERVAL_S old) and ours. The
        queue depth counts every job not yet written to SQLite: here, in the pipe, and in the
        writer's queue or batch (as a job, then as its records); so it is 0 only once the
        recorder has caught up."""
        stats = dict(self.latest)
        stats["dropped"] = stats.get("dropped", 0) + self.dropped
        here = len(self.pending) + sum(len(frame.batch) for frame in self.frames)
        in_pipe = max(0, self.sent - stats.get("jobs", 0))  # not yet read by the process
        stats["queue_depth"] = here + in_pipe + stats.get("write_queue", 0)
        stats["restarts"] = self.restarts
        stats["alive"] = self.process is not None and self.process.poll() is None
        return stats

    # -- the pipes -------------------------------------------------------------------------

    def schedule(self, delay: float) -> None:
        if self.loop is None:
            return  # not started: the jobs wait for start()
        if self.flushing is not None:
            if delay:
                return
            self.flushing.cancel()
        self.flushing = self.loop.call_later(delay, self.flush)

    def flush(self) -> None:
        if self.flushing is not None:
            self.flushing.cancel()
            self.flushing = None
        self.pack()
        if self.process is None or not self.frames:
            return
        try:
            self.write()
        except BlockingIOError:
            self.loop.add_writer(self.jobs_fd, self.writable)  # type: ignore[union-attr]
        except OSError:
            pass  # the process is gone: receive() sees it and starts another

    def pack(self) -> None:
        """Pickle the pending jobs into frames of at most BATCH jobs, one pickle call each."""
        jobs, self.pending = self.pending, []
        for i in range(0, len(jobs), BATCH):
            self.add_frame(jobs[i : i + BATCH])

    def add_frame(self, batch: list[Any]) -> None:
        parts = pack_jobs(batch, self.recent)
        work = sum(1 for job in batch if not isinstance(job, tuple))  # not calls
        frame = Frame(parts, batch, work, sum(len(part) for part in parts))
        self.frames.append(frame)
        self.backlog += frame.size

    def write(self) -> None:
        """Write frames until the pipe is full (BlockingIOError) or they are all written."""
        while self.frames:
            frame = self.frames[0]
            self.written += os.writev(self.jobs_fd, unwritten(frame.parts, self.written))
            if self.written < frame.size:
                raise BlockingIOError
            self.frames.popleft()
            self.backlog -= frame.size
            self.sent += frame.work
            self.written = 0

    def writable(self) -> None:
        try:
            self.write()
        except BlockingIOError:
            return
        except OSError:
            pass
        self.loop.remove_writer(self.jobs_fd)  # type: ignore[union-attr]

    def receive(self) -> None:
        try:
            data = os.read(self.results_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.exited()
            return
        inbox = self.inbox
        inbox += data
        while len(inbox) >= FRAME.size:
            size = FRAME.unpack_from(inbox)[0]
            if len(inbox) < FRAME.size + size:
                break
            message = pickle.loads(inbox[FRAME.size : FRAME.size + size])
            del inbox[: FRAME.size + size]
            self.handle(*message)

    def handle(self, kind: str, *payload: Any) -> None:
        if kind == "stats":
            self.latest = payload[0]
        elif kind == "summary":
            for callback in self.summaries:
                try:
                    callback(payload[0])
                except Exception:  # noqa: BLE001
                    log.exception("summary callback failed")
        elif kind == "result":
            call_id, ok, value = payload
            future = self.calls.pop(call_id, None)
            if future is not None:
                future.set_result(value) if ok else future.set_exception(RuntimeError(value))

    def exited(self) -> None:
        """The results pipe closed: the process is gone. Start another, which gets every frame
        not yet written whole (those the dead one read are lost with it)."""
        loop, process = self.loop, self.process
        assert loop is not None and process is not None
        loop.remove_reader(self.results_fd)
        loop.remove_writer(self.jobs_fd)
        for fd in (self.results_fd, self.jobs_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fail_calls()
        if self.stopping:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(1)
        log.error("the recorder process exited (code %s)", process.returncode)
        if self.restarts >= self.max_restarts:
            self.process = None
            self.dropped += len(self.pending) + sum(len(frame.batch) for frame in self.frames)
            self.pending.clear()
            self.frames.clear()
            self.backlog = 0
            self.stopping = True  # from now on submit() only counts
            return
        self.restarts += 1
        log.warning("restarting the recorder process (%d of %d)", self.restarts, self.max_restarts)
        self.start()

    def fail_calls(self) -> None:
        for future in self.calls.values():
            if not future.done():
                future.set_exception(RuntimeError("the recorder process stopped"))
        self.calls.clear()


# -- the recorder process -----------------------------------------------------------------


def load_rules(db) -> Any:
    from addons.gate import load_rules as load

    return load(db)


def store_rules(db, entry, history) -> None:
    from addons.gate import store_rules as store

    store(db, entry, history)


def ready(db) -> bool:
    return True


CALLS: dict[str, Callable[..., Any]] = {
    "load_rules": load_rules,
    "store_rules": store_rules,
    "ready": ready,
}


def report_abandoned(future: Future) -> None:
    if future.exception() is None and future.result():
        log.warning(
            "marked %d exchange(s) left pending by the last run as abandoned", future.result()
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m addons.worker")
    parser.add_argument("--db", required=True)
    parser.add_argument("--jobs-fd", type=int, required=True)
    parser.add_argument("--results-fd", type=int, required=True)
    parser.add_argument("--busy-timeout-ms", type=int, default=5000)
    parser.add_argument("--max-keep", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    # Background work: on a busy machine the proxy, its clients and upstreams go first. Nice 10
    # gives it a smaller share of a contended core; SCHED_BATCH (Linux) keeps its wake-ups
    # from preempting them. Both before any thread starts: threads inherit them.
    with contextlib.suppress(OSError):
        os.nice(10)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    logging.basicConfig(level=logging.WARNING, format="[recorder] %(levelname)s %(message)s")

    from addons.pipeline import Pipeline
    from addons.store.recorder import Recorder

    out_lock = threading.Lock()

    def reply(*message: Any) -> None:
        with out_lock:
            try:
                write_frame(args.results_fd, message)
            except OSError:
                pass

    recorder = Recorder(args.db, busy_timeout_ms=args.busy_timeout_ms, block_s=SHUTDOWN_S)
    recorder.start().add_done_callback(report_abandoned)
    pipeline = Pipeline(recorder, max_keep=args.max_keep)
    if not args.quiet:
        from addons.console import LogPrinter

        pipeline.on_summary(LogPrinter().print)
    subscribed = threading.Event()

    def summarize(row: dict[str, Any]) -> None:
        if subscribed.is_set():
            reply("summary", {k: row.get(k) for k in SUMMARY_KEYS})

    pipeline.on_summary(summarize)
    handed = 0  # jobs handed to the recorder (read off the pipe): the rest are still in it

    stop = threading.Event()

    def report() -> None:
        while not stop.wait(STATS_INTERVAL_S):
            stats = recorder.stats()
            counters = pipeline.counters
            stats.update(
                write_queue=stats.pop("queue_depth"),  # jobs and records; the proxy adds the pipe
                analysis_errors=counters.errors,
                analysis_last_error=counters.last_error,
                cpu_s=time.process_time(),
                jobs=handed,
            )
            reply("stats", stats)

    threading.Thread(target=report, name="recorder-stats", daemon=True).start()

    def run_call(call_id: int, name: str, call_args: tuple) -> None:
        function = CALLS.get(name)
        if function is None:
            reply("result", call_id, False, f"unknown call {name!r}")
            return
        future = recorder.submit(lambda db: function(db, *call_args))

        def done(f: Future) -> None:
            error = f.exception()
            reply("result", call_id, error is None, repr(error) if error else f.result())

        future.add_done_callback(done)

    recent = RecentBodies()
    try:
        while True:
            for job in read_jobs(args.jobs_fd, recent):
                if isinstance(job, tuple) and job[0] == "call":
                    run_call(*job[1:])
                elif isinstance(job, tuple) and job[0] == "subscribe":
                    subscribed.set()
                else:
                    recorder.analyse(pipeline.analyse, job)  # waits when the writer lags
                    handed += 1
    except (EOFError, OSError):
        pass
    # The proxy is stopping (or gone): analyse and write what is still queued, within SHUTDOWN_S.
    recorder.stop(SHUTDOWN_S)
    stop.set()


if __name__ == "__main__":
    main()
