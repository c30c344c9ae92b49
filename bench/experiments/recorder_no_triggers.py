"""Loaded after addons/main.py: the recorder writes without any trigger (no FTS index, no
conversation summaries, no rollups): what keeping the UI's tables costs per exchange."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

patch_recorder("no_ui_triggers")
