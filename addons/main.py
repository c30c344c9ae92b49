"""The llm-inspector addon suite: `mitmdump -s addons/main.py` (or `mitmweb -s addons/main.py`).

Order matters: the router places a request before capture snapshots it; health answers the
suite's own `/__proxy/*` paths; the console prints what the pipeline finished.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from addons.capture import Capture  # noqa: E402
from addons.console import Console  # noqa: E402
from addons.health import Health  # noqa: E402
from addons.routing import Router  # noqa: E402
from addons.suite import Suite  # noqa: E402

suite = Suite()
suite.capture = Capture(suite)

addons = [
    suite,
    Router(suite),
    Health(suite),
    suite.capture,
    Console(suite),
]
