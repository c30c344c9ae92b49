import pytest

from rules import hallucinated_tool, schema_validator
from rules.hallucinated_tool import apply
from rules.intercept import HEADER, Intercepted, correction_text
from tests.rules.bodies import BASH, DIALECTS, READ, call, context, options, request, response, user

TOOLS = [BASH, READ]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "payload, expected",
    [
        ([call("Read", {"file_path": "a"})], None),
        ([], None),
        ([call("read_file", {"path": "a"})], ["read_file"]),  # §13.47
        ([call("read", {"file_path": "a"})], ["read"]),  # exact match only
        (
            [call("Bash", {"command": "ls"}), call("WebSearch", {"q": "x"}), call("Grep", {})],
            ["WebSearch", "Grep"],
        ),
    ],
)
def test_hallucinated_tool(dialect, payload, expected):
    req = request(dialect, [user("Open the README.")], tools=TOOLS)
    resp = response(dialect, payload, text="Let me look." if payload else "Done.")
    out = apply(req, resp, options(hallucinated_tool.RULE), context(dialect))
    if expected is None:
        assert out is None
        return
    v = out.verdict
    assert (v.verdict, v.rule_id, v.phase) == ("intercept", "hallucinated_tool", "postflight")
    assert [f["tool"] for f in v.details["findings"]] == expected
    assert v.reason == "; ".join(f"{n}: tool '{n}' was not declared in tools[]" for n in expected)
    text = out.response.text
    assert text.startswith(HEADER + "\n")
    for name in expected:
        assert f"- {name}: tool not declared in this request's tools[]. Pick a valid tool." in text
    assert out.response.stop_reason == "end_turn"
    assert out.response.tool_calls == []


def test_no_tools_declared_no_check():
    req = request("openai_chat", [user("hi")])
    resp = response("openai_chat", [call("anything", {})])
    assert apply(req, resp, options(hallucinated_tool.RULE), context("openai_chat")) is None


def test_warn_only():
    req = request("ollama", [user("x")], tools=TOOLS)
    resp = response("ollama", [call("nope", {})])
    out = apply(req, resp, options(hallucinated_tool.RULE, action="warn"), context("ollama"))
    assert out.verdict.verdict == "warn" and out.response is None


def test_one_correction_lists_every_finding_in_call_order():
    # schema_validator runs first and intercepts; hallucinated_tool still sees the model's calls
    req = request("anthropic", [user("x")], tools=TOOLS)
    resp = response("anthropic", [call("made_up", {}), call("Bash", {})])
    first = schema_validator.apply(req, resp, options(schema_validator.RULE), context("anthropic"))
    second = apply(req, first.response, options(hallucinated_tool.RULE), context("anthropic"))
    final = second.response
    assert isinstance(final, Intercepted) and final.original is resp
    assert [f["tool"] for f in final.findings] == ["made_up", "Bash"]
    assert final.text == (
        "[AI Proxy] Your last tool call was rejected before execution:\n"
        "- made_up: tool not declared in this request's tools[]. Pick a valid tool.\n"
        "- Bash: missing required field 'command'.\n"
        "Please retry with corrected arguments. The original tool was not executed."
    )
    assert final.text == correction_text(final.findings)
    # each verdict keeps its own findings
    assert [f["tool"] for f in second.verdict.details["findings"]] == ["made_up"]
