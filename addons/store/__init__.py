"""Capture storage: the SQLite schema, de-duplicated bodies, and the recorder thread.

Nothing here imports mitmproxy.
"""

from .bodies import load, register_functions, split, store
from .recorder import Recorder
from .schema import migrations, now_iso, open_db

__all__ = [
    "Recorder",
    "load",
    "migrations",
    "now_iso",
    "open_db",
    "register_functions",
    "split",
    "store",
]
