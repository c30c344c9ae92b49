"""API dialects: which one a request speaks, and its bodies and streams in neutral form.

Every function here takes what arrived on the wire and returns None (or a harmless default)
for anything it cannot understand; none of them raises on bad input.
"""

from __future__ import annotations

import functools
import json
import re
from types import ModuleType
from typing import Any

import orjson

from . import anthropic, gemini, ollama, openai_chat, openai_responses
from .common import Accumulator
from .loader import BodyLoader
from .model import Request, Response

DIALECTS: dict[str, ModuleType] = {
    "anthropic": anthropic,
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "ollama": ollama,
    "gemini": gemini,
}

# Matched against the end of the path, so a prefix (OpenRouter's /api/v1, Azure's
# /openai/deployments/<name>, a reverse-proxy mount point) does not matter. First match wins.
_ROUTES = (
    (re.compile(r"/v1/(?:messages(?:/count_tokens)?|complete)$"), "anthropic"),
    (re.compile(r"(?:^|/)api/(?:chat|generate|embed|embeddings)$"), "ollama"),
    (
        re.compile(r"/models/[^/:]+:(?:generateContent|streamGenerateContent|countTokens)$"),
        "gemini",
    ),
    (re.compile(r"/responses$"), "openai_responses"),
    (re.compile(r"/(?:chat/completions|completions|embeddings)$"), "openai_chat"),
)

_STREAM_TYPES = frozenset({"text/event-stream", "application/x-ndjson", "application/ndjson"})


def detect(method: str, path: str) -> str | None:
    """The dialect of an LLM call, from its method and path (query string allowed), else None."""
    if method.upper() != "POST":
        return None
    return _dialect_of(path.split("?", 1)[0].split("#", 1)[0].rstrip("/"))


@functools.lru_cache(maxsize=1024)  # a client calls the same few paths (no query strings here)
def _dialect_of(path: str) -> str | None:
    for pattern, dialect in _ROUTES:
        if pattern.search(path):
            return dialect
    return None


LOADER = BodyLoader()  # one per process: the proxy's rules and the recorder each keep their own


def _load(body: bytes | str) -> Any:
    if LOADER.min_bytes <= len(body) <= LOADER.max_bytes:  # an agent's resent conversation
        try:
            data = LOADER.load(body.encode("utf-8") if isinstance(body, str) else bytes(body))
        except UnicodeEncodeError:  # a lone surrogate
            data = None
        if data is not None:
            return data
    try:
        return orjson.loads(body)  # about twice as fast on a 150 KB Claude Code body
    except (orjson.JSONDecodeError, TypeError):
        pass  # a BOM, NaN, Infinity: the stdlib parser is more lenient (orjson itself reads
        # integers past 64 bits, as floats)
    try:
        text = body if isinstance(body, str) else bytes(body).decode("utf-8")
        if text.startswith("\ufeff"):
            text = text[1:]
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def parse_request(dialect: str, body: bytes | str, path: str | None = None) -> Request | None:
    """The neutral request, or None if the body is not a JSON object in UTF-8."""
    module = DIALECTS.get(dialect)
    data = _load(body)
    if module is None or not isinstance(data, dict):
        return None
    try:
        return module.parse_request(data, path)
    except Exception:  # the parsers are tolerant; this is the last line of defence
        return None


def parse_response(dialect: str, body: bytes | str) -> Response | None:
    """The neutral response, or None if the body is not a JSON object in UTF-8.

    Gemini's `streamGenerateContent` without `alt=sse` answers with a JSON array of responses;
    that is accepted too and merged.
    """
    module = DIALECTS.get(dialect)
    data = _load(body)
    if module is None:
        return None
    try:
        if isinstance(data, dict):
            return module.parse_response(data)
        if dialect == "gemini" and isinstance(data, list):
            return gemini.parse_stream_array(data)
    except Exception:
        return None
    return None


def stream_accumulator(dialect: str) -> Accumulator:
    """A fresh `StreamAccumulator` for the dialect's streamed responses (KeyError if unknown)."""
    return DIALECTS[dialect].StreamAccumulator()


def parse_stream(dialect: str, body: bytes) -> Response | None:
    """A whole streamed body (SSE or NDJSON), already decoded, accumulated in one go."""
    if dialect not in DIALECTS:
        return None
    acc = stream_accumulator(dialect)
    acc.feed(body)
    return acc.finish()


def is_stream_response(content_type: str | None) -> bool:
    """True for an SSE or NDJSON response Content-Type."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in _STREAM_TYPES


__all__ = [
    "DIALECTS",
    "detect",
    "is_stream_response",
    "parse_request",
    "parse_response",
    "parse_stream",
    "stream_accumulator",
]
