"""Loaded after addons/main.py: nothing reaches the recorder process (what capture costs alone)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from addons import worker  # noqa: E402

worker.Worker.submit = lambda self, job: None
