import pytest

from rules import loop_detector
from rules.loop_detector import apply
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    READ,
    Calls,
    Result,
    call,
    context,
    loop,
    options,
    request,
    result,
    say,
    user,
)

LS = {"command": "ls -la", "description": "List files"}
LS_REORDERED = {"description": "List files", "command": "ls -la"}
TOOLS = [BASH, READ]


def steps(*parts):
    out = [user("Tidy up the repository, please.")]
    for p in parts:
        out.extend(p if isinstance(p, list) else [p])
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        # defaults: 2 identical pass, the 3rd is nudged, the 4th blocked (reference §13.24-25)
        ((steps(loop("Bash", LS, 2)), {}), None),
        (
            (steps(loop("Bash", LS, 3)), {}),
            {
                "verdict": "warn",
                "reason": "Tool call 'Bash' repeated 3× — nudged (blocks at 4)",
                "trigger": "tail_consecutive",
                "count": 3,
                "nudge": True,
            },
        ),
        (
            (steps(loop("Bash", LS, 4)), {}),
            {
                "verdict": "block",
                "reason": "Tool call 'Bash' repeated 4× since the last user message",
                "trigger": "tail_consecutive",
                "count": 4,
                "status": 400,
            },
        ),
        # key order does not make calls different
        ((steps(loop("Bash", LS, 3), loop("Bash", LS_REORDERED, 1)), {}), {"verdict": "block"}),
        # different arguments never trigger (§13.26)
        (
            (steps(*[loop("Bash", {"command": f"ls {i}"}, 1) for i in range(8)]), {}),
            None,
        ),
        # changing the arguments starts the run over; 3 scattered repeats are nudged
        (
            (
                steps(
                    loop("Bash", LS, 2), loop("Read", {"file_path": "a"}, 1), loop("Bash", LS, 1)
                ),
                {},
            ),
            {"verdict": "warn", "trigger": "count_in_window", "count": 3, "nudge": True},
        ),
        # a new user message restarts the window (§13.26)
        ((steps(loop("Bash", LS, 3), user("carry on"), loop("Bash", LS, 2)), {}), None),
        # ... and a loop the user interrupted gets a "do not resume" note
        (
            (steps(loop("Bash", LS, 4), user("continue")), {}),
            {
                "verdict": "warn",
                "reason": "loop on 'Bash' (4×) cleared by user intervention — note injected",
                "cleared": True,
            },
        ),
        # nudge_at 0: the reference's core rule, tail of 3 blocks
        (
            (steps(loop("Bash", LS, 3)), {"nudge_at": 0}),
            {"verdict": "block", "trigger": "tail_consecutive", "count": 3},
        ),
        (
            (
                steps(
                    loop("Bash", LS, 1),
                    loop("Read", {"file_path": "a"}, 1),
                    loop("Bash", LS, 1),
                    loop("Read", {"file_path": "b"}, 1),
                    loop("Bash", LS, 1),
                ),
                {"nudge_at": 0},
            ),
            None,
        ),
        (
            (
                steps(
                    *[
                        [*loop("Bash", LS, 1), *loop("Read", {"file_path": str(i)}, 1)]
                        for i in range(4)
                    ]
                ),
                {"nudge_at": 0},
            ),
            {"verdict": "block", "trigger": "count_in_window", "count": 4},
        ),
        # action warn reports instead of blocking
        ((steps(loop("Bash", LS, 4)), {"action": "warn"}), {"verdict": "warn", "count": 4}),
        # only the last `window` calls count
        ((steps(loop("Bash", LS, 5)), {"window": 3}), {"verdict": "warn", "count": 3}),
        # parallel calls in one assistant message count one by one
        (
            (steps(Calls((call("Bash", LS),) * 4), *[result("ok")] * 4), {}),
            {"verdict": "block", "count": 4},
        ),
        # a plain assistant reply does not interrupt a loop; no tool calls at all: nothing
        (
            (steps(loop("Bash", LS, 2), say("Let me check again."), loop("Bash", LS, 2)), {}),
            {"verdict": "block"},
        ),
        ((steps(say("Done.")), {}), None),
    ],
)
def test_loop_detector(dialect, payload, expected):
    parts, overrides = payload
    req = request(dialect, parts, tools=TOOLS)
    out = apply(req, options(loop_detector.RULE, **overrides), context(dialect))
    if expected is None:
        assert out is None
        return
    assert out is not None
    v = out.verdict
    assert (v.verdict, v.rule_id, v.phase) == (expected["verdict"], "loop_detector", "preflight")
    if "reason" in expected:
        assert v.reason == expected["reason"]
    for key in ("trigger", "count", "nudge", "cleared", "status"):
        if key in expected:
            assert v.details[key] == expected[key]
    assert v.details["tool_name"] == "Bash"
    if v.details.get("nudge") or v.details.get("cleared"):
        # the note travels in the system prompt of the request sent on
        assert out.request is not None
        assert out.request.system[-1].text == v.details["note"]
        assert v.details["soft_unblock"] is True
        assert out.request.messages is req.messages
    else:
        assert out.request is None


