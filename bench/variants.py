"""Compare proxy variants side by side: which change (or which part of the suite) costs what.

    .venv/bin/python -m bench.variants                       # bare mitmdump vs the suite
    .venv/bin/python -m bench.variants --variant noop=bench/experiments/noop7.py
    .venv/bin/python -m bench.variants --variant norec=suite+bench/experiments/no_recorder.py

A variant is `name=SPEC`: `bare` (mitmdump, no addon), `suite` (`addons/main.py` as
`tests.harness.Proxy` starts it), `PATH` (bare mitmdump plus that one script) or
`suite+PART+...`, where each PART is a script loaded after `addons/main.py` (e.g. to switch a
part off) or an `option=value` for `--set`; `suite@REV` runs the suite's code at a git
revision (`suite@HEAD~1`: before the change being measured).
`bare` and `suite` are always measured. Rounds interleave the variants, so that drift in the
machine's state touches all of them alike; the report gives medians over rounds of each
round's p50/p99 added latency (1 KB and 150 KB, c=1) and requests/s at c=16 (wrk), with each
variant's added latency divided by bare's, and the CPU each request at c=1 cost the proxy
process and its recorder process. A tool for finding costs, not a report for README:
`bench.overhead` is that.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench import overhead, workload
from bench.overhead import HOST, MITMDUMP, ROOT, Processes, Run
from tests.harness import Proxy


def start_variant(run: Run, name: str, spec: str, upstream: int) -> None:
    folder = run.tmp / name
    folder.mkdir()
    if spec == "suite" or spec.startswith(("suite+", "suite@")):
        base, *parts = spec.split("+")
        args = []
        for part in parts:
            args += ["--set", part] if "=" in part else ["-s", str(Path(part).resolve())]
        script = None
        if "@" in base:
            script = checkout(base.partition("@")[2], folder / "checkout") / "addons/main.py"
        proxy = Proxy(folder, f"http://{HOST}:{upstream}", args=args, script=script)
        proxy.start(timeout=60)
        run.procs.popens.append(proxy.process)  # type: ignore[arg-type]
        run.ports[name], run.pids[name] = proxy.reverse_port, proxy.process.pid  # type: ignore[union-attr]
        return
    port = overhead.free_port()
    args = [str(MITMDUMP), "--mode", f"reverse:http://{HOST}:{upstream}@{HOST}:{port}", "-q"]
    args += ["--set", "connection_strategy=lazy", "--set", "stream_large_bodies=16m"]
    args += ["--set", f"confdir={folder / 'certs'}"]
    if spec != "bare":
        args += ["-s", str(Path(spec).resolve())]
    log = folder / "mitmdump.log"
    proc = run.procs.spawn(args, log)
    overhead.wait_port(port, proc, log)
    run.ports[name], run.pids[name] = port, proc.pid


def checkout(revision: str, into: Path) -> Path:
    """The suite's code at a git revision, extracted into `into` (runs with this venv)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def latency(run: Run, target: str, body: str, n: int) -> tuple[float, float]:
    job = {"mode": "latency", "body": str(run.files[body]), "n": n, "warmup": n // 10}
    result = run.loadgen(target, {**job, "turns": body == "turns"})
    samples = result["latencies_ms"]
    return overhead.percentile(samples, 50), overhead.percentile(samples, 99)


def measure(
    run: Run, names: list[str], suites: set[str], rounds: int, n: int, seconds: float
) -> dict[str, Any]:
    rows: dict[str, dict[str, list[float]]] = {name: {} for name in ["direct", *names]}
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr)
        for name in ["direct", *names]:
            for suite in suites:  # a recorder still catching up would slow whoever runs now
                overhead.drain(run.ports[suite])
            for body, count in (("small", n), ("large", max(20, n // 4)), ("turns", n // 3)):
                before = cpu_split(run.pids[name])
                p50, p99 = latency(run, name, body, count)
                proxy_cpu = cpu_split(run.pids[name])[0] - before[0]
                if name in suites:  # the recorder's share is done once it has caught up
                    overhead.drain(run.ports[name])
                recorder_cpu = cpu_split(run.pids[name])[1] - before[1]
                rows[name].setdefault(f"{body} p50", []).append(p50)
                rows[name].setdefault(f"{body} p99", []).append(p99)
                if name != "direct":
                    total = count + count // 10  # with the warm-up
                    rows[name].setdefault(f"{body} cpu", []).append(proxy_cpu * 1000 / total)
                    rows[name].setdefault(f"{body} rec", []).append(recorder_cpu * 1000 / total)
            if name != "direct" and run.wrk:
                overhead.run_wrk(run, name, 1)
                before = overhead.cpu_seconds(run.pids[name])
                w = overhead.run_wrk(run, name, seconds)
                rows[name].setdefault("req/s", []).append(w["count"] / w["elapsed_s"])
                cpu = overhead.cpu_seconds(run.pids[name]) - before
                rows[name].setdefault("cpu ms/req", []).append(cpu * 1000 / w["count"])
            run.reset_upstream()
    return {name: {k: statistics.median(v) for k, v in row.items()} for name, row in rows.items()}


def cpu_split(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by process `pid` and by its child processes (the recorder)."""
    proc = psutil.Process(pid)
    children = 0.0
    for child in proc.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        children += times.user + times.system
    times = proc.cpu_times()
    return times.user + times.system, children


def report(medians: dict[str, Any], names: list[str]) -> str:
    direct, bare = medians["direct"], medians["bare"]
    keys = ["small p50", "small p99", "large p50", "large p99", "turns p50", "turns p99"]
    lines = [
        "| variant | "
        + " | ".join(f"{k} +ms (×bare)" for k in keys)
        + " | req/s (×bare) | cpu ms/req "
        + "| CPU ms/req 1 KB / 150 KB / turns, c=1: proxy + recorder |",
        "|---|" + "---:|" * (len(keys) + 3),
    ]
    for name in names:
        row = medians[name]
        cells = []
        for k in keys:
            added = row[k] - direct[k]
            cells.append(f"{added:+.2f} ({added / (bare[k] - direct[k]):.2f}×)")
        rps = row.get("req/s")
        cells.append(f"{rps:.0f} ({rps / bare['req/s']:.2f}×)" if rps else "–")
        cells.append(f"{row['cpu ms/req']:.2f}" if "cpu ms/req" in row else "–")
        cells.append(
            " / ".join(
                f"{row[f'{b} cpu']:.2f} + {row[f'{b} rec']:.2f}"
                for b in ("small", "large", "turns")
            )
        )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SPEC")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=300, help="1 KB requests per round (150 KB: n/4)")
    parser.add_argument("--seconds", type=float, default=3.0, help="wrk run per round")
    args = parser.parse_args(argv)
    specs = {"bare": "bare", "suite": "suite"}
    for item in args.variant:
        name, _, spec = item.partition("=")
        specs[name] = spec
    with tempfile.TemporaryDirectory(prefix="llm-inspector-variants-") as tmp_name:
        procs = Processes()
        run = Run(tmp=Path(tmp_name), procs=procs, wrk=overhead.shutil.which("wrk"))
        try:
            upstream_proc, upstream = overhead.start_upstream(procs, run.tmp)
            run.ports["direct"], run.pids["direct"] = upstream, upstream_proc.pid
            for body_name, body in (
                ("small", workload.small_body()),
                ("large", workload.large_body()),
                ("turns", workload.conversation_lines()),
            ):
                run.files[body_name] = run.tmp / f"{body_name}.json"
                run.files[body_name].write_bytes(body)
            for name, spec in specs.items():
                start_variant(run, name, spec, upstream)
            suites = {n for n, s in specs.items() if s.startswith("suite")}
            medians = measure(run, list(specs), suites, args.rounds, args.n, args.seconds)
        finally:
            procs.close()
    print(report(medians, list(specs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
