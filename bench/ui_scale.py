"""The UI at scale: every JSON API endpoint and list query on a million recorded requests.

    python -m bench.ui_scale                      # build a 1M-row database in a temp dir, time it
    python -m bench.ui_scale --db /tmp/ui.db      # keep (and reuse) the database there
    python -m bench.ui_scale --rows 100000 --conversations 2000   # quicker

The synthetic database has realistic mixes of client apps, models, status codes and client
subnets over 30 days ending now, conversations of very uneven length (one of exactly 500 turns
with real, growing Anthropic bodies that resend their history the way agents do), and bodies
for a sample of other requests. It is loaded with `executemany` with the sync triggers dropped,
then the FTS index, conversation summaries and rollups are rebuilt once, as migration m002
does, and the triggers put back.

Each endpoint is called through Datasette's in-process ASGI client (plugin, Datasette and JSON
encoding included) ~50 times with varied filters; the table gives p50/p95/max in ms against the
targets: 300 ms p95 for lists and API, 500 ms for the 500-turn timeline.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from addons.store import bodies
from addons.store.schema import create_ui_triggers, drop_ui_triggers, open_db, rebuild_ui_tables

DAYS = 30
LONG_TURNS = 500
LIST_TARGET_MS = 300
TIMELINE_TARGET_MS = 500

APPS = [
    # app, weight, dialect, upstream, path, models (weights), tools offered
    (
        "claude-code",
        45,
        "anthropic",
        "anthropic",
        "/v1/messages",
        [("claude-sonnet-4-5", 6), ("claude-haiku-4-5", 3), ("claude-opus-4-1", 1)],
        15,
    ),
    (
        "cursor",
        15,
        "openai_chat",
        "openai",
        "/v1/chat/completions",
        [("gpt-5", 5), ("claude-sonnet-4-5", 4), ("gpt-4o-mini", 1)],
        8,
    ),
    (
        "openai-python",
        12,
        "openai_chat",
        "openai",
        "/v1/chat/completions",
        [("gpt-4o", 5), ("gpt-4o-mini", 5), ("o3-mini", 1)],
        2,
    ),
    (
        "anthropic-python",
        10,
        "anthropic",
        "anthropic",
        "/v1/messages",
        [("claude-haiku-4-5", 6), ("claude-sonnet-4-5", 4)],
        1,
    ),
    (
        "continue",
        6,
        "openai_chat",
        "openai",
        "/v1/chat/completions",
        [("gpt-4o", 3), ("qwen3-coder:30b", 2)],
        4,
    ),
    ("cline", 5, "anthropic", "anthropic", "/v1/messages", [("claude-sonnet-4-5", 1)], 10),
    (
        "ollama-python",
        4,
        "ollama",
        "ollama",
        "/api/chat",
        [("qwen3:8b", 3), ("llama3.1:8b", 2), ("gemma3:4b", 1)],
        0,
    ),
    ("langchain", 3, "openai_chat", "openai", "/v1/chat/completions", [("gpt-4o-mini", 1)], 3),
]
TOOL_NAMES = [
    "Read",
    "Write",
    "Edit",
    "Bash",
    "Glob",
    "Grep",
    "Task",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "NotebookEdit",
    "BashOutput",
    "KillShell",
    "ExitPlanMode",
    "SlashCommand",
]
# status, weight (per 10,000)
STATUSES = [(200, 9550), (429, 200), (400, 80), (500, 50), (529, 70), (499, 30), (502, 20)]
WORDS = (
    "the a function test file error fix refactor add remove update build deploy config "
    "database query index cache token stream request response client server model agent tool "
    "call result branch commit merge review python rust typescript react docker kubernetes "
    "memory latency timeout retry parse json schema validate format lint package module class "
    "method variable loop array string integer async await thread lock queue worker job "
    "schedule cron log metric trace span user session login password email payment invoice "
    "report chart table column row migration backup restore upload download image video "
    "audio translate summarise explain document comment readme license version release"
).split()
RARE = ["zebra", "quokka", "narwhal", "axolotl", "pangolin"]
SEARCHES = ["database", "python cache", "zebra", "narwhal", "deploy*"]


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sentences(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        words = rng.choices(WORDS, k=rng.randint(6, 40))
        if rng.random() < 0.01:
            words.insert(rng.randrange(len(words)), rng.choice(RARE))
        out.append(" ".join(words).capitalize() + ".")
    return out


def weighted(rng: random.Random, items: list, weights: list[int], k: int) -> list:
    return rng.choices(items, weights=weights, k=k)


# -- the long conversation ---------------------------------------------------------------------


def long_conversation_bodies(rng: random.Random, turns: int) -> list[bytes]:
    """Anthropic bodies of an agent loop: each turn adds a tool call and its result, and the
    newest user message carries cache_control (which moves every turn, as Claude Code does)."""
    system = [{"type": "text", "text": " ".join(sentences(rng, 60))}]
    tools = [
        {
            "name": name,
            "description": " ".join(sentences(rng, 3)),
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
        for name in TOOL_NAMES
    ]
    messages: list[dict] = [
        {"role": "user", "content": [{"type": "text", "text": "Fix the build."}]}
    ]
    out = []
    for turn in range(turns):
        last = json.loads(json.dumps(messages[-1]))
        last["content"][-1]["cache_control"] = {"type": "ephemeral"}
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "system": system,
            "messages": [*messages[:-1], last],
            "tools": tools,
            "metadata": {"user_id": "user_bench_session_1"},
            "stream": True,
        }
        out.append(json.dumps(body).encode())
        tool_id = f"toolu_{turn:05d}"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": rng.choice(sentences(rng, 1))},
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": rng.choice(TOOL_NAMES),
                        "input": {"path": f"src/file_{turn}.py"},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": tool_id,
                        "content": " ".join(sentences(rng, rng.randint(2, 8))),
                        "is_error": rng.random() < 0.05,
                    },
                ],
            }
        )
    return out


# -- the database ------------------------------------------------------------------------------

COLUMNS = (
    "id",
    "started_at",
    "ended_at",
    "state",
    "listener",
    "method",
    "scheme",
    "host",
    "path",
    "upstream",
    "dialect",
    "status",
    "requested_model",
    "served_model",
    "is_stream",
    "client_app",
    "client_ip",
    "user_agent",
    "session_id",
    "conversation_id",
    "turn_index",
    "latency_ms",
    "ttft_ms",
    "overhead_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tokens_estimated",
    "stop_reason",
    "tools_offered",
    "tool_calls",
    "error",
    "verdict",
    "request_headers",
    "request_bytes",
    "response_bytes",
    "prompt_preview",
    "response_text",
    "request_body_id",
)


def build(path: Path, rows: int, conversations: int, seed: int = 7) -> dict:
    """Create the database; returns what the timings need (ids, names)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = time.time()
    begin = now - DAYS * 86400
    texts = sentences(rng, 5000)
    tools_json = {n: json.dumps(TOOL_NAMES[:n]) if n else None for n in {a[6] for a in APPS}}
    subnets = [f"10.0.{i}." for i in range(4)] + ["192.168.1.", "172.16.5."]
    ips = [s + str(rng.randint(2, 250)) for s in subnets for _ in range(30)] + ["127.0.0.1"]
    app_weights = [a[1] for a in APPS]
    statuses = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]

    # Conversation lengths: heavy-tailed, scaled to the row count; one of exactly LONG_TURNS.
    raw = [rng.lognormvariate(0, 1.4) for _ in range(conversations - 1)]
    scale = (rows - LONG_TURNS) / sum(raw)
    sizes = [max(1, round(x * scale)) for x in raw]
    drift = rows - LONG_TURNS - sum(sizes)
    i = 0
    while drift:
        step = 1 if drift > 0 else -1
        if sizes[i % len(sizes)] + step >= 1:
            sizes[i % len(sizes)] += step
            drift -= step
        i += 1
    long_index = conversations - 1
    sizes.append(LONG_TURNS)

    records = []
    for c, size in enumerate(sizes):
        app = APPS[weighted(rng, list(range(len(APPS))), app_weights, 1)[0]]
        name, _, dialect, upstream, api_path, models, tools = app
        model = weighted(rng, [m for m, _ in models], [w for _, w in models], 1)[0]
        ip = rng.choice(ips)
        cid = f"conv{c:06d}"
        gap = rng.uniform(3, 90)
        if c == long_index:
            start = now - 6 * 3600  # recent, inside the default stats window
            gap = 20.0
        else:
            start = rng.uniform(begin, now - size * gap)
        tools_offered = tools_json[tools]
        for turn in range(size):
            records.append(
                (
                    start + turn * gap + rng.random(),
                    c,
                    turn + 1,
                    name,
                    dialect,
                    upstream,
                    api_path,
                    model,
                    ip,
                    cid,
                    tools_offered,
                    tools,
                )
            )
    records.sort(key=lambda r: r[0])
    print(
        f"  planned {len(records):,} requests in {len(sizes):,} conversations "
        f"({time.perf_counter() - started:.1f} s)",
        flush=True,
    )

    db = open_db(path)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -200000")
    drop_ui_triggers(db)
    conn = db.conn
    long_ids = []
    body_sample: set[int] = set(rng.sample(range(len(records)), min(2000, len(records))))
    long_bodies: list[bytes] = []
    batch = []
    statuses_drawn = weighted(rng, statuses, status_weights, len(records))
    pending_from = len(records) - 5
    sql = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    conn.execute("BEGIN")
    for index, (
        ts,
        c,
        turn,
        app,
        dialect,
        upstream,
        api_path,
        model,
        ip,
        cid,
        tools_offered,
        ntools,
    ) in enumerate(records):
        rid = f"req{index:07d}"
        is_long = c == long_index
        status = 200 if is_long else statuses_drawn[index]
        state = "complete"
        error = None
        if status >= 400:
            state = "error"
            error = f"upstream {status}: " + rng.choice(
                ["overloaded", "rate limited", "bad request"]
            )
        if index >= pending_from:
            state, status = "pending", None
        elif rng.random() < 0.001:
            state, status, error = "abandoned", None, "abandoned: proxy stopped"
        latency = rng.lognormvariate(7.5, 0.8)
        stream = dialect != "openai_chat" or rng.random() < 0.7
        input_tokens = int(rng.lognormvariate(6, 1.2))
        cache_read = int(rng.lognormvariate(10, 0.8)) if app == "claude-code" else None
        calls = None
        if ntools and rng.random() < 0.4:
            calls = json.dumps(
                [
                    {"name": rng.choice(TOOL_NAMES[:ntools]), "arguments": '{"path":"x.py"}'}
                    for _ in range(rng.randint(1, 2))
                ]
            )
        body_id = None
        request_bytes = rng.randint(500, 400_000)
        if is_long:
            if not long_bodies:
                long_bodies = long_conversation_bodies(random.Random(seed + 1), LONG_TURNS)
            body = long_bodies[turn - 1]
            body_id = bodies.store(conn, body)
            request_bytes = len(body)
            long_ids.append(rid)
        elif index in body_sample:
            body = json.dumps(
                {"model": model, "messages": [{"role": "user", "content": texts[index % 5000]}]}
            ).encode()
            body_id = bodies.store(conn, body)
            request_bytes = len(body)
        batch.append(
            (
                rid,
                iso(ts),
                iso(ts + latency / 1000) if state != "pending" else None,
                state,
                "reverse",
                "POST",
                "https",
                "api.example.com",
                api_path,
                upstream,
                dialect,
                status,
                model,
                model,
                int(stream),
                app,
                ip,
                f"{app}/1.0",
                f"s{c}",
                cid,
                turn,
                None if state == "pending" else latency,
                latency * rng.uniform(0.1, 0.5) if stream else None,
                rng.uniform(0.1, 2.0),
                input_tokens,
                None if status and status >= 400 else int(rng.lognormvariate(5, 1)),
                cache_read,
                None,
                int(state == "pending"),
                None if error else rng.choice(["end_turn", "tool_use", "max_tokens"]),
                tools_offered,
                calls,
                error,
                "block" if rng.random() < 0.002 else "allow",
                '{"user-agent":"bench"}',
                request_bytes,
                rng.randint(200, 50_000),
                texts[(index * 7) % 5000],
                None if error else texts[(index * 13) % 5000],
                body_id,
            )
        )
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            batch.clear()
            print(f"  inserted {index + 1:,} ({time.perf_counter() - started:.1f} s)", flush=True)
    if batch:
        conn.executemany(sql, batch)
    conn.execute("COMMIT")
    print(
        f"  rows in ({time.perf_counter() - started:.1f} s); rebuilding FTS, summaries, rollups",
        flush=True,
    )
    with db.atomic():
        rebuild_ui_tables(db)
        create_ui_triggers(db)
    # Statistics as a long-lived database would have them: the queries must not depend on
    # their absence (the planner changes its mind once it knows `state` has four values).
    db.execute("ANALYZE")
    db.close()
    os.sync()  # built with synchronous=OFF: do not time while the kernel writes it back
    print(f"  built {path} in {time.perf_counter() - started:.1f} s", flush=True)
    return {"long_conversation": f"conv{long_index:06d}"}


