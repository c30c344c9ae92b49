import pytest

from rules import context_overflow_guard
from rules.context_overflow_guard import TRIM_NOTE, apply, estimate
from tests.rules.bodies import (
    BASH,
    body,
    call,
    context,
    options,
    parse,
    request,
    result,
    say,
    user,
)

BIG = "x" * 35000  # 10 000 tokens at 3.5 chars/token


def big_request(dialect, **extra):
    """One 35 000-character user message, no system prompt: estimate 10 000 + 4 = 10 004."""
    return request(dialect, [user(BIG)], system=None, **extra)


def test_estimate_counts_every_part():
    req = request(
        "openai_chat",
        [user("abcd"), call("Bash", {"command": "ls"}), result("12345678"), say("ok")],
        tools=[BASH],
        system="0123456789",
    )
    tool = BASH.schema
    import json

    chars = 10 + 4 + (4 + len('{"command": "ls"}')) + 8 + 2
    chars += len("Bash") + len(BASH.description) + len(json.dumps(tool, ensure_ascii=False))
    assert estimate(req, 1.0) == chars + 4 * 5


@pytest.mark.parametrize("dialect", ["ollama", "openai_chat"])
@pytest.mark.parametrize(
    "payload, expected",
    [
        # fits: 10 004 ≤ int(16384 × 0.95)
        (({"assumed_default_num_ctx": 16384}, {}), None),
        (
            ({}, {}),
            (
                "warn",
                "prompt ~10004 tok exceeds num_ctx=4096 (will be silently truncated by Ollama)",
            ),
        ),
        (
            ({"action": "block"}, {}),
            (
                "block",
                "prompt ~10004 tok exceeds num_ctx=4096 (will be silently truncated by Ollama)",
            ),
        ),
        # the client's own num_ctx is what counts
        (({}, {"options": {"num_ctx": 32768}}), None),
        (
            ({"headroom_ratio": 0.2}, {"options": {"num_ctx": 32768}}),
            (
                "warn",
                "prompt ~10004 tok exceeds num_ctx=32768 (will be silently truncated by Ollama)",
            ),
        ),
    ],
)
def test_guard_warn_and_block(dialect, payload, expected):
    overrides, extra = payload
    if dialect == "openai_chat" and "options" in extra:
        extra = {"num_ctx": extra["options"]["num_ctx"]}  # top-level there
    req = big_request(dialect, **extra)
    out = apply(req, options(context_overflow_guard.RULE, **overrides), context(dialect))
    if expected is None:
        assert out is None
        return
    v = out.verdict
    assert (v.verdict, v.reason) == expected
    assert v.details["estimated_tokens"] == 10004
    assert v.details["threshold"] == int(v.details["num_ctx"] * v.details["headroom_ratio"])
    # a block answers 413, not 400 (§13.29)
    assert v.details.get("status") == (413 if v.verdict == "block" else None)
    assert out.request is None


@pytest.mark.parametrize(
    "payload, expected",
    [
        # next power of two ≥ int(10004 / 0.95) + 1 = 10531 → 16384 (§13.30)
        ({}, ("rewrite", 16384)),
        ({"bump_to": 12000}, ("rewrite", 12000)),
        ({"max_ctx": 4096}, ("warn", None)),  # capped at what it has: cannot help
        ({"max_ctx": 8192}, ("rewrite", 8192)),  # helps, though not enough (still_over)
    ],
)
def test_bump_native(payload, expected):
    req = big_request("ollama", options={"temperature": 0.1})
    out = apply(
        req, options(context_overflow_guard.RULE, action="bump", **payload), context("ollama")
    )
    kind, num_ctx = expected
    assert out.verdict.verdict == kind
    if num_ctx is None:
        assert "bump capped at max_ctx=4096" in out.verdict.reason
        assert out.request is None
    else:
        assert out.verdict.reason == f"num_ctx 4096 → {num_ctx} (prompt ~10004 tok)"
        assert out.request.params["options"] == {"temperature": 0.1, "num_ctx": num_ctx}
        assert req.params["options"] == {"temperature": 0.1}
        assert out.verdict.details["still_over"] is (num_ctx == 8192)


