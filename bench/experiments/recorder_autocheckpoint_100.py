"""Loaded after addons/main.py: the recorder checkpoints the WAL every 100 pages, not 1,000."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("autocheckpoint_100")
