"""Shared by the recorder_no_* scripts: run the recorder process as patched_worker.py."""

import os
import subprocess
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402


def patch_recorder(name: str) -> None:
    class PatchedPopen(subprocess.Popen):
        def __init__(self, args, **kw):
            args = ["bench.experiments.patched_worker" if a == "addons.worker" else a for a in args]
            kw["env"] = dict(kw.get("env") or os.environ, LLM_INSPECTOR_WORKER_PATCH=name)
            super().__init__(args, **kw)

    worker.subprocess = types.SimpleNamespace(
        Popen=PatchedPopen, TimeoutExpired=subprocess.TimeoutExpired
    )
