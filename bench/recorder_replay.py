"""Time the recorder's own work on jobs captured from a running suite, in one thread, away from
the proxy and the machine's other processes: CPU per exchange for the analysis and for the
SQLite writes, under variants of the schema.

    .venv/bin/python -m bench.recorder_replay --capture turns /tmp/turns.pkl  # 330 turns
    .venv/bin/python -m bench.recorder_replay /tmp/turns.pkl --variant no_fts --batch 6

`--capture small|large|turns|sse` runs the suite (with
`bench/experiments/recorder_capture_jobs.py`) against the fake upstream with that workload of
`bench.overhead` (c=1; `sse`: streams of 200 events, 50 at a time), and keeps the jobs its
recorder process was handed.

A variant drops triggers or indexes before the replay: `no_fts`, `no_triggers`,
`no_conversations`, `no_stats`, `no_indexes`. Batches are cut every `--batch` exchanges
(the recorder's own batches follow its 50 ms window: at c=1, 10-20 exchanges of 1 KB, 5-7
turns of a conversation).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from addons.pipeline import Finish, Pipeline
from addons.store import bodies, recorder, schema

VARIANTS = {
    "full": (),
    "no_fts": ("TRIGGER", "requests_fts"),
    "no_conversations": ("TRIGGER", "conversations"),
    "no_stats": ("TRIGGER", "stats"),
    "no_triggers": ("TRIGGER", ""),
    "no_indexes": ("INDEX", "idx_requests_"),
}


def load_jobs(path: Path) -> list[Any]:
    jobs: list[Any] = []
    with path.open("rb") as f:
        while True:
            try:
                jobs.extend(pickle.load(f))
            except EOFError:
                return jobs


def replay(jobs: list[Any], variant: str, batch: int, folder: Path) -> tuple[float, float]:
    """CPU ms per exchange: (analysis, writes)."""
    fd, name = tempfile.mkstemp(dir=folder, suffix=".db")
    os.close(fd)
    path = Path(name)
    db = schema.open_db(path)
    if VARIANTS[variant]:
        kind, prefix = VARIANTS[variant]
        names = db.execute("SELECT name FROM sqlite_master WHERE type = ?", [kind.lower()])
        for (name,) in names.fetchall():
            if name.startswith(prefix):
                db.execute(f"DROP {kind} {name}")
    db.close()
    bodies._SPLITS, bodies._RECENT_IDS = bodies._Splits(), bodies._RecentIds()  # a fresh start
    rec = recorder.Recorder(str(path))
    rec._thread = threading.current_thread()  # records made while analysing join the batch
    rec._connect()
    pipeline = Pipeline(rec)
    analysis = writes = 0.0
    records: list[Any] = []
    exchanges = 0
    for i, job in enumerate(jobs):
        rec._gathering = records
        started = time.thread_time()
        pipeline.analyse(job)
        analysis += time.thread_time() - started
        rec._gathering = None
        finished = isinstance(job, Finish)
        exchanges += finished
        if (finished and exchanges % batch == 0) or i == len(jobs) - 1:
            started = time.thread_time()
            rec._write_batch(records)
            writes += time.thread_time() - started
            records = []
    rec._close()
    return analysis * 1000 / exchanges, writes * 1000 / exchanges


def capture(workload_name: str, out: Path, n: int) -> None:
    from bench import overhead, variants, workload
    from bench.overhead import Processes, Run

    body = {
        "small": workload.small_body,
        "large": workload.large_body,
        "turns": workload.conversation_lines,
        "sse": lambda: workload.small_body(stream=True),
    }[workload_name]()
    out.unlink(missing_ok=True)
    os.environ["LLM_INSPECTOR_CAPTURE"] = str(out.resolve())  # the recorder process inherits it
    with tempfile.TemporaryDirectory(prefix="llm-inspector-capture-") as folder:
        run = Run(tmp=Path(folder), procs=Processes())
        try:
            upstream_proc, upstream = overhead.start_upstream(run.procs, run.tmp)
            run.ports["direct"], run.pids["direct"] = upstream, upstream_proc.pid
            run.files[workload_name] = run.tmp / "body"
            run.files[workload_name].write_bytes(body)
            script = Path(__file__).parent / "experiments/recorder_capture_jobs.py"
            variants.start_variant(run, "suite", f"suite+{script}", upstream)
            if workload_name == "sse":  # n streams of 200 events, 50 at a time
                (run.tmp / "warm").write_bytes(workload.small_body())
                job = {"mode": "sse", "body": str(run.files["sse"]), "scenario": overhead.SSE}
                job["warm_body"] = str(run.tmp / "warm")
                run.loadgen("suite", {**job, "concurrency": 50, "rounds": max(1, n // 50)})
            else:
                variants.latency(run, "suite", workload_name, n)
            overhead.drain(run.ports["suite"])
        finally:
            run.procs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", type=Path)
    parser.add_argument("--capture", choices=("small", "large", "turns", "sse"))
    parser.add_argument("-n", type=int, default=300, help="requests (sse: streams) to capture")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--batch", type=int, default=10, help="exchanges per batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.capture:
        capture(args.capture, args.jobs, args.n)
        return 0
    jobs = load_jobs(args.jobs)
    variants = ["full", *(args.variant or [])]
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="llm-inspector-replay-") as folder:
        for _ in range(args.rounds):  # rounds interleave the variants, as bench.variants does
            for variant in variants:
                results[variant].append(replay(jobs, variant, args.batch, Path(folder)))
    print("| variant | analysis CPU ms/exchange | writes CPU ms/exchange |\n|---|---:|---:|")
    for variant, rows in results.items():
        analysis = statistics.median(a for a, _ in rows)
        writes = statistics.median(w for _, w in rows)
        print(f"| {variant} | {analysis:.3f} | {writes:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
