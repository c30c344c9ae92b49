import dataclasses
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from addons import wire
from addons.wire.loader import BodyLoader
from rules import loop_detector
from rules.common import IdentityMemo
from rules.loop_detector import apply
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    PATHS,
    READ,
    Calls,
    Result,
    body,
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


# -- the prefilter on an agent's turns -------------------------------------------------------

PADDING = "You are a careful coding agent. " * 700  # a Claude Code-sized system prompt (22 KB)
ARGS = [LS, LS, LS_REORDERED, {"command": "pytest"}]

answered = st.builds(
    lambda calls, out: [Calls(calls), out],
    st.lists(
        st.builds(call, st.sampled_from(["Bash", "Read"]), st.sampled_from(ARGS)),
        min_size=1,
        max_size=2,
    ).map(tuple),
    st.sampled_from(
        [
            Result("ok"),
            Result("ok"),
            Result("ok"),
            Result("ok", with_user_text="stop that"),
            Result("ok", with_user_text="<system-reminder>todo</system-reminder>"),
        ]
    ),
)
other = st.sampled_from(
    [[user("carry on")], [user("<command-name>/clear</command-name>")], [say("Looking.")]]
)
step = st.one_of(answered, answered, answered, other)
settings_ = st.sampled_from(
    [{}, {"nudge_at": 0}, {"window": 3}, {"max_repeats": 2, "tail_consecutive": 2}]
)


def responses_item(message: dict) -> list[dict]:
    """An OpenAI Chat message as the Responses API's input items (as Codex sends them)."""
    role = message["role"]
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message["tool_call_id"],
                "output": message["content"],
            }
        ]
    items = []
    if role != "assistant":
        items.append({"role": role, "content": message["content"]})
    elif message.get("content"):
        text = {"type": "output_text", "text": message["content"]}
        items.append({"type": "message", "role": "assistant", "content": [text]})
    for c in message.get("tool_calls") or ():
        fn = c["function"]
        items.append(
            {
                "type": "function_call",
                "call_id": c["id"],
                "name": fn["name"],
                "arguments": fn["arguments"],
            }
        )
    return items


def gemini_body(data: dict) -> dict:
    """An OpenAI Chat body as Gemini's (as Gemini CLI sends it): `contents` of the user's and
    the model's turns, the calls' results as the user's `functionResponse` parts."""
    system, *messages = data["messages"]
    names = {}
    contents = []
    for m in messages:
        if m["role"] == "tool":
            result = {"name": names[m["tool_call_id"]], "response": {"output": m["content"]}}
            contents.append({"role": "user", "parts": [{"functionResponse": result}]})
            continue
        parts = [{"text": m["content"]}] if m.get("content") else []
        for c in m.get("tool_calls") or ():
            names[c["id"]] = c["function"]["name"]
            args = json.loads(c["function"]["arguments"])
            parts.append({"functionCall": {"name": c["function"]["name"], "args": args}})
        contents.append({"role": "model" if m["role"] == "assistant" else "user", "parts": parts})
    declarations = [t["function"] for t in data["tools"]]
    return {
        "contents": contents,
        "systemInstruction": {"parts": [{"text": system["content"]}]},
        "tools": [{"functionDeclarations": declarations}],
    }


def turn_bodies(steps: list, dialect: str = "anthropic") -> list[bytes]:
    """The body an agent sends after each step, compact JSON; as Claude Code writes it, with
    the cache marker on the last message only (so it moves every turn); as Codex writes it,
    OpenAI Responses' input items; as Gemini CLI writes it, Gemini's contents."""
    out = []
    for n in range(1, len(steps) + 1):
        if dialect in ("openai_responses", "gemini"):
            data = body("openai_chat", steps[:n], tools=TOOLS, system=PADDING)
            if dialect == "gemini":
                data = gemini_body(data)
            else:
                messages = data.pop("messages")
                data["input"] = [item for m in messages for item in responses_item(m)]
            out.append(json.dumps(data, separators=(",", ":")).encode())
            continue
        data = body(dialect, steps[:n], tools=TOOLS, system=PADDING)
        last = data["messages"][-1]
        if dialect == "anthropic":
            if isinstance(last["content"], str):
                last["content"] = [{"type": "text", "text": last["content"]}]
            last["content"][-1] = {**last["content"][-1], "cache_control": {"type": "ephemeral"}}
        out.append(json.dumps(data, separators=(",", ":")).encode())
    return out


MORE_PATHS = {
    "openai_responses": "/v1/responses",
    "gemini": "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
}


