"""`/__proxy/api/health`: is the suite recording, and what does it cost?

Answered by the suite itself on the reverse listener; every other `/__proxy/*` path is a 404 here
and is never forwarded upstream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from mitmproxy import http
from mitmproxy.proxy.mode_specs import ReverseMode


def percentiles(samples: Iterable[float], points=(50, 95, 99)) -> dict[str, float | None]:
    values = sorted(samples)
    if not values:
        return {f"p{p}": None for p in points}
    last = len(values) - 1
    return {f"p{p}": round(values[min(last, round(last * p / 100))], 3) for p in points}


class Health:
    def __init__(self, suite) -> None:
        self.suite = suite

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or not isinstance(flow.client_conn.proxy_mode, ReverseMode):
            return
        if flow.metadata.get("inspector.ui"):
            return  # on its way to the UI (addons/ui.py)
        path = flow.request.path.partition("?")[0]
        if not path.startswith("/__proxy"):
            return
        if path.rstrip("/") == "/__proxy/api/health" and flow.request.method in ("GET", "HEAD"):
            flow.response = json_response(200, self.report())
        else:
            flow.response = json_response(404, {"error": f"not found: {path}"})

    def report(self) -> dict[str, Any]:
        suite = self.suite
        recorder = suite.worker.stats() if suite.worker else {}
        capture = suite.capture
        return {
            "status": "ok" if recorder.get("db_ok", False) else "degraded",
            "uptime_s": round(time.time() - suite.started_at, 3),
            "db": {
                "path": str(suite.db_path),
                "ok": recorder.get("db_ok"),
                "last_error": recorder.get("last_error"),
            },
            "rows": {
                "recorded": recorder.get("recorded", 0),
                "begun": recorder.get("begun", 0),
                "not_recorded": recorder.get("failed", 0) + recorder.get("dropped", 0),
                "failed": recorder.get("failed", 0),
                "dropped": recorder.get("dropped", 0),
            },
            "queue_depth": recorder.get("queue_depth", 0),
            "in_flight": len(capture.inflight),
            "analysis_errors": recorder.get("analysis_errors", 0),
            "recorder_process": {
                "alive": recorder.get("alive", False),
                "restarts": recorder.get("restarts", 0),
                "cpu_s": recorder.get("cpu_s"),
                "jobs": recorder.get("jobs", 0),
            },
            "overhead_ms": {"samples": len(capture.overheads), **percentiles(capture.overheads)},
            "write_ms": {"p50": recorder.get("write_ms_p50"), "p95": recorder.get("write_ms_p95")},
            "rules": suite.gate.health() if suite.gate else None,
        }


def json_response(status: int, doc: dict[str, Any]) -> http.Response:
    return http.Response.make(
        status, json.dumps(doc, indent=2).encode(), {"content-type": "application/json"}
    )
