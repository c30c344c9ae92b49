"""Loaded after addons/main.py: the recorder process counts its garbage collector's pauses by
generation and writes them to $LLM_INSPECTOR_GC_LOG every 2 s (default: a file in the temp
folder named after the proxy's pid)."""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from patch import patch_recorder  # noqa: E402

os.environ.setdefault(
    "LLM_INSPECTOR_GC_LOG", str(Path(tempfile.gettempdir()) / f"recorder-gc-{os.getpid()}.json")
)
patch_recorder("gc_stats")
