"""Loaded after addons/main.py: the recorder process may run on the last CPU only."""

import os
import subprocess
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402


class PinnedPopen(subprocess.Popen):
    def __init__(self, *args, **kw):
        last = max(os.sched_getaffinity(0))
        kw["preexec_fn"] = lambda: os.sched_setaffinity(0, {last})
        super().__init__(*args, **kw)


worker.subprocess = types.SimpleNamespace(
    Popen=PinnedPopen, TimeoutExpired=subprocess.TimeoutExpired
)