# -- timings -----------------------------------------------------------------------------------


def cases(rng: random.Random, sample: dict) -> list[tuple[str, str, list[str], int]]:
    """(group, label, paths, target ms)."""
    models = sample["models"]
    apps = sample["apps"]
    ids = sample["ids"]
    convs = sample["conversations"]
    n = 50

    def pick(items):
        return rng.choice(items)

    api = "/api/"
    rows = [
        ("api", "info", [api + "info"] * n),
        (
            "api",
            "requests (newest, offset 0-1000)",
            [f"{api}requests?offset={rng.choice([0, 0, 50, 100, 500, 1000])}" for _ in range(n)],
        ),
        ("api", "requests ?model=", [f"{api}requests?model={pick(models)}" for _ in range(n)]),
        ("api", "requests ?app=", [f"{api}requests?app={pick(apps)}" for _ in range(n)]),
        (
            "api",
            "requests ?status=",
            [
                f"{api}requests?status={pick(['2xx', '4xx', '5xx', 'error', '429', '529', '404'])}"
                for _ in range(n)
            ],
        ),
        (
            "api",
            "requests ?verdict=block&state=",
            [
                f"{api}requests?"
                + pick(["verdict=block", "state=pending", "state=abandoned", "verdict=allow"])
                for _ in range(n)
            ],
        ),
        (
            "api",
            "requests ?conversation=",
            [f"{api}requests?conversation={pick(convs)}" for _ in range(n)],
        ),
        (
            "api",
            "requests ?since=&until=",
            [
                f"{api}requests?since={pick(['1h', '24h', '7d'])}&until={pick(['', '30m', '2h'])}"
                for _ in range(n)
            ],
        ),
        (
            "api",
            "requests ?q= (common, rare)",
            [f"{api}requests?q={pick(SEARCHES)}" for _ in range(n)],
        ),
        (
            "api",
            "requests combined filters",
            [
                f"{api}requests?app={pick(apps)}&model={pick(models)}"
                f"&status={pick(['2xx', 'error'])}"
                for _ in range(n)
            ],
        ),
        ("api", "requests/{id}", [f"{api}requests/{pick(ids)}" for _ in range(n)]),
        (
            "api",
            "conversations",
            [f"{api}conversations?offset={rng.choice([0, 50, 500])}" for _ in range(n)],
        ),
        (
            "api",
            "conversations ?app=&model=",
            [
                f"{api}conversations?" + pick([f"app={pick(apps)}", f"model={pick(models)}"])
                for _ in range(n)
            ],
        ),
        (
            "api",
            "conversations ?q=",
            [
                f"{api}conversations?q={pick(['database', 'zebra', 'kubernetes retry'])}"
                for _ in range(n)
            ],
        ),
        ("api", "conversations/{id}", [f"{api}conversations/{pick(convs)}" for _ in range(n)]),
        ("api", "stats (default 24 h)", [f"{api}stats"] * 20),
        (
            "api",
            "stats ?since=1h|6h|7d|30d",
            [f"{api}stats?since={pick(['1h', '6h', '7d', '30d'])}" for _ in range(20)],
        ),
        (
            "timeline",
            f"conversations/{{{LONG_TURNS}-turn}}",
            [f"{api}conversations/{sample['long_conversation']}"] * 20,
        ),
    ]
    out = [
        (g, label, paths, TIMELINE_TARGET_MS if g == "timeline" else LIST_TARGET_MS)
        for g, label, paths in rows
    ]
    canned = [
        "slowest_requests",
        "biggest_prompts",
        "most_called_tools",
        "error_bursts",
        "tokens_per_app_per_day",
        "cache_hit_ratio_per_model",
    ]
    for name in canned:
        out.append(("canned", name, [f"/proxy/{name}.json"] * 10, LIST_TARGET_MS))
    out.append(
        (
            "pages",
            "HTML shells /, /conversations, /stats",
            [pick(["/", "/conversations", "/stats"]) for _ in range(20)],
            LIST_TARGET_MS,
        )
    )
    out.append(
        (
            "datasette",
            "built-in /proxy/requests.json (loopback)",
            ["/proxy/requests.json?_size=50"] * 10,
            0,
        )
    )
    return out


