from addons.console import human_ms, human_tokens, render


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
    text = render(row).plain
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
    text = render({"status": None, "error": "upstream anthropic failed: refused"}).plain
    assert "---" in text and "refused" in text and "unknown" in text


def test_humanisers():
    assert (
        human_tokens(None) == "-" and human_tokens(999) == "999" and human_tokens(12345) == "12.3k"
    )
    assert human_ms(None) == "-" and human_ms(12.4) == "12ms" and human_ms(1500) == "1.5s"
