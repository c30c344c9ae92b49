"""The recorder process with one part switched off (`LLM_INSPECTOR_WORKER_PATCH`), for
`recorder_no_writes.py`, `recorder_no_analysis.py` and `recorder_no_yield.py`: which part of its
work costs the proxy."""

import os
import sys

from addons import worker
from addons.pipeline import Pipeline
from addons.store.recorder import Recorder

patch = os.environ.get("LLM_INSPECTOR_WORKER_PATCH")
if patch == "no_writes":  # analysis runs; the batches it makes are dropped, SQLite is untouched
    Recorder._write_batch = lambda self, records: None
elif patch == "no_analysis":  # no parsing: jobs go to SQLite with the bare facts the proxy sent

    def handle(self, job):
        if type(job).__name__ == "Begin":
            self.recorder.begin({"id": job.id, "method": job.method, "path": job.path}, job.body)
        elif type(job).__name__ == "Finish":
            self.recorder.finish({"id": job.id, "status": job.status}, job.body, None)

    Pipeline.handle = handle
elif patch == "no_yield":  # the recorder's threads never offer their core to others
    from addons import pipeline
    from addons.store import recorder

    recorder.yield_cpu = pipeline.yield_cpu = lambda: None
elif patch and patch.startswith("batch_"):  # batch_200: gather a batch for 200 ms, not 50
    interval = int(patch.removeprefix("batch_")) / 1000
    init = Recorder.__init__

    def patched_init(self, *args, **kw):
        init(self, *args, **kw)
        self.flush_interval = interval

    Recorder.__init__ = patched_init
elif patch and patch.startswith("autocheckpoint_"):  # autocheckpoint_100: a checkpoint each
    # 100 WAL pages, not SQLite's 1,000 (smaller checkpoints, run more often)
    from addons.store import recorder

    pages = int(patch.removeprefix("autocheckpoint_"))
    open_db = recorder.open_db

    def patched_open_db(*args, **kw):
        db = open_db(*args, **kw)
        db.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        return db

    recorder.open_db = patched_open_db
elif patch and patch.startswith("slice_"):  # slice_100: SCHED_BATCH with a 100 µs time slice
    # (Linux 6.12+ takes a fair task's slice from sched_attr.sched_runtime): a task that wakes
    # on the recorder's core waits at most that long, where the default slice protects it
    import ctypes
    import struct

    slice_ns = int(patch.removeprefix("slice_")) * 1000
    libc = ctypes.CDLL(None, use_errno=True)

    def set_slice(pid, policy, param):
        # struct sched_attr: size, policy, flags, nice, priority, runtime, deadline, period
        attr = struct.pack(
            "IIQiIQQQ", 48, policy, 0, os.getpriority(os.PRIO_PROCESS, 0), 0, slice_ns, 0, 0
        )
        buf = ctypes.create_string_buffer(attr)
        if libc.syscall(314, 0, buf, 0) != 0:  # SYS_sched_setattr on x86-64
            raise OSError(ctypes.get_errno(), "sched_setattr")

    os.sched_setscheduler = set_slice
elif patch == "no_ui_triggers":  # the UI tables' triggers dropped (FTS, conversations, rollups)
    from addons.store import recorder

    open_db = recorder.open_db

    # LLM_INSPECTOR_DROP_TRIGGERS: name prefixes (comma-separated) of the triggers to drop;
    # unset, every trigger
    prefixes = tuple(filter(None, os.environ.get("LLM_INSPECTOR_DROP_TRIGGERS", "").split(",")))

    def without_triggers(*args, **kw):
        db = open_db(*args, **kw)
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        for name in names:
            if not prefixes or name.startswith(prefixes):
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
        return db

    recorder.open_db = without_triggers
elif patch == "gc_stats":  # count the collector's pauses by generation, written every 2 s
    import gc
    import json
    import threading
    import time

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    def dump():
        while True:
            time.sleep(2)
            summary = {
                gen: {"n": len(xs), "max_ms": max(xs, default=0) * 1e3, "sum_ms": sum(xs) * 1e3}
                for gen, xs in pauses.items()
            }
            with open(os.environ["LLM_INSPECTOR_GC_LOG"], "w") as f:
                json.dump(summary, f)

    gc.callbacks.append(on_gc)
    threading.Thread(target=dump, daemon=True).start()
elif patch == "capture_jobs":  # every job the proxy hands over is also pickled (recorder_replay)
    import pickle

    read_jobs = worker.read_jobs
    out = open(os.environ["LLM_INSPECTOR_CAPTURE"], "ab")  # noqa: SIM115

    def capturing_jobs(fd, recent):
        jobs = read_jobs(fd, recent)
        pickle.dump([job for job in jobs if not isinstance(job, tuple)], out)
        out.flush()
        return jobs

    worker.read_jobs = capturing_jobs
else:
    sys.exit(f"unknown patch {patch!r}")
worker.main()
