import pytest

from rules import tool_pruner
from rules.base import HistoryItem, RuleContext
from rules.tool_pruner import apply, keep_floor
from tests.rules.bodies import DIALECTS, ToolDef, call, context, options, request, result, user

TOOLS = [
    ToolDef(f"tool_{i}", f"Tool number {i}.", {"type": "object", "properties": {}})
    for i in range(10)
]
NAMES = [t.name for t in TOOLS]


class FakeHistory:
    """An in-memory history view: conversation id → earlier requests."""

    def __init__(self, items: dict[str, list[HistoryItem]]) -> None:
        self.items = items
        self.asked: list[str] = []

    def prior_requests(self, conversation_id: str) -> list[HistoryItem]:
        self.asked.append(conversation_id)
        return self.items.get(conversation_id, [])


def turns(n, called=(), offered=NAMES):
    return [HistoryItem(list(offered), list(called) if i == 0 else []) for i in range(n)]


def ctx_with(dialect, history, **kw):
    return context(dialect, history=FakeHistory({"c0ffee0000000001": history}), **kw)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        # offered in 3 turns, never invoked, after ≥2 turns: pruned, but ≥ ceil(20 %) kept (§13.36)
        ((turns(3, called=["tool_0"]), {}), NAMES[1:9]),
        ((turns(3), {}), NAMES[:8]),
        # not enough history, or not offered often enough
        ((turns(1), {}), None),
        ((turns(2), {}), None),  # offered twice < min_turns_offered 3
        ((turns(2), {"min_turns_offered": 2}), NAMES[:8]),
        # always_keep and the ratio
        ((turns(3), {"always_keep": ["tool_0", "tool_1"]}), NAMES[2:10]),
        ((turns(3), {"max_prune_ratio": 0.5}), NAMES[:5]),
        ((turns(3), {"max_prune_ratio": 0.0}), None),
        # tools that a prior response called are kept
        ((turns(5, called=NAMES[:9]), {}), ["tool_9"]),
        ((turns(5, called=NAMES), {}), None),
    ],
)
def test_tool_pruner(dialect, payload, expected):
    history, overrides = payload
    req = request(dialect, [user("Refactor the parser.")], tools=TOOLS)
    out = apply(req, options(tool_pruner.RULE, **overrides), ctx_with(dialect, history))
    if expected is None:
        assert out is None
        return
    v = out.verdict
    assert (v.verdict, v.rule_id) == ("rewrite", "tool_pruner")
    assert v.details["pruned"] == expected
    left = [t.name for t in out.request.tools]
    assert left == [n for n in NAMES if n not in expected]
    hint = out.request.system[-1].text
    assert hint == (
        f"[AI Proxy] Pruned {len(expected)} tool(s) unused in this conversation: "
        f"{', '.join(expected)}. Re-request them if needed."
    )
    assert v.reason.startswith(
        f"pruned {len(expected)} of 10 tools never invoked in {len(history)} prior turns: "
    )
    assert len(req.tools) == 10  # input untouched


def test_warn_names_at_most_six():
    req = request("anthropic", [user("x")], tools=TOOLS)
    out = apply(req, options(tool_pruner.RULE, action="warn"), ctx_with("anthropic", turns(3)))
    assert out.verdict.verdict == "warn"
    assert out.verdict.reason == (
        "would prune 8 of 10 tools never invoked in 3 prior turns: "
        "tool_0, tool_1, tool_2, tool_3, tool_4, tool_5…"
    )
    assert out.request is None


def test_calls_in_the_current_request_and_tool_choice_are_kept():
    parts = [user("x"), call("tool_3", {}), result("fine")]
    req = request(
        "openai_chat",
        parts,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "tool_4"}},
    )
    out = apply(req, options(tool_pruner.RULE), ctx_with("openai_chat", turns(3)))
    assert "tool_3" not in out.verdict.details["pruned"]
    assert "tool_4" not in out.verdict.details["pruned"]


def test_no_hint_when_asked():
    req = request("ollama", [user("x")], tools=TOOLS)
    out = apply(req, options(tool_pruner.RULE, include_hint=False), ctx_with("ollama", turns(3)))
    assert out.request.system == req.system


@pytest.mark.parametrize(
    "payload, expected",
    [
        (RuleContext(), None),  # no conversation id, no history
        (RuleContext(conversation_id="c1"), None),  # a history that knows nothing
    ],
)
def test_needs_a_conversation(payload, expected):
    req = request("anthropic", [user("x")], tools=TOOLS)
    assert apply(req, options(tool_pruner.RULE), payload) is expected


@pytest.mark.parametrize(
    "payload, expected",
    [((10, 0.8), 2), ((24, 0.8), 5), ((5, 0.8), 1), ((10, 0.7), 3), ((3, 1.0), 1), ((7, 0.0), 7)],
)
def test_keep_floor(payload, expected):
    assert keep_floor(*payload) == expected
