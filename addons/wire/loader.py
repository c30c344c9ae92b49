"""Request bodies parsed in proportion to what is new in them.

An agent resends its whole conversation every turn: turn N's body is turn N-1's with a few
messages added at the end of its list (and a cache marker moved). Parsing all of it again
costs a pass over the whole body, 0.1 ms for 150 KB with orjson, on the proxy's event loop
when a rule needs the request and again in the recorder process. `BodyLoader` remembers the
last few large bodies as they came, with where each element of their list ends and what it
parsed to. A new body is compared with each of them at memcmp speed, element end by element
end (`_shared_elements`: an agent's next turn costs one memcmp over the body and one over
an element); the elements it repeats are reused, and only the rest is parsed (by orjson, and
found in the text as the compact JSON clients send). The text after the list (system prompt,
tools) is reused when the body ends with the same bytes. So a body that repeats 140 KB of an
earlier one and adds 10 KB costs about what parsing 10 KB does, and one sent again costs a
memcmp. Over a 50-turn Claude Code conversation (95–210 KB) a turn loads in 30 µs.

The result is what `json.loads` gives for the body, key order included; anything this module
does not expect (no list key, a list key twice, a body that is not one object, bytes that are
not UTF-8) goes to the caller's plain parse instead. Parsed elements are shared between
results, which is safe for the same reason `PrefixMemo` is: nothing mutates a parsed request.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import orjson

# Top-level keys holding the conversation, by dialect: anthropic, openai chat and ollama
# ("messages"), gemini ("contents"), openai responses ("input").
LIST_KEYS = ("messages", "contents", "input")
MIN_BYTES = 16 * 1024  # below this a plain parse is as fast as any comparison
MAX_BYTES = 4 * 1024 * 1024  # a 1M-token context; beyond it, keeping bodies costs too much memory
_WS = re.compile(rb"[ \t\n\r]*")
_WS_TEXT = re.compile(r"[ \t\n\r]*")
COMMA = ord(",")
CLOSE = ord("]")
_DECODER = json.JSONDecoder()
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


class NotCacheable(Exception):
    """The body is not a shape this loader handles; the caller parses it plainly."""


@dataclass(slots=True, eq=False)
class Entry:
    body: bytes  # the whole body, as it came
    head_end: int  # where the list's elements start: just after its "["
    head_data: dict[str, Any]  # the keys before the list
    key: str  # the list's key
    ends: list[int]  # where each element's text ends (after the separator and space before it)
    values: list[Any]  # what each element parsed to
    tail_at: int  # where the text after the list's "]" starts
    tail_data: dict[str, Any] | None  # the keys after the list, once a later body needed them

    def end_of(self, count: int) -> int:
        """Where the text of the first `count` elements ends."""
        return self.ends[count - 1] if count else self.head_end

    def tail(self) -> memoryview:
        return memoryview(self.body)[self.tail_at :]

    def document(self) -> dict[str, Any]:
        if self.tail_data is None:
            self.tail_data = _tail_data(self.body[self.tail_at :], self.key)
        return {**self.head_data, self.key: list(self.values), **self.tail_data}


class BodyLoader:
    def __init__(
        self, entries: int = 4, min_bytes: int = MIN_BYTES, max_bytes: int = MAX_BYTES
    ) -> None:
        self.entries = entries
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.cache: list[Entry] = []  # newest last
        self.lock = threading.Lock()  # the UI parses from several threads

    def load(self, body: bytes) -> dict[str, Any] | None:
        """The body's JSON object, or None when this loader cannot tell (parse it plainly)."""
        if not self.min_bytes <= len(body) <= self.max_bytes:
            return None
        try:
            with self.lock:
                best, reused, again = self._best_match(body)
            new = len(body) - best.end_of(reused) - len(best.tail()) if best else len(body)
            if best is not None and again:
                entry, result = best, best.document()  # sent again
            # Scanning new elements costs about 3.5 times what orjson does per byte: reuse an
            # earlier body when what is new in the list is under a third of this one.
            elif best is not None and new * 3 <= len(body):
                entry, result = self._extend(body, best, reused)
            else:  # new, or sharing little: the fast parse, then found in the body
                best = None
                entry, result = self._index(body)
        except (NotCacheable, ValueError, IndexError, RecursionError):  # bad UTF-8 is a ValueError
            return None
        with self.lock:
            if best is not None and best in self.cache:  # by identity
                self.cache.remove(best)
            self.cache.append(entry)
            del self.cache[: -self.entries]
        return result

    def _best_match(self, body: bytes) -> tuple[Entry | None, int, bool]:
        """The remembered body sharing the most leading elements with `body`: (entry, how
        many elements, whether it is `body` itself, sent again)."""
        best, reused = None, -1
        for entry in reversed(self.cache):
            if len(body) == len(entry.body) and body == entry.body:
                return entry, len(entry.ends), True
            count = _shared_elements(body, entry)
            if count > reused:
                best, reused = entry, count
        return best, reused, False

    def _extend(self, body: bytes, old: Entry, reused: int) -> tuple[Entry, dict[str, Any]]:
        """A body that starts like `old` for `reused` elements, and the document: those
        elements reused, the rest parsed."""
        ends, values = old.ends[:reused], old.values[:reused]
        pos, tail = old.end_of(reused), old.tail()
        stop = len(body) - len(tail)
        same_tail = stop >= pos and body.endswith(tail)
        tail_at = -1
        if same_tail:  # as an agent sends it: only the new elements are read
            try:
                tail_at = _scan_new_elements(body, pos, stop, ends, values)
            except (NotCacheable, ValueError, IndexError):  # the list goes on into that text
                del ends[reused:], values[reused:]
        if tail_at < 0:
            tail_at = _scan_elements(body, pos, len(body), ends, values)
        tail_data = old.tail_data if same_tail and tail_at == stop else None
        entry = Entry(body, old.head_end, old.head_data, old.key, ends, values, tail_at, tail_data)
        return entry, entry.document()

    def _index(self, body: bytes) -> tuple[Entry, dict[str, Any]]:
        """A body seen for the first time, cut into its elements, and the document."""
        head_end, key, head_data = _head(body)
        document = orjson.loads(body)  # the fast parse; its elements are then found in the body
        if not isinstance(document, dict) or not isinstance(document.get(key), list):
            raise NotCacheable
        ends: list[int] = []
        values: list[Any] = []
        pos = _find_compact(body, head_end, document[key], ends, values)
        tail_at = _scan_elements(body, pos, len(body), ends, values)
        # The keys after the list are parsed from their text only if a later body reuses them.
        return Entry(body, head_end, head_data, key, ends, values, tail_at, None), document


