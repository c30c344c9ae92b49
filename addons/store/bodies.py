"""Byte-exact, compressed, de-duplicated storage of HTTP bodies.

An LLM client resends its whole conversation on every turn, so a request body is mostly bytes we
have already stored. `split` cuts a JSON request body into segments along the parts that repeat
(each message, each tool, the system prompt) and the glue between them; each segment is stored
once, keyed by its sha256, and a body is the list of its segment hashes. Joining the segments
gives back the exact original bytes, whitespace and key order included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable

import sqlite_utils
import zstandard

# Top-level keys whose value repeats from request to request, the common ones first. A list
# value is cut per element (a conversation grows at the end, and tool sets are shared across
# clients); anything else is kept whole.
_SPLIT_NAMES = (
    "messages", "contents", "input", "system", "tools", "instructions", "systemInstruction",
)  # fmt: skip
_SPLIT_KEYS = frozenset(_SPLIT_NAMES)
# Their names as they appear in a body. A body with none of them (a model's response, most
# small requests) is one segment without being scanned: a 400-byte response took 15 us to
# scan, 2 to search. (A name written with escapes, `"\u0074ools"`, then keeps its body whole:
# still exact, only stored less finely.)
_SPLIT_MARKERS = tuple(f'"{key}"'.encode() for key in _SPLIT_NAMES)
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

ZSTD_LEVEL = 3
MIN_COMPRESS = 64
# Well under SQLite's bound-parameter limit.
_IN_CHUNK = 500


def split(body: bytes) -> list[bytes]:
    """Cut `body` into segments with `b"".join(segments) == body`; one segment unless JSON.

    A body that starts like one of the last few split (the same conversation, a turn later)
    reuses their cuts as far as its text is the same, and scans only the rest."""
    return [bytes(segment) for segment, _ in _pieces(body)[0]]


def _pieces(body: bytes) -> tuple[list[tuple[bytes | memoryview, int]], _Split | None]:
    """The segments of `body`, each with its index in the cuts of its `_Split` (None when the
    body is one segment: not UTF-8 or not a JSON object). For an ASCII body (Claude Code's,
    the SDKs'), views of the body: nothing is copied for the segments whose hash is known."""
    if not body:
        return [], None
    if not _splittable(body):
        return [(body, 0)], None
    try:
        text = body.decode("utf-8")
        kept = _SPLITS.split(text)
    except (ValueError, IndexError, RecursionError):  # not UTF-8, not JSON, truncated, too deep
        return [(body, 0)], None
    if kept is None:
        return [(body, 0)], None
    cuts = kept.cuts
    spans = [(a, b, i) for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)) if b > a]
    if text.isascii():  # a character is a byte: the segments are views of the body itself
        view = memoryview(body)
        return [(view[a:b], i) for a, b, i in spans], kept
    pieces = [(text[a:b].encode("utf-8"), i) for a, b, i in spans]
    if b"".join(segment for segment, _ in pieces) != body:  # cannot happen for valid UTF-8
        return [(body, 0)], None
    return pieces, kept


def _splittable(body: bytes) -> bool:
    return any(marker in body for marker in _SPLIT_MARKERS)


@dataclasses.dataclass(slots=True)
class _Split:
    text: str
    cuts: list[int]
    resumable: list[int]  # indexes of the cuts just after an element of a split list
    hashes: list[str | None]  # sha256 hex of the segment starting at each cut, once known
    # The id this text's body was stored under, once `store` has stored it; and, for a text
    # that took hashes from an earlier one, that one's id and hashes: where that body's row is
    # in the database, so are the blobs of all those hashes.
    body_id: str | None = None
    vouched: tuple[str, list[str | None]] | None = None


