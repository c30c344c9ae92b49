"""Rules through the real suite: what SDK clients and the Claude Code CLI see, and what is kept."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.integration.test_claude_code import run_claude

READ = {
    "name": "read_file",
    "description": "Read a file",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
OPENAI_READ = {
    "type": "function",
    "function": {"name": "read_file", "parameters": READ["input_schema"]},
}


def rules(proxy, document: dict) -> httpx.Response:
    return httpx.post(f"{proxy.url}/__proxy/api/rules", json=document, timeout=10)


def anthropic_loop(calls: int) -> list[dict]:
    """A conversation whose assistant called read_file with the same path `calls` times."""
    messages: list[dict] = [{"role": "user", "content": "read the config"}]
    for i in range(calls):
        messages += [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": f"toolu_{i}",
                        "name": "read_file",
                        "input": {"path": "a.txt"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "same"}
                ],
            },
        ]
    return messages


def openai_loop(calls: int) -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": "read the config"}]
    for i in range(calls):
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "same"},
        ]
    return messages


def test_rules_api_validates_versions_and_applies_without_restart(proxy):
    first = httpx.get(f"{proxy.url}/__proxy/api/rules").json()
    assert first["effective"]["loop_detector"]["enabled"] is True

    bad = rules(proxy, {"loop_detector": {"max_repeats": 1, "colour": "red"}, "nope": {}})
    assert bad.status_code == 400
    problems = {(e["path"], e["message"]) for e in bad.json()["errors"]}
    assert ("/nope", "unknown rule 'nope'") in problems
    assert any(p == "/loop_detector/max_repeats" for p, _ in problems)
    assert any(p == "/loop_detector/colour" for p, _ in problems)
    assert httpx.get(f"{proxy.url}/__proxy/api/rules").json()["version"] == first["version"]

    assert rules(proxy, {"loop_detector": {"enabled": False}}).status_code == 200
    ok = rules(proxy, {"loop_detector": {"max_repeats": 2, "nudge_at": 0}})
    assert ok.status_code == 200 and ok.json()["version"] == first["version"] + 2

    history = httpx.get(f"{proxy.url}/__proxy/api/rules/history").json()["versions"]
    assert [v["version"] for v in history][:2] == [ok.json()["version"], ok.json()["version"] - 1]
    assert history[0]["by"].startswith("api:") and history[0]["at"]

    # Applies to the very next request: two identical calls now block.
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="claude-x", max_tokens=5, tools=[READ], messages=anthropic_loop(2)
        )

    restored = httpx.post(
        f"{proxy.url}/__proxy/api/rules/restore", json={"version": first["version"] + 1}
    )
    assert restored.status_code == 200
    assert restored.json()["document"] == {"loop_detector": {"enabled": False}}

    # Stored in the database: a restart keeps the running version.
    stored = proxy.query("select value from settings where key = 'rules'")
    assert json.loads(stored[0]["value"])["document"] == {"loop_detector": {"enabled": False}}


def test_anthropic_client_gets_a_block_in_its_own_dialect(proxy, upstream):
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude-x", max_tokens=5, tools=[READ], messages=anthropic_loop(4)
        )
    error = info.value
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == "invalid_request_error"
    assert "loop_detector" in error.body["error"]["message"]
    assert error.response.headers["x-proxy-block"] == "loop_detector"
    assert "read_file" in error.response.headers["x-proxy-reason"]
    assert upstream.requests == []  # never forwarded

    [row] = proxy.wait_rows()
    assert row["verdict"] == "block" and row["status"] == 400
    [verdict] = proxy.query("select * from verdicts where request_id = ?", (row["id"],))
    assert verdict["rule_id"] == "loop_detector" and verdict["verdict"] == "block"


def test_streaming_openai_client_gets_a_parseable_error_stream(proxy):
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        list(
            client.chat.completions.create(
                model="m", tools=[OPENAI_READ], messages=openai_loop(4), stream=True
            )
        )
    assert info.value.status_code == 400
    assert "loop_detector" in str(info.value)
    [row] = proxy.wait_rows()
    assert row["verdict"] == "block" and row["dialect"] == "openai_chat"


def test_warn_nudges_the_model_and_forwards(proxy, upstream):
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    reply = client.messages.create(
        model="claude-x", max_tokens=5, tools=[READ], messages=anthropic_loop(3)
    )
    assert reply.content
    [sent] = upstream.requests
    system = json.dumps(sent.json().get("system"))
    assert "loop-detector" in system and "read_file" in system
    [row] = proxy.wait_rows()
    assert row["verdict"] in ("warn", "rewrite")
    verdicts = proxy.query("select * from verdicts where request_id = ?", (row["id"],))
    assert [v["rule_id"] for v in verdicts] == ["loop_detector"]


@pytest.mark.parametrize("stream", [False, True])
def test_hallucinated_tool_call_is_intercepted_for_anthropic(proxy, stream):
    assert rules(proxy, {"hallucinated_tool": {"enabled": True}}).status_code == 200
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-scenario": "tool=delete_everything"},
    )
    kw = dict(
        model="claude-x", max_tokens=50, tools=[READ], messages=[{"role": "user", "content": "go"}]
    )
    if stream:
        with client.messages.stream(**kw) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kw)
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text.startswith("[AI Proxy] Your last tool call was rejected")
    assert "delete_everything" in message.content[0].text
    assert message.stop_reason == "end_turn"
    [row] = proxy.wait_rows()
    assert row["verdict"] == "intercept"
    # The row keeps what the model really said.
    assert json.loads(row["tool_calls"])[0]["name"] == "delete_everything"


def test_hallucinated_tool_call_is_intercepted_for_openai_stream(proxy):
    assert rules(proxy, {"hallucinated_tool": {"enabled": True}}).status_code == 200
    client = openai.OpenAI(
        base_url=f"{proxy.url}/v1",
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-scenario": "tool=delete_everything"},
    )
    chunks = list(
        client.chat.completions.create(
            model="m",
            tools=[OPENAI_READ],
            messages=[{"role": "user", "content": "go"}],
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[AI Proxy] Your last tool call was rejected")
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    [row] = proxy.wait_rows()
    assert row["verdict"] == "intercept"


def test_streams_pass_untouched_when_no_post_flight_rule_applies(proxy, upstream):
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-scenario": "encoding=identity"},
    )
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/messages",
        json={
            "model": "claude-x",
            "max_tokens": 5,
            "stream": True,
            "messages": [{"role": "user", "content": "plain"}],
        },
        headers={"x-fake-scenario": "encoding=identity"},
    ) as r:
        relayed = r.read()
    assert b"event: message_stop" in relayed
    assert client  # the relayed bytes are what the upstream sent
    [row] = proxy.wait_rows()
    assert row["verdict"] == "allow" and row["stream_events"] > 3


def test_claude_code_sees_warn_then_block_in_a_tool_loop(proxy, upstream, tmp_path):
    # The fake keeps calling Bash with the same command: a real loop, stopped by loop_detector.
    done = run_claude(
        proxy,
        tmp_path / "home",
        "loop please [[scenario:tool=Bash,loop]]",
        "--allowedTools",
        "Bash",
    )
    assert "loop_detector" in done.stdout + done.stderr
    proxy.wait_rows(where="verdict = 'block'")  # rows finish asynchronously: wait for it
    rows = proxy.wait_rows(
        4, where="dialect = 'anthropic' and tools_offered like '%Bash%' and state != 'pending'"
    )
    verdicts = [r["verdict"] for r in rows]
    assert "block" in verdicts and verdicts.index("block") > 0
    assert any(v in ("warn", "rewrite") for v in verdicts[: verdicts.index("block")])


def test_claude_code_gets_a_corrective_message_for_an_undeclared_tool(proxy, tmp_path):
    assert rules(proxy, {"hallucinated_tool": {"enabled": True}}).status_code == 200
    done = run_claude(proxy, tmp_path / "home", "try [[scenario:tool=launch_rockets]]")
    assert done.returncode == 0, done.stderr
    assert "[AI Proxy] Your last tool call was rejected" in done.stdout
    rows = proxy.wait_rows(where="verdict = 'intercept'")
    assert json.loads(rows[0]["tool_calls"])[0]["name"] == "launch_rockets"


def test_health_reports_rule_pipeline_time(proxy):
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    # Three repeats: the fewest on which the default loop_detector can act (a nudge), so the
    # request is parsed and the rules run.
    client.messages.create(model="claude-x", max_tokens=5, tools=[READ], messages=anthropic_loop(3))
    proxy.wait_rows()
    health = proxy.health()["rules"]
    assert health["active"] is True
    timing = health["phases"]["preflight"]
    assert timing["runs"] >= 1 and timing["p50_ms"] is not None


def test_rules_cannot_be_changed_by_a_cross_site_form_post(proxy):
    before = httpx.get(f"{proxy.url}/__proxy/api/rules").json()["version"]
    forged = httpx.post(
        f"{proxy.url}/__proxy/api/rules",
        content=b'{"loop_detector": {"enabled": false}}',
        headers={"content-type": "text/plain"},
    )
    assert forged.status_code == 415
    assert httpx.get(f"{proxy.url}/__proxy/api/rules").json()["version"] == before


def test_openai_client_is_nudged_with_a_warn_and_forwarded(proxy, upstream):
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(model="m", tools=[OPENAI_READ], messages=openai_loop(3))
    assert reply.choices[0].message is not None
    [sent] = upstream.requests
    system = [m for m in sent.json()["messages"] if m["role"] == "system"]
    assert system and "loop-detector" in json.dumps(system)
    [row] = proxy.wait_rows()
    assert row["verdict"] in ("warn", "rewrite") and row["status"] == 200
    [verdict] = proxy.query("select * from verdicts where request_id = ?", (row["id"],))
    assert verdict["rule_id"] == "loop_detector" and verdict["verdict"] == "warn"


def test_a_route_by_client_app_sees_the_client(proxy, upstream):
    """The client is identified for the rules only when a condition asks about it: here one
    does, so the Anthropic SDK's request is routed and curl's is not."""
    document = {
        "model_router": {
            "enabled": True,
            "rules": [{"if": {"from_client_app": "anthropic-python"}, "then": "claude-routed"}],
        }
    }
    assert rules(proxy, document).status_code == 200
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    client.messages.create(
        model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    body = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"user-agent": "curl/8.5.0", "x-api-key": "k", "anthropic-version": "2023-06-01"}
    reply = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=10)
    assert reply.status_code == 200

    assert [r.json()["model"] for r in upstream.requests] == ["claude-routed", "claude-x"]
    sdk, curl = sorted(proxy.wait_rows(2), key=lambda row: row["started_at"])
    assert (sdk["client_app"], sdk["verdict"]) == ("anthropic-python", "rewrite")
    assert (curl["client_app"], curl["verdict"]) == ("curl", "allow")
