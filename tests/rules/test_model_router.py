import pytest

from addons.wire.model import IMAGE, Block, Message
from rules import model_router
from rules.conditions import Matcher, prompt_chars
from rules.model_router import apply
from tests.rules.bodies import BASH, DIALECTS, call, context, options, request, result, user

ROUTE_SMALL = {"if": {"prompt_chars_lt": 500, "has_tools": False}, "then": "llama3.2:3b"}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        # alias first (§13.32)
        (
            ({"aliases": {"gpt-4": "qwen2.5-coder:32b"}}, "gpt-4", {}),
            ("qwen2.5-coder:32b", "alias"),
        ),
        (({"aliases": {"gpt-4": ""}}, "gpt-4", {}), None),  # empty target: nothing
        (({"aliases": {"gpt-4": "gpt-4"}}, "gpt-4", {}), None),  # same model: nothing
        # rules: the first that matches wins (§13.33)
        (({"rules": [ROUTE_SMALL]}, "claude-haiku-4-5", {}), ("llama3.2:3b", "rule")),
        (
            (
                {"rules": [{"if": {"from_model": "x"}, "then": "a"}, {"if": {}, "then": "b"}]},
                "m",
                {},
            ),
            ("b", "rule"),
        ),
        (({"rules": [{"if": {}, "then": "a"}, {"if": {}, "then": "b"}]}, "m", {}), ("a", "rule")),
        # rules see the aliased name
        (
            (
                {
                    "aliases": {"gpt-4": "big"},
                    "rules": [{"if": {"from_model": "big"}, "then": "small"}],
                },
                "gpt-4",
                {},
            ),
            ("small", "alias+rule"),
        ),
        (({"rules": [{"if": {"from_model": ["a", "m"]}, "then": "t"}]}, "m", {}), ("t", "rule")),
        (
            (
                {"rules": [{"if": {"from_model_prefix": "claude-"}, "then": "t"}]},
                "claude-opus-4",
                {},
            ),
            ("t", "rule"),
        ),
        (
            ({"rules": [{"if": {"from_model_prefix": "gpt-"}, "then": "t"}]}, "claude-opus-4", {}),
            None,
        ),
        # client conditions
        (({"rules": [{"if": {"from_client": "10.0.0.5"}, "then": "t"}]}, "m", {}), ("t", "rule")),
        (({"rules": [{"if": {"from_client": ["10.0.0.6"]}, "then": "t"}]}, "m", {}), None),
        (
            ({"rules": [{"if": {"from_client_prefix": "10.0."}, "then": "t"}]}, "m", {}),
            ("t", "rule"),
        ),
        (({"rules": [{"if": {"from_client_prefix": "192.168."}, "then": "t"}]}, "m", {}), None),
        (({"rules": [{"if": {"from_client_app": "cursor"}, "then": "t"}]}, "m", {}), None),
        (({"rules": [{"if": {"path_prefix": "/nowhere"}, "then": "t"}]}, "m", {}), None),
        # request conditions
        (({"rules": [{"if": {"has_tools": True}, "then": "t"}]}, "m", {}), None),
        (
            ({"rules": [{"if": {"has_tools": True}, "then": "t"}]}, "m", {"tools": True}),
            ("t", "rule"),
        ),
        (({"rules": [{"if": {"has_images": False}, "then": "t"}]}, "m", {}), ("t", "rule")),
        (({"rules": [{"if": {"prompt_chars_gt": 5}, "then": "t"}]}, "m", {}), ("t", "rule")),
        (({"rules": [{"if": {"prompt_chars_gt": 500}, "then": "t"}]}, "m", {}), None),
        # all conditions must hold
        (
            (
                {"rules": [{"if": {"from_model": "m", "from_client": "10.9.9.9"}, "then": "t"}]},
                "m",
                {},
            ),
            None,
        ),
    ],
)
def test_model_router(dialect, payload, expected):
    opts, model, flags = payload
    req = request(
        dialect,
        [user("Summarise this.")],
        model=model,
        tools=[BASH] if flags.get("tools") else None,
    )
    out = apply(req, options(model_router.RULE, **opts), context(dialect))
    if expected is None:
        assert out is None
        return
    to, via = expected
    v = out.verdict
    assert (v.verdict, v.rule_id, v.phase) == ("rewrite", "model_router", "transform")
    assert v.reason == f"{model} → {to} (via {via})"
    assert v.details["from"] == model and v.details["to"] == to and v.details["via"] == via
    assert out.request.model == to and req.model == model
    assert out.request.messages is req.messages


def test_path_prefix_and_app_use_the_context():
    req = request("openai_chat", [user("hi")], model="m")
    opts = options(
        model_router.RULE,
        rules=[
            {"if": {"path_prefix": "/v1/chat", "from_client_app": ["openai-python"]}, "then": "t"}
        ],
    )
    out = apply(req, opts, context("openai_chat"))
    assert out.verdict.details["condition"] == {
        "path_prefix": "/v1/chat",
        "from_client_app": ["openai-python"],
    }
    assert out.verdict.details["rule_index"] == 0


def test_rule_may_change_upstream_only():
    req = request("openai_chat", [user("hi")], model="m")
    opts = options(model_router.RULE, rules=[{"if": {}, "upstream": "lmstudio"}])
    out = apply(req, opts, context("openai_chat"))
    assert out.request is None
    assert out.context.upstream == "lmstudio"
    assert out.verdict.reason == "m → m (via rule), upstream lmstudio"


def test_prompt_chars_count_message_text_and_tool_results_not_system():
    req = request(
        "anthropic",
        [user("abcd"), call("Bash", {"command": "a very long command"}), result("123")],
        system="a long system prompt that does not count",
    )
    assert prompt_chars(req) == 7


def test_has_images():
    req = request("openai_chat", [user("look")])
    req.messages.append(
        Message("user", [Block(IMAGE, data="iVBORw0KGgo=", media_type="image/png")])
    )
    assert Matcher(req, context("openai_chat")).matches({"has_images": True})
