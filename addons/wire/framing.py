"""Incremental framers for streamed bodies: Server-Sent Events and newline-delimited JSON.

Both take decoded body bytes in chunks cut anywhere and return the complete items each chunk
finishes. They run once per chunk on the proxy's hot path, so each chunk is scanned once and a
partial line is kept as a list of pieces, joined only when its end arrives.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str | None  # the `event:` field; None when absent or empty
    data: str  # the `data:` lines joined with "\n"


class SSEParser:
    """Server-Sent Events as the WHATWG HTML standard parses them (§9.2.6).

    Lines end in LF, CR or CRLF; `:` starts a comment; `id` and `retry` are ignored; an event is
    dispatched on a blank line if it has at least one `data` line. Unlike a browser, `finish()`
    also dispatches a last event the stream did not end with a blank line.
    """

    __slots__ = ("_decoder", "_partial", "_skip_lf", "_started", "_event", "_data")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial: list[str] = []
        self._skip_lf = False  # the last chunk ended in CR: a LF that follows belongs to it
        self._started = False
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[SSEEvent]:
        return self._text(self._decoder.decode(data))

    def finish(self) -> list[SSEEvent]:
        """The events still held at the end of the stream; the parser is then reset."""
        events = self._text(self._decoder.decode(b"", True))
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            self._line(line, events)
        self._line("", events)
        self._reset()
        return events

    def _text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text[:1] == "\n":
                text = text[1:]
        if "\r" in text:
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if len(lines) == 1:
            if text:
                self._partial.append(text)
            return []
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
            self._partial = []
        tail = lines.pop()
        if tail:
            self._partial.append(tail)
        events: list[SSEEvent] = []
        data, event = self._data, self._event
        for line in lines:  # the common lines inline: a stream has thousands of them
            if not line:
                if data:
                    events.append(SSEEvent(event, data[0] if len(data) == 1 else "\n".join(data)))
                    data = []
                event = None
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("event: "):
                event = line[7:] or None
            else:
                self._data, self._event = data, event
                self._line(line, events)
                data, event = self._data, self._event
        self._data, self._event = data, event
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._data = []
            self._event = None
            return
        colon = line.find(":")
        if colon == 0:
            return
        if colon < 0:
            name, value = line, ""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == " ":
                value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value or None


class NDJSONParser:
    """Newline-delimited JSON (Ollama): returns each non-blank line, without its line ending."""

    __slots__ = ("_partial",)

    def __init__(self) -> None:
        self._partial: list[bytes] = []

    def feed(self, data: bytes) -> list[str]:
        if not data:
            return []
        data = bytes(data)
        if b"\n" not in data:
            self._partial.append(data)
            return []
        pieces = data.split(b"\n")
        if self._partial:
            self._partial.append(pieces[0])
            pieces[0] = b"".join(self._partial)
            self._partial = []
        tail = pieces.pop()
        if tail:
            self._partial.append(tail)
        lines = []
        for piece in pieces:
            line = piece.decode("utf-8", "replace").strip()
            if line:
                lines.append(line)
        return lines

    def finish(self) -> list[str]:
        """The last line, if the stream did not end with a newline; the parser is then reset."""
        line = b"".join(self._partial).decode("utf-8", "replace").strip()
        self._partial = []
        return [line] if line else []
