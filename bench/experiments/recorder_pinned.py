"""Loaded after addons/main.py: the recorder process may run on the last CPU only."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import start_recorder  # noqa: E402

LAST = max(os.sched_getaffinity(0))
start_recorder(preexec_fn=lambda: os.sched_setaffinity(0, {LAST}))
