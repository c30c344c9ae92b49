"""Loaded after addons/main.py: the recorder process runs under SCHED_IDLE (only on idle CPU)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import start_recorder  # noqa: E402

start_recorder(preexec_fn=lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)))
