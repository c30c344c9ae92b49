"""Loaded after addons/main.py: the recorder process at SCHED_BATCH and nice 10 as usual, with
a time slice of 100 µs instead of the kernel's default (Linux 6.12+)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("slice_100")
