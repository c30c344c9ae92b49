import pytest

from rules import ollama_options
from rules.ollama_options import apply
from tests.rules.bodies import context, options, request, user

MODEL = "qwen2.5-coder:32b"


def run(dialect, opts, *, ctx=None, **body):
    req = request(dialect, [user("Write a haiku about SQLite.")], model=MODEL, **body)
    return req, apply(req, options(ollama_options.RULE, **opts), ctx or context(dialect))


@pytest.mark.parametrize(
    "payload, expected",
    [
        # native: options under `options`, keep_alive/format top-level (§13.34)
        (
            (
                {
                    "defaults": {
                        "num_ctx": 16384,
                        "temperature": 0.2,
                        "keep_alive": "30m",
                        "format": "json",
                    }
                },
                {},
            ),
            (
                {"num_ctx": 16384, "temperature": 0.2},
                {"keep_alive": "30m", "format": "json", "temperature": 0.2},
                "options set: num_ctx=16384, temperature=0.2, keep_alive=30m, format=json",
            ),
        ),
        # the client's own values are never overwritten
        (
            (
                {"defaults": {"num_ctx": 16384, "temperature": 0.2, "keep_alive": "30m"}},
                {"options": {"temperature": 0.9}, "keep_alive": "1m"},
            ),
            (
                {"temperature": 0.9, "num_ctx": 16384},
                {"keep_alive": "1m", "temperature": 0.9},
                "options set: num_ctx=16384",
            ),
        ),
        # layers, later wins: defaults ← per_model ← per_client ← first matching rule
        (
            (
                {
                    "defaults": {"num_ctx": 4096, "top_k": 20},
                    "per_model": {MODEL: {"num_ctx": 8192}},
                    "per_client": {"10.0.0.5": {"num_ctx": 32768, "seed": 7}},
                    "rules": [
                        {"if": {"from_model": "other"}, "set": {"seed": 1}},
                        {"if": {"prompt_chars_lt": 100}, "set": {"seed": 42}},
                        {"if": {}, "set": {"seed": 99}},
                    ],
                },
                {},
            ),
            ({"num_ctx": 32768, "top_k": 20, "seed": 42}, {"top_k": 20}, None),
        ),
        # nothing to apply: no verdict
        (({"defaults": {"temperature": 0.2}}, {"options": {"temperature": 0.5}}), None),
        (({}, {}), None),
    ],
)
def test_native(payload, expected):
    opts, body = payload
    req, out = run("ollama", opts, **body)
    if expected is None:
        assert out is None
        return
    options_after, params_subset, reason = expected
    assert out.request.params["options"] == options_after
    for key, value in params_subset.items():
        assert out.request.params[key] == value
    v = out.verdict
    assert (v.verdict, v.rule_id) == ("rewrite", "ollama_options")
    if reason:
        assert v.reason == reason
    assert req.params.get("options", {}) == body.get("options", {})  # input untouched


def test_sources_name_the_layers():
    opts = {
        "defaults": {"top_k": 20},
        "per_model": {MODEL: {"num_ctx": 8192}},
        "per_client": {"10.0.0.5": {"seed": 7}},
        "rules": [{"if": {}, "set": {"min_p": 0.05}}],
    }
    _, out = run("ollama", opts)
    assert out.verdict.details["sources"] == [
        "defaults",
        f"per_model:{MODEL}",
        "per_client:10.0.0.5",
        "rule",
    ]


def test_openai_dialect_goes_top_level():
    opts = {"defaults": {"temperature": 0.2, "top_k": 20, "num_ctx": 16384, "keep_alive": "5m"}}
    req, out = run("openai_chat", opts, top_p=0.9)
    assert out.request.params["temperature"] == 0.2
    assert out.request.extra["top_k"] == 20  # where the parser keeps a client's own top_k
    assert "num_ctx" not in out.request.extra and "keep_alive" not in out.request.extra
    assert out.verdict.details["ignored"] == ["num_ctx", "keep_alive"]
    assert out.verdict.reason == "options set: temperature=0.2, top_k=20"
    assert "temperature" not in req.params


def test_openai_dialect_keeps_client_values():
    _, out = run(
        "openai_chat", {"defaults": {"temperature": 0.2, "top_k": 5}}, temperature=1.0, top_k=40
    )
    assert out is None


@pytest.mark.parametrize(
    "payload, expected",
    [
        (("anthropic", "anthropic"), None),  # §13.35
        (("openai_chat", "anthropic"), None),
        (("openai_chat", "ollama"), "rewrite"),
        (("ollama", "ollama"), "rewrite"),
        (("openai_chat", "openrouter"), "rewrite"),
    ],
)
def test_not_for_anthropic(payload, expected):
    dialect, upstream = payload
    _, out = run(
        dialect, {"defaults": {"temperature": 0.2}}, ctx=context(dialect, upstream=upstream)
    )
    assert (out.verdict.verdict if out else None) == expected


@pytest.mark.parametrize(
    "payload, expected",
    [
        (("ollama", {"options": {"num_ctx": 262144}}), 65536),
        (("ollama", {"options": {"num_ctx": 8192}}), None),
        (("openai_chat", {"num_ctx": 262144}), 65536),
    ],
)
def test_num_ctx_max_caps_even_the_client(payload, expected):
    dialect, body = payload
    _, out = run(dialect, {"num_ctx_max": 65536}, **body)
    if expected is None:
        assert out is None
        return
    got = (
        out.request.params["options"]["num_ctx"]
        if dialect == "ollama"
        else out.request.extra["num_ctx"]
    )
    assert got == expected
    assert out.verdict.details["clamped"] == {"from": 262144, "to": 65536}
    assert out.verdict.reason == "num_ctx clamped 262144 → 65536"
