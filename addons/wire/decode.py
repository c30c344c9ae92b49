"""Incremental content decoding of a response body as it streams through the proxy.

mitmproxy hands a `flow.response.stream` callable the body still content-encoded, and clients
ask for `gzip, deflate, br, zstd`, so a compressed stream is the normal case. A `Decoder` turns
each encoded chunk into whatever plain bytes it yields so far. It never raises: corrupt or
unsupported input sets `failed` to a reason and every later call returns b"".
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard


class _Step(Protocol):
    name: str

    def feed(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Gzip:
    """gzip; a body may hold several gzip members back to back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out = self._z.decompress(data)
        while self._z.eof and self._z.unused_data:
            rest = self._z.unused_data
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += self._z.decompress(rest)
        return out

    def flush(self) -> bytes:
        return self._z.flush()


class _Deflate:
    """HTTP "deflate" is meant to be zlib-wrapped, but some servers send raw deflate."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._z: zlib._Decompress | None = None
        self._head = b""

    def feed(self, data: bytes) -> bytes:
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            cmf, flg = self._head[0], self._head[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        if self._z.eof:
            return b""  # trailing bytes after the end of the stream are ignored
        return self._z.decompress(data)

    def flush(self) -> bytes:
        if self._z is None:
            if not self._head:
                return b""
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._z.decompress(self._head) + self._z.flush()
        return self._z.flush()


class _Brotli:
    def __init__(self, name: str) -> None:
        self.name = name
        self._b = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        return self._b.process(data)

    def flush(self) -> bytes:
        return b""


class _Zstd:
    """zstd; a streaming server may end one frame and start another, so continue across frames."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._d = zstandard.ZstdDecompressor()
        self._z = self._d.decompressobj()

    def feed(self, data: bytes) -> bytes:
        out = self._z.decompress(data)
        while self._z.eof:
            rest = self._z.unused_data
            self._z = self._d.decompressobj()
            if not rest:
                break
            out += self._z.decompress(rest)
        return out

    def flush(self) -> bytes:
        return b""


_CODECS: dict[str, type[_Gzip] | type[_Deflate] | type[_Brotli] | type[_Zstd]] = {
    "gzip": _Gzip,
    "x-gzip": _Gzip,
    "deflate": _Deflate,
    "br": _Brotli,
    "zstd": _Zstd,
}


class Decoder:
    """Decodes one response body, chunk by chunk; build one with `Decoder.for_encoding`."""

    def __init__(self, steps: list[_Step], failed: str | None = None) -> None:
        self._steps = steps  # in decoding order: the last encoding applied comes first
        self.failed: str | None = failed

    @classmethod
    def for_encoding(cls, content_encoding: str | None) -> Decoder:
        """A decoder for a Content-Encoding header value such as "gzip" or "gzip, br"."""
        names = [n.strip().lower() for n in (content_encoding or "").split(",")]
        steps: list[_Step] = []
        for name in reversed(names):
            if not name or name == "identity":
                continue
            codec = _CODECS.get(name)
            if codec is None:
                return cls([], failed=f"unsupported content-encoding: {name}")
            steps.append(codec(name))
        return cls(steps)

    @property
    def identity(self) -> bool:
        return not self._steps and self.failed is None

    def feed(self, chunk: bytes) -> bytes:
        if self.failed is not None:
            return b""
        data = bytes(chunk)
        step = None
        try:
            for step in self._steps:
                if not data:
                    return b""
                data = step.feed(data)
        except Exception as e:  # zlib.error, brotli.error, ZstdError, and anything unforeseen
            self.failed = f"{step.name if step else ''}: {e}"
            return b""
        return data

    def flush(self) -> bytes:
        """Everything still held back, at the end of the body."""
        if self.failed is not None:
            return b""
        data = b""
        step = None
        try:
            for step in self._steps:
                data = (step.feed(data) if data else b"") + step.flush()
        except Exception as e:
            self.failed = f"{step.name if step else ''}: {e}"
            return b""
        return data
