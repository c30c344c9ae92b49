"""Loaded after addons/main.py: the recorder also pickles every batch it writes to the file
named by LLM_INSPECTOR_CAPTURE, for `replay.py` to time the writes alone."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("capture")
