"""Dialect-neutral pieces of the fake upstream: requests, replies, turn planning, compression.

Everything here is deterministic: the same request (and, for prompt caching, the same sequence of
requests) always produces the same reply.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

from tests.fakes.scenario import Scenario

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"

SCENARIO_MARKER = re.compile(r"\[\[scenario:([^\]]*)\]\]")
USE_TOOL = re.compile(r"\buse tool\s+([A-Za-z0-9_.:-]+)")


@dataclass(slots=True)
class Request:
    """One request as it arrived: the log keeps exactly these four fields."""

    method: str
    target: str  # path with query, as sent
    headers: list[tuple[str, str]]
    body: bytes
    version: str = "HTTP/1.1"

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class JsonReply:
    status: int
    body: Any  # JSON-able, or bytes sent as they are
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    indent: int | None = None

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if self.indent:
            return json.dumps(self.body, indent=self.indent).encode()
        return dumps(self.body).encode()


@dataclass(slots=True)
class StreamReply:
    """A streamed body as a list of frames; the server flushes each frame on its own."""

    events: list[bytes]
    content_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    # What `error-mid-stream` and `malformed` put in the middle of this dialect's stream.
    error_event: bytes = b""
    malformed_event: bytes = b""


Reply = JsonReply | StreamReply


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(event: str | None, data: Any, newline: str = "\n") -> bytes:
    body = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {body}{newline}{newline}".encode()


def ndjson(data: Any) -> bytes:
    return (dumps(data) + "\n").encode()


class Ids:
    """Provider-style ids, unique per request within a server run and stable across runs."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._n = 0

    def make(self, prefix: str, length: int, alphabet: str = B62) -> str:
        self._n += 1
        out: list[str] = []
        block = 0
        while len(out) < length:
            digest = hashlib.sha256(f"{self._seed}/{self._n}/{block}".encode()).digest()
            out.extend(alphabet[b % len(alphabet)] for b in digest)
            block += 1
        return prefix + "".join(out[:length])


