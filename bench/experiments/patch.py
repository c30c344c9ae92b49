"""Shared by the experiments that change how the recorder process is started."""

import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402


def start_recorder(
    *,
    module: str | None = None,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> None:
    """The recorder process runs `module` instead of addons.worker, with `env` added, and
    `preexec_fn` run in the child before it starts."""

    class Popen(subprocess.Popen):
        def __init__(self, args, **kw):
            if module:
                args = [module if a == "addons.worker" else a for a in args]
            if env:
                kw["env"] = dict(kw.get("env") or os.environ, **env)
            if preexec_fn:
                kw["preexec_fn"] = preexec_fn
            super().__init__(args, **kw)

    worker.subprocess = types.SimpleNamespace(Popen=Popen, TimeoutExpired=subprocess.TimeoutExpired)


def patch_recorder(name: str) -> None:
    """Run the recorder process as patched_worker.py with patch `name`."""
    start_recorder(
        module="bench.experiments.patched_worker", env={"LLM_INSPECTOR_WORKER_PATCH": name}
    )
