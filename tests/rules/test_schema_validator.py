import pytest

from addons.wire.model import TEXT
from rules import schema_validator
from rules.intercept import FOOTER, HEADER, Intercepted
from rules.schema_validator import apply, check, compiled
from tests.rules.bodies import (
    BASH,
    DIALECTS,
    GREP,
    READ,
    TODO,
    call,
    context,
    openai_stream,
    options,
    request,
    response,
    user,
)

TOOLS = [BASH, READ, GREP, TODO]
GREP_MODES = ["content", "files_with_matches", "count"]


def req(dialect, **kw):
    return request(dialect, [user("Find the TODOs.")], tools=TOOLS, **kw)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        ([call("Bash", {"command": "ls"})], None),
        ([call("Bash", {"command": "ls", "timeout": 5000})], None),
        ([call("Bash", {})], ["missing required field 'command'"]),  # §13.48
        (
            [call("Bash", {"timeout": "5s"})],
            ["field 'timeout' should be number, got string", "missing required field 'command'"],
        ),
        (
            [call("Read", {"file_path": "a.py", "limit": 1.5})],
            ["field 'limit' should be integer, got number"],
        ),
        (
            [call("Read", {"file_path": "a.py", "limit": True})],
            ["field 'limit' should be integer, got boolean"],
        ),
        ([call("Read", {"file_path": None})], ["field 'file_path' should be string, got null"]),
        (
            [call("TodoWrite", {"todos": ["a", 2]})],
            ["field 'todos.1' should be string, got integer"],
        ),
        ([call("Grep", {"pattern": "TODO"})], ["missing required field 'output_mode'"]),
        (
            [call("Grep", {"pattern": "TODO", "output_mode": "lines"})],
            ["field 'output_mode': 'lines' is not one of " + str(GREP_MODES)],
        ),
        (
            [call("Grep", {"pattern": "x", "output_mode": "count", "options": {"glob": "*.py"}})],
            ["missing required field 'options.case'"],
        ),
        # extra fields pass unless reject_unknown_fields, even where the schema forbids them
        ([call("Bash", {"command": "ls", "cwd": "/tmp"})], None),
        # undeclared tools are hallucinated_tool's business
        ([call("read_file", {})], None),
        # several calls: each checked
        (
            [call("Read", {"file_path": "a"}), call("Bash", {"command": 1})],
            ["field 'command' should be string, got integer"],
        ),
    ],
)
def test_schema_validator(dialect, payload, expected):
    request_ = req(dialect)
    resp = response(dialect, payload)
    out = apply(request_, resp, options(schema_validator.RULE), context(dialect))
    if expected is None:
        assert out is None
        return
    v = out.verdict
    assert (v.verdict, v.rule_id, v.phase) == ("intercept", "schema_validator", "postflight")
    finding = v.details["findings"][0]
    assert finding["kind"] == "invalid_args" and finding["errors"] == expected
    assert v.reason == f"{finding['tool']}: {', '.join(expected)}"
    assert v.details["replaced"] is True and v.details["streaming"] is False
    # the response the client gets is the correction (§13.47-48)
    new = out.response
    assert isinstance(new, Intercepted)
    assert [b.type for b in new.blocks] == [TEXT]
    assert new.stop_reason == "end_turn" and new.dialect == dialect
    assert new.text == f"{HEADER}\n- {finding['tool']}: {'; '.join(expected)}.\n{FOOTER}"
    assert new.original is resp
    assert (new.usage.input, new.usage.output) == (0, 0)


@pytest.mark.parametrize(
    "payload, expected",
    [
        # the OpenAI family sends arguments as JSON text, which may be broken
        ('{"command": "ls"', "arguments are not valid JSON: "),
        ("[1, 2]", "arguments must be a JSON object"),
        ('"ls"', "arguments must be a JSON object"),
        ("", "missing required field 'command'"),  # empty means {}
        ("  ", "missing required field 'command'"),
    ],
)
def test_argument_text(payload, expected):
    out = apply(
        req("openai_chat"),
        response("openai_chat", [call("Bash", payload)]),
        options(schema_validator.RULE),
        context("openai_chat"),
    )
    assert out.verdict.details["findings"][0]["errors"][0].startswith(expected)


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"strict_types": False}, None),
        (
            {"reject_unknown_fields": True},
            ["unknown field 'cwd'", "field 'timeout' should be number, got string"],
        ),
        ({"reject_unknown_fields": True, "strict_types": False}, ["unknown field 'cwd'"]),
    ],
)
def test_options(payload, expected):
    resp = response("anthropic", [call("Bash", {"command": "ls", "timeout": "5s", "cwd": "/"})])
    out = apply(
        req("anthropic"), resp, options(schema_validator.RULE, **payload), context("anthropic")
    )
    if expected is None:
        assert out is None
    else:
        assert out.verdict.details["findings"][0]["errors"] == expected


def test_unknown_fields_even_without_additional_properties_false():
    resp = response("ollama", [call("Read", {"file_path": "a", "encoding": "utf8"})])
    out = apply(
        req("ollama"),
        resp,
        options(schema_validator.RULE, reject_unknown_fields=True),
        context("ollama"),
    )
    assert out.verdict.details["findings"][0]["errors"] == ["unknown field 'encoding'"]


def test_warn_leaves_the_response_alone():
    resp = response("openai_chat", [call("Bash", {})])
    out = apply(
        req("openai_chat"),
        resp,
        options(schema_validator.RULE, action="warn"),
        context("openai_chat"),
    )
    assert out.verdict.verdict == "warn" and out.response is None
    assert out.verdict.details["replaced"] is False


def test_streamed_response():
    resp = openai_stream([call("Bash", {"timeout": 5})])
    out = apply(
        req("openai_chat", stream=True),
        resp,
        options(schema_validator.RULE),
        context("openai_chat"),
    )
    assert out.verdict.details["streaming"] is True
    assert out.verdict.reason == "Bash: missing required field 'command'"


def test_no_tools_no_check():
    request_ = request("anthropic", [user("hi")])
    resp = response("anthropic", [call("Bash", {})])
    assert apply(request_, resp, options(schema_validator.RULE), context("anthropic")) is None


@pytest.mark.parametrize(
    "payload, expected",
    [
        (
            {"type": "object", "properties": {"a": {"type": "widget"}}},
            [],
        ),  # a broken schema checks nothing
        ({"type": "object", "properties": {"a": {"$ref": "https://example.invalid/s.json"}}}, []),
        (
            {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}},
            ["field 'a' should be integer, got string"],
        ),
        (
            {"type": "object", "properties": {"a": {"type": ["integer", "null"]}}},
            ["field 'a' should be integer or null, got string"],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}},
            [(f"field 'a': {'x' * 190!r} is too long")[:199] + "…"],
        ),
        (None, []),
    ],
)
def test_check_against_odd_schemas(payload, expected):
    value = "x" * 190 if payload and "maxLength" in str(payload) else "text"
    assert check({"a": value}, payload, True, False) == expected


def test_validators_are_compiled_once_per_schema():
    a = compiled({"type": "object", "required": ["x"]}, False)
    b = compiled({"required": ["x"], "type": "object"}, False)
    assert a is b
    assert compiled({"type": "object", "required": ["x"]}, True) is not a
