"""The benchmark's load generator: a separate process, so it never shares the proxy's GIL.

A minimal HTTP/1.1 client on asyncio streams with keep-alive connections; it times every request
on the client side with `perf_counter`. Reads one JSON job on stdin, writes one JSON result on
stdout:

    {"mode": "latency", "port": P, "body": "/tmp/x.json", "n": 2000, "warmup": 50, ...}

Modes:
    latency  `n` requests (or as many as fit in `duration_s`) on `concurrency` connections
             (1: strictly one after the other); the latency of each in ms (request written ->
             whole response read). Warm-up requests on each connection come first, untimed.
    load     like latency but reports only the count, the wall time and the percentiles;
             `seq` replaces bench.workload.SEQ_MARK in the body with a counter, so that every
             request is a new conversation.
             With `turns` (either mode), `body` holds one JSON body per line, sent in turn:
             a conversation's requests, each resending the one before with a turn added.
    sse      `concurrency` connections each run `rounds` streams; per stream the time to the
             first SSE event and the arrival time of every event (`\\n\\n`-terminated).

Only for 127.0.0.x targets; every job carries its own deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

LIMIT = 1 << 22


class HTTPError(Exception):
    pass


@dataclass
class Result:
    status: int
    sent_at: float
    done_at: float
    body_bytes: int = 0
    event_times: list[float] = field(default_factory=list)


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=LIMIT)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.writer = self.reader = None

    async def request(self, data: bytes, events: bool = False) -> Result:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        reader = self.reader
        sent = time.perf_counter()
        self.writer.write(data)
        await self.writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers: dict[bytes, bytes] = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        result = Result(status, sent, 0.0)
        last = b""

        def got(chunk: bytes) -> None:
            nonlocal last
            now = time.perf_counter()
            result.body_bytes += len(chunk)
            if events:
                count = chunk.count(b"\n\n")
                if last == b"\n" and chunk[:1] == b"\n":
                    count += 1
                result.event_times.extend([now] * count)
                last = chunk[-1:]

        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                got(await reader.readexactly(size))
                await reader.readexactly(2)
        elif b"content-length" in headers:
            remaining = int(headers[b"content-length"])
            while remaining:
                chunk = await reader.read(min(remaining, 1 << 20))
                if not chunk:
                    raise HTTPError("connection closed mid-body")
                remaining -= len(chunk)
                got(chunk)
        else:
            while chunk := await reader.read(1 << 20):
                got(chunk)
            await self.close()
        result.done_at = time.perf_counter()
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return result


def build_request(job: dict[str, Any], body: bytes, extra: dict[str, str] | None = None) -> bytes:
    headers = {
        "Host": f"{job['host']}:{job['port']}",
        "User-Agent": "llm-inspector-bench/1",
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-bench-not-a-key",
        "Accept-Encoding": "identity",
        **job.get("headers", {}),
        **(extra or {}),
        "Content-Length": str(len(body)),
    }
    head = f"{job.get('method', 'POST')} {job.get('path', '/v1/messages')} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round((len(ordered) - 1) * p / 100)))]


async def run_requests(job: dict[str, Any]) -> dict[str, Any]:
    body = open(job["body"], "rb").read()
    seq_mark = job.get("seq_mark", "@@SEQ@@").encode()
    vary = bool(job.get("seq")) and seq_mark in body
    fixed = build_request(job, body)
    # `body` with one JSON body per line: the requests go through them in turn, over and over
    turns = [build_request(job, b) for b in body.split(b"\n") if b] if job.get("turns") else []
    next_turn = itertools.cycle(turns).__next__
    n, warmup, concurrency = job.get("n", 0), job.get("warmup", 0), job.get("concurrency", 1)
    counter = iter(range(job.get("seq_start", 0), 1 << 62))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    remaining = n
    keep = job["mode"] == "latency"

    def payload() -> bytes:
        if turns:
            return next_turn()
        if not vary:
            return fixed
        return build_request(job, body.replace(seq_mark, b"%012d" % next(counter)))

    async def warm(conn: Connection, count: int) -> None:
        for _ in range(count):
            await conn.request(payload())

    async def worker(conn: Connection) -> None:
        nonlocal remaining
        while remaining > 0 and (deadline is None or time.perf_counter() < deadline):
            remaining -= 1
            try:
                result = await conn.request(payload())
            except (OSError, HTTPError, asyncio.IncompleteReadError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                await conn.close()
                continue
            if result.status != 200:
                errors[str(result.status)] = errors.get(str(result.status), 0) + 1
            latencies.append((result.done_at - result.sent_at) * 1000)

    connections = [Connection(job["host"], job["port"]) for _ in range(concurrency)]
    per_conn_warmup = max(1, warmup // concurrency) if warmup else 0
    deadline: float | None = None
    try:
        await asyncio.gather(*(warm(c, per_conn_warmup) for c in connections))
        started = time.perf_counter()
        if job.get("duration_s"):
            remaining = 1 << 62
            deadline = started + job["duration_s"]
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for c in connections:
            await c.close()
    elapsed = time.perf_counter() - started
    out: dict[str, Any] = {
        "count": len(latencies),
        "elapsed_s": elapsed,
        "errors": errors,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }
    if keep:
        out["latencies_ms"] = latencies
    return out


async def run_sse(job: dict[str, Any]) -> dict[str, Any]:
    body = open(job["body"], "rb").read()
    stream_request = build_request(job, body, {"x-fake-scenario": job["scenario"]})
    warm_request = build_request(job, open(job["warm_body"], "rb").read())
    concurrency, rounds = job["concurrency"], job["rounds"]
    ttfb: list[float] = []
    gaps: list[float] = []
    durations: list[float] = []
    events: list[int] = []
    errors: dict[str, int] = {}
    barrier = asyncio.Barrier(concurrency)

    async def worker(conn: Connection) -> None:
        await conn.request(warm_request)  # open client and upstream connections first
        for _ in range(rounds):
            await barrier.wait()  # every round starts its `concurrency` streams together
            try:
                result = await conn.request(stream_request, events=True)
            except (OSError, HTTPError, asyncio.IncompleteReadError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                await conn.close()
                continue
            if result.status != 200 or not result.event_times:
                errors[str(result.status)] = errors.get(str(result.status), 0) + 1
                continue
            times = result.event_times
            ttfb.append((times[0] - result.sent_at) * 1000)
            gaps.extend((b - a) * 1000 for a, b in zip(times, times[1:], strict=False))
            durations.append((times[-1] - times[0]) * 1000)
            events.append(len(times))

    connections = [Connection(job["host"], job["port"]) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for c in connections:
            await c.close()
    return {
        "streams": len(ttfb),
        "errors": errors,
        "ttfb_ms": ttfb,
        "gaps_ms": gaps,
        "durations_ms": durations,
        "events": events,
    }


async def main_async(job: dict[str, Any]) -> dict[str, Any]:
    runner = run_sse if job["mode"] == "sse" else run_requests
    return await asyncio.wait_for(runner(job), job.get("timeout_s", 300))


def main() -> None:
    job = json.loads(sys.stdin.read())
    if not str(job.get("host", "")).startswith("127.0.0."):
        raise SystemExit("the load generator only targets 127.0.0.x")
    try:
        result = asyncio.run(main_async(job))
    except TimeoutError:
        result = {"error": f"job did not finish within {job.get('timeout_s', 300)} s"}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