def acts_on(raw: bytes, dialect: str, opts: dict) -> bool:
    """Whether the rule, run on the request parsed from `raw`, acts."""
    path = PATHS.get(dialect) or MORE_PATHS[dialect]
    ctx = context(dialect) if dialect in PATHS else context("openai_chat", path=path)
    ctx = dataclasses.replace(ctx, dialect=dialect)
    return apply(wire.parse_request(dialect, raw, path), opts, ctx) is not None


@example(  # the loop the user stopped is the conversation's first message
    [Calls((call("Bash", LS), call("Bash", LS))), Result("ok", with_user_text="stop that")],
    {"max_repeats": 2, "tail_consecutive": 2},
    False,
)
@settings(max_examples=100, deadline=None)
@given(st.lists(step, min_size=1, max_size=16).map(lambda s: sum(s, [])), settings_, st.booleans())
@pytest.mark.parametrize("dialect", [*DIALECTS, *MORE_PATHS])
def test_the_prefilter_passes_a_turn_exactly_when_the_rule_acts(dialect, steps, overrides, asked):
    """Turn after turn (each body extending the one before, so the prefilter reads only the
    new messages), the prefilter says "may act" exactly when the rule, run on the parsed
    request, acts; the bodies are large enough for the loader, as an agent's are, and
    OpenAI's and Ollama's start with a system message the parser takes out of the list
    (Responses' calls are items of their own, merged into one assistant message; Gemini's
    results are the user's turns)."""
    opts = options(loop_detector.RULE, **overrides)
    first = [user("Tidy up the repository, please.")] if asked else []  # or calls come first
    for raw in turn_bodies([*first, *steps], dialect):
        assert loop_detector.prefilter(raw, opts, dialect) is acts_on(raw, dialect, opts)


@pytest.mark.parametrize(
    "dialect, first, then",
    [("anthropic", 6, 2), ("openai_chat", 7, 1), ("openai_responses", 7, 1), ("gemini", 6, 1)],
)
def test_the_prefilter_parses_only_a_turns_new_messages(monkeypatch, dialect, first, then):
    """The first body past the count of calls is read whole; after it, each turn's new
    message (and for Anthropic the one the cache marker left, whose text changed)."""
    monkeypatch.setattr(wire, "LOADER", BodyLoader())  # nothing remembered from other tests
    monkeypatch.setattr(loop_detector, "_SEEN", IdentityMemo(256))
    parsed = []
    key, parse = loop_detector._PARSERS[dialect]
    counting = (key, lambda m: parsed.append(m) or parse(m))
    monkeypatch.setitem(loop_detector._PARSERS, dialect, counting)
    steps = [user("go"), *loop("Bash", LS, 2), *loop("Read", {"path": "a.py"}, 6)]
    opts = options(loop_detector.RULE)
    turns = turn_bodies(steps, dialect)
    for i, raw in enumerate(turns):
        parsed.clear()
        loop_detector.prefilter(raw, opts, dialect)
        if i == 5:  # the third call
            assert len(parsed) == first
        elif i > 5:
            assert len(parsed) == then
    # the last turn repeats a call 6 times since the user spoke: the rule acts, and says so
    assert acts_on(turns[-1], dialect, opts)
    assert loop_detector.prefilter(turns[-1], opts, dialect) is True


def test_a_gemini_loop_written_in_snake_case_is_caught():
    """Gemini's REST API takes `function_call` as well as `functionCall`: the prefilter counts
    both, so the rule still acts on the loop."""
    opts = options(loop_detector.RULE)
    raw = turn_bodies([user("go"), *loop("Bash", LS, 4)], "gemini")[-1]
    snake = raw.replace(b'"functionCall"', b'"function_call"')
    assert b'"functionCall"' not in snake
    assert acts_on(snake, "gemini", opts)
    assert loop_detector.prefilter(snake, opts, "gemini") is True


@given(st.lists(st.sampled_from([("Bash", "a"), ("Bash", "b"), ("Read", "a")]), max_size=12))
def test_hits_are_the_trailing_run_and_the_most_repeated_call_the_latest_on_ties(sigs):
    expected = []
    if sigs:
        run = next((i for i, s in enumerate(reversed(sigs)) if s != sigs[-1]), len(sigs))
        top = max(sigs.count(s) for s in sigs)
        latest = next(s for s in reversed(sigs) if sigs.count(s) == top)
        expected = [("tail_consecutive", sigs[-1], run), ("count_in_window", latest, top)]
    assert loop_detector._hits(sigs) == expected