class _Splits:
    """The last few texts split, with their cuts, the cuts a scan can resume from (just
    after an element of a split list, where the next turn's text usually starts to differ),
    and the hashes of their segments: a turn that resumes from one reuses its hashes too."""

    def __init__(
        self, entries: int = 4, min_chars: int = 16 * 1024, max_chars: int = 4 * 1024 * 1024
    ) -> None:
        self.entries = entries
        self.min_chars = min_chars
        self.max_chars = max_chars  # bigger texts are scanned whole and not kept
        self.memo: list[_Split] = []
        self.lock = threading.Lock()

    def cuts(self, text: str) -> list[int] | None:
        kept = self.split(text)
        return None if kept is None else kept.cuts

    def split(self, text: str) -> _Split | None:
        """The cuts of `text` (None if it is not a JSON object), kept for the next texts if its
        size is in range."""
        if not self.min_chars <= len(text) <= self.max_chars:
            cuts = _cuts(text)
            return None if cuts is None else _Split(text, cuts, [], [None] * (len(cuts) - 1))
        with self.lock:
            memo = list(self.memo)
        best: tuple[int, _Split] | None = None  # (cut to resume at, where its cuts come from)
        for old in reversed(memo):
            k = _shared_cuts(text, old.text, old.cuts, old.resumable)
            if k is not None and (best is None or k > best[0]):
                best = (k, old)
        resumable: list[int] = []
        taken = None
        if best is None:
            found = _cuts(text, resumable=resumable)
            hashes: list[str | None] = []
        else:
            k, old = best
            found, taken = _resume(text, old, k, resumable)
            hashes = old.hashes[:k]  # the segments before cut k are the same text
        if found is None:
            return None
        hashes += [None] * (len(found) - 1 - len(hashes))
        source = best[1] if best is not None else memo[-1] if memo else None
        if best is not None and taken is not None:  # the segments after those cuts: the same
            new, was = taken
            hashes[new:] = best[1].hashes[was:]
        elif source is not None:
            _same_tail(text, found, hashes, source)
        kept = _Split(text, found, resumable, hashes)
        if source is not None and source.body_id is not None:
            kept.vouched = (source.body_id, source.hashes)
        with self.lock:
            self.memo.append(kept)
            del self.memo[: len(self.memo) - self.entries]
        return kept


def _same_tail(text: str, cuts: list[int], hashes: list[str | None], old: _Split) -> None:
    """Fill in the hashes of the segments at the end of `text` that are the same as those at
    the end of `old` (what follows the conversation: system prompt, tools, settings)."""
    for j in range(1, min(len(cuts), len(old.cuts)) - 1):
        if hashes[-j] is not None:
            return  # reached the shared beginning
        a, b = cuts[-j - 1], cuts[-j]
        c, d = old.cuts[-j - 1], old.cuts[-j]
        if b - a != d - c or text[a:b] != old.text[c:d]:
            return
        hashes[-j] = old.hashes[-j]


def _resume(
    text: str, old: _Split, k: int, resumable: list[int]
) -> tuple[list[int] | None, tuple[int, int] | None]:
    """The cuts of `text`, which is the same as `old.text` up to its cut `k` (just after an
    element of a split list): the rest of that list is scanned, and when `text` ends with the
    text that follows the list in `old` (an agent's system prompt and tools, after its
    messages), that text's cuts are `old`'s, moved along, instead of being scanned again.
    Then also (first cut taken over, its index in `old`): the segments from there on are
    `old`'s."""
    marks = set(old.resumable)
    last = k  # the last element of that list in `old`
    while last + 1 in marks:
        last += 1
    end = _WS.match(old.text, old.cuts[last]).end()
    stop = None
    if old.text[end : end + 1] == "]":
        after = end + 1  # where the text after the list starts in `old`
        stop = len(text) - (len(old.text) - after)
        if stop <= old.cuts[k] or not text.startswith(old.text[after:], stop):
            stop = None
    cuts = _cuts(text, resume=(old.cuts[: k + 1], old.resumable), resumable=resumable, stop=stop)
    if cuts is None or stop is None or cuts[-1] == len(text):
        return cuts, None  # scanned to the end
    shift, first = stop - after, len(cuts) - (last + 1)
    taken = (len(cuts), last + 1)
    cuts += [cut + shift for cut in old.cuts[last + 1 :]]
    resumable += [j + first for j in old.resumable if j > last]
    return cuts, taken


def _shared_cuts(text: str, old: str, cuts: list[int], resumable: list[int]) -> int | None:
    """The last resumable cut index up to which `text` is the same as `old`, if any."""
    shared, checked = None, 0  # text[:checked] == old[:checked]
    for k in resumable:  # ascending
        end = cuts[k]
        if not text.startswith(old[checked:end], checked):
            break
        shared, checked = k, end
    return shared


_SPLITS = _Splits()


