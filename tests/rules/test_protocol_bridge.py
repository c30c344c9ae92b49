import pytest

from rules import protocol_bridge
from rules.base import RuleContext
from tests.rules.bodies import request, user

DEFAULTS = protocol_bridge.RULE.defaults


def ctx(dialect: str, path: str, upstream: str) -> RuleContext:
    return RuleContext(dialect=dialect, path=path, upstream=upstream)


@pytest.mark.parametrize(
    "dialect, path, model, options, expected",
    [
        # Anthropic clients: non-Claude models go to the OpenAI-compatible upstream.
        (
            "anthropic",
            "/v1/messages?beta=true",
            "qwen3-coder:30b",
            {},
            ("anthropic_to_openai", "ollama", "/v1/chat/completions"),
        ),
        ("anthropic", "/v1/messages", "claude-opus-4-8", {}, None),
        (
            "anthropic",
            "/v1/messages",
            "claude-opus-4-8",
            {"force": True},
            ("anthropic_to_openai", "ollama", "/v1/chat/completions"),
        ),
        (
            "anthropic",
            "/v1/messages",
            "llama3",
            {"upstream": "openai", "path": "/api/v1/chat"},
            ("anthropic_to_openai", "openai", "/api/v1/chat"),
        ),
        (
            "anthropic",
            "/v1/messages/count_tokens",
            "qwen3",
            {},
            ("anthropic_to_openai", "ollama", None),
        ),
        # OpenAI clients: Claude models go to Anthropic.
        (
            "openai_chat",
            "/v1/chat/completions",
            "claude-sonnet-4-5",
            {},
            ("openai_to_anthropic", "anthropic", "/v1/messages"),
        ),
        (
            "openai_chat",
            "/api/v1/chat/completions",
            "anthropic/claude-3",
            {},
            ("openai_to_anthropic", "anthropic", "/v1/messages"),
        ),
        ("openai_chat", "/v1/chat/completions", "claude-sonnet-4-5", {"reverse": False}, None),
        ("openai_chat", "/v1/chat/completions", "gpt-5", {}, None),
        # Other dialects and paths are never bridged.
        ("ollama", "/api/chat", "claude-x", {}, None),
        ("openai_chat", "/v1/embeddings", "claude-x", {}, None),
    ],
)
def test_bridge_decisions(dialect, path, model, options, expected):
    req = request(dialect, [user("hi")], model=model)
    result = protocol_bridge.apply(req, {**DEFAULTS, **options}, ctx(dialect, path, "x"))
    if expected is None:
        assert result is None
        return
    direction, upstream, target_path = expected
    details = result.verdict.details
    assert (details["direction"], details["upstream"], details["path"]) == expected
    assert result.context.upstream == upstream
    assert result.verdict.verdict == "rewrite" and result.request is None
    assert details["model"] == model
