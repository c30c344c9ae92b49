import pytest

from rules import tool_failure_breaker
from rules.tool_failure_breaker import apply, error_of
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    READ,
    call,
    context,
    options,
    request,
    result,
    user,
)

TOOLS = [BASH, READ]


def failing(dialect, text="command not found: mkae"):
    """A failed Bash result as each client reports it: Anthropic flags it, others say so."""
    if dialect == "anthropic":
        return result(text, error=True)
    return result(f"Error: {text}")


def bash(i):
    return call("Bash", {"command": f"make target{i}"})


def read(i):
    return call("Read", {"file_path": f"src/{i}.py"})


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        # three errors of one tool in the last five results trip it (§13.27, §13.28)
        (["E", "E", "E"], ("block", 3)),
        (["E", "E"], None),
        (["E", "E", "E", "E"], ("block", 4)),
        # truly consecutive: a success of the same tool resets the streak (the reference's did not)
        (["E", "ok", "E", "E"], None),
        (["ok", "E", "E", "E"], ("block", 3)),
        # another tool's results in between do not break the streak
        (["E", "R", "E", "R", "E"], ("block", 3)),
        # only the last `window` (5) results are read
        (["E", "E", "E", "R", "R", "R"], None),
    ],
)
def test_breaker(dialect, payload, expected):
    parts = [user("Build it.")]
    for i, kind in enumerate(payload):
        if kind == "R":
            parts += [read(i), result("1\timport os")]
        else:
            parts += [bash(i), failing(dialect) if kind == "E" else result("build ok")]
    req = request(dialect, parts, tools=TOOLS)
    out = apply(req, options(tool_failure_breaker.RULE), context(dialect))
    if expected is None:
        assert out is None
        return
    kind, count = expected
    v = out.verdict
    assert (v.verdict, v.rule_id, v.phase) == (kind, "tool_failure_breaker", "preflight")
    assert f"has failed {count} consecutive times" in v.reason
    assert v.reason.startswith("Tool 'Bash' has failed")
    assert v.details == {
        "tool_name": "Bash",
        "consecutive_errors": count,
        "window": 5,
        "last_error": "Error: command not found: mkae",
        "status": 400,
    }


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"max_errors": 2}, ("block", 3)),
        ({"max_errors": 4}, None),
        ({"action": "warn"}, ("warn", 3)),
        ({"window": 2}, None),
    ],
)
def test_breaker_options(payload, expected):
    parts = [user("Build it.")]
    for i in range(3):
        parts += [bash(i), failing("openai_chat")]
    req = request("openai_chat", parts, tools=TOOLS)
    out = apply(req, options(tool_failure_breaker.RULE, **payload), context("openai_chat"))
    if expected is None:
        assert out is None
    else:
        assert (out.verdict.verdict, out.verdict.details["consecutive_errors"]) == expected


@pytest.mark.parametrize(
    "payload, expected",
    [
        (("build ok", False), None),
        (("", False), None),
        (("anything at all", True), "Error: anything at all"),
        (("error: already says so", True), "error: already says so"),
        (("Error: ENOENT: no such file", False), "Error: ENOENT: no such file"),
        (("Exception in thread main", False), "Exception in thread main"),
        (
            ("Traceback (most recent call last):\n  File x", False),
            "Traceback (most recent call last): File x",
        ),
        (("The field 'path' is required", False), "The field 'path' is required"),
        (
            ("InputValidationError: must have required property 'x'", False),
            "InputValidationError: must have required property 'x'",
        ),
        (("fine\n" + "x" * 500 + " failed to connect", False), None),  # past the first 400 chars
        (('{"error": "rate limited"}', False), "rate limited"),
        (('{"error": {"message": "bad path", "code": 2}}', False), "bad path"),
        (('{"success": false, "message": "nope"}', False), "nope"),
        (('{"isError": true, "content": "tool crashed"}', False), "tool crashed"),
        (('{"output": "error: this is just file content"}', False), None),
        (('{"stdout": "failed to compile is in the log"}', False), None),
        (('{"status": "failed to start"}', False), '{"status": "failed to start"}'),
        (("E" * 300 + " is invalid", False), "E" * 240),
    ],
)
def test_error_heuristic(payload, expected):
    assert error_of(*payload) == expected


def test_results_resolve_tool_names_by_call_id():
    # OpenAI results carry only the call id; the name comes from the assistant's call
    parts = [user("go"), bash(1), failing("openai_chat"), read(2), failing("openai_chat")]
    req = request("openai_chat", parts, tools=TOOLS)
    names = [name for name, _ in tool_failure_breaker.results(req, 5)]
    assert names == ["Bash", "Read"]
