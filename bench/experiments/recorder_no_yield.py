"""Loaded after addons/main.py: the recorder's threads never call sched_yield between records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("no_yield")
