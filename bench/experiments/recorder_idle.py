"""Loaded after addons/main.py: the recorder process runs under SCHED_IDLE (only on idle CPU)."""

import os
import subprocess
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402


class IdlePopen(subprocess.Popen):
    def __init__(self, *args, **kw):
        kw["preexec_fn"] = lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        super().__init__(*args, **kw)


worker.subprocess = types.SimpleNamespace(Popen=IdlePopen, TimeoutExpired=subprocess.TimeoutExpired)
