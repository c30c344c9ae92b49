"""Request bodies parsed in proportion to what is new in them.

An agent resends its whole conversation every turn: turn N's body is turn N-1's with a few
messages added at the end of its list (and a cache marker moved). Parsing all of it again
costs a pass over the whole body, 0.1 ms for 150 KB with orjson, on the proxy's event loop
when a rule needs the request and again in the recorder process. `BodyLoader` remembers the
last few large bodies cut at their list's elements, as text, with what each element parsed
to. A new body that starts with the same text as one of them reuses those elements up to the
first that differs, and parses only the rest; the text after the list (system prompt, tools)
is reused when it is the same too. Comparing text is a memcmp, so a body that repeats 140 KB
of an earlier one and adds 10 KB costs about what parsing 10 KB does.

The result is what `json.loads` gives for the body, key order included; anything this module
does not expect (no list key, a list key twice, a body that is not one object) goes to the
caller's plain parse instead. Parsed elements are shared between results, which is safe for
the same reason `PrefixMemo` is: nothing mutates a parsed request.
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
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


class NotCacheable(Exception):
    """The body is not a shape this loader handles; the caller parses it plainly."""


@dataclass(slots=True, eq=False)
class Entry:
    head: str  # the text up to and including the list's "["
    head_data: dict[str, Any]  # the keys before the list
    key: str  # the list's key
    segments: list[str]  # each element's text, with the separator and space before it
    values: list[Any]  # what each element parsed to
    tail: str  # the text after the list's "]"
    tail_data: dict[str, Any] | None  # the keys after the list, once a later body needed them


class BodyLoader:
    def __init__(
        self, entries: int = 4, min_bytes: int = MIN_BYTES, max_bytes: int = MAX_BYTES
    ) -> None:
        self.entries = entries
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.cache: list[Entry] = []  # newest last
        self.lock = threading.Lock()  # the UI parses from several threads

    def load(self, text: str) -> dict[str, Any] | None:
        """The body's JSON object, or None when this loader cannot tell (parse it plainly)."""
        if not self.min_bytes <= len(text) <= self.max_bytes:
            return None
        try:
            with self.lock:
                best, reused, end = self._best_match(text)
            # Scanning new elements costs about 3.5 times what orjson does per byte: reuse an
            # earlier body when what is new in the list is under a third of this one.
            if best is not None and (len(text) - end - len(best.tail)) * 3 <= len(text):
                entry, result = self._extend(text, best, reused, end)
            else:  # new, or sharing little: the fast parse, then found in the text
                best = None
                entry, result = self._index(text)
        except (NotCacheable, ValueError, IndexError, RecursionError):
            return None
        with self.lock:
            if best is not None and best in self.cache:  # by identity
                self.cache.remove(best)
            self.cache.append(entry)
            del self.cache[: -self.entries]
        return result

    def _best_match(self, text: str) -> tuple[Entry | None, int, int]:
        """The remembered body sharing the most leading elements with `text`: (entry, how
        many elements, where the last shared one ends in `text`)."""
        best, reused, end = None, -1, 0
        for entry in reversed(self.cache):
            if not text.startswith(entry.head):
                continue
            pos, count = len(entry.head), 0
            for segment in entry.segments:
                if not text.startswith(segment, pos):
                    break
                pos += len(segment)
                count += 1
            if count > reused:
                best, reused, end = entry, count, pos
        return best, reused, end

    def _extend(self, text: str, old: Entry, reused: int, pos: int) -> tuple[Entry, dict[str, Any]]:
        """A body that starts like `old` for `reused` elements (ending at `pos`), and the
        document: those elements reused, the rest parsed."""
        segments, values = old.segments[:reused], old.values[:reused]
        tail_at = _scan_elements(text, pos, segments, values)
        tail = text[tail_at:]
        tail_data = old.tail_data
        if tail_data is None or tail != old.tail:
            tail_data = _tail_data(tail, old.key)
        entry = Entry(old.head, old.head_data, old.key, segments, values, tail, tail_data)
        return entry, {**old.head_data, old.key: list(values), **tail_data}

    def _index(self, text: str) -> tuple[Entry, dict[str, Any]]:
        """A body seen for the first time, cut into its elements, and the document."""
        head_end, key, head_data = _head(text)
        document = orjson.loads(text)  # the fast parse; its elements are then found in the text
        if not isinstance(document, dict) or not isinstance(document.get(key), list):
            raise NotCacheable
        segments: list[str] = []
        values: list[Any] = []
        pos = head_end
        for value in document[key]:
            start = _WS.match(text, pos).end()
            if values:
                if text[start] != ",":
                    raise NotCacheable
                start = _WS.match(text, start + 1).end()
            compact = orjson.dumps(value).decode()
            if not text.startswith(compact, start):
                break  # not compact JSON (or other spacing, escapes): scan the rest
            segments.append(text[pos : start + len(compact)])
            values.append(value)
            pos = start + len(compact)
        tail_at = _scan_elements(text, pos, segments, values)
        # The keys after the list are parsed from their text only if a later body reuses them.
        entry = Entry(text[:head_end], head_data, key, segments, values, text[tail_at:], None)
        return entry, document


def _head(text: str) -> tuple[int, str, dict[str, Any]]:
    """Where the list's "[" ends, its key, and the keys before it."""
    ws = _WS.match
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
            return idx + 1, key, head_data
        _, idx = _DECODER.raw_decode(text, idx)
        idx = ws(text, idx).end()
        if text[idx] != ",":
            break
        idx = ws(text, idx + 1).end()
    raise NotCacheable


def _scan_elements(text: str, pos: int, segments: list[str], values: list[Any]) -> int:
    """Parse the list's elements from `pos` (just after an element, or after "[") to its "]",
    appending to `segments` and `values`; returns where the text after "]" starts."""
    ws = _WS.match
    raw_decode = _DECODER.raw_decode
    while True:
        idx = ws(text, pos).end()
        if text[idx] == "]":
            return idx + 1
        if values:
            if text[idx] != ",":
                raise NotCacheable
            idx = ws(text, idx + 1).end()
        value, end = raw_decode(text, idx)
        segments.append(text[pos:end])
        values.append(value)
        pos = end


def _tail_data(tail: str, key: str) -> dict[str, Any]:
    """The keys after the list, from the text after its "]" (`,"system":...}` or `}`)."""
    rest = tail.lstrip(" \t\n\r")
    if rest.startswith(","):
        data = orjson.loads("{" + rest[1:])
    elif rest.rstrip(" \t\n\r") == "}":
        return {}
    else:
        raise NotCacheable
    if not isinstance(data, dict) or key in data:
        raise NotCacheable  # the key twice: the plain parse decides which one wins
    return data
