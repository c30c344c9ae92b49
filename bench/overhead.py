"""What the suite costs: latency, throughput, streaming, memory and storage, side by side with
the same traffic sent straight to the upstream and through bare `mitmdump`.

    .venv/bin/python -m bench.overhead            # full run, ~4-6 minutes
    .venv/bin/python -m bench.overhead --quick    # ~10x fewer requests, ~1-1.5 minutes
    .venv/bin/python -m bench.overhead --profile  # also py-spy the suite under load (10 s)

One run starts, on 127.0.0.1 only:
    upstream     the fake LLM upstream (`python -m tests.fakes.upstream`), one process
    bare         `mitmdump --mode reverse:UPSTREAM -q`, no addon (buffers responses)
    bare+stream  the same plus a one-line addon that sets `flow.response.stream = True`: the fair
                 baseline for SSE, since a streaming proxy must not buffer the stream
    suite        `mitmdump -s addons/main.py` as `tests.harness.Proxy` starts it
and drives them from a separate load-generator process (`wrk` for requests/s when installed,
`bench.loadgen` for everything else), so that the client never shares a proxy's GIL. Each
measurement runs against every target back to back, so the targets see the same machine state.

Prints a Markdown table and writes it to bench/results/overhead-<date>[-quick].md. See
bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import workload
from bench.loadgen import percentile
from tests.harness import Proxy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MITMDUMP = Path(sys.executable).parent / "mitmdump"
HOST = "127.0.0.1"
PLAIN = "encoding=identity"
SSE = "chunks=200,delay_ms=5,encoding=identity"
STREAM_ALL = "def responseheaders(flow):\n    flow.response.stream = True\n"

TARGETS = ("direct", "bare", "bare+stream", "suite")
PROXIES = TARGETS[1:]


@dataclass(frozen=True)
class Plan:
    small_n: int
    large_n: int
    warmup: int
    sse_c1_streams: int
    sse_c50_rounds: int
    load_s: float
    mem_first: int
    mem_total: int
    turns: int = 50

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(200, 50, 20, 2, 1, 3.0, 100, 1000)
        return cls(2000, 2000, 100, 10, 3, 16.0, 1000, 10000)


# --- processes ------------------------------------------------------------------------------


class Processes:
    """Every process this run starts; all stopped in `close`, whatever happened."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen] = []
        self.suites: list[Proxy] = []

    def spawn(self, args: list[str], log: Path, **kw: Any) -> subprocess.Popen:
        out = open(log, "wb")
        try:
            proc = subprocess.Popen(
                args,
                cwd=kw.pop("cwd", ROOT),
                stdout=kw.pop("stdout", out),
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                **kw,
            )
        finally:
            out.close()
        self.popens.append(proc)
        return proc

    def close(self) -> None:
        for suite in self.suites:
            with contextlib.suppress(Exception):
                suite.stop()
        for proc in reversed(self.popens):
            stop(proc)


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout} s")


def start_upstream(procs: Processes, tmp: Path) -> tuple[subprocess.Popen, int]:
    log = tmp / "upstream.log"
    proc = procs.spawn([sys.executable, "-m", "tests.fakes.upstream", "--port", "0"], log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if m := re.search(r"listening on (\d+)", log.read_text()):
            return proc, int(m.group(1))
        if proc.poll() is not None:
            raise RuntimeError("fake upstream exited:\n" + log.read_text())
        time.sleep(0.05)
    raise TimeoutError("fake upstream did not start")


def start_bare(
    procs: Processes, tmp: Path, upstream: int, stream: bool, instance: int = 0
) -> tuple[Any, int]:
    name = ("bare-stream" if stream else "bare") + (f"-{instance}" if instance else "")
    port = free_port()
    args = [
        str(MITMDUMP),
        "--mode",
        f"reverse:http://{HOST}:{upstream}@{HOST}:{port}",
        "-q",
        "--set",
        "connection_strategy=lazy",
        "--set",
        "stream_large_bodies=16m",
        "--set",
        f"confdir={tmp / ('certs-' + name)}",
    ]
    if stream:
        script = tmp / "stream_all.py"
        script.write_text(STREAM_ALL)
        args += ["-s", str(script)]
    log = tmp / f"{name}.log"
    proc = procs.spawn(args, log)
    wait_port(port, proc, log)
    return proc, port


def start_suite(
    procs: Processes, tmp: Path, upstream: int, options: list[str], instance: int = 0
) -> tuple[Proxy, int]:
    folder = tmp / ("suite" + (f"-{instance}" if instance else ""))
    folder.mkdir()
    args = [a for option in options for a in ("--set", option)]
    proxy = Proxy(folder, f"http://{HOST}:{upstream}", args=args)
    procs.suites.append(proxy)
    proxy.start(timeout=60)
    return proxy, proxy.reverse_port


# --- sampling -------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Peak RSS of each proxy process, sampled every 100 ms for the whole run."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak: dict[str, int] = {name: 0 for name in pids}
        self.stopping = threading.Event()

    def rss(self, name: str) -> int:
        return self.procs[name].memory_info().rss

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            for name in self.procs:
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], self.rss(name))


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot, steal included."""
    t = psutil.cpu_times()
    # Interrupt time is left out: loopback traffic (ours) is mostly handled there.
    off = ("iowait", "irq", "softirq", "guest", "guest_nice")
    return sum(t) - t.idle - sum(getattr(t, name, 0.0) for name in off)


def own_seconds() -> float:
    """CPU seconds of this process, its finished children and its live ones."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            ct = child.cpu_times()
            total += ct.user + ct.system
    return total


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


