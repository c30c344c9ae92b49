"""Loaded after addons/main.py: hand jobs to the recorder process every 5 ms, not 20 ms."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402

worker.SEND_INTERVAL_S = 0.005