def _head(body: bytes) -> tuple[int, str, dict[str, Any]]:
    """Where the list's "[" ends (in bytes), its key, and the keys before it."""
    text = body.decode("utf-8")
    ws = _WS_TEXT.match
    idx = ws(text, 0).end()
    if text[idx] != "{":
        raise NotCacheable
    first = idx
    idx = ws(text, idx + 1).end()
    while text[idx] == '"':
        key_at = idx
        key, idx = _scanstring(text, idx + 1)
        idx = ws(text, idx).end()
        if text[idx] != ":":
            raise NotCacheable
        idx = ws(text, idx + 1).end()
        if key in LIST_KEYS and text[idx] == "[":
            before = text[first:key_at].rstrip(" \t\n\r")
            before = before[:-1] if before.endswith(",") else before
            head_data = orjson.loads(before + "}")
            if key in head_data:
                raise NotCacheable  # the key twice
            return len(text[: idx + 1].encode("utf-8")), key, head_data
        _, idx = _DECODER.raw_decode(text, idx)
        idx = ws(text, idx).end()
        if text[idx] != ",":
            break
        idx = ws(text, idx + 1).end()
    raise NotCacheable


def _shared_elements(body: bytes, entry: Entry) -> int:
    """How many of `entry`'s list elements `body` repeats, text for text, from its start;
    -1 when it does not even repeat the keys before the list. A search by halves over the
    elements' ends, each probe a memcmp of the bytes not yet known to match. The first probe
    is all but the last element (an agent's next turn moves its cache marker off the last one),
    the second the last one alone: a turn costs one memcmp over the body and one over an
    element."""
    view = memoryview(entry.body)
    if not body.startswith(view[: entry.head_end]):
        return -1
    end_of = entry.end_of

    def repeats(known: int, count: int) -> bool:
        return body.startswith(view[end_of(known) : end_of(count)], end_of(known))

    lo, hi = 0, len(entry.ends)  # lo elements are known to be repeated, at most hi are
    if hi > 1:
        if repeats(0, hi - 1):
            lo = hi - 1
        else:
            hi -= 2
    while lo < hi:
        probe = (lo + hi + 1) // 2
        if repeats(lo, probe):
            lo = probe
        else:
            hi = probe - 1
    return lo


