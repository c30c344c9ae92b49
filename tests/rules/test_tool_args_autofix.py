import json

import pytest

from rules import schema_validator, tool_args_autofix
from rules.tool_args_autofix import apply
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    GREP,
    READ,
    call,
    context,
    openai_stream,
    options,
    request,
    response,
    user,
)

TOOLS = [BASH, READ, GREP]


def args_of(resp):
    return [json.loads(c.arguments) for c in resp.tool_calls]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        # per-tool defaults, then "*", then the schema's own default (§13.50)
        (
            ([call("Grep", {"pattern": "x"})], {"Grep": {"output_mode": "content"}}),
            ([{"pattern": "x", "output_mode": "content"}], "Grep: filled output_mode"),
        ),
        (
            (
                [call("Grep", {"pattern": "x"})],
                {"Grep": {"output_mode": "count"}, "*": {"output_mode": "content"}},
            ),
            ([{"pattern": "x", "output_mode": "count"}], "Grep: filled output_mode"),
        ),
        (
            ([call("Grep", {})], {"*": {"output_mode": "content", "pattern": "."}}),
            ([{"pattern": ".", "output_mode": "content"}], "Grep: filled pattern, output_mode"),
        ),
        # only required fields are filled; the schema default of a required field counts
        (([call("Read", {"file_path": "a"})], {"*": {"limit": 5}}), None),
        # nothing known for the missing field: left for the validator
        (([call("Bash", {})], {}), None),
        (([call("Bash", {"command": "ls"})], {"Bash": {"command": "rm -rf /"}}), None),
        # undeclared tools are not touched
        (([call("Nope", {})], {"*": {"command": "x"}}), None),
        # several calls
        (
            (
                [call("Grep", {"pattern": "a"}), call("Bash", {}), call("Grep", {"pattern": "b"})],
                {"*": {"output_mode": "count"}},
            ),
            (
                [
                    {"pattern": "a", "output_mode": "count"},
                    {},
                    {"pattern": "b", "output_mode": "count"},
                ],
                "Grep: filled output_mode; Grep: filled output_mode",
            ),
        ),
    ],
)
def test_autofix(dialect, payload, expected):
    calls, defaults = payload
    req = request(dialect, [user("Search.")], tools=TOOLS)
    resp = response(dialect, calls)
    out = apply(req, resp, options(tool_args_autofix.RULE, defaults=defaults), context(dialect))
    if expected is None:
        assert out is None
        return
    fixed, reason = expected
    v = out.verdict
    assert (v.verdict, v.rule_id, v.phase, v.reason) == (
        "rewrite",
        "tool_args_autofix",
        "postflight",
        reason,
    )
    assert args_of(out.response) == fixed
    assert args_of(resp) == [c.args for c in calls]  # input untouched
    # the fixed response is still the model's, in its own dialect, with its ids
    assert [c.id for c in out.response.tool_calls] == [c.id for c in resp.tool_calls]


def test_schema_default_of_a_required_field():
    tool = READ.schema | {"required": ["file_path", "limit"]}
    from tests.rules.bodies import ToolDef

    req = request("anthropic", [user("x")], tools=[ToolDef("Read", "", tool)])
    out = apply(
        req,
        response("anthropic", [call("Read", {"file_path": "a"})]),
        options(tool_args_autofix.RULE),
        context("anthropic"),
    )
    assert args_of(out.response) == [{"file_path": "a", "limit": 2000}]


def test_silent_repairs_without_a_rewrite_verdict():
    req = request("ollama", [user("x")], tools=TOOLS)
    resp = response("ollama", [call("Grep", {"pattern": "x"})])
    out = apply(
        req,
        resp,
        options(tool_args_autofix.RULE, action="silent", defaults={"*": {"output_mode": "count"}}),
        context("ollama"),
    )
    assert out.verdict.verdict == "allow"
    assert args_of(out.response) == [{"pattern": "x", "output_mode": "count"}]


def test_streamed_arguments_stay_text_and_raw_follows():
    req = request("openai_chat", [user("x")], tools=TOOLS, stream=True)
    resp = openai_stream([call("Grep", {"pattern": "x"})])
    out = apply(
        req,
        resp,
        options(tool_args_autofix.RULE, defaults={"*": {"output_mode": "count"}}),
        context("openai_chat"),
    )
    block = [b for b in out.response.blocks if b.type == "tool_call"][0]
    assert isinstance(block.arguments, str)
    assert json.loads(block.arguments) == {"pattern": "x", "output_mode": "count"}


def test_openai_raw_element_carries_the_fixed_arguments():
    req = request("openai_chat", [user("x")], tools=TOOLS)
    resp = response("openai_chat", [call("Grep", {"pattern": "x"})])
    out = apply(
        req,
        resp,
        options(tool_args_autofix.RULE, defaults={"*": {"output_mode": "count"}}),
        context("openai_chat"),
    )
    block = [b for b in out.response.blocks if b.type == "tool_call"][0]
    assert json.loads(block.raw["function"]["arguments"]) == {
        "pattern": "x",
        "output_mode": "count",
    }
    assert block.raw["id"] == "call_r0"


def test_unparseable_arguments_are_left_for_the_validator():
    req = request("openai_chat", [user("x")], tools=TOOLS)
    resp = response("openai_chat", [call("Grep", '{"pattern": ')])
    assert (
        apply(
            req,
            resp,
            options(tool_args_autofix.RULE, defaults={"*": {"output_mode": "c"}}),
            context("openai_chat"),
        )
        is None
    )


def test_a_repaired_call_then_validates():
    req = request("anthropic", [user("x")], tools=TOOLS)
    resp = response("anthropic", [call("Grep", {"pattern": "x"})])
    fixed = apply(
        req,
        resp,
        options(tool_args_autofix.RULE, defaults={"Grep": {"output_mode": "count"}}),
        context("anthropic"),
    )
    assert (
        schema_validator.apply(
            req, fixed.response, options(schema_validator.RULE), context("anthropic")
        )
        is None
    )
    assert (
        schema_validator.apply(req, resp, options(schema_validator.RULE), context("anthropic"))
        is not None
    )
