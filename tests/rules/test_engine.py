import copy
import dataclasses
import logging

import pytest

from addons.wire.model import TEXT, Block
from rules.base import (
    BLOCK,
    PHASE_ORDER,
    REWRITE,
    HistoryItem,
    Phase,
    RuleResult,
    RuleSpec,
    Verdict,
    enabled_option,
    options_schema,
)
from rules.engine import Engine, Timings, combine
from rules.registry import RULES
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    GREP,
    READ,
    TODO,
    call,
    context,
    loop,
    request,
    response,
    result,
    user,
)

LS = {"command": "ls"}


class FakeHistory:
    def __init__(self, items):
        self.items = items

    def prior_requests(self, conversation_id):
        return self.items


def spy(rule_id, phase, log, *, kind=None, change=False, raises=False, returns=None):
    """A rule that records that it ran and optionally says something."""

    def apply(*args):
        log.append(rule_id)
        if raises:
            raise RuntimeError(f"{rule_id} exploded")
        if returns is not None:
            return returns
        if kind is None:
            return None
        request = args[0]
        new = dataclasses.replace(request, model=f"{request.model}+{rule_id}") if change else None
        return RuleResult(Verdict(kind, rule_id, f"{rule_id} says {kind}", {}, phase), request=new)

    return RuleSpec(rule_id, phase, options_schema({"enabled": enabled_option(True)}), apply)


# -- phase order and combination --------------------------------------------------------------


def test_phases_run_in_their_fixed_order():
    ran: list[str] = []
    rules = [
        spy("t1", Phase.TRANSFORM, ran),
        spy("t2", Phase.TRANSFORM, ran),
        spy("p1", Phase.PREFLIGHT, ran),
        spy("f1", Phase.POSTFLIGHT, ran),
        spy("f2", Phase.POSTFLIGHT, ran),
    ]
    engine = Engine({}, rules)
    req = request("openai_chat", [user("hi")])
    engine.preflight(req, context("openai_chat"))
    assert ran == ["t1", "t2", "p1"]
    engine.postflight(req, response("openai_chat", []), context("openai_chat"))
    assert ran == ["t1", "t2", "p1", "f1", "f2"]
    assert [str(p) for p in PHASE_ORDER] == ["transform", "preflight", "postflight"]


def test_disabled_rules_do_not_run():
    ran: list[str] = []
    engine = Engine(
        {"t1": {"enabled": False}},
        [spy("t1", Phase.TRANSFORM, ran), spy("p1", Phase.PREFLIGHT, ran)],
    )
    engine.preflight(request("ollama", [user("hi")]), context("ollama"))
    assert ran == ["p1"]
    assert not engine.enabled("t1") and engine.enabled("p1")


@pytest.mark.parametrize(
    "payload, expected",
    [
        (([], False), "allow"),
        ((["allow"], False), "allow"),
        ((["warn"], False), "warn"),
        ((["warn", "allow"], True), "rewrite"),  # a transform changed the request
        ((["rewrite", "warn"], False), "rewrite"),
        ((["rewrite", "intercept", "warn"], False), "intercept"),
        ((["intercept", "block"], False), "block"),
        ((["block", "rewrite"], True), "block"),
    ],
)
def test_combine(payload, expected):
    kinds, transformed = payload
    verdicts = [Verdict(k, f"r{i}", "", {}, Phase.TRANSFORM) for i, k in enumerate(kinds)]
    assert combine(verdicts, transformed) == expected


