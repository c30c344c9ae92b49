import json

import pytest

from addons.wire import errors


@pytest.mark.parametrize(
    "dialect, status, expected",
    [
        ("anthropic", 502, {"type": "error", "error": {"type": "api_error", "message": "m"}}),
        ("anthropic", 504, {"type": "error", "error": {"type": "timeout_error", "message": "m"}}),
        (
            "anthropic",
            413,
            {"type": "error", "error": {"type": "request_too_large", "message": "m"}},
        ),
        (
            "openai_chat",
            502,
            {"error": {"message": "m", "type": "server_error", "param": None, "code": None}},
        ),
        (
            "openai_responses",
            400,
            {
                "error": {
                    "message": "m",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            None,
            504,
            {"error": {"message": "m", "type": "server_error", "param": None, "code": None}},
        ),
        ("ollama", 502, {"error": "m"}),
        ("gemini", 504, {"error": {"code": 504, "message": "m", "status": "DEADLINE_EXCEEDED"}}),
    ],
)
def test_error_bodies_match_each_api(dialect, status, expected):
    assert json.loads(errors.error_body(dialect, status, "m")) == expected


@pytest.mark.parametrize(
    "dialect, prefix",
    [("anthropic", b"event: error\ndata: {"), ("openai_chat", b"data: {"), ("ollama", b'{"error"')],
)
def test_stream_error_events_use_the_stream_framing(dialect, prefix):
    event = errors.stream_error_event(dialect, 502, "cut")
    assert event.startswith(prefix)
    assert event.endswith(b"\n\n" if dialect != "ollama" else b"\n")
