"""Credentials never reach the database: they are replaced by a fingerprint.

A fingerprint is `fp:` + the first 10 hex characters of the value's SHA-256 + `…` + its last 4
characters: enough to tell two keys apart or find which key a request used, not enough to use it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from addons.clients import Lowered

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "x-auth-token",
    }
)
SECRET_HEADER_PATTERN = re.compile(r"(api[-_]?key|token|secret|password)", re.IGNORECASE)
SECRET_QUERY_KEYS = frozenset({"key", "api_key", "apikey", "access_token", "token"})
BEARER = re.compile(r"^(Bearer|Basic|Token)\s+", re.IGNORECASE)


def fingerprint(value: str) -> str:
    scheme = ""
    if m := BEARER.match(value):
        scheme, value = m.group(1) + " ", value[m.end() :]
    if not value:
        return scheme.strip()
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    tail = value[-4:] if len(value) >= 12 else ""
    return f"{scheme}fp:{digest}…{tail}"


def is_secret_header(name: str) -> bool:
    name = name.lower()
    return name in SECRET_HEADERS or bool(SECRET_HEADER_PATTERN.search(name))


@functools.lru_cache(maxsize=512)
def _header_name(raw: bytes) -> tuple[str, bool]:
    """A header's name lower-cased, and whether its value is a secret: the same few names come
    with every request, and the pattern search was most of scrubbing them."""
    name = raw.decode("latin-1").lower()
    return name, is_secret_header(name)


def scrub_headers(fields: Iterable[tuple[bytes, bytes]]) -> Lowered:
    """Header fields as a JSON-ready object, names lower-cased, secrets fingerprinted: the
    client helpers take it as it is."""
    out = Lowered()
    for raw_name, raw_value in fields:
        name, secret = _header_name(raw_name)
        value = raw_value.decode("latin-1")
        if secret:
            value = fingerprint(value)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def scrub_path(path: str) -> str:
    """Fingerprint credentials passed in the query string (Gemini's `?key=`)."""
    base, sep, query = path.partition("?")
    if not sep or not any(k in query.lower() for k in SECRET_QUERY_KEYS):
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
        return path
    scrubbed = [(k, fingerprint(v) if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
    return f"{base}?{urlencode(scrubbed, safe=':/…')}"
