"""Per-chunk cost of the stream accumulators on a 200-event stream (not a test).

    .venv/bin/python bench/wire_parse.py [--repeat N]

Feeds an Anthropic and an OpenAI Chat stream through `StreamAccumulator.feed` in several
chunkings (one event per chunk, as servers usually flush; several events per chunk; small TCP-like
slices; and gzip-encoded, decoded with `Decoder` first), and prints the median cost per chunk and
per event. What the proxy's stream callable pays per chunk is roughly the "µs/chunk" column.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from addons.wire import stream_accumulator  # noqa: E402
from addons.wire.decode import Decoder  # noqa: E402

EVENTS = 200
WORDS = "The quick brown fox jumps over the lazy dog, again and again; ".split(" ")


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def anthropic_events() -> list[bytes]:
    def ev(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: {_dump(data)}\n\n".encode()

    out = [
        ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01Bench",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 1200,
                        "output_tokens": 1,
                        "cache_read_input_tokens": 15000,
                        "cache_creation_input_tokens": 0,
                    },
                },
            },
        ),
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for i in range(EVENTS - 5):
        text = " ".join(WORDS[i % 5 : i % 5 + 3]) + " "
        out.append(
            ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": text},
                },
            )
        )
    out += [
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 600},
            },
        ),
        ev("message_stop", {"type": "message_stop"}),
    ]
    return out


def openai_events() -> list[bytes]:
    def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = {
            "id": "chatcmpl-Bench",
            "object": "chat.completion.chunk",
            "created": 1741569952,
            "model": "gpt-4.1-2025-04-14",
            "system_fingerprint": "fp_44709d6fcb",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
        return f"data: {_dump(body)}\n\n".encode()

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    for i in range(EVENTS - 4):
        out.append(chunk({"content": " ".join(WORDS[i % 5 : i % 5 + 3]) + " "}))
    out += [
        chunk({}, "stop"),
        chunk(
            None,
            usage={
                "prompt_tokens": 16200,
                "completion_tokens": 600,
                "prompt_tokens_details": {"cached_tokens": 15000},
            },
        ),
        b"data: [DONE]\n\n",
    ]
    return out


def chunkings(events: list[bytes]) -> dict[str, tuple[str | None, list[bytes]]]:
    body = b"".join(events)
    z = zlib.compressobj(wbits=31)
    gz = [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in events]
    gz[-1] += z.flush()
    return {
        "1 event/chunk": (None, events),
        "4 events/chunk": (None, [b"".join(events[i : i + 4]) for i in range(0, len(events), 4)]),
        "64-byte slices": (None, [body[i : i + 64] for i in range(0, len(body), 64)]),
        "gzip, 1 event/chunk": ("gzip", gz),
    }


def measure(dialect: str, encoding: str | None, chunks: list[bytes], repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        decoder = Decoder.for_encoding(encoding) if encoding else None
        acc = stream_accumulator(dialect)
        for c in chunks:
            acc.feed(decoder.feed(c) if decoder else c)
        resp = acc.finish()
        runs.append((time.perf_counter_ns() - t0) / 1000)
        assert acc.events == EVENTS and acc.malformed == 0 and resp.usage.output == 600
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"{EVENTS}-event streams, median of {args.repeat} runs, Python {sys.version.split()[0]}")
    print(
        f"{'dialect':<12} {'chunking':<22} {'chunks':>6} {'µs/chunk':>9} {'µs/event':>9} "
        f"{'ms/stream':>10}"
    )
    for dialect, events in (("anthropic", anthropic_events()), ("openai_chat", openai_events())):
        for name, (encoding, chunks) in chunkings(events).items():
            total = statistics.median(measure(dialect, encoding, chunks, args.repeat))
            print(
                f"{dialect:<12} {name:<22} {len(chunks):>6} {total / len(chunks):>9.2f} "
                f"{total / EVENTS:>9.2f} {total / 1000:>10.3f}"
            )


if __name__ == "__main__":
    main()
