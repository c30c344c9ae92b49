"""What each turn of a conversation added: the request's messages minus those it shares with the
previous request.

A client resends its whole history every turn, and `addons.store.bodies` stores a request body as
segments, one per element of its message list, keyed by hash. So the messages two turns share
are a common prefix of equal hashes, found without reading or parsing them; only the new ones
are decompressed and parsed. Segments are read once per conversation page, whatever the number
of turns that reuse them, which keeps a 500-turn timeline well under a second.

Two turns may serialise the same message differently (Claude Code moves `cache_control` to the
newest message): where the hashes part, a few messages on are compared in neutral form before
they are called new. A body that was not cut into segments (not a JSON object, too large to
store) falls back to parsing it whole.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import zstandard

from addons import wire
from addons.store import bodies
from addons.wire.model import TOOL_RESULT, Block, Message

# The top-level key holding the message list, per dialect.
MESSAGE_KEYS = {
    "anthropic": "messages",
    "openai_chat": "messages",
    "ollama": "messages",
    "gemini": "contents",
    "openai_responses": "input",
}
MAX_BLOCK_CHARS = 20_000
# How many messages past the end of the common hash prefix may still turn out equal.
MAX_EQUAL_PROBES = 4
_OPENS_LIST = re.compile(r'"([A-Za-z_]+)"\s*:\s*\[$')
_CHUNK = 500


@dataclass(slots=True)
class TurnBody:
    """One turn's request body as segment hashes, and where its message elements are."""

    dialect: str | None
    body_id: str | None
    hashes: list[str]
    shared: int = 0  # leading segments equal to the previous turn's
    run: tuple[int, int] | None = None  # [start, end) of the message elements in `hashes`

    @property
    def elements(self) -> list[str]:
        if self.run is None:
            return []
        return self.hashes[self.run[0] : self.run[1]]