# --- talking to things ----------------------------------------------------------------------


def http_call(port: int, method: str, path: str, body: bytes = b"", headers=None, timeout=30):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def health(port: int) -> dict[str, Any]:
    return json.loads(http_call(port, "GET", "/__proxy/api/health")[1])


def drain(port: int, timeout: float = 120.0) -> float:
    """Wait until the suite has written everything it captured; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        doc = health(port)
        if doc["queue_depth"] == 0 and doc["in_flight"] == 0:
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"suite still busy after {timeout} s: {doc}")


@dataclass
class Run:
    tmp: Path
    procs: Processes
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    twins: dict[str, list[int]] = field(default_factory=dict)  # more processes' ports, by target
    twin_pids: dict[str, list[int]] = field(default_factory=dict)  # and their pids
    sampler: RssSampler | None = None
    wrk: str | None = None

    def reset_upstream(self) -> None:
        http_call(self.ports["direct"], "POST", "/__fake/reset")

    def settle(self) -> None:
        """Between measurements: the suites have written their backlog, the upstream forgot its
        log."""
        for port in (self.ports["suite"], *self.twins.get("suite", ())):
            drain(port)
        self.reset_upstream()

    def port(self, target: str, instance: int = 0) -> int:
        """The target's port, or its `instance`-th twin's (the same code, another process)."""
        ports = [self.ports[target], *self.twins.get(target, ())]
        return ports[instance % len(ports)]

    def pid(self, target: str, instance: int = 0) -> int | None:
        """The pid of the process behind `port(target, instance)` (None for the upstream)."""
        if target not in self.pids:
            return None
        pids = [self.pids[target], *self.twin_pids.get(target, ())]
        return pids[instance % len(pids)]

    def loadgen(
        self, target: str, job: dict[str, Any], timeout: float = 300, instance: int = 0
    ) -> dict[str, Any]:
        job = {
            "host": HOST,
            "port": self.port(target, instance),
            "headers": {"x-fake-scenario": PLAIN},
            "timeout_s": timeout,
            **job,
        }
        log = self.tmp / "loadgen.log"
        proc = self.procs.spawn(
            [sys.executable, "-m", "bench.loadgen"],
            log,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            out, _ = proc.communicate(json.dumps(job).encode(), timeout=timeout + 30)
        finally:
            stop(proc, 2)
            self.procs.popens.remove(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed on {target}:\n{log.read_text()}")
        result = json.loads(out)
        if "error" in result:
            raise RuntimeError(f"load generator on {target}: {result['error']}")
        return result


# --- measurements ---------------------------------------------------------------------------


# This VM's speed drifts from second to second. With 5 rounds (0.6-0.8 s per target each), bare
# + stream (bare plus a one-line addon that streams responses, close to bare for these small
# responses) came out at 0.92-1.17x bare's added latency at the 150 KB median; with 20 shorter
# rounds at 1.00-1.05x.
LATENCY_ROUNDS = 20
# And one process of a proxy is not another of the same code: two bare mitmdumps measured in
# 16 interleaved rounds had 1 KB medians of 1.79 and 1.96 ms, two suites 1.98 and 2.64 ms, and
# a process keeps its luck from round to round. So every proxy runs as LATENCY_INSTANCES
# processes, and the latency rounds take turns among them. With 2, the suite's 150 KB median
# came out at 1.08-1.32x bare's in three runs of the same code; with 4, at 1.12-1.18x in three
# runs and 1.05-1.37x over eight; with 8, at 1.11-1.28x over four (the control at 0.97-1.13).
LATENCY_INSTANCES = 8


def visiting_order(round_: int) -> tuple[str, ...]:
    """The targets in turn, backwards every other round: a drift in the machine's speed over a
    round then favours no target for being first or last."""
    return TARGETS if round_ % 2 == 0 else TARGETS[::-1]


def measure_latency(run: Run, body: str, n: int, warmup: int) -> dict[str, Any]:
    """n requests per target in LATENCY_ROUNDS rounds, each round visiting every target in turn,
    percentiles over the pooled samples: a drift in the machine's state during the measurement
    (seen here: bare mitmdump's 150 KB added latency from 1.3 to 2.7 ms between runs) then
    touches every target alike instead of whichever one it happened to meet. `intervals` says
    how far the added-latency ratios could move with other rounds (`added_ratio_intervals`)."""
    rounds: dict[str, list[list[float]]] = {target: [] for target in TARGETS}
    errors = dict.fromkeys(TARGETS, 0)
    per_round = max(1, n // LATENCY_ROUNDS)
    for round_ in range(LATENCY_ROUNDS):
        for target in visiting_order(round_):
            run.settle()
            job = {"mode": "latency", "body": str(run.files[body]), "n": per_round}
            job["turns"] = body == "turns"
            job["warmup"] = max(1, warmup // LATENCY_ROUNDS)
            result = run.loadgen(target, job, instance=round_)
            rounds[target].append(result["latencies_ms"])
            errors[target] += sum(result["errors"].values())
    out: dict[str, Any] = {}
    for target, per in rounds.items():
        values = [v for r in per for v in r]
        out[target] = {
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "n": len(values),
            "errors": errors[target],
        }
    out["intervals"] = added_ratio_intervals(rounds, ("suite", "bare+stream"), (50, 99))
    return out


BOOTSTRAP_RESAMPLES = 1000


def added_ratio_intervals(
    rounds: dict[str, list[list[float]]],
    proxies: tuple[str, ...],
    ps: tuple[float, ...],
    level: float = 0.90,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, tuple[float, float] | None]:
    """`level` intervals for each proxy's added latency at each percentile over bare's (keys
    like "suite p50"), by bootstrap over the rounds: each resample draws as many rounds as
    were run, with replacement and the same rounds for every target (a round's machine state
    touched them all), pools their samples and takes the ratios. The spread is the run's own
    noise: a target missed by less than it is a miss this run cannot tell from chance."""
    keys = [(proxy, p) for proxy in proxies for p in ps]
    ratios: dict[tuple[str, float], list[float]] = {key: [] for key in keys}
    count = len(rounds["direct"])
    rng = random.Random(seed)
    for _ in range(resamples if count > 1 else 0):
        picked = [rng.randrange(count) for _ in range(count)]
        at = {}
        for target in ("direct", "bare", *proxies):
            pooled = sorted(v for i in picked for v in rounds[target][i])
            at.update({(target, p): percentile(pooled, p) for p in ps})
        for proxy, p in keys:
            direct = at["direct", p]
            r = ratio(at[proxy, p] - direct, at["bare", p] - direct)
            if r is not None:
                ratios[proxy, p].append(r)
    tail = (1 - level) / 2
    out: dict[str, tuple[float, float] | None] = {}
    for (proxy, p), values in ratios.items():
        values.sort()
        last = len(values) - 1
        out[f"{proxy} p{p:g}"] = (
            (values[int(tail * last)], values[round((1 - tail) * last)]) if values else None
        )
    return out


def measure_sse(run: Run, concurrency: int, rounds: int) -> dict[str, dict[str, Any]]:
    out = {}
    for target in TARGETS:
        run.settle()
        r = run.loadgen(
            target,
            {
                "mode": "sse",
                "body": str(run.files["stream"]),
                "warm_body": str(run.files["small"]),
                "scenario": SSE,
                "concurrency": concurrency,
                "rounds": rounds,
            },
        )
        gaps, ttfb, durations = r["gaps_ms"], r["ttfb_ms"], r["durations_ms"]
        out[target] = {
            "streams": r["streams"],
            "errors": sum(r["errors"].values()),
            "events": Counter(r["events"]).most_common(1)[0][0] if r["events"] else 0,
            "ttfb_p50": percentile(ttfb, 50),
            "ttfb_p99": percentile(ttfb, 99),
            "gap_mean": sum(gaps) / len(gaps) if gaps else None,
            "gap_p50": percentile(gaps, 50),
            "gap_p99": percentile(gaps, 99),
            "duration_p50": percentile(durations, 50),
        }
    return out


def wrk_script(run: Run) -> Path:
    path = run.tmp / "post.lua"
    body = run.files["small"]
    path.write_text(
        f"""
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = "sk-ant-bench-not-a-key"
wrk.headers["x-fake-scenario"] = "{PLAIN}"
wrk.headers["Accept-Encoding"] = "identity"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""
    )
    return path


