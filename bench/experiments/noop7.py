"""Seven addon objects with the suite's hook names and empty bodies: mitmproxy's dispatch cost."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from noop1 import Noop  # noqa: E402

addons = [Noop() for _ in range(7)]