def _cuts(
    text: str,
    resume: tuple[list[int], list[int]] | None = None,
    resumable: list[int] | None = None,
    stop: int | None = None,
) -> list[int] | None:
    """Character offsets at which to cut a JSON object's text, or None if it is not one.

    `resumable` collects the indexes of the cuts that fall just after an element of a split
    list; `resume=(cuts, resumable)` starts from the last of those `cuts`, one of them. With
    `stop`, the cuts so far are returned as soon as a split list ends there."""
    ws = _WS.match
    raw_decode = _DECODER.raw_decode
    marks = resumable if resumable is not None else []
    if resume is not None:
        cuts, marks[:] = list(resume[0]), [k for k in resume[1] if k < len(resume[0])]
        idx = cuts[-1]
        in_list = True
    else:
        idx = ws(text, 0).end()
        if text[idx] != "{":
            return None
        cuts = [0]
        idx = ws(text, idx + 1).end()
        if text[idx] == "}":
            idx += 1
            return _end(text, idx, cuts)
        in_list = False
    while True:
        if in_list:  # just after an element of a split list
            in_list = False
            idx = ws(text, idx).end()
            while text[idx] == ",":
                idx = ws(text, idx + 1).end()
                _, idx = raw_decode(text, idx)
                cuts.append(idx)
                marks.append(len(cuts) - 1)
                idx = ws(text, idx).end()
            if text[idx] != "]":
                return None
            idx += 1
            if idx == stop:
                return cuts
        else:
            if text[idx] != '"':
                return None
            key, idx = _scanstring(text, idx + 1)
            idx = ws(text, idx).end()
            if text[idx] != ":":
                return None
            idx = ws(text, idx + 1).end()
            if key not in _SPLIT_KEYS:
                _, idx = raw_decode(text, idx)
            elif text[idx] == "[":
                # The separator before an element travels with it, so that an element keeps the
                # same bytes whether or not it is the last one.
                idx += 1
                cuts.append(idx)
                idx = ws(text, idx).end()
                if text[idx] != "]":
                    _, idx = raw_decode(text, idx)
                    cuts.append(idx)
                    marks.append(len(cuts) - 1)
                    in_list = True
                    continue
                idx += 1
            else:
                cuts.append(idx)
                _, idx = raw_decode(text, idx)
                cuts.append(idx)
        idx = ws(text, idx).end()
        if text[idx] == ",":
            idx = ws(text, idx + 1).end()
        elif text[idx] == "}":
            return _end(text, idx + 1, cuts)
        else:
            return None


def _end(text: str, idx: int, cuts: list[int]) -> list[int] | None:
    if _WS.match(text, idx).end() != len(text):
        return None
    cuts.append(len(text))
    return cuts


def _conn(db: sqlite_utils.Database | sqlite3.Connection) -> sqlite3.Connection:
    return db.conn if isinstance(db, sqlite_utils.Database) else db


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def store(db: sqlite_utils.Database | sqlite3.Connection, body: bytes) -> str:
    """Store `body` (if not already stored) and return its id (see `_manifest`).

    Runs its statements on the caller's connection without committing: wrap it in the caller's
    transaction.
    """
    conn = _conn(db)
    body = bytes(body)
    body_id = _RECENT_IDS.get(body)
    if body and not _splittable(body):
        # One segment, whose hash is the body's: two statements instead of four.
        body_id, segments = _manifest([body_id or hashlib.sha256(body).hexdigest()])
        if conn.execute(_INSERT_BODY, (body_id, len(body), segments)).rowcount:
            conn.execute(_INSERT_BLOB, _blob(body_id, body))
        _RECENT_IDS.put(body, body_id)
        return body_id
    stored = "SELECT 1 FROM bodies WHERE id = ?"
    if body_id is not None and conn.execute(stored, (body_id,)).fetchone():  # sent again
        _RECENT_IDS.put(body, body_id)
        return body_id
    pieces, kept = _pieces(body)
    hashes = []
    for segment, index in pieces:
        digest = kept.hashes[index] if kept is not None else None
        if digest is None:
            digest = hashlib.sha256(segment).hexdigest()
            if kept is not None:
                kept.hashes[index] = digest
        hashes.append(digest)
    body_id, segments = _manifest(hashes)
    _RECENT_IDS.put(body, body_id)
    if kept is not None:
        kept.body_id = body_id
    if conn.execute(stored, (body_id,)).fetchone():
        return body_id
    known: set[str | None] = set()
    # A body's row is written after its blobs, and `prune` drops a blob only once no body lists
    # it: the row of the body this one took hashes from vouches for their blobs. Then only the
    # new segments (an agent's turn: its new messages) are looked up, not all hundred.
    if kept is not None and kept.vouched is not None:
        vouching_id, vouched = kept.vouched
        if conn.execute(stored, (vouching_id,)).fetchone():
            known.update(vouched)
    wanted = [digest for digest in dict.fromkeys(hashes) if digest not in known]
    for chunk in _chunks(wanted):
        marks = ",".join("?" * len(chunk))
        known.update(
            row[0] for row in conn.execute(f"SELECT hash FROM blobs WHERE hash IN ({marks})", chunk)
        )
    rows = []
    seen = set(known)
    for digest, (segment, _) in zip(hashes, pieces, strict=True):
        if digest not in seen:
            seen.add(digest)
            rows.append(_blob(digest, segment))
    if rows:
        conn.executemany(_INSERT_BLOB, rows)
    conn.execute(_INSERT_BODY, (body_id, len(body), segments))
    return body_id