def sample_values(path: Path) -> dict:
    import sqlite3

    conn = sqlite3.connect(path)
    models = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT requested_model FROM requests INDEXED BY idx_requests_model_started"
        )
    ]
    apps = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT client_app FROM requests INDEXED BY idx_requests_app_started"
        )
    ]
    top = conn.execute("SELECT max(rowid) FROM requests").fetchone()[0]
    rng = random.Random(3)
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM requests WHERE rowid IN "
            f"({','.join(str(rng.randint(1, top)) for _ in range(200))})"
        )
    ]
    ids += [
        r[0]
        for r in conn.execute("SELECT id FROM requests WHERE request_body_id IS NOT NULL LIMIT 50")
    ]
    convs = [
        r[0]
        for r in conn.execute(
            "SELECT conversation_id FROM conversations ORDER BY last_at DESC LIMIT 2000"
        )
    ]
    long_conv = conn.execute(
        "SELECT conversation_id FROM conversations WHERE requests = ? ORDER BY last_at DESC",
        (LONG_TURNS,),
    ).fetchone()
    conn.close()
    return {
        "models": models + ["no-such-model"],
        "apps": apps + ["no-such-app"],
        "ids": ids,
        "conversations": convs,
        "long_conversation": long_conv[0] if long_conv else "",
    }


