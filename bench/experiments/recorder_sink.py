"""Loaded after addons/main.py: the recorder process is bench/experiments/sink_worker.py."""

import subprocess
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402


class SinkPopen(subprocess.Popen):
    def __init__(self, args, **kw):
        args = ["bench.experiments.sink_worker" if a == "addons.worker" else a for a in args]
        super().__init__(args, **kw)


worker.subprocess = types.SimpleNamespace(Popen=SinkPopen, TimeoutExpired=subprocess.TimeoutExpired)
