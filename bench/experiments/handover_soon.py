"""Loaded after addons/main.py: hand jobs to the recorder process on the event loop's next turn
after the hook that made them, not every 20 ms."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402

worker.SEND_INTERVAL_S = 0.0
