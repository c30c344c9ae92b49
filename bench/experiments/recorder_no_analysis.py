"""Loaded after addons/main.py: the recorder process with no analysis (see patched_worker.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("no_analysis")
