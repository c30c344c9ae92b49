"""Scenarios: how the fake upstream should misbehave (or just shape) one answer.

A scenario is a comma list such as `chunks=200,delay_ms=5` or `error=429` or
`reset-mid-stream,after=3`. Names may be written with `-` or `_`. Sources, later ones winning
item by item: the server default (`POST /__fake/scenario`), the `x-fake-scenario` request header,
then `[[scenario:...]]` markers in the latest user text of the request.

    chunks=N          text split into N stream deltas (default 5)
    delay_ms=N        pause between stream frames
    ttfb_ms=N         pause before the response headers
    slow-headers[=N]  send the header block one line at a time, N ms apart (default 50)
    error=STATUS      answer STATUS in the dialect's error shape (429 adds retry-after)
    retry_after=N     the retry-after seconds for error=429/529/503 (default 1)
    hang              read the request, never answer
    reset-mid-stream  send headers and some frames, then RST the connection
    truncate          send some frames, then close cleanly without the end of the stream
    hang-mid-stream   send some frames, then stall forever
    malformed         a garbage `data: {not json` frame in the middle of the stream
    error-mid-stream  the dialect's in-stream error frame in the middle, then end the stream
    after=N           frames sent before a mid-stream fault (default: half of them)
    big=BYTES         pad the response text to BYTES
    encoding=NAME     force zstd, br, gzip or identity whatever Accept-Encoding says
    tool=NAME         call tool NAME (when the turn is not answering a tool result)
    loop              with tool=NAME: call it again, same arguments, after every result too
                      (a model stuck in a loop)

Mid-stream faults apply to streamed answers only: a client that falls back to a non-streamed
retry (as Claude Code does) gets a good answer there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

_FLAGS = {
    "hang": "hang",
    "reset-mid-stream": "reset",
    "truncate": "truncate",
    "hang-mid-stream": "hang_mid",
    "malformed": "malformed",
    "error-mid-stream": "error_mid",
    "loop": "loop",
}
_INTS = {
    "chunks": "chunks",
    "delay-ms": "delay_ms",
    "ttfb-ms": "ttfb_ms",
    "error": "error",
    "retry-after": "retry_after",
    "after": "after",
    "big": "big",
    "slow-headers": "slow_headers_ms",
}
_ENCODINGS = ("zstd", "br", "gzip", "identity")
SLOW_HEADERS_DEFAULT_MS = 50


@dataclass(frozen=True, slots=True)
class Scenario:
    chunks: int = 5
    delay_ms: int = 0
    ttfb_ms: int = 0
    slow_headers_ms: int = 0
    error: int | None = None
    retry_after: int = 1
    hang: bool = False
    reset: bool = False
    truncate: bool = False
    hang_mid: bool = False
    malformed: bool = False
    error_mid: bool = False
    loop: bool = False
    after: int | None = None
    big: int | None = None
    encoding: str | None = None
    tool: str | None = None

    @property
    def mid_stream_fault(self) -> bool:
        return self.reset or self.truncate or self.hang_mid or self.malformed or self.error_mid

    def with_spec(self, spec: str | None) -> Scenario:
        """This scenario with the items of `spec` applied; ValueError names a bad item."""
        changes: dict[str, object] = {}
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            key, has_value, value = item.partition("=")
            key = key.strip().lower().replace("_", "-")
            value = value.strip()
            if key in _FLAGS and not has_value:
                changes[_FLAGS[key]] = True
            elif key == "slow-headers" and not has_value:
                changes["slow_headers_ms"] = SLOW_HEADERS_DEFAULT_MS
            elif key in _INTS:
                changes[_INTS[key]] = _non_negative(item, value)
            elif key == "encoding" and value.lower() in _ENCODINGS:
                changes["encoding"] = value.lower()
            elif key == "tool" and value:
                changes["tool"] = value
            else:
                raise ValueError(f"unknown scenario item {item!r}")
        if "chunks" in changes and not changes["chunks"]:
            raise ValueError("chunks must be at least 1")
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        default = Scenario()
        return ",".join(
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        )


def _non_negative(item: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"scenario item {item!r} needs a whole number") from None
    if number < 0:
        raise ValueError(f"scenario item {item!r} must not be negative")
    return number


def parse(spec: str | None) -> Scenario:
    return Scenario().with_spec(spec)
