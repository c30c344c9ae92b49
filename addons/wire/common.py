"""Helpers the dialect modules share: tolerant field access and the stream accumulator base.

Bodies come from arbitrary clients and servers, so parsers read every field through these
helpers and build what they can from whatever shape arrives, instead of raising.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Container
from itertools import islice
from operator import is_not
from typing import Any, TypeVar

import orjson

from .framing import NDJSONParser, SSEEvent, SSEParser
from .model import IMAGE, Block, Response, Usage


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def leftover(obj: dict[str, Any], known: Container[str]) -> dict[str, Any]:
    """The fields of `obj` a parser did not map to neutral fields."""
    return {k: v for k, v in obj.items() if k not in known}


def raw_if_more(obj: dict[str, Any], known: Container[str]) -> dict[str, Any] | None:
    """`obj` itself when it has fields beyond `known` (so `raw` keeps them), else None."""
    for key in obj:
        if key not in known:
            return obj
    return None


T = TypeVar("T")


class PrefixMemo:
    """Reuses what earlier parses made of the same leading items of a list.

    Agents resend the whole conversation every turn: turn N's messages are turn N-1's plus a
    few. Parsing them again is most of the cost of parsing a 150 KB Claude Code request;
    comparing them with the last parse's items (`==` on the decoded JSON, done in C) costs a
    fraction of it. Parsed items are shared between requests from then on, which is safe
    because nothing mutates the neutral exchange (rules and translations build new objects).

    It remembers the lists of the last `entries` conversations (lists shorter than `min_items`
    are parsed plainly: there is little to save and nothing worth keeping).
    """

    def __init__(self, entries: int = 8, min_items: int = 8) -> None:
        self.entries = entries
        self.min_items = min_items
        self.lists: list[tuple[list[Any], list[Any]]] = []  # (items, parsed), newest last
        self.lock = threading.Lock()  # the UI parses from several threads

    def map(self, items: list[Any], parse: Callable[[Any], T]) -> list[T]:
        if len(items) < self.min_items:
            return [parse(item) for item in items]
        first = items[0]
        old_items: list[Any] = []
        old_parsed: list[Any] = []
        with self.lock:
            lists = self.lists
            for i in range(len(lists) - 1, -1, -1):  # the newest first: most often the one
                head = lists[i][0][0]
                if head is first or head == first:
                    old_items, old_parsed = lists.pop(i)
                    break
        # `BodyLoader` hands back the very objects it parsed before for the text it has seen:
        # those are compared in C (a list's `==` takes an item as equal to itself at once,
        # where `!=` on two dicts compares even a dict with itself).
        if len(old_items) == len(items) and old_items == items:  # the tools, a resent body
            parsed = old_parsed
        else:
            # An agent's next turn repeats all but the last of the items it had: one list `==`
            # in C over those (each item the same object), or else a search for the first
            # item that is not.
            last = min(len(old_items), len(items)) - 1
            if last > 0 and old_items[:last] == items[:last]:
                same = last
            else:
                same = leading_identical(old_items, items)
            for old, new in zip(
                islice(old_items, same, None), islice(items, same, None), strict=False
            ):
                if old is not new and old != new:
                    break
                same += 1
            parsed = old_parsed[:same] + [parse(item) for item in items[same:]]
        with self.lock:
            self.lists.append((items, parsed))
            del self.lists[: -self.entries]
        return list(parsed)  # the caller's own list: appending to it leaves the memo alone


def leading_identical(a: list[Any], b: list[Any]) -> int:
    """How many leading items of `a` and `b` are the same objects."""
    differs = list(map(is_not, a, b))
    try:
        return differs.index(True)
    except ValueError:
        return len(differs)


def load_event(text: str) -> Any:
    """One streamed event's JSON, by orjson (an Anthropic stream's analysis per event: 4.3 →
    2.7 µs); the stdlib's more lenient parser for what orjson refuses (NaN, Infinity, a lone
    surrogate). As for request bodies, an integer past 64 bits comes back as a float."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def parse_arguments(text: str) -> Any:
    """Tool-call arguments: the JSON object when `text` is one, else `text` unchanged."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, dict) else text


def encode_json(value: Any) -> bytes:
    """A body to send: compact UTF-8 JSON, by orjson (a 150 KB request in a tenth of the
    stdlib's time); the stdlib for what orjson refuses (keys that are not strings, huge ints)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error_text(kind: Any, message: Any) -> str:
    kind = str(kind) if kind not in (None, "") else ""
    message = str(message) if message not in (None, "") else ""
    if kind and message:
        return f"{kind}: {message}"
    return kind or message or "error"


_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),", re.IGNORECASE)


