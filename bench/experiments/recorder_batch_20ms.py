"""Loaded after addons/main.py: the recorder gathers a batch for 20 ms instead of 50."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("batch_20")