@pytest.mark.parametrize(
    "payload, expected",
    [
        # (kind, changes the request) per rule: t1 t2 (transforms), p1 (pre-flight)
        (((None, False), (None, False), (None, False)), ("allow", [], ["t1", "t2", "p1"])),
        (
            (("rewrite", True), ("warn", False), (None, False)),
            ("rewrite", ["t1", "t2"], ["t1", "t2", "p1"]),
        ),
        # a transform that changed the request with only a warn still makes it a rewrite
        ((("warn", True), (None, False), (None, False)), ("rewrite", ["t1"], ["t1", "t2", "p1"])),
        # a pre-flight note with a warn stays a warn (loop_detector's nudge)
        (((None, False), (None, False), ("warn", True)), ("warn", ["p1"], ["t1", "t2", "p1"])),
        # a block stops the pipeline at once
        ((("block", False), ("rewrite", True), (None, False)), ("block", ["t1"], ["t1"])),
        (
            (("rewrite", True), (None, False), ("block", False)),
            ("block", ["t1", "p1"], ["t1", "t2", "p1"]),
        ),
        ((("intercept", False), (None, False), (None, False)), ("intercept", ["t1"], ["t1"])),
    ],
)
def test_preflight_outcome(payload, expected):
    ran: list[str] = []
    ids = [("t1", Phase.TRANSFORM), ("t2", Phase.TRANSFORM), ("p1", Phase.PREFLIGHT)]
    rules = [
        spy(i, ph, ran, kind=k, change=c) for (i, ph), (k, c) in zip(ids, payload, strict=True)
    ]
    out = Engine({}, rules).preflight(
        request("anthropic", [user("hi")], model="m"), context("anthropic")
    )
    verdict, recorded, run = expected
    assert out.verdict == verdict
    assert [v.rule_id for v in out.verdicts] == recorded
    assert ran == run


# -- the real rules together ---------------------------------------------------------------


def test_several_transforms_are_all_recorded():
    doc = {
        "model_router": {"enabled": True, "aliases": {"gpt-4o": "qwen2.5-coder:32b"}},
        "ollama_options": {"enabled": True, "per_model": {"qwen2.5-coder:32b": {"num_ctx": 8192}}},
        "tool_pruner": {"enabled": True},
        "context_overflow_guard": {"enabled": True, "assumed_default_num_ctx": 256},
    }
    history = FakeHistory([HistoryItem(["Bash", "Read", "Grep", "TodoWrite"], ["Bash"])] * 3)
    req = request(
        "ollama", [user("Clean the build. " * 2000)], model="gpt-4o", tools=[BASH, READ, GREP, TODO]
    )
    out = Engine(doc).preflight(req, context("ollama", history=history))
    assert [(v.rule_id, v.verdict) for v in out.verdicts] == [
        ("model_router", "rewrite"),
        ("ollama_options", "rewrite"),  # saw the routed model
        ("tool_pruner", "rewrite"),
        ("context_overflow_guard", "warn"),  # saw num_ctx 8192 set by ollama_options
    ]
    assert out.verdict == "rewrite"
    assert out.request.model == "qwen2.5-coder:32b"
    assert out.request.params["options"] == {"num_ctx": 8192}
    assert [t.name for t in out.request.tools] == ["Bash"]
    assert out.verdicts[3].details["num_ctx"] == 8192
    gate = out.gate
    assert gate.rule_id == "model_router+ollama_options+tool_pruner+context_overflow_guard"
    assert gate.reason.startswith(
        "gpt-4o → qwen2.5-coder:32b (via alias); options set: num_ctx=8192; pruned 3 of 4"
    )
    assert set(gate.details) == {
        "model_router",
        "ollama_options",
        "tool_pruner",
        "context_overflow_guard",
    }
    assert out.status is None


def test_a_changed_upstream_reaches_later_rules():
    doc = {
        "model_router": {
            "enabled": True,
            "rules": [{"if": {}, "then": "claude-sonnet-4-5", "upstream": "anthropic"}],
        },
        "ollama_options": {"enabled": True, "defaults": {"num_ctx": 8192}},
    }
    out = Engine(doc).preflight(request("openai_chat", [user("hi")]), context("openai_chat"))
    # ollama_options sees the anthropic upstream and stays out; an OpenAI client routed to
    # Claude is bridged to Anthropic Messages.
    assert [v.rule_id for v in out.verdicts] == ["model_router", "protocol_bridge"]
    assert out.context.upstream == "anthropic"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        (3, ("warn", None, True)),  # nudged: forwarded as warn with the note (§13.25)
        (4, ("block", 400, False)),  # §13.24
        (2, ("allow", None, False)),
    ],
)
def test_loop_detector_through_the_engine(dialect, payload, expected):
    req = request(dialect, [user("go"), *loop("Bash", LS, payload)], tools=[BASH])
    out = Engine().preflight(req, context(dialect))
    verdict, status, noted = expected
    assert out.verdict == verdict and out.status == status
    assert (out.request is not req) is noted
    if verdict == "block":
        assert out.gate.rule_id == "loop_detector"


