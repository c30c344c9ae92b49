"""The llm-inspector addon suite: `mitmdump -s addons/main.py` (or `mitmweb -s addons/main.py`).

Order matters: the router places a request; the gate runs the rules on it (and answers
`/__proxy/api/rules`) before capture snapshots it; health answers the suite's other `/__proxy/*`
paths; the console prints what the pipeline finished.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from addons.capture import Capture  # noqa: E402
from addons.console import Console  # noqa: E402
from addons.dispatch import Dispatch  # noqa: E402
from addons.gate import Gate  # noqa: E402
from addons.health import Health  # noqa: E402
from addons.routing import Router  # noqa: E402
from addons.suite import Suite  # noqa: E402
from addons.ui import UI  # noqa: E402

suite = Suite()
suite.capture = Capture(suite)
suite.gate = Gate(suite)

# One addon object for mitmproxy, which looks each event's handlers up in this order once.
addons = [
    Dispatch(
        suite,
        Router(suite),
        suite.gate,
        UI(suite),
        Health(suite),
        suite.capture,
        Console(suite),
    )
]