class SegmentCache:
    """Segment texts of one conversation page: fetched in bulk, decompressed and parsed once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.raw: dict[str, tuple[str, bytes]] = {}
        self.text: dict[str, str] = {}
        self.parsed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._decompressor: zstandard.ZstdDecompressor | None = None

    def fetch(self, hashes: Iterable[str]) -> None:
        wanted = [h for h in set(hashes) if h not in self.raw]
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for digest, codec, data in self.conn.execute(
                f"SELECT hash, codec, data FROM blobs WHERE hash IN ({marks})", chunk
            ):
                self.raw[digest] = (codec, bytes(data))

    def __getitem__(self, digest: str) -> str:
        text = self.text.get(digest)
        if text is None:
            if digest not in self.raw:
                self.fetch([digest])
            codec, data = self.raw.get(digest, ("raw", b""))
            if codec == "zstd":
                if self._decompressor is None:
                    self._decompressor = zstandard.ZstdDecompressor()
                data = self._decompressor.decompress(data)
            text = self.text[digest] = data.decode("utf-8", "replace")
        return text

    def messages(self, dialect: str, digest: str, path: str | None) -> list[dict[str, Any]]:
        """The neutral message(s) of one list element."""
        key = (dialect, digest)
        found = self.parsed.get(key)
        if found is None:
            found = self.parsed[key] = _parse_elements(dialect, [self[digest]], path)
        return found


def load_turn_bodies(
    conn: sqlite3.Connection, rows: list[dict[str, Any]], cache: SegmentCache
) -> list[TurnBody]:
    """The segment lists of the rows' request bodies (in order), their message runs located."""
    ids = [r["request_body_id"] for r in rows if r.get("request_body_id")]
    segments: dict[str, list[str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(set(ids[start : start + _CHUNK]))
        marks = ",".join("?" * len(chunk))
        for body_id, text in conn.execute(
            f"SELECT id, segments FROM bodies WHERE id IN ({marks})", chunk
        ):
            segments[body_id] = _hash_list(text)
    turns = []
    previous: TurnBody | None = None
    needed: set[str] = set()
    for row in rows:
        body_id = row.get("request_body_id")
        turn = TurnBody(row.get("dialect"), body_id, segments.get(body_id, []) if body_id else [])
        if previous is not None:
            turn.shared = _common_prefix(previous.hashes, turn.hashes)
        needed.update(turn.hashes[turn.shared :])
        turns.append(turn)
        if turn.hashes:
            previous = turn
    cache.fetch(needed)  # what differs from turn to turn: new messages and their surroundings
    previous = None
    for turn in turns:
        turn.run = message_run(turn, previous, cache)
        if turn.hashes:
            previous = turn
    return turns


def _hash_list(text: str) -> list[str]:
    # `["h1","h2"]` as stored by bodies.store; split is much faster than json.loads at 64 kB.
    if len(text) < 4:
        return []
    return text[2:-2].split('","')


def _common_prefix(a: list[str], b: list[str]) -> int:
    """Length of the common prefix; compares slices (in C) around the likely answer first."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def message_run(
    turn: TurnBody, previous: TurnBody | None, cache: SegmentCache
) -> tuple[int, int] | None:
    """Where the elements of the message list are: after the segment that opens it
    (`..."messages":[`), up to the segment that closes it (`]...`)."""
    key = MESSAGE_KEYS.get(turn.dialect or "")
    hashes = turn.hashes
    if key is None or len(hashes) < 2:
        return None
    known = previous.run if previous is not None and previous.dialect == turn.dialect else None
    if known is not None and turn.shared >= known[0]:
        start = known[0]  # same segments up to and including the opening one
        end = max(start, min(turn.shared, known[1]))
    else:
        start = None
        for i, digest in enumerate(hashes):
            match = _OPENS_LIST.search(cache[digest])
            if match and match.group(1) == key:
                start = i + 1
                break
        if start is None:
            return None
        end = start
    while end < len(hashes) and not cache[hashes[end]].lstrip().startswith("]"):
        end += 1
    return start, end


def new_messages(
    turn: TurnBody,
    previous: TurnBody | None,
    cache: SegmentCache,
    conn: sqlite3.Connection,
    path: str | None = None,
) -> list[dict[str, Any]]:
    """The messages `turn` sends that `previous` did not, as JSON-ready neutral messages."""
    if not turn.body_id or not turn.dialect:
        return []
    if turn.run is None:
        return _new_messages_whole(turn, previous, conn, path)
    current = turn.elements
    earlier = previous.elements if previous is not None and previous.run is not None else []
    if previous is not None and previous.run is not None and previous.run[0] == turn.run[0]:
        shared = max(0, min(turn.shared, turn.run[1], previous.run[1]) - turn.run[0])
    else:
        shared = _common_prefix(earlier, current)
    probes = 0
    dialect = turn.dialect
    while (
        shared < len(earlier)
        and shared < len(current)
        and probes < MAX_EQUAL_PROBES
        and cache.messages(dialect, earlier[shared], path)
        == cache.messages(dialect, current[shared], path)
    ):
        shared += 1
        probes += 1
    out: list[dict[str, Any]] = []
    for digest in current[shared:]:
        out.extend(cache.messages(dialect, digest, path))
    return out


def _parse_elements(dialect: str, texts: list[str], path: str | None) -> list[dict[str, Any]]:
    if not texts:
        return []
    elements = []
    for text in texts:
        text = text.lstrip()
        if text.startswith(","):
            text = text[1:]
        elements.append(text)
    key = MESSAGE_KEYS[dialect]
    body = '{"' + key + '":[' + ",".join(elements) + "]}"
    request = wire.parse_request(dialect, body, path)
    if request is None:
        return []
    messages = list(request.messages)
    if request.system:
        # The body holds only the message list, so any system blocks came from a system
        # message in it (OpenAI, Ollama), which the parsers lift out when it comes first.
        messages.insert(0, Message("system", list(request.system)))
    return [message_json(m) for m in messages]


def _new_messages_whole(
    turn: TurnBody, previous: TurnBody | None, conn: sqlite3.Connection, path: str | None
) -> list[dict[str, Any]]:
    current = _parse_whole(conn, turn, path)
    earlier = _parse_whole(conn, previous, path) if previous is not None else []
    shared = 0
    for a, b in zip(earlier, current, strict=False):
        if a != b:
            break
        shared += 1
    return current[shared:]


def _parse_whole(conn: sqlite3.Connection, turn: TurnBody, path: str | None) -> list[dict]:
    if not turn.body_id or not turn.dialect:
        return []
    try:
        raw = bodies.load(conn, turn.body_id)
    except KeyError:
        return []
    request = wire.parse_request(turn.dialect, raw, path)
    return [message_json(m) for m in request.messages] if request else []


def message_json(message: Message) -> dict[str, Any]:
    return {"role": message.role, "blocks": [block_json(b) for b in message.blocks]}


def block_json(block: Block) -> dict[str, Any]:
    text = block.text or ""
    if block.type == TOOL_RESULT and not text and block.content:
        text = "\n".join(inner.text for inner in block.content if inner.text)
    item: dict[str, Any] = {
        "type": block.type,
        "text": text,
        "name": block.name,
        "arguments": block.arguments,
        "id": block.id,
        "is_error": block.is_error,
    }
    if len(text) > MAX_BLOCK_CHARS:
        item["text"] = text[:MAX_BLOCK_CHARS]
        item["truncated"] = True
    return item