def image_block(url: str, raw: Any = None) -> Block:
    """An image given by URL; a base64 `data:` URL becomes inline data."""
    m = _DATA_URL.match(url)
    if m and ";base64" in m.group(2).lower():
        return Block(IMAGE, media_type=m.group(1) or None, data=url[m.end() :], raw=raw)
    return Block(IMAGE, url=url, raw=raw)


_MAGIC = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


def sniff_image_type(data: str) -> str | None:
    """The media type of base64 image data, from its first bytes (Ollama sends none)."""
    for prefix, media_type in _MAGIC:
        if data.startswith(prefix):
            return media_type
    return None


class Accumulator:
    """The shared body of every dialect's `StreamAccumulator`.

    Subclasses choose a framer and handle one framed item in `_event`. Text that grows by
    fragments is kept as pieces and joined only when `response` is read, so a long answer
    costs linear time however finely it is streamed.
    """

    dialect = ""

    def __init__(self) -> None:
        self._response = Response(self.dialect)
        self.events = 0  # framed events seen, malformed ones included
        self.malformed = 0  # events skipped because they could not be understood
        self.done = False  # the stream's own end marker arrived
        self.output_started = False  # a text, thinking or tool-call delta arrived
        self._pieces: dict[tuple[int, str], tuple[Block, list[str]]] = {}
        self._stale = False
        self._framer: SSEParser | NDJSONParser = self._make_framer()

    def _make_framer(self) -> SSEParser | NDJSONParser:
        return SSEParser()

    @property
    def response(self) -> Response:
        """The response accumulated so far."""
        if self._stale:
            for (_, attr), (block, parts) in self._pieces.items():
                if parts:
                    setattr(block, attr, getattr(block, attr) + "".join(parts))
                    parts.clear()
            self._stale = False
        return self._response

    @property
    def usage(self) -> Usage:
        """The usage so far, without joining pending text (cheap to read per chunk)."""
        return self._response.usage

    def feed(self, data: bytes) -> bool:
        """Take decoded body bytes; True if the first output content arrived in this call."""
        try:
            items = self._framer.feed(data)
        except Exception:
            self.malformed += 1
            return False
        return self._consume(items)

    def finish(self) -> Response:
        """Flush the framer at the end of the body and return the final response."""
        try:
            items = self._framer.finish()
        except Exception:
            items = []
        self._consume(items)
        try:
            self._finish()
        except Exception:
            self.malformed += 1
        return self.response

    def _consume(self, items: list[SSEEvent] | list[str]) -> bool:
        if not items:
            return False
        started = self.output_started
        for item in items:
            self.events += 1
            try:
                self._event(item)
            except Exception:
                self.malformed += 1
        return self.output_started and not started

    def _event(self, item: Any) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        pass

    # Growing strings: `_grow` appends a fragment, `_set` replaces the whole value.
    def _grow(self, block: Block, attr: str, fragment: str) -> None:
        if not isinstance(fragment, str):
            raise TypeError(f"{attr} fragment is not a string")
        if not fragment:
            return
        key = (id(block), attr)
        entry = self._pieces.get(key)
        if entry is None:
            entry = self._pieces[key] = (block, [])
        entry[1].append(fragment)
        self._stale = True

    def _set(self, block: Block, attr: str, value: Any) -> None:
        entry = self._pieces.get((id(block), attr))
        if entry is not None:
            entry[1].clear()
        setattr(block, attr, value)

    def _current(self, block: Block, attr: str) -> Any:
        entry = self._pieces.get((id(block), attr))
        if entry is not None and entry[1]:
            setattr(block, attr, getattr(block, attr) + "".join(entry[1]))
            entry[1].clear()
        return getattr(block, attr)

    def _add_block(self, block: Block) -> Block:
        self._response.blocks.append(block)
        return block


def take_usage(
    resp: Response, usage: Any, parse: Callable[[dict[str, Any]], Usage], known: frozenset[str]
) -> bool:
    """Set `resp.usage` from a usage object, keeping its unknown keys in `resp.extra["usage"]`;
    False when there is no usage object."""
    if not isinstance(usage, dict):
        return False
    resp.usage = parse(usage)
    more = leftover(usage, known)
    if more:
        resp.extra["usage"] = more
    return True