def _manifest(hashes: list[str]) -> tuple[str, str]:
    """The id and `segments` of the `bodies` row for a body of these segment hashes.

    A body of one segment has that segment's hash as id: the sha256 of its bytes. A body of
    several has a hash of the list. Hashing the list, not the bytes, lets an agent's turn hash
    only its new messages: the system prompt and tools after them are segments whose hashes
    the turn before left. (A running sha256 of the bytes went over them again every turn:
    60 KB, 0.15 ms on a CPU without SHA instructions.) The list's hash is a BLAKE2b with its
    own personalization, so that no body's sha256 equals it, not even that of a body whose
    bytes are such a list."""
    segments = '["' + '","'.join(hashes) + '"]' if hashes else "[]"  # hex: nothing to escape
    if len(hashes) == 1:
        return hashes[0], segments
    digest = hashlib.blake2b(segments.encode(), digest_size=32, person=_MANIFEST)
    return digest.hexdigest(), segments


_MANIFEST = b"llm-insp:bodies"


_INSERT_BODY = "INSERT OR IGNORE INTO bodies (id, size, segments) VALUES (?, ?, ?)"
_INSERT_BLOB = "INSERT OR IGNORE INTO blobs (hash, size, codec, data) VALUES (?, ?, ?, ?)"


def _blob(digest: str, segment: bytes | memoryview) -> tuple[str, int, str, bytes | memoryview]:
    """A `blobs` row: the segment compressed if that makes it smaller."""
    codec, data = "raw", segment
    if len(segment) >= MIN_COMPRESS:
        packed = _compressor().compress(segment)
        if len(packed) < len(segment):
            codec, data = "zstd", packed
    return digest, len(segment), codec, data


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's compressor: making one costs as much as compressing a small body, and
    one must not be used by two threads at once."""
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return compressor


class _RecentIds:
    """The ids of the last few large bodies stored: a body sent again (a retry, the same
    prompt to another model) is found by comparing bytes, cheaper than hashing them. Only
    the hash is saved: `store` still checks that the body is in the database."""

    def __init__(
        self, entries: int = 4, min_bytes: int = 16 * 1024, max_bytes: int = 4 * 1024 * 1024
    ) -> None:
        self.entries = entries
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.memo: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()

    def get(self, body: bytes) -> str | None:
        if not self.min_bytes <= len(body) <= self.max_bytes:
            return None
        with self.lock:
            memo = list(self.memo)
        return next((body_id for old, body_id in reversed(memo) if old == body), None)

    def put(self, body: bytes, body_id: str) -> None:
        if not self.min_bytes <= len(body) <= self.max_bytes:
            return
        with self.lock:
            self.memo = [(old, i) for old, i in self.memo if i != body_id]
            self.memo.append((body, body_id))
            del self.memo[: len(self.memo) - self.entries]


_RECENT_IDS = _RecentIds()


def load(db: sqlite_utils.Database | sqlite3.Connection, body_id: str) -> bytes:
    """The exact bytes stored under `body_id`; KeyError if the body or one of its parts is gone."""
    conn = _conn(db)
    row = conn.execute("SELECT segments FROM bodies WHERE id = ?", (body_id,)).fetchone()
    if row is None:
        raise KeyError(body_id)
    hashes: list[str] = json.loads(row[0])
    blobs: dict[str, bytes] = {}
    decompressor: zstandard.ZstdDecompressor | None = None
    for chunk in _chunks(list(dict.fromkeys(hashes))):
        marks = ",".join("?" * len(chunk))
        for digest, codec, data in conn.execute(
            f"SELECT hash, codec, data FROM blobs WHERE hash IN ({marks})", chunk
        ):
            if codec == "zstd":
                if decompressor is None:
                    decompressor = zstandard.ZstdDecompressor()
                data = decompressor.decompress(data)
            elif codec != "raw":
                raise ValueError(f"blob {digest}: unknown codec {codec!r}")
            blobs[digest] = bytes(data)
    try:
        return b"".join(blobs[digest] for digest in hashes)
    except KeyError as e:
        raise KeyError(f"body {body_id}: missing blob {e.args[0]}") from None


def register_functions(db: sqlite_utils.Database | sqlite3.Connection) -> None:
    """Add `body_text(body_id)` to a connection: the stored body as text, NULL if unknown."""
    conn = _conn(db)

    def body_text(body_id: str | None) -> str | None:
        if body_id is None:
            return None
        try:
            return load(conn, body_id).decode("utf-8", errors="replace")
        except KeyError:
            return None

    conn.create_function("body_text", 1, body_text)