def _find_compact(
    body: bytes, pos: int, items: list[Any], ends: list[int], values: list[Any]
) -> int:
    """Find the parsed list elements `items` in `body` from `pos` (just after "[" or after an
    element) as the compact JSON orjson writes for them, which is how clients send them
    (Claude Code's JSON.stringify); append where each ends and its value. Returns where the
    last one found ends: the first that is not written so (other spacing, escapes, a float
    spelled otherwise) and those after it are left to `_scan_elements`."""
    for value in items:
        start = _WS.match(body, pos).end()
        if values:
            if body[start] != COMMA:
                raise NotCacheable
            start = _WS.match(body, start + 1).end()
        compact = orjson.dumps(value)
        if not body.startswith(compact, start):
            break
        pos = start + len(compact)
        ends.append(pos)
        values.append(value)
    return pos


def _scan_new_elements(body: bytes, pos: int, stop: int, ends: list[int], values: list[Any]) -> int:
    """`_scan_elements` for the elements after `pos` when `stop` is just past the list's "]":
    parsed together by orjson and found in the text as compact JSON, the stdlib's scanner
    only for what is not written so."""
    first = _WS.match(body, pos).end()
    if values and body[first] == COMMA and body[stop - 1] == CLOSE:
        try:
            items = orjson.loads(b"[" + body[first + 1 : stop])
        except orjson.JSONDecodeError:
            items = []
        pos = _find_compact(body, pos, items, ends, values)
    return _scan_elements(body, pos, stop, ends, values)


def _scan_elements(body: bytes, pos: int, stop: int, ends: list[int], values: list[Any]) -> int:
    """Parse the list's elements in `body[pos:stop]` (`pos` just after an element, or after
    "["; `stop` past the list's "]"), appending to `ends` and `values`; returns where the
    text after "]" starts."""
    text = body[pos:stop].decode("utf-8")
    ascii = text.isascii()  # then a character is a byte (str knows this without looking)
    ws = _WS_TEXT.match
    raw_decode = _DECODER.raw_decode
    at = 0  # where `text` has been read to, and `pos` where that is in `body`
    while True:
        idx = ws(text, at).end()
        if text[idx] == "]":
            return pos + (idx + 1 - at if ascii else len(text[at : idx + 1].encode("utf-8")))
        if values:
            if text[idx] != ",":
                raise NotCacheable
            idx = ws(text, idx + 1).end()
        value, end = raw_decode(text, idx)
        pos += end - at if ascii else len(text[at:end].encode("utf-8"))
        at = end
        ends.append(pos)
        values.append(value)


def _tail_data(tail: bytes, key: str) -> dict[str, Any]:
    """The keys after the list, from the text after its "]" (`,"system":...}` or `}`)."""
    rest = tail.lstrip(b" \t\n\r")
    if rest.startswith(b","):
        data = orjson.loads(b"{" + rest[1:])
    elif rest.rstrip(b" \t\n\r") == b"}":
        return {}
    else:
        raise NotCacheable
    if not isinstance(data, dict) or key in data:
        raise NotCacheable  # the key twice: the plain parse decides which one wins
    return data
