"""What the protocol bridge costs a stream: the same Anthropic streaming request, relayed as is
(passthrough) or translated to OpenAI Chat Completions and back (bridged), through one suite.

    .venv/bin/python -m bench.bridge            # full run, about 1.5 minutes
    .venv/bin/python -m bench.bridge --quick    # fewer streams, under 40 s

One run starts, on 127.0.0.1 only, the fake LLM upstream (`python -m tests.fakes.upstream`) and
one suite (`tests.harness.Proxy`, every upstream label, `ollama` included, pointing at the fake),
and measures with `bench.loadgen` in a separate process, `POST /v1/messages`, `"stream": true`,
`x-fake-scenario: chunks=200,delay_ms=5,encoding=identity`:

    direct       model `claude-x` straight to the fake's Anthropic endpoint (reference)
    passthrough  model `claude-x` through the suite, relayed untranslated to `/v1/messages`
    bridged      model `qwen3-coder:30b` through the suite: protocol_bridge (on by default) sends
                 it to the `ollama` upstream's `/v1/chat/completions` and translates the OpenAI
                 stream back to Anthropic SSE event by event

at c=1 and c=10, the targets alternating in blocks so that they share the machine's state.
Target (the issue): bridged minus passthrough within 1 ms for time to first event and for the
per-event gap. Prints a Markdown table and writes it to bench/results/bridge-<date>[-quick].md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import workload
from bench.loadgen import percentile
from bench.overhead import (
    HOST,
    RESULTS,
    SSE,
    Processes,
    Run,
    code_state,
    http_call,
    machine_line,
    start_suite,
    start_upstream,
)

TARGETS = ("direct", "passthrough", "bridged")
MODELS = {"direct": "claude-x", "passthrough": "claude-x", "bridged": "qwen3-coder:30b"}
TARGET_MS = 1.0


@dataclass(frozen=True)
class Plan:
    blocks: int  # each block runs every target once, in turn
    c1_streams: int  # streams per target per block at c=1
    c10_rounds: int  # rounds of 10 simultaneous streams per target per block at c=10

    @classmethod
    def make(cls, quick: bool) -> Plan:
        return cls(2, 2, 1) if quick else cls(3, 4, 2)


def bodies(tmp: Path) -> dict[str, Path]:
    files = {}
    for target in ("passthrough", "bridged"):
        for stream in (True, False):
            body = json.loads(workload.small_body(stream=stream))
            body["model"] = MODELS[target]
            path = tmp / f"{target}-{'stream' if stream else 'warm'}.json"
            path.write_bytes(json.dumps(body).encode())
            files[f"{target}-{'stream' if stream else 'warm'}"] = path
    return files


def fake_paths(run: Run) -> Counter[str]:
    _, raw = http_call(run.ports["direct"], "GET", "/__fake/requests")
    return Counter(r["path"].split("?")[0] for r in json.loads(raw))


def measure(run: Run, files: dict[str, Path], plan: Plan, concurrency: int) -> dict[str, Any]:
    raw: dict[str, dict[str, list]] = {
        t: {"ttfb": [], "gaps": [], "durations": [], "events": [], "errors": Counter()}
        for t in TARGETS
    }
    upstream_paths: dict[str, Counter[str]] = {t: Counter() for t in TARGETS}
    for _ in range(plan.blocks):
        for target in TARGETS:
            run.settle()
            kind = "bridged" if target == "bridged" else "passthrough"
            r = run.loadgen(
                target,
                {
                    "mode": "sse",
                    "body": str(files[f"{kind}-stream"]),
                    "warm_body": str(files[f"{kind}-warm"]),
                    "scenario": SSE,
                    "concurrency": concurrency,
                    "rounds": plan.c1_streams if concurrency == 1 else plan.c10_rounds,
                },
                timeout=60,
            )
            acc = raw[target]
            acc["ttfb"] += r["ttfb_ms"]
            acc["gaps"] += r["gaps_ms"]
            acc["durations"] += r["durations_ms"]
            acc["events"] += r["events"]
            acc["errors"].update(r["errors"])
            upstream_paths[target].update(fake_paths(run))
    out = {}
    for target, acc in raw.items():
        gaps = acc["gaps"]
        out[target] = {
            "streams": len(acc["ttfb"]),
            "errors": sum(acc["errors"].values()),
            "events": Counter(acc["events"]).most_common(1)[0][0] if acc["events"] else 0,
            "ttfb_p50": percentile(acc["ttfb"], 50),
            "ttfb_p99": percentile(acc["ttfb"], 99),
            "gap_mean": sum(gaps) / len(gaps) if gaps else None,
            "gap_p99": percentile(gaps, 99),
            "duration_p50": percentile(acc["durations"], 50),
            "upstream_paths": dict(upstream_paths[target]),
        }
    return out


def check_translated(run: Run, files: dict[str, Path]) -> dict[str, Any]:
    """One bridged stream read here, line by line: Anthropic events, progressive arrival."""
    run.settle()
    conn = http.client.HTTPConnection(HOST, run.ports["bridged"], timeout=30)
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-bench-not-a-key",
        "accept-encoding": "identity",
        "x-fake-scenario": SSE,
    }
    sent = time.perf_counter()
    try:
        conn.request("POST", "/v1/messages", files["bridged-stream"].read_bytes(), headers)
        resp = conn.getresponse()
        types: Counter[str] = Counter()
        first = last = None
        while line := resp.readline():
            if line.startswith(b"event:"):
                now = time.perf_counter()
                first = first if first is not None else now
                last = now
                types[line[6:].strip().decode()] += 1
        status, ctype = resp.status, resp.getheader("content-type", "")
    finally:
        conn.close()
    paths = fake_paths(run)
    return {
        "status": status,
        "content_type": ctype,
        "types": dict(types),
        "first_ms": (first - sent) * 1000 if first else None,
        "span_ms": (last - first) * 1000 if first else None,
        "upstream_paths": dict(paths),
        "ok": status == 200
        and types["content_block_delta"] >= 100
        and types["message_stop"] == 1
        and paths.get("/v1/chat/completions", 0) >= 1
        and paths.get("/v1/messages", 0) == 0
        and first is not None
        and last is not None
        and (first - sent) * 1000 < 0.1 * (last - sent) * 1000,
    }


def ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def signed(v: float) -> str:
    return f"{v:+.2f}".replace("-", "−")


def report(results: dict[str, Any], plan: Plan, meta: dict[str, Any]) -> str:
    rows = [
        "| measure | direct | passthrough | bridged | bridged − passthrough | target | result |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    verdicts = []
    for c in (1, 10):
        r = results[f"c{c}"]
        for key, label in (
            ("ttfb_p50", "time to first event p50"),
            ("ttfb_p99", "time to first event p99"),
            ("gap_mean", "gap between events, mean"),
            ("gap_p99", "gap between events, p99"),
        ):
            diff = r["bridged"][key] - r["passthrough"][key]
            ok = diff <= TARGET_MS
            verdicts.append(ok)
            rows.append(
                f"| SSE 200×5 ms, c={c}: {label} ms | "
                + " | ".join(ms(r[t][key]) for t in TARGETS)
                + f" | {signed(diff)} | ≤ +{TARGET_MS:g} ms | {'PASS' if ok else 'MISS'} |"
            )
        rows.append(
            f"| SSE c={c}: first→last event p50 ms | "
            + " | ".join(ms(r[t]["duration_p50"]) for t in TARGETS)
            + " |  |  | – |"
        )
        prog = (
            r["bridged"]["ttfb_p50"] <= 0.1 * r["direct"]["duration_p50"]
            and r["bridged"]["duration_p50"] >= 0.5 * r["direct"]["duration_p50"]
        )
        verdicts.append(prog)
        rows.append(
            f"| SSE c={c}: bridged is progressive | | | | | first event ≤ 10% of direct's span, "
            f"span ≥ 50% | {'PASS' if prog else 'MISS'} |"
        )
    t = results["translated"]
    verdicts.append(t["ok"])
    rows.append(
        "| bridged stream is translated (Anthropic events out, `/v1/chat/completions` upstream) "
        f"| | | | | yes | {'PASS' if t['ok'] else 'MISS'} |"
    )
    details = [
        f"- Translation check: status {t['status']}, `{t['content_type']}`, events "
        + ", ".join(f"`{k}` ×{v}" for k, v in t["types"].items())
        + f"; first event after {ms(t['first_ms'])} ms, last {ms(t['span_ms'])} ms later; "
        f"the fake upstream logged {t['upstream_paths']}.",
    ]
    for c in (1, 10):
        r = results[f"c{c}"]
        details.append(
            f"- c={c}: "
            + "; ".join(
                f"{tg} {r[tg]['streams']} streams × {r[tg]['events']} events, "
                f"{r[tg]['errors']} errors, upstream {r[tg]['upstream_paths']}"
                for tg in TARGETS
            )
            + "."
        )
    quick = " (quick)" if meta["quick"] else ""
    lines = [
        f"# Protocol bridge stream benchmark, {meta['date']}{quick}",
        "",
        f"{meta['machine']} Suite code: {meta['code']}. Plan: {plan.blocks} block(s) × "
        f"{plan.c1_streams} streams at c=1, × {plan.c10_rounds} rounds of 10 at c=10, per "
        f"target, the targets alternating; one suite process, one fake upstream.",
        "",
        *rows,
        "",
        "Times are client-side (`bench.loadgen`): time to first event = request written → "
        "first complete SSE event; gap = between consecutive events, over all events of all "
        "streams. Passthrough: `claude-x` relayed untranslated to `/v1/messages`; bridged: "
        "`qwen3-coder:30b` translated to `/v1/chat/completions` on the `ollama` upstream and "
        "back; both through the same suite process.",
        "",
        "## Details",
        "",
        *details,
        "",
        f"Run took {meta['elapsed_s']:.0f} s; the machine was {meta['busy']:.0f}% busy before "
        "it started (other sessions share it: single p99 figures are noisy). Overall: "
        f"{'all PASS' if all(verdicts) else f'{verdicts.count(False)} MISS'}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bridge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer streams, under 40 s")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the report")
    args = parser.parse_args(argv)
    plan = Plan.make(args.quick)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="llm-inspector-bench-bridge-"))
    run = Run(tmp, procs)
    try:
        say = lambda msg: print(f"[{time.monotonic() - started:4.0f}s] {msg}", file=sys.stderr)  # noqa: E731
        code, _ = code_state()
        busy = psutil.cpu_percent(interval=1.0)
        files = bodies(tmp)
        _, run.ports["direct"] = start_upstream(procs, tmp)
        _, run.ports["suite"] = start_suite(procs, tmp, run.ports["direct"], [])
        run.ports["passthrough"] = run.ports["bridged"] = run.ports["suite"]
        say(f"ports {run.ports}; plan {plan}")
        results: dict[str, Any] = {}
        say("translation check: one bridged stream")
        results["translated"] = check_translated(run, files)
        if not results["translated"]["ok"]:
            say(f"warning: the bridged stream does not look translated: {results['translated']}")
        for c in (1, 10):
            say(f"SSE c={c}")
            results[f"c{c}"] = measure(run, files, plan, c)
        meta = {
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "quick": args.quick,
            "code": code,
            "machine": machine_line(None).replace(
                "load generator bench.loadgen only", "load generator bench.loadgen"
            ),
            "elapsed_s": time.monotonic() - started,
            "busy": busy,
        }
        text = report(results, plan, meta)
        args.results.mkdir(parents=True, exist_ok=True)
        path = args.results / f"bridge-{dt.date.today()}{'-quick' if args.quick else ''}.md"
        path.write_text(text)
        print(text)
        say(f"written to {path}")
        return 0
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
