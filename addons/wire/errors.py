"""Errors the proxy itself answers with, in the shape each client's SDK expects.

A client that asked Anthropic must get Anthropic's error envelope, an OpenAI client OpenAI's error
object, an Ollama client `{"error": "..."}`; otherwise its SDK shows a parse failure instead of the
reason. Streams that already started get a final error event in their own framing.
"""

from __future__ import annotations

import json

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def family(dialect: str | None) -> str:
    """Which error shape a dialect's clients read: anthropic, openai, ollama or gemini."""
    if dialect in ("anthropic", "ollama", "gemini"):
        return dialect
    return "openai"


def error_object(dialect: str | None, status: int, message: str, code: str | None = None) -> dict:
    match family(dialect):
        case "anthropic":
            kind = ANTHROPIC_TYPES.get(
                status, "api_error" if status >= 500 else "invalid_request_error"
            )
            return {"type": "error", "error": {"type": kind, "message": message}}
        case "ollama":
            return {"error": message}
        case "gemini":
            return {
                "error": {
                    "code": status,
                    "message": message,
                    "status": GEMINI_STATUS.get(status, "INTERNAL"),
                }
            }
        case _:
            kind = OPENAI_TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
            return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_body(dialect: str | None, status: int, message: str, code: str | None = None) -> bytes:
    return json.dumps(error_object(dialect, status, message, code)).encode()


def stream_error_event(
    dialect: str | None, status: int, message: str, code: str | None = None
) -> bytes:
    """A last event for a stream that was cut: parseable by the client's stream reader."""
    body = json.dumps(error_object(dialect, status, message, code))
    match family(dialect):
        case "anthropic":
            return f"event: error\ndata: {body}\n\n".encode()
        case "ollama":
            return f"{body}\n".encode()
        case _:
            return f"data: {body}\n\n".encode()