def run_wrk(
    run: Run, target: str, seconds: float, concurrency: int = 16, instance: int = 0
) -> dict[str, Any]:
    assert run.wrk
    url = f"http://{HOST}:{run.port(target, instance)}/v1/messages"
    args = [run.wrk, "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s"]
    args += ["-s", str(wrk_script(run)), url]
    log = run.tmp / "wrk.log"
    proc = run.procs.spawn(args, log, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        stop(proc, 2)
        run.procs.popens.remove(proc)
    m = re.search(rb"WRKJSON (\{.*\})", out)
    if not m:
        raise RuntimeError(f"wrk said:\n{out.decode(errors='replace')}")
    doc = json.loads(m.group(1))
    return {
        "count": doc["requests"],
        "elapsed_s": doc["duration_us"] / 1e6,
        "errors": doc["errors"] + doc["status_errors"],
        "p50": doc["p50_us"] / 1000,
        "p99": doc["p99_us"] / 1000,
    }


# Requests/s at c=16 is the proxy's CPU per request, and a process keeps its luck there too:
# with one 10 s run each, bare mitmdump came out at 818 req/s and bare + stream at 583 in the
# same run. So the load also takes turns: rounds of THROUGHPUT_ROUND_S (wrk takes whole
# seconds), each giving every target that long on its next process (after a 1 s warm-up the
# first time that process is used), in the order of `visiting_order`; counts are summed. This
# machine's speed also drifts over seconds (the direct upstream's own rounds at 1,778-2,972
# req/s in one run): with 5 rounds of 2 s in a fixed order, one round in five fell to about half
# of bare's in three runs out of six, where the rest were within 0.82-0.99x of it.
THROUGHPUT_ROUND_S = 1


def measure_throughput(run: Run, seconds: float) -> dict[str, dict[str, Any]]:
    totals = {t: {"count": 0, "elapsed_s": 0.0, "errors": 0, "cpu": 0.0} for t in TARGETS}
    latencies: dict[str, list[tuple[float, float]]] = {t: [] for t in TARGETS}
    rounds_rps: dict[str, list[float]] = {t: [] for t in TARGETS}
    backlog = {"backlog": 0, "drain_s": 0.0}  # the most of any round
    for round_ in range(throughput_rounds(seconds)):
        for target in visiting_order(round_):
            run.settle()
            warm = round_ < LATENCY_INSTANCES  # the first round on this process
            r, cpu = _load_c16(run, target, THROUGHPUT_ROUND_S, instance=round_, warm=warm)
            total = totals[target]
            total["count"] += r["count"]
            total["elapsed_s"] += r["elapsed_s"]
            total["errors"] += r["errors"]
            total["cpu"] += cpu or 0.0
            latencies[target].append((r["p50"], r["p99"]))
            rounds_rps[target].append(r["count"] / r["elapsed_s"])
            if target == "suite":  # what it had not written when the load stopped
                port = run.port(target, round_)
                depth, took = health(port)["queue_depth"], drain(port)
                backlog["backlog"] = max(backlog["backlog"], depth)
                backlog["drain_s"] = max(backlog["drain_s"], took)
    out = {}
    for target, total in totals.items():
        count, has_cpu = total["count"], run.pid(target) is not None
        out[target] = {
            "rps": count / total["elapsed_s"],
            "rounds_rps": rounds_rps[target],
            # each round's own percentiles (wrk reports no samples): their median
            "p50": statistics.median(p50 for p50, _ in latencies[target]),
            "p99": statistics.median(p99 for _, p99 in latencies[target]),
            "errors": total["errors"],
            "cpu_ms_per_req": total["cpu"] * 1000 / count if has_cpu and count else None,
        }
    out["suite"].update(backlog)
    out["suite"]["not_recorded"] = sum(
        health(port)["rows"]["not_recorded"] for port in (run.ports["suite"], *run.twins["suite"])
    )
    return out


def throughput_rounds(seconds: float) -> int:
    """How many rounds give each target `seconds` of load."""
    return max(1, round(seconds / THROUGHPUT_ROUND_S))


def _load_c16(
    run: Run, target: str, seconds: float, instance: int, warm: bool = True
) -> tuple[dict[str, Any], float | None]:
    """One c=16 load on the target's `instance`-th process: wrk's summary, and the CPU
    seconds the proxy process spent on it."""
    pid = run.pid(target, instance)
    if run.wrk:
        if warm:
            run_wrk(run, target, 1, instance=instance)  # connections, caches
        before = cpu_seconds(pid) if pid else 0.0
        r = run_wrk(run, target, seconds, instance=instance)
    else:
        job = {"mode": "load", "body": str(run.files["small"]), "concurrency": 16}
        before = cpu_seconds(pid) if pid else 0.0
        r = run.loadgen(target, {**job, "duration_s": seconds, "warmup": 160}, instance=instance)
        r["errors"] = sum(r["errors"].values())
    return r, (cpu_seconds(pid) - before if pid else None)


def measure_memory(run: Run, target: str, first: int, total: int) -> dict[str, Any]:
    """RSS after `first` and after `total` requests of distinct 1 KB conversations, c=8."""
    run.settle()
    assert run.sampler
    job = {"mode": "load", "body": str(run.files["varied"]), "concurrency": 8, "seq": True}
    suite = target == "suite"
    lost_before = health(run.ports["suite"])["rows"]["not_recorded"] if suite else 0
    r1 = run.loadgen(target, {**job, "n": first})
    if suite:
        drain(run.ports["suite"])
    rss_first = run.sampler.rss(target)
    r2 = run.loadgen(target, {**job, "n": total - first, "seq_start": first})
    backlog = health(run.ports["suite"])["queue_depth"] if suite else None
    if suite:
        drain(run.ports["suite"])
    rss_total = run.sampler.rss(target)
    lost = health(run.ports["suite"])["rows"]["not_recorded"] - lost_before if suite else None
    count = r1["count"] + r2["count"]
    return {
        "first": first,
        "total": count,
        "rss_first": rss_first,
        "rss_total": rss_total,
        "growth": (rss_total - rss_first) / rss_first,
        "rps": r2["count"] / r2["elapsed_s"],
        "errors": sum(r1["errors"].values()) + sum(r2["errors"].values()),
        "backlog": backlog,
        "not_recorded": lost,
    }


def measure_storage(run: Run, proxy: Proxy, turns: int) -> dict[str, Any]:
    """A Claude Code-sized conversation through the suite (first thing it sees)."""
    bodies = workload.conversation(turns)
    headers = {
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-bench-not-a-key",
        "user-agent": "claude-cli/2.1.197 (external, cli)",
        "x-app": "cli",
        "x-fake-scenario": PLAIN,
        "Accept-Encoding": "identity",
    }
    raw_requests = raw_responses = 0
    for body in bodies:
        status, response = http_call(run.ports["suite"], "POST", "/v1/messages", body, headers)
        if status != 200:
            raise RuntimeError(f"storage turn answered {status}: {response[:300]!r}")
        raw_requests += len(body)
        raw_responses += len(response)
    proxy.wait_rows(turns, timeout=60)
    drain(run.ports["suite"])
    rows = proxy.query("select count(*) as n from requests")[0]["n"]
    blobs = proxy.query("select coalesce(sum(length(data)), 0) as n from blobs")[0]["n"]
    lists = proxy.query("select coalesce(sum(length(segments)), 0) as n from bodies")[0]["n"]
    columns = [r["name"] for r in proxy.query("pragma table_info(requests)")]
    row_expr = " + ".join(f"coalesce(length({c}), 0)" for c in columns)
    row_bytes = proxy.query(f"select coalesce(sum({row_expr}), 0) as n from requests")[0]["n"]
    conn = sqlite3.connect(proxy.db_path)
    try:  # fold the WAL in, so that the file size means something
        conn.execute("pragma wal_checkpoint(PASSIVE)")
    finally:
        conn.close()
    file_bytes = sum(p.stat().st_size for p in proxy.db_path.parent.glob(proxy.db_path.name + "*"))
    raw = raw_requests + raw_responses
    return {
        "turns": turns,
        "rows": rows,
        "raw_requests": raw_requests,
        "raw_responses": raw_responses,
        "raw": raw,
        "stored": blobs + lists,
        "ratio": (blobs + lists) / raw,
        "row_bytes": row_bytes,
        "file_bytes": file_bytes,
    }


# --- profiling ------------------------------------------------------------------------------


def profile_suite(run: Run, results: Path, seconds: float = 10.0) -> str:
    """py-spy the suite while wrk (or the Python load generator) keeps 16 connections busy."""
    spy = shutil.which("py-spy", path=str(MITMDUMP.parent)) or shutil.which("py-spy")
    if not spy:
        return "py-spy is not installed (`.venv/bin/pip install py-spy`): no profile."
    run.settle()
    results.mkdir(parents=True, exist_ok=True)
    raw = run.tmp / "suite.collapsed"
    log = run.tmp / "py-spy.log"
    args = [spy, "record", "-p", str(run.pids["suite"]), "-d", f"{seconds:g}", "-r", "200"]
    args += ["-f", "raw", "--nolineno", "--gil", "--threads", "-o", str(raw)]
    spy_proc = run.procs.spawn(args, log)
    time.sleep(1.0)  # py-spy attaches
    if run.wrk:
        run_wrk(run, "suite", seconds + 1)
    else:
        job = {"mode": "load", "body": str(run.files["small"]), "concurrency": 16}
        run.loadgen("suite", {**job, "duration_s": seconds + 1})
    try:
        spy_proc.wait(30)
    except subprocess.TimeoutExpired:
        stop(spy_proc)
    if not raw.exists():
        return "py-spy failed:\n" + log.read_text(errors="replace")
    shutil.copy(raw, results / f"suite-profile-{dt.date.today()}.collapsed")
    return summarize_profile(raw.read_text())


def summarize_profile(collapsed: str, top: int = 15) -> str:
    """Top frames of our own code (addons/): inclusive and self share of all samples."""
    total = 0
    inclusive: Counter[str] = Counter()
    own_self: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        if frames[0].startswith("thread ("):
            threads[frames[0].partition(": ")[2] or frames[0]] += count
            frames = frames[1:]
        ours = [f for f in frames if _is_ours(f)]
        for frame in set(ours):
            inclusive[_short(frame)] += count
        if ours:
            own_self[_short(ours[-1])] += count
    if not total:
        return "py-spy recorded no samples."
    lines = [
        f"{total} samples of the suite's mitmdump under c=16 load, each taken while one of its "
        "threads held the GIL (`py-spy record --gil`): the share of the one core mitmproxy "
        "can use that each frame took. Time waiting on the GIL, sockets or queues is not here.",
        "",
        "| our frame (inclusive) | share | | innermost frame of ours | share |",
        "|---|---:|---|---|---:|",
    ]
    inc, slf = inclusive.most_common(top), own_self.most_common(top)
    for i in range(max(len(inc), len(slf))):
        a = inc[i] if i < len(inc) else ("", 0)
        b = slf[i] if i < len(slf) else ("", 0)
        lines.append(f"| {a[0]} | {a[1] / total:.1%} | | {b[0]} | {b[1] / total:.1%} |")
    lines += [
        "",
        "GIL held by thread: "
        + ", ".join(f"{t} {c / total:.0%}" for t, c in threads.most_common()),
    ]
    return "\n".join(lines)


def _is_ours(frame: str) -> bool:
    where = frame.rpartition(" (")[2]
    return where.startswith("addons/") or where.startswith(str(ROOT / "addons") + "/")


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    where = where[where.find("addons/") :] if "addons/" in where else where
    return f"`{name}` {where}"


# --- the report -----------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def plus(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}".replace("-", "−")


def mb(value: float) -> str:
    return f"{value / 2**20:.0f}"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("PASS" if ok else "MISS")


def ratio(a: float | None, b: float | None, floor: float = 0.0) -> float | None:
    """a / b; None when b is at most `floor` or a is negative (an "added" cost within noise)."""
    if a is None or b is None or b <= floor or a < 0:
        return None
    return a / b


def fmt_interval(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f" ({bounds[0]:.2f}–{bounds[1]:.2f})"


def fmt_ratio(value: float | None, suffix: str = "×") -> str:
    return "n/a" if value is None else f"{value:.2f}{suffix}"


def report(results: dict[str, Any], plan: Plan, meta: dict[str, Any]) -> str:
    rows = [
        "| measure | direct | bare mitmdump | bare + stream | suite | suite vs bare | target "
        "| result |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]

    def row(name, cells, rel, target, ok):
        rows.append(f"| {name} | {' | '.join(cells)} | {rel} | {target} | {verdict(ok)} |")

    for label, key, n in (
        ("1 KB POST", "lat_small", plan.small_n),
        ("150 KB POST", "lat_large", plan.large_n),
        ("Conversation, turn after turn (95–210 KB)", "lat_turns", plan.large_n),
    ):
        if key not in results:
            continue  # a results file from before this row
        lat = results[key]
        for p in ("p50", "p99"):
            direct = lat["direct"][p]
            added = {t: lat[t][p] - direct for t in PROXIES}
            cells = [ms(direct)] + [f"{ms(lat[t][p])} ({plus(added[t])})" for t in PROXIES]
            r = ratio(added["suite"], added["bare"])
            row(
                f"{label}, c=1, latency {p} ms (+added), n={n}",
                cells,
                f"{fmt_ratio(r)} added{fmt_interval(lat.get('intervals', {}).get(f'suite {p}'))}",
                "≤ 1.20× added",
                None if r is None else r <= 1.20,
            )

    tp = results["throughput"]
    cells = [f"{tp[t]['rps']:.0f}" for t in TARGETS]
    r = ratio(tp["suite"]["rps"], tp["bare"]["rps"])
    each = f"{throughput_rounds(plan.load_s)} × {THROUGHPUT_ROUND_S} s"
    row(f"1 KB POST, c=16, req/s ({each})", cells, fmt_ratio(r), "≥ 0.85×", r >= 0.85)
    row(
        "1 KB POST, c=16, latency p50 / p99 ms (median of the rounds')",
        [f"{ms(tp[t]['p50'])} / {ms(tp[t]['p99'])}" for t in TARGETS],
        "",
        "",
        None,
    )
    cells = ["–"] + [ms(tp[t]["cpu_ms_per_req"]) for t in PROXIES]
    r = ratio(tp["suite"]["cpu_ms_per_req"], tp["bare"]["cpu_ms_per_req"])
    row("proxy CPU ms per request at c=16", cells, fmt_ratio(r), "", None)

    for c, key in ((1, "sse_c1"), (50, "sse_c50")):
        sse = results[key]
        direct = sse["direct"]
        for p in ("ttfb_p50", "ttfb_p99"):
            cells = [ms(direct[p])] + [
                f"{ms(sse[t][p])} ({plus(sse[t][p] - direct[p])})" for t in PROXIES
            ]
            r = ratio(sse["suite"][p] - direct[p], sse["bare+stream"][p] - direct[p], 0.1)
            progressive = None
            if p == "ttfb_p50":
                progressive = (
                    sse["suite"]["ttfb_p50"] <= 0.1 * direct["duration_p50"]
                    and sse["suite"]["duration_p50"] >= 0.5 * direct["duration_p50"]
                )
            row(
                f"SSE 200×5 ms, c={c}: time to first event {p[-3:]} ms",
                cells,
                f"{fmt_ratio(r)} added vs +stream",
                "progressive" if p == "ttfb_p50" else "",
                progressive,
            )
        for p, label in (("gap_mean", "mean"), ("gap_p99", "p99")):
            cells = [ms(direct[p])] + [
                f"{ms(sse[t][p])} ({plus(sse[t][p] - direct[p])})" for t in PROXIES
            ]
            r = ratio(sse["suite"][p] - direct[p], sse["bare+stream"][p] - direct[p], 0.1)
            row(
                f"SSE 200×5 ms, c={c}: gap between events, {label} ms",
                cells,
                f"{fmt_ratio(r)} added vs +stream",
                "",
                None,
            )
        cells = [ms(sse[t]["duration_p50"]) for t in TARGETS]
        row(f"SSE c={c}: first→last event p50 ms", cells, "", "", None)

    peak = results["peak_rss"]
    cells = ["–"] + [mb(peak[t]) for t in PROXIES]
    row("peak RSS MB, whole run", cells, fmt_ratio(ratio(peak["suite"], peak["bare"])), "", None)
    mem = results["memory"]
    cells = ["–"]
    for t in PROXIES:
        m = mem.get(t)
        cells.append(
            f"{mb(m['rss_first'])} → {mb(m['rss_total'])} ({m['growth']:+.1%})" if m else "–"
        )
    s = mem["suite"]
    row(
        f"RSS MB after {s['first']:,} → {s['total']:,} requests (c=8, distinct)",
        cells,
        "",
        "flat: ≤ +10%",
        s["growth"] <= 0.10,
    )
    st = results["storage"]
    row(
        f"stored bytes, {st['turns']}-turn Claude Code conversation",
        [
            f"raw {st['raw'] / 1e6:.2f} MB",
            "–",
            "–",
            f"{st['stored'] / 1e6:.3f} MB",
        ],
        f"{st['ratio']:.3f} of raw",
        "≤ 0.10 of raw",
        st["ratio"] <= 0.10,
    )

    out = [
        f"# Overhead benchmark, {meta['date']}{' (quick)' if plan.small_n < 2000 else ''}",
        "",
        meta["machine"]
        + f" Suite code: {meta['code']}."
        + (f" {meta['label']}" if meta.get("label") else "")
        + (f" Suite options: {', '.join(meta['suite_set'])}." if meta.get("suite_set") else "")
        + (
            " **Warning: the suite's code changed while this run went on.**"
            if meta["code_changed"]
            else ""
        ),
        "",
        *rows,
        "",
        "Added = through the proxy minus direct, same percentile, same run. "
        "\"suite vs bare\" divides the suite's added latency by bare mitmdump's (latency rows), "
        "the suite's value by bare's (req/s, CPU, RSS), or the suite's added value by "
        "bare + stream's (SSE rows). In brackets after a latency ratio: its 90% interval from "
        f"resampling the run's {LATENCY_ROUNDS} rounds ({BOOTSTRAP_RESAMPLES} bootstrap "
        "resamples), the spread this run's own noise allows.",
        "",
        "## Details",
        "",
    ]
    st_lines = [
        f"- Storage: {st['rows']} rows; raw = request bodies {st['raw_requests']:,} B + response "
        f"bodies {st['raw_responses']:,} B = {st['raw']:,} B; stored = blobs.data + "
        f"bodies.segments = {st['stored']:,} B ({st['ratio']:.2%}). Not counted: the requests "
        f"rows' own columns ({st['row_bytes']:,} B) and SQLite's pages and indexes (database "
        f"file {st['file_bytes']:,} B).",
    ]
    tps = tp["suite"]
    st_lines.append(
        f"- Suite at c=16: at most {tps['backlog']} jobs not yet written when a round's load "
        f"stopped, written {tps['drain_s']:.1f} s later; rows not recorded so far: "
        f"{tps['not_recorded']}."
    )
    for label, key in (("1 KB", "lat_small"), ("150 KB", "lat_large"), ("Turns", "lat_turns")):
        control = results.get(key, {}).get("intervals", {})
        st_lines.append(
            f"- {label} latency, bare + stream's added over bare's (the control), 90% intervals: "
            + ", ".join(
                f"{p} {fmt_interval(control.get(f'bare+stream {p}')).strip(' ()') or '–'}"
                for p in ("p50", "p99")
            )
            + "."
        )
    suite_rps, bare_rps = tp["suite"].get("rounds_rps", []), tp["bare"].get("rounds_rps", [])
    by_round = [r / b for r, b in zip(suite_rps, bare_rps, strict=True)]
    if by_round:
        st_lines.append(
            "- c=16, the suite's req/s over bare's round by round: "
            + ", ".join(f"{r:.2f}" for r in by_round)
            + "."
        )
    errs = {
        k: sum(results[k][t].get("errors", 0) for t in TARGETS)
        for k in ("lat_small", "lat_large", "lat_turns", "sse_c1", "sse_c50", "throughput")
        if k in results
    }
    st_lines.append(f"- Client-side errors (non-200 or broken): {errs}.")
    for c, key in ((1, "sse_c1"), (50, "sse_c50")):
        sse = results[key]
        st_lines.append(
            f"- SSE c={c}: "
            + "; ".join(
                f"{t} {sse[t]['streams']} streams × {sse[t]['events']} events, "
                f"gap p50 {ms(sse[t]['gap_p50'])} ms"
                for t in TARGETS
            )
            + "."
        )
    for t, m in results["memory"].items():
        st_lines.append(
            f"- Memory run, {t}: {m['total']:,} requests, {m['rps']:.0f} req/s, "
            f"{m['errors']} errors"
            + (
                f"; backlog {m['backlog']} jobs when the load stopped; "
                f"{m['not_recorded']} exchanges not recorded (dropped or failed)."
                if m.get("backlog") is not None
                else "."
            )
        )
    h = results["health"]
    st_lines.append(
        "- Suite's own `/__proxy/api/health` at the end: overhead_ms "
        + ", ".join(f"{k} {v}" for k, v in h["overhead_ms"].items())
        + f"; write_ms {h['write_ms']}; rows {h['rows']}; status {h['status']}."
    )
    out += st_lines
    out += [
        "",
        f"Run took {meta['elapsed_s']:.0f} s; the machine was {meta['busy_before']:.0f}% busy "
        f"before it started, and other processes used {meta['foreign_pct']:.0f}% of its CPU "
        f"during the run{' (**noisy run**)' if meta['foreign_pct'] > 5 else ''}. "
        f"{meta['loadgen']}",
    ]
    if results.get("profile"):
        out += ["", "## Profile of the suite (py-spy)", "", results["profile"]]
    return "\n".join(out) + "\n"


def code_state() -> tuple[str, str]:
    """The commit and local changes the suite runs from, and a fingerprint of its code."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "not a git checkout", _fingerprint()
    changed = git("status", "--porcelain", "--", "addons", "rules").splitlines()
    state = f"commit {head}" + (
        f" + {len(changed)} uncommitted change(s) under addons/ and rules/" if changed else ""
    )
    return state, _fingerprint()


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for folder in ("addons", "rules"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def machine_line(wrk: str | None) -> str:
    import mitmproxy.version

    cpu = platform.processor() or "cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"mitmproxy {mitmproxy.version.VERSION}, load generator "
        f"{'wrk (req/s) + bench.loadgen' if wrk else 'bench.loadgen only'}."
    )


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="~10x fewer requests")
    parser.add_argument("--profile", action="store_true", help="py-spy the suite for 10 s")
    parser.add_argument("--no-wrk", action="store_true", help="use bench.loadgen for req/s too")
    parser.add_argument("--label", default="", help="a note for the report's header")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the machine to be idle (< 5%% CPU over 5 s)",
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for the report (bench/results)"
    )
    parser.add_argument(
        "--suite-set",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a mitmproxy/suite option for the suite only, e.g. inspector_quiet=true (repeatable)",
    )
    args = parser.parse_args(argv)
    plan = Plan.make(args.quick)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="llm-inspector-bench-"))
    run = Run(tmp, procs, wrk=None if args.no_wrk else shutil.which("wrk"))
    results: dict[str, Any] = {}
    try:
        say = lambda msg: print(f"[{time.monotonic() - started:5.0f}s] {msg}", file=sys.stderr)  # noqa: E731
        code, fingerprint = code_state()
        say(f"temp dir {tmp}; plan {plan}; suite code: {code}")
        deadline = time.monotonic() + args.wait_idle
        busy = psutil.cpu_percent(interval=1.0)
        while busy >= 5 and time.monotonic() < deadline:
            busy = psutil.cpu_percent(interval=5.0)
        if busy > 15:
            say(f"warning: the machine is already {busy:.0f}% busy; numbers will be noisy")
        clock0, busy0, own0 = time.monotonic(), busy_seconds(), own_seconds()
        for name, body in (
            ("small", workload.small_body()),
            ("large", workload.large_body()),
            ("stream", workload.small_body(stream=True)),
            ("varied", workload.small_body(seq_mark=True)),
            ("turns", workload.conversation_lines()),
        ):
            run.files[name] = tmp / f"{name}.json"
            run.files[name].write_bytes(body)
        upstream, run.ports["direct"] = start_upstream(procs, tmp)
        bare, run.ports["bare"] = start_bare(procs, tmp, run.ports["direct"], stream=False)
        bare_s, run.ports["bare+stream"] = start_bare(procs, tmp, run.ports["direct"], stream=True)
        proxy, run.ports["suite"] = start_suite(procs, tmp, run.ports["direct"], args.suite_set)
        for instance in range(1, LATENCY_INSTANCES):  # latency and c=16 rounds take turns
            direct = run.ports["direct"]
            twin_bare = start_bare(procs, tmp, direct, stream=False, instance=instance)
            twin_stream = start_bare(procs, tmp, direct, stream=True, instance=instance)
            twin_suite = start_suite(procs, tmp, direct, args.suite_set, instance=instance)
            assert twin_suite[0].process is not None
            twins = {
                "bare": (twin_bare[0].pid, twin_bare[1]),
                "bare+stream": (twin_stream[0].pid, twin_stream[1]),
                "suite": (twin_suite[0].process.pid, twin_suite[1]),
            }
            for target, (pid, port) in twins.items():
                run.twins.setdefault(target, []).append(port)
                run.twin_pids.setdefault(target, []).append(pid)
        assert proxy.process is not None
        run.pids = {"bare": bare.pid, "bare+stream": bare_s.pid, "suite": proxy.process.pid}
        run.sampler = RssSampler(run.pids)
        run.sampler.start()
        say(f"ports {run.ports}")

        say(f"storage: {plan.turns}-turn conversation through the suite")
        results["storage"] = measure_storage(run, proxy, plan.turns)
        say(f"latency, 1 KB, c=1, n={plan.small_n}")
        results["lat_small"] = measure_latency(run, "small", plan.small_n, plan.warmup)
        say(f"latency, 150 KB, c=1, n={plan.large_n}")
        results["lat_large"] = measure_latency(run, "large", plan.large_n, plan.warmup // 4)
        say(f"latency, a conversation turn after turn, c=1, n={plan.large_n}")
        results["lat_turns"] = measure_latency(run, "turns", plan.large_n, plan.warmup // 4)
        say(f"SSE, c=1, {plan.sse_c1_streams} streams")
        results["sse_c1"] = measure_sse(run, 1, plan.sse_c1_streams)
        say(f"SSE, c=50, {plan.sse_c50_rounds} round(s)")
        results["sse_c50"] = measure_sse(run, 50, plan.sse_c50_rounds)
        say(f"throughput, c=16, {plan.load_s:g} s each in {throughput_rounds(plan.load_s)} rounds")
        results["throughput"] = measure_throughput(run, plan.load_s)
        say(f"memory: {plan.mem_total} requests through the suite and bare mitmdump")
        results["memory"] = {
            t: measure_memory(run, t, plan.mem_first, plan.mem_total) for t in ("suite", "bare")
        }
        results["health"] = health(run.ports["suite"])
        if args.profile:
            say("profile: py-spy on the suite under c=16")
            results["profile"] = profile_suite(run, args.results)
        run.sampler.stopping.set()
        results["peak_rss"] = dict(run.sampler.peak)
        wall = time.monotonic() - clock0
        foreign = (busy_seconds() - busy0) - (own_seconds() - own0)
        foreign_pct = max(0.0, foreign) / (wall * (os.cpu_count() or 1)) * 100
        meta = {
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "suite_set": args.suite_set,
            "busy_before": busy,
            "foreign_pct": foreign_pct,
            "code": code,
            "code_changed": code_state()[1] != fingerprint,
            "label": args.label,
            "machine": machine_line(run.wrk),
            "elapsed_s": time.monotonic() - started,
            "loadgen": (
                "c=1 latency, SSE and memory runs: bench.loadgen (Python asyncio, keep-alive); "
                + ("c=16 req/s: wrk -t1 -c16." if run.wrk else "c=16 req/s: bench.loadgen.")
            ),
        }
        text = report(results, plan, meta)
        args.results.mkdir(parents=True, exist_ok=True)
        suffix = ("-quick" if args.quick else "") + ("-opts" if args.suite_set else "")
        path = args.results / f"overhead-{dt.date.today()}{suffix}.md"
        path.write_text(text)
        (args.results / path.name.replace(".md", ".json")).write_text(
            json.dumps({"plan": plan.__dict__, "meta": meta, "results": results}, indent=1)
        )
        print(text)
        say(f"written to {path}")
        return 0
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        if run.sampler is not None:
            run.sampler.stopping.set()
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