def test_a_block_answers_with_its_own_status():
    doc = {
        "context_overflow_guard": {
            "enabled": True,
            "action": "block",
            "assumed_default_num_ctx": 64,
        }
    }
    out = Engine(doc).preflight(request("ollama", [user("x" * 2000)]), context("ollama"))
    assert (out.verdict, out.status, out.gate.rule_id) == ("block", 413, "context_overflow_guard")


def test_a_block_stops_the_remaining_rules():
    doc = {"tool_failure_breaker": {"enabled": True}}
    req = request(
        "openai_chat", [user("go"), *loop("Bash", LS, 4, output="Error: no")], tools=[BASH]
    )
    engine = Engine(doc)
    out = engine.preflight(req, context("openai_chat"))
    assert [v.rule_id for v in out.verdicts] == ["loop_detector"]
    assert engine.stats["tool_failure_breaker"].runs == 0


def test_postflight_repairs_then_validates():
    doc = {
        "tool_args_autofix": {"enabled": True, "defaults": {"Grep": {"output_mode": "count"}}},
        "schema_validator": {"enabled": True},
        "hallucinated_tool": {"enabled": True},
    }
    engine = Engine(doc)
    req = request("anthropic", [user("x")], tools=[BASH, GREP])
    ctx = context("anthropic")

    fixed_only = engine.postflight(
        req, response("anthropic", [call("Grep", {"pattern": "a"})]), ctx
    )
    assert fixed_only.verdict == "rewrite"
    assert fixed_only.response.tool_calls[0].arguments == '{"pattern":"a","output_mode":"count"}'

    resp = response(
        "anthropic", [call("Grep", {"pattern": "a"}), call("Bash", {}), call("Zap", {})]
    )
    out = engine.postflight(req, resp, ctx)
    assert [(v.rule_id, v.verdict) for v in out.verdicts] == [
        ("tool_args_autofix", "rewrite"),
        ("schema_validator", "intercept"),
        ("hallucinated_tool", "intercept"),
    ]
    assert out.verdict == "intercept"
    assert out.gate.rule_id == "schema_validator"  # as the reference: invalid args name the gate
    assert out.response.text.splitlines()[1:3] == [
        "- Bash: missing required field 'command'.",
        "- Zap: tool not declared in this request's tools[]. Pick a valid tool.",
    ]

    clean = engine.postflight(req, response("anthropic", [], text="All done."), ctx)
    assert clean.verdict == "allow" and clean.response.text == "All done." and clean.verdicts == []


@pytest.mark.parametrize(
    "payload, expected",
    [
        (({}, True), False),  # no post-flight rule on by default
        (({"schema_validator": {"enabled": True}}, True), True),
        (({"schema_validator": {"enabled": True}}, False), False),  # nothing to validate
        (({"hallucinated_tool": {"enabled": True}}, True), True),
        (({"tool_args_autofix": {"enabled": True}}, True), True),
        (({"loop_detector": {"enabled": True}, "model_router": {"enabled": True}}, True), False),
    ],
)
def test_needs_whole_stream(payload, expected):
    doc, tools = payload
    req = request("openai_chat", [user("x")], tools=[BASH] if tools else None, stream=True)
    assert Engine(doc).needs_whole_stream(req) is expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({}, False),
        ({"model_router": {"enabled": True, "aliases": {"a": "b"}}}, False),
        (
            {
                "model_router": {
                    "enabled": True,
                    "rules": [{"if": {"from_client_app": "x"}, "then": "y"}],
                }
            },
            True,
        ),
        (  # a condition of a rule that is off asks nothing
            {"ollama_options": {"rules": [{"if": {"from_client_app": "x"}, "set": {}}]}},
            False,
        ),
        (
            {
                "ollama_options": {
                    "enabled": True,
                    "rules": [{"if": {"from_client_app": ["x"]}, "set": {}}],
                }
            },
            True,
        ),
    ],
)
def test_asks_client_app_only_when_an_enabled_rule_has_that_condition(doc, expected):
    assert Engine(doc).asks_client_app is expected


