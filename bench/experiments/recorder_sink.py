"""Loaded after addons/main.py: the recorder process is bench/experiments/sink_worker.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import start_recorder  # noqa: E402

start_recorder(module="bench.experiments.sink_worker")