def test_bump_on_openai_dialect_warns():
    out = apply(
        big_request("openai_chat"),
        options(context_overflow_guard.RULE, action="bump"),
        context("openai_chat"),
    )
    assert out.verdict.verdict == "warn"
    assert "cannot be set through the OpenAI-compatible API" in out.verdict.reason


@pytest.mark.parametrize("dialect", ["ollama", "openai_chat"])
def test_trim_keeps_system_and_last_four(dialect):
    chunk = "y" * 7000  # 2000 tokens each
    parts = [
        user(chunk),
        say(chunk),
        user(chunk),
        say(chunk),
        user(chunk),
        say("short"),
        user("go on"),
    ]
    req = request(dialect, parts, system="You are terse.")
    opts = options(context_overflow_guard.RULE, action="trim", assumed_default_num_ctx=8192)
    out = apply(req, opts, context(dialect))
    v = out.verdict
    assert v.verdict == "rewrite"
    kept = out.request.messages
    # dropped the two oldest; the last four non-system messages survive (§13.31)
    assert [m.role for m in kept] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert kept[0].text == TRIM_NOTE.format(n=2)
    assert kept[1:] == req.messages[2:]
    assert out.request.system == req.system
    assert v.details["trimmed"] == 2 and v.details["still_over"] is False
    assert v.reason.startswith("trimmed 2 message(s) to fit num_ctx=8192")


def test_trim_drops_orphaned_tool_results():
    chunk = "z" * 7000
    # dropping the big call suffices, but its result would be left without it: dropped too
    parts = [user("start"), call("Bash", {"command": chunk}), result("ok")]
    parts += [say("a"), user("b"), say("c"), user("d")]
    req = request("openai_chat", parts)
    opts = options(context_overflow_guard.RULE, action="trim", assumed_default_num_ctx=2048)
    out = apply(req, opts, context("openai_chat"))
    roles = [m.role for m in out.request.messages]
    assert roles == ["system", "assistant", "user", "assistant", "user"]
    assert out.verdict.details["trimmed"] == 3


def test_trim_with_nothing_to_drop_warns():
    req = request("ollama", [user(BIG)], system=None)
    out = apply(req, options(context_overflow_guard.RULE, action="trim"), context("ollama"))
    assert out.verdict.verdict == "warn" and out.verdict.reason.endswith("nothing to trim")


@pytest.mark.parametrize(
    "payload, expected",
    [
        (("anthropic", "anthropic"), None),  # no num_ctx at Anthropic
        (("openai_chat", "anthropic"), None),
        (("openai_chat", "ollama"), "warn"),
        (("ollama", "ollama"), "warn"),
    ],
)
def test_applies_only_off_anthropic(payload, expected):
    dialect, upstream = payload
    req = parse(dialect, body(dialect, [user(BIG)], system=None))
    out = apply(req, options(context_overflow_guard.RULE), context(dialect, upstream=upstream))
    assert (out.verdict.verdict if out else None) == expected


@pytest.mark.parametrize("dialect", ["anthropic", "openai_chat", "ollama"])
def test_request_chars_equals_the_sum_of_its_parts(dialect):
    from rules.context_overflow_guard import message_chars, request_chars, tool_chars

    parts = [
        user("héllo"),
        call("Bash", {"command": "ls ü", "n": [1, 2]}),
        result("out"),
        say("ok"),
    ]
    req = request(dialect, parts, tools=[BASH])
    by_parts = sum(len(b.text) for b in req.system)
    by_parts += sum(message_chars(m) for m in req.messages) + sum(tool_chars(t) for t in req.tools)
    assert request_chars(req) == by_parts