# -- failures -------------------------------------------------------------------------------


def test_a_rule_that_raises_is_logged_counted_and_treated_as_allow(caplog):
    ran: list[str] = []
    rules = [
        spy("boom", Phase.TRANSFORM, ran, raises=True),
        spy("after", Phase.PREFLIGHT, ran, kind="warn"),
        spy("post_boom", Phase.POSTFLIGHT, ran, raises=True),
    ]
    engine = Engine({}, rules)
    req = request("openai_chat", [user("x")])
    with caplog.at_level(logging.ERROR, logger="rules.engine"):
        out = engine.preflight(req, context("openai_chat"))
        post = engine.postflight(
            req, resp := response("openai_chat", [], text="hi"), context("openai_chat")
        )
    assert ran == ["boom", "after", "post_boom"]
    assert out.verdict == "warn" and [v.rule_id for v in out.verdicts] == ["after"]
    assert out.request is req
    assert [(f.rule_id, f.error) for f in out.failures] == [
        ("boom", "RuntimeError('boom exploded')")
    ]
    assert post.verdict == "allow" and post.response is resp
    assert engine.stats["boom"].errors == 1 and engine.stats["boom"].runs == 1
    assert engine.stats["post_boom"].errors == 1
    assert engine.stats["after"].errors == 0
    assert "rule boom failed; treated as allow" in caplog.text
    assert "RuntimeError: boom exploded" in caplog.text


def test_a_rule_that_returns_nonsense_is_a_failure():
    rules = [spy("odd", Phase.PREFLIGHT, [], returns="block!")]
    engine = Engine({}, rules)
    out = engine.preflight(request("ollama", [user("x")]), context("ollama"))
    assert out.verdict == "allow" and out.failures[0].rule_id == "odd"
    assert engine.stats["odd"].errors == 1


def test_stats_time_rules_and_phases():
    engine = Engine({"schema_validator": {"enabled": True}})
    req = request("openai_chat", [user("go"), *loop("Bash", LS, 2)], tools=[BASH])
    for _ in range(20):
        engine.preflight(req, context("openai_chat"))
        engine.postflight(req, response("openai_chat", [call("Bash", LS)]), context("openai_chat"))
    summary = engine.stats.summary()
    loop_stats = summary["rules"]["loop_detector"]
    assert loop_stats["runs"] == 20 and loop_stats["errors"] == 0
    assert 0 < loop_stats["p50_ms"] <= loop_stats["p95_ms"] <= loop_stats["p99_ms"]
    assert summary["rules"]["model_router"]["runs"] == 0  # disabled
    assert summary["rules"]["model_router"]["p95_ms"] is None
    assert {p: s["runs"] for p, s in summary["phases"].items()} == {
        "transform": 20,
        "preflight": 20,
        "postflight": 20,
    }


@pytest.mark.parametrize(
    "payload, expected",
    [([1, 2, 3, 4], (2, 4, 4)), ([5], (5, 5, 5)), (list(range(1, 101)), (50, 95, 99))],
)
def test_percentiles(payload, expected):
    t = Timings()
    for ms in payload:
        t.add(ms / 1000)
    assert tuple(round(t.percentile(p)) for p in (50, 95, 99)) == expected


# -- nobody mutates what it is given ---------------------------------------------------------

