import io
import re
import time

from addons import console
from addons.console import LogPrinter, crop, human_ms, human_tokens, local_clock, spans


def plain(row: dict) -> str:
    return "".join(text for text, _ in spans(row))


def test_line_shows_app_model_status_tokens_timings_and_verdict():
    row = {
        "started_at": "2026-11-21T10:00:00.000Z",
        "client_app": "claude-code",
        "requested_model": "claude-opus-4-8",
        "served_model": "claude-opus-4-8-20261101",
        "status": 200,
        "input_tokens": 12,
        "cache_read_tokens": 30000,
        "output_tokens": 340,
        "ttft_ms": 420.0,
        "latency_ms": 2300.0,
        "verdict": "allow",
        "method": "POST",
        "path": "/v1/messages?beta=true",
    }
    text = plain(row)
    for part in (
        "claude-code",
        "claude-opus-4-8-20261101",
        "200",
        "30.0k→340",
        "420ms",
        "2.3s",
        "allow",
        "POST /v1/messages",
    ):
        assert part in text


def test_errors_and_missing_values_still_render():
    text = plain({"status": None, "error": "upstream anthropic failed: refused"})
    assert "---" in text and "refused" in text and "unknown" in text


def test_humanisers():
    assert (
        human_tokens(None) == "-" and human_tokens(999) == "999" and human_tokens(12345) == "12.3k"
    )
    assert human_ms(None) == "-" and human_ms(12.4) == "12ms" and human_ms(1500) == "1.5s"


ROW = {
    "started_at": "2026-11-21T10:00:00.000Z",
    "client_app": "claude-code",
    "served_model": "claude-opus-4-8",
    "status": 200,
    "input_tokens": 300,
    "output_tokens": 40,
    "latency_ms": 1200.0,
    "verdict": "block",
    "method": "POST",
    "path": "/v1/messages",
}


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_the_whole_line_without_colour_codes():
    out = io.StringIO()
    LogPrinter(file=out).print(ROW)
    assert out.getvalue() == plain(ROW) + "\n"
    assert "\x1b[" not in out.getvalue()


def test_a_terminal_gets_one_coloured_line_cropped_to_its_width(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setenv("TERM", "xterm-256color")
    out = FakeTerminal()
    LogPrinter(file=out).print(ROW)
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert "\x1b[1;31m" not in line  # the verdict (bold red) is past the edge
    assert "\x1b[32m200 \x1b[0m" in line  # the status, green
    visible = re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip("\n")
    assert len(visible) == 70 and visible.endswith("…")
    assert visible[:-1] == plain(ROW)[:69]


def test_crop_keeps_what_fits():
    line = [("abc", "bold"), ("defg", "")]
    assert crop(line, 10) == line
    assert crop(line, 7) == line
    assert crop(line, 6) == [("abc", "bold"), ("de…", "")]
    assert crop(line, 4) == [("abc…", "bold")]
    assert crop(line, 3) == [("ab…", "bold")]
    assert crop(line, 1) == [("…", "bold")]


def test_the_clock_is_local_time_and_follows_each_second(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30: a clock in UTC would show 10:00:00
    time.tzset()
    monkeypatch.setattr(console, "_CLOCK", (None, ""))  # what earlier lines in UTC left
    try:
        stamps = [
            "2026-11-21T10:00:00.100Z",
            "2026-11-21T10:00:00.900Z",
            "2026-11-21T10:00:01.000Z",
            "2026-11-21T10:00:00+02:00",  # not our format: never taken for a cached second
            "not a time",
        ]
        assert [local_clock(s) for s in stamps] == [
            "15:30:00",
            "15:30:00",
            "15:30:01",
            "13:30:00",
            "--:--:--",
        ]
        assert plain({"started_at": stamps[2]}).startswith("15:30:01 ")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