async def time_all(path: Path) -> list[tuple]:
    from datasette.app import Datasette

    from datasette_plugins.config import metadata

    ds = Datasette(
        [str(path)],
        metadata=metadata(path.stem),
        settings={"base_url": "/__proxy/", "sql_time_limit_ms": 3000, "suggest_facets": False},
    )
    sample = sample_values(path)
    results = []
    for group, label, paths, target in cases(random.Random(11), sample):
        paths = [p.replace("/proxy/", f"/{path.stem}/") for p in paths]
        timings = []
        statuses = set()
        gc.collect()
        first = await ds.client.get(paths[0])  # warm up
        statuses.add(first.status_code)
        for p in paths:
            t0 = time.perf_counter()
            response = await ds.client.get(p)
            timings.append((time.perf_counter() - t0) * 1000)
            statuses.add(response.status_code)
        timings.sort()
        p95 = timings[min(len(timings) - 1, math.ceil(0.95 * len(timings)) - 1)]
        results.append(
            (
                group,
                label,
                len(timings),
                statistics.median(timings),
                p95,
                timings[-1],
                target,
                sorted(statuses),
            )
        )
        print(f"  {label}: p95 {p95:.1f} ms", flush=True)
    return results


def report(results: list[tuple], rows: int, path: Path) -> bool:
    size = path.stat().st_size / 1e6
    print(f"\nUI at scale: {rows:,} requests, database {size:,.0f} MB\n")
    head = (
        f"| {'endpoint':<44} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} | {'max ms':>7} "
        "| target | ok |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    ok_all = True
    for _group, label, n, p50, p95, worst, target, statuses in results:
        ok = (not target or p95 <= target) and statuses == [200]
        ok_all &= ok
        mark = "yes" if ok else "NO"
        if statuses != [200]:
            mark += f" {statuses}"
        t = f"{target}" if target else "-"
        print(
            f"| {label:<44} | {n:>3} | {p50:>7.1f} | {p95:>7.1f} | {worst:>7.1f} | {t:>6} "
            f"| {mark} |"
        )
    return ok_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--db", type=Path, help="database file (reused if it exists)")
    args = parser.parse_args(argv)
    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="ui-scale-")
        args.db = Path(folder.name) / "proxy.db"
    if not args.db.exists():
        print(f"building {args.rows:,} requests in {args.conversations:,} conversations ...")
        build(args.db, args.rows, args.conversations)
    else:
        print(f"reusing {args.db}")
    ok = report(asyncio.run(time_all(args.db)), args.rows, args.db)
    if folder is not None:
        folder.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
