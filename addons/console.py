"""A live, readable log of LLM exchanges in the terminal, instead of mitmproxy's flow dump.

Failure policy: fails open; a line that cannot be printed is skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import COLOR_SYSTEMS
from rich.console import Console as RichConsole
from rich.style import Style

VERDICT_STYLES = {
    "allow": "green",
    "warn": "yellow",
    "rewrite": "cyan",
    "block": "bold red",
    "intercept": "magenta",
}


def human_tokens(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def human_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.0f}ms"


_CLOCK: tuple[str | None, str] = (None, "")  # the last whole second shown, and its clock


def local_clock(started: str) -> str:
    """HH:MM:SS in local time of a stored timestamp (UTC, milliseconds, Z). The exchanges of
    one second share it, so it is worked out once a second: the time zone lookup was half of
    making a line."""
    global _CLOCK
    second = started[:19] if len(started) == 24 and started.endswith("Z") else None
    if second is not None and second == _CLOCK[0]:
        return _CLOCK[1]
    try:
        clock = (
            datetime.fromisoformat(started.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
        )
    except ValueError:
        clock = "--:--:--"
    if second is not None:
        _CLOCK = (second, clock)
    return clock


def spans(row: dict[str, Any]) -> list[tuple[str, str]]:
    """One line as (text, style) pieces: time, app, model, status, tokens in→out, TTFT,
    latency, verdict, path, and the error if any."""
    clock = local_clock(row.get("started_at") or "")
    status = row.get("status")
    tokens_in = (
        (row.get("input_tokens") or 0)
        + (row.get("cache_read_tokens") or 0)
        + (row.get("cache_write_tokens") or 0)
    )
    verdict = row.get("verdict") or "allow"
    line = [
        (f"{clock} ", "dim"),
        (f"{(row.get('client_app') or 'unknown')[:18]:<18} ", "bold"),
        (f"{(row.get('served_model') or row.get('requested_model') or '-')[:28]:<28} ", ""),
        (
            f"{status if status is not None else '---':>3} ",
            "green" if status and status < 400 else "red",
        ),
        (
            f"{human_tokens(tokens_in if row.get('input_tokens') is not None else None):>6}→"
            f"{human_tokens(row.get('output_tokens')):<6} ",
            "cyan",
        ),
        (f"ttft {human_ms(row.get('ttft_ms')):>6} ", "dim"),
        (f"{human_ms(row.get('latency_ms')):>6} ", ""),
        (f"{verdict:<9} ", VERDICT_STYLES.get(verdict, "")),
        (f"{row.get('method', '')} {row.get('path', '')}", "dim"),
    ]
    if row.get("error"):
        line.append((f"  {row['error'][:120]}", "red"))
    return line


def crop(line: list[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    """The pieces that fit in `width` cells; a line that does not fit ends in an ellipsis."""
    if sum(cell_len(text) for text, _ in line) <= width:
        return line
    kept, room = [], width - 1
    for text, style in line:
        if room <= 0:
            break
        cells = cell_len(text)
        kept.append((text if cells <= room else set_cell_size(text, room), style))
        room -= cells
    text, style = kept.pop() if kept else ("", line[0][1])
    return [*kept, (text + "…", style)]


# mitmproxy's per-connection chatter (client connect, server disconnect, "Streaming response
# from ...") is what our one line per exchange replaces; its warnings and errors still show.
CONNECTION_LOGGER = "mitmproxy.proxy.server"


def drop_connection_chatter(record: logging.LogRecord) -> bool:
    return record.levelno > logging.INFO


class LogPrinter:
    """Prints the log lines; runs in the recorder process (addons/worker.py), which shares the
    proxy's terminal, so that rendering them costs the proxy nothing.

    rich decides the colours the terminal takes and the escape codes for each style; the line
    itself is joined here: `Console.print` lays out a renderable for every call, about 0.1 ms a
    line, which is most of what the recorder process spends on a small exchange."""

    def __init__(self, file: Any = None) -> None:
        self.console = RichConsole(highlight=False, soft_wrap=False, file=file)
        self.colors = COLOR_SYSTEMS.get(self.console.color_system or "")
        # Asked once: rich asks the file and the environment again on every call.
        self.is_terminal = self.console.is_terminal

    def print(self, row: dict[str, Any]) -> None:
        line = spans(row)
        if self.is_terminal:  # one cropped line per exchange; a pipe or file gets it whole
            line = crop(line, self.console.width)
        if self.colors is not None:
            line = [
                (Style.parse(style).render(text, color_system=self.colors), "")  # lru-cached
                for text, style in line
            ]
        file = self.console.file
        file.write("".join(text for text, _ in line) + "\n")
        file.flush()


class Console:
    """In the proxy: keeps mitmproxy's own per-connection chatter out of the log."""

    def __init__(self, suite) -> None:
        self.suite = suite

    def running(self) -> None:
        if not self.suite.quiet:
            logging.getLogger(CONNECTION_LOGGER).addFilter(drop_connection_chatter)

    def done(self) -> None:
        logging.getLogger(CONNECTION_LOGGER).removeFilter(drop_connection_chatter)
