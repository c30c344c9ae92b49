"""What a large request body costs to parse, as the rules (on the event loop) and the recorder
see it: `wire.parse_request` (BodyLoader, then PrefixMemo) against orjson plus a plain parse.

    .venv/bin/python -m bench.request_parse [--repeat N]

Three cases: every turn of a growing Claude Code conversation from the point it passes 16 KB
(how an agent really sends them), the first body of a conversation (nothing to reuse), and the
same 150 KB body resent (what `bench.overhead`'s 150 KB rows send). Medians of N repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson

from addons import wire
from addons.wire import anthropic
from addons.wire.loader import MIN_BYTES, BodyLoader
from bench import workload


def plain(body: bytes) -> None:
    anthropic.parse_request(orjson.loads(body), None)


def suite(body: bytes) -> None:
    wire.parse_request("anthropic", body)


def fresh() -> None:
    """Forget every earlier body, as a new process would."""
    wire.LOADER = BodyLoader()
    anthropic._MESSAGES.lists.clear()


def per_turn(parse, bodies: list[bytes]) -> float:
    fresh()
    started = time.perf_counter()
    for body in bodies:
        parse(body)
    return (time.perf_counter() - started) / len(bodies) * 1000


def first_body(parse, body: bytes) -> float:
    fresh()
    started = time.perf_counter()
    parse(body)
    return (time.perf_counter() - started) * 1000


def resent(parse, body: bytes, n: int = 50) -> float:
    fresh()
    parse(body)
    started = time.perf_counter()
    for _ in range(n):
        parse(body)
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    turns = [b for b in workload.conversation(120, seed=11, stream=False) if len(b) >= MIN_BYTES]
    large = workload.large_body()
    cases = {
        f"growing conversation, ms per turn ({len(turns)} turns, "
        f"{len(turns[0]) // 1024}-{len(turns[-1]) // 1024} KB)": lambda p: per_turn(p, turns),
        f"first body of a conversation ({len(large) // 1024} KB), ms": lambda p: first_body(
            p, large
        ),
        f"the same body resent ({len(large) // 1024} KB), ms": lambda p: resent(p, large),
    }
    print(f"median of {args.repeat} repeats")
    print(f"{'case':<62} {'orjson+parse':>12} {'suite':>8} {'ratio':>7}")
    for name, run in cases.items():
        a = statistics.median(run(plain) for _ in range(args.repeat))
        b = statistics.median(run(suite) for _ in range(args.repeat))
        print(f"{name:<62} {a:12.3f} {b:8.3f} {b / a:6.2f}×")


if __name__ == "__main__":
    main()
