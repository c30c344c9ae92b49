"""A live, readable log of LLM exchanges in the terminal, instead of mitmproxy's flow dump.

Failure policy: fails open; a line that cannot be printed is skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rich.console import Console as RichConsole
from rich.text import Text

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


def render(row: dict[str, Any]) -> Text:
    """One line: time, app, model, status, tokens in→out, TTFT, latency, verdict, path."""
    started = row.get("started_at") or ""
    try:
        clock = (
            datetime.fromisoformat(started.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
        )
    except ValueError:
        clock = "--:--:--"
    status = row.get("status")
    status_style = "green" if status and status < 400 else "red"
    tokens_in = (
        (row.get("input_tokens") or 0)
        + (row.get("cache_read_tokens") or 0)
        + (row.get("cache_write_tokens") or 0)
    )
    verdict = row.get("verdict") or "allow"
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{clock} ", style="dim")
    line.append(f"{(row.get('client_app') or 'unknown')[:18]:<18} ", style="bold")
    line.append(f"{(row.get('served_model') or row.get('requested_model') or '-')[:28]:<28} ")
    line.append(f"{status if status is not None else '---':>3} ", style=status_style)
    line.append(
        f"{human_tokens(tokens_in if row.get('input_tokens') is not None else None):>6}→"
        f"{human_tokens(row.get('output_tokens')):<6} ",
        style="cyan",
    )
    line.append(f"ttft {human_ms(row.get('ttft_ms')):>6} ", style="dim")
    line.append(f"{human_ms(row.get('latency_ms')):>6} ")
    line.append(f"{verdict:<9} ", style=VERDICT_STYLES.get(verdict, ""))
    line.append(f"{row.get('method', '')} {row.get('path', '')}", style="dim")
    if row.get("error"):
        line.append(f"  {row['error'][:120]}", style="red")
    return line


# mitmproxy's per-connection chatter (client connect, server disconnect, "Streaming response
# from ...") is what our one line per exchange replaces; its warnings and errors still show.
CONNECTION_LOGGER = "mitmproxy.proxy.server"


def drop_connection_chatter(record: logging.LogRecord) -> bool:
    return record.levelno > logging.INFO


class LogPrinter:
    """Prints the log lines; runs in the recorder process (addons/worker.py), which shares the
    proxy's terminal, so that rendering them costs the proxy nothing."""

    def __init__(self) -> None:
        self.console = RichConsole(highlight=False, soft_wrap=False)

    def print(self, row: dict[str, Any]) -> None:
        # A terminal gets one cropped line per exchange; a pipe or file gets it whole.
        self.console.print(render(row), soft_wrap=not self.console.is_terminal)


class Console:
    """In the proxy: keeps mitmproxy's own per-connection chatter out of the log."""

    def __init__(self, suite) -> None:
        self.suite = suite

    def running(self) -> None:
        if not self.suite.quiet:
            logging.getLogger(CONNECTION_LOGGER).addFilter(drop_connection_chatter)

    def done(self) -> None:
        logging.getLogger(CONNECTION_LOGGER).removeFilter(drop_connection_chatter)