EVERYTHING = {
    "model_router": {
        "enabled": True,
        "aliases": {"m": "routed"},
        "rules": [{"if": {}, "then": "routed2"}],
    },
    "protocol_bridge": {"enabled": True, "force": True},
    "ollama_options": {
        "enabled": True,
        "defaults": {"num_ctx": 2048, "temperature": 0.1, "keep_alive": "5m"},
        "num_ctx_max": 1024,
    },
    "tool_pruner": {"enabled": True, "min_turns_offered": 1, "min_history_turns": 1},
    "context_overflow_guard": {
        "enabled": True,
        "action": "trim",
        "assumed_default_num_ctx": 512,
        "min_keep_messages": 7,
    },
    "loop_detector": {"enabled": True},
    "tool_failure_breaker": {"enabled": True, "max_errors": 5},
    "tool_args_autofix": {"enabled": True, "defaults": {"*": {"output_mode": "count"}}},
    "schema_validator": {"enabled": True},
    "hallucinated_tool": {"enabled": True},
}


def _busy_request(dialect):
    parts = [
        user("Start " * 300),
        call("Read", {"file_path": "a"}),
        result("Error: missing", error=True),
    ]
    parts += [user("again " * 200), *loop("Bash", LS, 3)]
    return request(
        dialect, parts, model="m", tools=[BASH, READ, GREP, TODO], options={"num_ctx": 256}
    )


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_no_rule_mutates_its_input(dialect, rule):
    req = _busy_request(dialect)
    resp = response(dialect, [call("Grep", {"pattern": "x"}), call("Bash", {}), call("Nope", {})])
    history = FakeHistory([HistoryItem(["Bash", "Read", "Grep", "TodoWrite"], ["Bash"])] * 3)
    ctx = context(dialect, history=history, upstream="ollama")
    opts = {**rule.defaults, **EVERYTHING[rule.id]}
    before = copy.deepcopy((req, resp, ctx.client_ip, opts))
    if rule.phase == Phase.POSTFLIGHT:
        rule.apply(req, resp, opts, ctx)
    else:
        rule.apply(req, opts, ctx)
    assert (req, resp, ctx.client_ip, opts) == before


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_whole_pipeline_leaves_its_input_alone(dialect):
    engine = Engine(EVERYTHING)
    req = _busy_request(dialect)
    resp = response(dialect, [call("Grep", {"pattern": "x"}), call("Bash", {}), call("Nope", {})])
    history = FakeHistory([HistoryItem(["Bash", "Read", "Grep", "TodoWrite"], ["Bash"])] * 3)
    ctx = context(dialect, history=history, upstream="ollama")
    before = copy.deepcopy((req, resp))
    pre = engine.preflight(req, ctx)
    post = engine.postflight(pre.request, resp, pre.context)
    assert (req, resp) == before
    assert pre.failures == [] and post.failures == []
    assert pre.request is not req and post.response is not resp
    kinds = {v.rule_id: v.verdict for v in pre.verdicts}
    assert kinds["model_router"] == REWRITE and kinds["loop_detector"] == "warn"
    assert post.verdict == "intercept"
    assert BLOCK not in kinds.values()
    assert pre.request.system[-1].type == TEXT
    assert isinstance(pre.request.system[-1], Block)