def tokens_of(chars: int) -> int:
    return max(1, chars // 4)


def split_text(text: str, n: int) -> list[str]:
    """Exactly `n` non-empty pieces; a text shorter than `n` is padded with dots to fit."""
    n = max(1, n)
    if len(text) < n:
        text += "." * (n - len(text))
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def split_fragments(text: str, n: int) -> list[str]:
    """Up to `n` non-empty pieces without padding (for JSON that must stay valid when joined)."""
    return split_text(text, min(max(1, n), max(1, len(text)))) if text else [""]


def filler(length: int) -> str:
    """Deterministic hex that compresses like real text does (about 2:1), not to nothing."""
    blocks = (length + 63) // 64
    return "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(blocks))[:length]


def pad_to(text: str, size: int | None) -> str:
    if not size:
        return text
    missing = size - len(text.encode())
    return text + (" " + filler(missing - 1) if missing > 1 else " " * max(0, missing))


# --- what to answer -------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    text: str = ""
    thinking: str = ""
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None


def plan_turn(
    *,
    user_texts: list[str],
    tool_results: list[str] | None,
    tools: dict[str, dict[str, Any]],
    scenario: Scenario,
    thinking: bool = False,
) -> Plan:
    """The neutral answer: a tool result is acknowledged, `use tool X` calls X, else echo."""
    last = user_texts[-1] if user_texts else ""
    plan = Plan(thinking=f"Thinking about: {last}" if thinking else "")
    if tool_results is not None and not (scenario.loop and scenario.tool):
        plan.text = pad_to("tool said: " + "\n".join(tool_results), scenario.big)
        return plan
    wanted = scenario.tool
    if wanted is None and tools:
        for match in USE_TOOL.finditer("\n".join(user_texts)):
            if match.group(1) in tools:
                wanted = match.group(1)
    if wanted is not None:
        plan.tool_name = wanted
        plan.tool_args = tool_arguments(wanted, tools.get(wanted) or {})
        return plan
    plan.text = pad_to("echo: " + last, scenario.big)
    return plan


def tool_arguments(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    if name == "Bash":  # Claude Code's shell tool: something harmless that proves it ran
        return {"command": "echo fake-tool-ran", "description": "test"}
    return _object_sample(schema)


def _object_sample(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    return {key: _sample(key, props.get(key) or {}) for key in schema.get("required") or []}


def _sample(key: str, schema: dict[str, Any]) -> Any:
    for keyword in ("const", "default"):
        if keyword in schema:
            return schema[keyword]
    if schema.get("enum"):
        return schema["enum"][0]
    for keyword in ("anyOf", "oneOf"):
        if schema.get(keyword):
            return _sample(key, schema[keyword][0])
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind).lower()  # Gemini writes types in capitals
    samples: dict[str, Callable[[], Any]] = {
        "string": lambda: f"fake-{key}",
        "integer": lambda: 1,
        "number": lambda: 1.5,
        "boolean": lambda: True,
        "null": lambda: None,
        "array": lambda: [_sample(key, schema.get("items") or {})],
        "object": lambda: _object_sample(schema),
    }
    return samples.get(kind, samples["string"])()


def scenario_from_texts(texts: list[str]) -> str:
    return ",".join(m.group(1) for t in texts for m in SCENARIO_MARKER.finditer(t))


# --- prompt caching ------------------------------------------------------------------------


class PromptCache:
    """Remembers prompt prefixes, so that a repeated prefix reads from "cache" the second time.

    A prompt is a list of serialised blocks (tools, system, message parts, in the order the
    provider caches them). `lookup` returns how many characters of the prompt were seen before
    as a prefix, and remembers the prefixes ending at the given breakpoints.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def lookup(self, blocks: list[str], breakpoints: list[int], limit: int) -> int:
        digests, h = [], hashlib.sha256()
        for block in blocks:
            h.update(hashlib.sha256(block.encode()).digest())
            digests.append(h.hexdigest())
        with self._lock:
            hit = max(
                (k + 1 for k in range(min(limit, len(blocks))) if digests[k] in self._seen),
                default=0,
            )
            self._seen.update(digests[k - 1] for k in breakpoints if k > 0)
        return sum(len(b) for b in blocks[:hit])


# --- compression ---------------------------------------------------------------------------

ENCODINGS = ("zstd", "br", "gzip")  # our preference when the client likes several equally


def choose_encoding(accept: str | None, forced: str | None = None) -> str:
    """Pick what a CDN would: the highest q-value the client gives, ties going to zstd > br > gzip.

    The order of the list does not matter (RFC 9110 gives it no meaning); `forced` overrides.
    """
    if forced:
        return forced
    if not accept:
        return "identity"
    weights: dict[str, float] = {}
    for item in accept.split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip().lower()] = q
    star = weights.get("*", 0.0)
    best, best_q = "identity", 0.0
    for name in ENCODINGS:
        q = weights.get(name, star)
        if q > best_q:
            best, best_q = name, q
    return best


class Encoder:
    """Compresses a body frame by frame, flushing after each so every frame arrives at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "gzip":
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        elif name == "br":
            self._br = brotli.Compressor()
        elif name == "zstd":
            self._zstd = zstandard.ZstdCompressor().compressobj()
        elif name != "identity":
            raise ValueError(f"unknown encoding {name!r}")

    def frame(self, data: bytes) -> bytes:
        if self.name == "gzip":
            return self._gzip.compress(data) + self._gzip.flush(zlib.Z_SYNC_FLUSH)
        if self.name == "br":
            return self._br.process(data) + self._br.flush()
        if self.name == "zstd":
            return self._zstd.compress(data) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        return data

    def finish(self) -> bytes:
        if self.name == "gzip":
            return self._gzip.flush(zlib.Z_FINISH)
        if self.name == "br":
            return self._br.finish()
        if self.name == "zstd":
            return self._zstd.flush()
        return b""


def encode_whole(name: str, data: bytes) -> bytes:
    encoder = Encoder(name)
    return encoder.frame(data) + encoder.finish()


@dataclass(slots=True)
class Context:
    """What a dialect handler gets: the request, its parsed body, the resolved scenario."""

    request: Request
    body: Any
    scenario: Scenario
    ids: Ids
    cache: PromptCache
    params: dict[str, str] = field(default_factory=dict)  # captured from the route's path


class BadRequest(Exception):
    """A request the real provider would refuse with 400; the message is the provider's."""