def test_nudge_note_names_the_tool_and_the_count():
    req = request("anthropic", steps(loop("Bash", LS, 3)), tools=TOOLS)
    out = apply(req, options(loop_detector.RULE), context("anthropic"))
    note = out.verdict.details["note"]
    assert note.startswith("[AI Proxy loop-detector] You have now called `Bash`")
    assert "3×" in note and "Do NOT issue that identical call again" in note
    assert "will be blocked" in note
    assert out.verdict.details["args_preview"] == '{"command":"ls -la","description":"List files"}'


def test_user_text_merged_into_results_message_restarts_the_window():
    # Claude Code merges what the user types into the message that carries the tool results
    parts = steps(loop("Bash", LS, 3), call("Bash", LS), Result("ok", with_user_text="stop that"))
    parts += loop("Bash", LS, 1)
    req = request("anthropic", parts, tools=TOOLS)
    out = apply(req, options(loop_detector.RULE), context("anthropic"))
    assert out is not None and out.verdict.details.get("cleared") is True


def test_system_reminder_riding_with_results_is_not_the_user():
    parts = steps(
        loop("Bash", LS, 3),
        call("Bash", LS),
        Result("ok", with_user_text="<system-reminder>todo list is empty</system-reminder>"),
    )
    req = request("anthropic", parts, tools=TOOLS)
    out = apply(req, options(loop_detector.RULE), context("anthropic"))
    assert out.verdict.verdict == "block"


@pytest.mark.parametrize(
    "payload, expected",
    [
        ('{"b": 1, "a": [1, 2]}', '{"a":[1,2],"b":1}'),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
        ("  not json  ", "not json"),
        ("", ""),
        (None, "null"),
        ({"x": "y" * 2000}, ('{"x":"' + "y" * 2000)[:1000]),
    ],
)
def test_canonical_args(payload, expected):
    from rules.common import canonical_args

    assert canonical_args(payload) == expected


def test_a_resent_history_encodes_each_call_once(monkeypatch):
    """The same Block objects on the next turn (as `PrefixMemo` hands them back) reuse their
    signatures; a call parsed anew is encoded again; the verdicts are those of a fresh run."""
    encoded = []
    real = loop_detector.canonical_args
    monkeypatch.setattr(
        loop_detector, "canonical_args", lambda args: encoded.append(args) or real(args)
    )
    first = request("anthropic", steps(loop("Bash", LS, 2)), tools=TOOLS)
    assert apply(first, options(loop_detector.RULE), context("anthropic")) is None
    assert len(encoded) == 2
    grown = request("anthropic", steps(loop("Bash", LS, 3)), tools=TOOLS)
    grown.messages[: len(first.messages)] = first.messages  # the turn before, as shared objects
    out = apply(grown, options(loop_detector.RULE), context("anthropic"))
    assert out.verdict.details["count"] == 3 and out.verdict.details["nudge"]
    assert len(encoded) == 3  # only the new call
    reordered = request("anthropic", steps(loop("Bash", LS_REORDERED, 3)), tools=TOOLS)
    out = apply(reordered, options(loop_detector.RULE), context("anthropic"))
    assert out.verdict.details["count"] == 3 and len(encoded) == 6
