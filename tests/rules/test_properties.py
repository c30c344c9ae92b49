"""Whatever the conversation, no rule fails and nothing it is given changes."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.base import HistoryItem
from rules.engine import Engine
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    GREP,
    READ,
    TODO,
    Call,
    Result,
    Say,
    User,
    context,
    request,
    response,
)

EVERY_RULE = {
    "model_router": {
        "enabled": True,
        "aliases": {"m": "n"},
        "rules": [{"if": {"prompt_chars_gt": 50, "has_tools": True}, "then": "big"}],
    },
    "ollama_options": {"enabled": True, "defaults": {"num_ctx": 1024}, "num_ctx_max": 4096},
    "tool_pruner": {"enabled": True, "min_turns_offered": 1, "min_history_turns": 0},
    "context_overflow_guard": {
        "enabled": True,
        "action": "trim",
        "assumed_default_num_ctx": 64,
        "min_keep_messages": 1,
    },
    "loop_detector": {"enabled": True, "nudge_at": 2, "max_repeats": 3},
    "tool_failure_breaker": {"enabled": True, "max_errors": 2},
    "tool_args_autofix": {"enabled": True, "defaults": {"*": {"pattern": "x", "todos": []}}},
    "schema_validator": {"enabled": True, "reject_unknown_fields": True},
    "hallucinated_tool": {"enabled": True},
}

NAMES = st.sampled_from(["Bash", "Read", "Grep", "TodoWrite", "ghost", ""])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
ARGS = st.one_of(
    st.dictionaries(st.sampled_from(["command", "file_path", "pattern", "todos", "x"]), VALUES),
    st.text(max_size=20),  # raw argument text (OpenAI); other dialects get it as a string value
)
TEXT = st.text(max_size=60)
STEP = st.one_of(
    st.builds(User, TEXT),
    st.builds(Say, TEXT),
    st.builds(Call, NAMES, ARGS),
    st.builds(Result, TEXT, st.booleans()),
)


def _args_for(dialect, args):
    return args if isinstance(args, dict) or dialect == "openai_chat" else {"raw": args}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dialect=st.sampled_from(DIALECTS),
    steps=st.lists(STEP, max_size=14),
    answer=st.lists(st.builds(Call, NAMES, ARGS), max_size=3),
    upstream=st.sampled_from(["anthropic", "ollama"]),
)
def test_every_rule_on_any_conversation(dialect, steps, answer, upstream):
    steps = [Call(s.name, _args_for(dialect, s.args)) if isinstance(s, Call) else s for s in steps]
    answer = [Call(c.name, _args_for(dialect, c.args)) for c in answer]
    req = request(dialect, steps, model="m", tools=[BASH, READ, GREP, TODO])
    resp = response(dialect, answer, text="ok")
    history = [HistoryItem(["Bash", "Read", "Grep", "TodoWrite"], ["Bash"])] * 2

    class History:
        def prior_requests(self, conversation_id):
            return history

    ctx = context(dialect, upstream=upstream, history=History())
    before = copy.deepcopy((req, resp))
    engine = Engine(EVERY_RULE)
    pre = engine.preflight(req, ctx)
    post = engine.postflight(pre.request, resp, pre.context)
    assert pre.failures == [] and post.failures == []
    assert (req, resp) == before
    assert post.verdict in ("allow", "warn", "rewrite", "intercept")
    if post.verdict == "intercept":
        assert [b.type for b in post.response.blocks] == ["text"]
        assert post.response.stop_reason == "end_turn"
