"""Loaded after addons/main.py: the rules never run (what parsing a request for them costs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import gate  # noqa: E402

gate.Gate.check = lambda self, flow, state: None