@pytest.mark.parametrize(
    "doc, body, dialect, expected",
    [
        # Defaults: loop_detector needs two tool calls, protocol_bridge a crossing model.
        (
            {},
            b'{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}',
            "anthropic",
            False,
        ),
        ({}, b'{"model":"qwen3","messages":[]}', "anthropic", True),
        ({}, b'{"model":"claude-x","messages":[]}', "openai_chat", True),
        ({}, b'{"model":"gpt-5","messages":[]}', "openai_chat", False),
        # loop_detector's lowest threshold by default is 3 (the nudge): 2 calls cannot loop.
        (
            {},
            b'{"model":"claude-x","messages":[{"content":[{"type":"tool_use"}]},'
            b'{"content":[{"type":"tool_use"}]}]}',
            "anthropic",
            False,
        ),
        (
            {},
            b'{"model":"claude-x","messages":[{"content":[{"type":"tool_use"}]},'
            b'{"content":[{"type":"tool_use"}]},{"content":[{"type":"tool_use"}]}]}',
            "anthropic",
            True,
        ),
        (
            {"loop_detector": {"nudge_at": 0, "tail_consecutive": 2}},
            b'{"model":"m","messages":[{"tool_calls":[{"function":{"arguments":"{}"}},'
            b'{"function":{"arguments":"{}"}}]}]}',
            "openai_chat",
            True,
        ),
        # Only the dialect's own marker counts: OpenAI "arguments" are not Anthropic tool calls.
        (
            {},
            b'{"model":"claude-x","messages":[{"content":[{"type":"text","arguments":1},'
            b'{"type":"text","arguments":2},{"type":"text","arguments":3}]}]}',
            "anthropic",
            False,
        ),
        # Post-flight rules look only at requests that offer tools.
        (
            {
                "loop_detector": {"enabled": False},
                "protocol_bridge": {"enabled": False},
                "hallucinated_tool": {"enabled": True},
            },
            b'{"model":"m","tools":[]}',
            "ollama",
            True,
        ),
        (
            {
                "loop_detector": {"enabled": False},
                "protocol_bridge": {"enabled": False},
                "hallucinated_tool": {"enabled": True},
            },
            b'{"model":"m"}',
            "ollama",
            False,
        ),
        # A rule with no prefilter always wants the parsed request.
        ({"model_router": {"enabled": True}}, b'{"model":"m"}', "anthropic", True),
        (
            {"loop_detector": {"enabled": False}, "protocol_bridge": {"enabled": False}},
            b"{}",
            "anthropic",
            False,
        ),
    ],
)
def test_might_act_spares_the_parse_when_no_rule_can_act(doc, body, dialect, expected):
    engine = Engine(doc)
    assert engine.might_act(body, dialect) is expected
    assert bool(engine.candidates(body, dialect)) is expected  # what the proxy asks


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("times", [2, 3, 4, 5])
@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_prefilters_never_hide_what_the_rules_would_see(dialect, times, separators):
    import json

    from tests.rules.bodies import body

    doc = {
        "loop_detector": {"max_repeats": 2, "nudge_at": 0, "tail_consecutive": 2},
        "tool_failure_breaker": {"enabled": True, "max_errors": 2},
    }
    if times > 2:
        doc = {}  # the defaults: loop_detector alone, nudging from the 3rd repeat
    steps = [user("go"), *loop("Bash", LS, times, output="Error: failed to run")]
    data = body(dialect, steps, tools=[BASH])
    raw = json.dumps(data, separators=separators).encode()
    engine = Engine(doc)
    outcome = engine.preflight(request(dialect, steps, tools=[BASH]), context(dialect))
    assert outcome.verdicts, "the rules act on this conversation"
    assert engine.might_act(raw, dialect)


def test_only_the_candidates_run_until_a_rule_changes_the_request():
    """`candidates` names the rules whose prefilter passed on the raw body; `preflight` skips
    the others while they would see that body, and runs them once a transform changed it."""
    import json

    from tests.rules.bodies import body

    steps = [user("go"), *loop("Bash", LS, 3)]
    route = {"if": {"from_model": "claude-x"}, "then": "qwen3"}
    doc = {"model_router": {"enabled": True, "rules": [route]}}
    for model, bridged in (("claude-x", True), ("claude-y", False)):
        engine = Engine(doc)
        data = {**body("anthropic", steps, tools=[BASH]), "model": model}
        candidates = engine.candidates(json.dumps(data).encode(), "anthropic")
        assert candidates == {"model_router", "loop_detector"}  # a Claude model: no bridge
        req = dataclasses.replace(request("anthropic", steps, tools=[BASH]), model=model)
        outcome = engine.preflight(req, context("anthropic"), only=candidates)
        ran = [v.rule_id for v in outcome.verdicts]
        assert ("protocol_bridge" in ran) is bridged
        assert engine.stats["protocol_bridge"].runs == int(bridged)
        assert ran[-1] == "loop_detector"  # the nudge on the third identical call
        assert engine.candidates(b'{"model":"claude-x"}', "anthropic") == {"model_router"}
