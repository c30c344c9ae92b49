"""Loaded after addons/main.py: the recorder process also pickles every job the proxy hands
it to the file named by LLM_INSPECTOR_CAPTURE, for `bench.recorder_replay`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("capture_jobs")
