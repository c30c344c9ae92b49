"""The recorder process: analysis and SQLite live beside mitmproxy, not inside it.

mitmproxy serves every flow from one event loop under one GIL. Parsing bodies, counting tokens,
threading conversations, printing the live log and writing SQLite all cost CPU per request; in
the proxy's own process they would hold the GIL that the event loop needs (measured: the proxy's
throughput halved). So the proxy only takes snapshots and hands them, pickled in batches every
20 ms by one sender thread, through a pipe to this process, which runs the analysis `Pipeline`,
the `Recorder` and the console log on the other core.

Proxy side: `Worker` (start, submit, call, stats, on_summary, stop). Its `submit` never blocks
the event loop: a bounded queue in front of the pipe drops and counts when the recorder process
cannot keep up. The recorder process sends back stats (twice a second), a compact summary of
every finished exchange (for mitmweb marks and the rules' conversation history) and the results
of `call`s (the rules document in the settings table).

Child side: `python -m addons.worker --db PATH --jobs-fd N --results-fd N [...]`.

Failure policy: fails open. If the recorder process dies, the proxy counts what it could not
hand over, logs it, and starts a new one (a few times); traffic is never held up.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FRAME = struct.Struct("!I")
BATCH = 512  # jobs per pickled frame at most
SEND_INTERVAL_S = 0.02  # the sender wakes this often: no wake-up (and GIL hand-off) per job
STATS_INTERVAL_S = 0.5
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


def read_exact(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_frame(fd: int) -> Any:
    head = read_exact(fd, FRAME.size)
    if head is None:
        raise EOFError
    body = read_exact(fd, FRAME.unpack(head)[0])
    if body is None:
        raise EOFError
    return pickle.loads(body)


# -- the proxy's side ---------------------------------------------------------------------


class Worker:
    def __init__(
        self,
        db_path: Path,
        *,
        busy_timeout_ms: int = 5000,
        quiet: bool = False,
        max_keep: int = 16 * 1024 * 1024,
        queue_size: int = 20000,
        max_restarts: int = 5,
    ) -> None:
        self.args = [
            "--db", str(db_path), "--busy-timeout-ms", str(busy_timeout_ms),
            "--max-keep", str(max_keep), *(["--quiet"] if quiet else []),
        ]  # fmt: skip
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.queue_size = queue_size
        self.max_restarts = max_restarts
        self.restarts = 0
        self.dropped = 0  # jobs never handed over (queue full, or the process was down)
        self.latest: dict[str, Any] = {}
        self.summaries: list[Callable[[dict[str, Any]], None]] = []
        self.calls: dict[int, Future] = {}
        self.ids = itertools.count(1)
        self.process: subprocess.Popen | None = None
        self.jobs_fd = -1
        self.lock = threading.Lock()
        self.stopping = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
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
        self.jobs_fd = jobs_w
        process = self.process
        threading.Thread(
            target=self.send, args=(jobs_w,), name="recorder-send", daemon=True
        ).start()
        threading.Thread(
            target=self.receive, args=(results_r, process), name="recorder-receive", daemon=True
        ).start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        self.queue.put(None)  # the sender closes the pipe once everything before it is sent
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    # -- called from the event loop: never blocks -------------------------------------------

    def submit(self, job: Any) -> None:
        if self.queue.qsize() >= self.queue_size:
            self.dropped += 1
            return
        self.queue.put(job)

    def call(self, name: str, *args: Any) -> Future:
        """Run a named storage function in the recorder process (see CALLS)."""
        future: Future = Future()
        call_id = next(self.ids)
        self.calls[call_id] = future
        self.queue.put(("call", call_id, name, args))
        return future

    def on_summary(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """`callback(summary)` on a thread of this process, for every finished exchange. The
        recorder process sends summaries only once someone asked: each costs the proxy a little
        GIL time."""
        if callback in self.summaries:
            return
        self.summaries.append(callback)
        if len(self.summaries) == 1:
            self.queue.put(("subscribe",))

    def stats(self) -> dict[str, Any]:
        stats = dict(self.latest)
        stats["dropped"] = stats.get("dropped", 0) + self.dropped
        stats["queue_depth"] = stats.get("queue_depth", 0) + self.queue.qsize()
        stats["restarts"] = self.restarts
        stats["alive"] = self.process is not None and self.process.poll() is None
        return stats

    # -- threads -------------------------------------------------------------------------

    def send(self, fd: int) -> None:
        while True:
            batch = []
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                time.sleep(SEND_INTERVAL_S)
                continue
            done = batch[-1] is None
            batch = [job for job in batch if job is not None]
            try:
                if fd != self.jobs_fd:
                    raise BrokenPipeError  # a newer recorder process took over
                if batch:
                    write_frame(fd, batch)
            except OSError:
                # The recorder process is gone (receive() starts a new one): hand the batch to
                # the next sender rather than lose it; the restart limit stops a poison job.
                for job in batch:
                    self.queue.put(job)
                os.close(fd)
                return
            if done:
                os.close(fd)
                return

    def receive(self, fd: int, process: subprocess.Popen) -> None:
        try:
            while True:
                kind, *payload = read_frame(fd)
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
                        future.set_result(value) if ok else future.set_exception(
                            RuntimeError(value)
                        )
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        finally:
            os.close(fd)
        process.wait()
        for future in self.calls.values():
            future.set_exception(RuntimeError("the recorder process stopped"))
        self.calls.clear()
        if self.stopping:
            return
        log.error("the recorder process exited (code %s)", process.returncode)
        if self.restarts < self.max_restarts:
            self.restarts += 1
            log.warning(
                "restarting the recorder process (%d of %d)", self.restarts, self.max_restarts
            )
            self.start()
            if self.summaries:
                self.queue.put(("subscribe",))


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
    # Background work: on a busy machine the proxy, its clients and upstreams go first.
    with contextlib.suppress(OSError):
        os.nice(10)
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

    recorder = Recorder(args.db, busy_timeout_ms=args.busy_timeout_ms)
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
    pipeline.start()

    stop = threading.Event()

    def report() -> None:
        while not stop.wait(STATS_INTERVAL_S):
            stats = recorder.stats()
            counters = pipeline.counters
            stats.update(
                queue_depth=stats["queue_depth"] + pipeline.queue.qsize(),
                dropped=stats["dropped"] + counters.dropped,
                analysis_errors=counters.errors,
                analysis_last_error=counters.last_error,
                cpu_s=time.process_time(),
                jobs=counters.jobs,
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

    try:
        while True:
            for job in read_frame(args.jobs_fd):
                if isinstance(job, tuple) and job[0] == "call":
                    run_call(*job[1:])
                elif isinstance(job, tuple) and job[0] == "subscribe":
                    subscribed.set()
                else:
                    pipeline.queue.put(job)  # blocks when analysis lags: the pipe backs up
    except (EOFError, OSError):
        pass
    pipeline.stop()
    recorder.stop()
    stop.set()


if __name__ == "__main__":
    main()
