"""protocol_bridge through the real suite: Claude Code and the Anthropic SDK on an
OpenAI-compatible upstream, the OpenAI SDK on Claude; streams translated as they arrive."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from tests.integration.test_claude_code import run_claude

REDIRECT = {
    "model_router": {
        "enabled": True,
        "rules": [{"if": {"from_model_prefix": "claude-"}, "then": "qwen3-coder:30b"}],
    },
    "protocol_bridge": {"enabled": True, "upstream": "ollama"},
}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def redirect(proxy):
    assert httpx.post(f"{proxy.url}/__proxy/api/rules", json=REDIRECT).status_code == 200
    return proxy


def client(proxy, scenario: str = "") -> anthropic.Anthropic:
    headers = {"x-fake-scenario": scenario} if scenario else {}
    return anthropic.Anthropic(
        base_url=proxy.url, api_key="sk-ant-secret-0000", max_retries=0, default_headers=headers
    )


def test_anthropic_sdk_stream_with_tool_use_on_a_local_model(redirect, upstream):
    with client(redirect).messages.stream(
        model="claude-opus-4-8",
        max_tokens=100,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "use tool get_weather"}],
    ) as stream:
        final = stream.get_final_message()
    [call] = [b for b in final.content if b.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    assert final.stop_reason == "tool_use" and final.usage.output_tokens > 0
    assert final.model == "qwen3-coder:30b"

    [sent] = upstream.requests
    assert sent.path == "/v1/chat/completions"
    body = sent.json()
    assert body["model"] == "qwen3-coder:30b" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert sent.header("x-api-key") is None and sent.header("anthropic-version") is None

    [row] = redirect.wait_rows()
    assert row["dialect"] == "anthropic" and row["upstream"] == "ollama"
    assert row["requested_model"] == "claude-opus-4-8" and row["verdict"] == "rewrite"
    assert row["output_tokens"] == final.usage.output_tokens
    assert json.loads(row["tool_calls"])[0]["name"] == "get_weather"
    verdicts = {
        v["rule_id"]: json.loads(v["details"])
        for v in redirect.query("select * from verdicts where request_id = ?", (row["id"],))
    }
    assert verdicts["protocol_bridge"]["direction"] == "anthropic_to_openai"
    assert verdicts["model_router"]["to"] == "qwen3-coder:30b"
    # Both shapes are kept: what the client sent, and what the upstream got.
    from tests.harness import body_json

    assert body_json(redirect, row["request_body_id"])["model"] == "claude-opus-4-8"
    sent_body = body_json(redirect, row["upstream_request_body_id"])
    assert sent_body == body and sent_body["messages"][0]["role"] == "user"
    detail = httpx.get(f"{redirect.url}/__proxy/api/requests/{row['id']}").json()
    assert detail["upstream_request_body"]["model"] == "qwen3-coder:30b"
    assert detail["request_body"]["model"] == "claude-opus-4-8"


def test_anthropic_sdk_non_streaming_on_a_local_model(redirect):
    message = client(redirect).messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello bridge"}],
    )
    assert message.content[0].text.startswith("echo: hello bridge")
    assert message.id.startswith("msg_") and message.stop_reason == "end_turn"
    [row] = redirect.wait_rows()
    assert row["response_text"].startswith("echo: hello bridge")
    assert row["input_tokens"] and row["output_tokens"] == message.usage.output_tokens


def test_count_tokens_is_answered_for_bridged_models(redirect, upstream):
    count = client(redirect).messages.count_tokens(
        model="claude-opus-4-8", messages=[{"role": "user", "content": "count me " * 50}]
    )
    assert count.input_tokens > 50
    assert upstream.requests == []


def test_upstream_error_arrives_in_the_anthropic_shape(redirect):
    with pytest.raises(anthropic.RateLimitError) as info:
        client(redirect, "error=429").messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    "scenario", ["error-mid-stream", "truncate", "reset-mid-stream", "malformed"]
)
def test_broken_upstream_stream_ends_in_an_anthropic_error_event(redirect, scenario):
    with pytest.raises(anthropic.APIStatusError) as info:
        with client(redirect, f"{scenario},chunks=10").messages.stream(
            model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            stream.get_final_message()
    assert info.value.body["type"] == "error"
    [row] = redirect.wait_rows()
    assert row["state"] == "error" and row["error"]


def test_openai_sdk_on_claude_streaming_with_usage(proxy, upstream):
    oai = openai.OpenAI(
        base_url=f"{proxy.url}/v1", api_key="sk-ant-key-as-bearer-1234", max_retries=0
    )
    chunks = list(
        oai.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi claude"},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("echo: hi claude")
    assert chunks[-1].usage.completion_tokens > 0
    assert chunks[0].object == "chat.completion.chunk"

    [sent] = upstream.requests
    assert sent.path == "/v1/messages"
    assert sent.header("x-api-key") == "sk-ant-key-as-bearer-1234"
    assert sent.header("authorization") is None
    assert sent.json()["system"] and sent.json()["max_tokens"]
    [row] = proxy.wait_rows()
    assert row["dialect"] == "openai_chat" and row["upstream"] == "anthropic"


def test_openai_sdk_on_claude_tool_call(proxy):
    oai = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0)
    reply = oai.chat.completions.create(
        model="claude-sonnet-4-5",
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]},
            }
        ],
        messages=[{"role": "user", "content": "use tool get_weather"}],
    )
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    assert reply.choices[0].finish_reason == "tool_calls"


def test_claude_code_completes_a_tool_task_on_a_local_model(redirect, upstream, tmp_path):
    done = run_claude(redirect, tmp_path / "home", "use tool Bash now", "--allowedTools", "Bash")
    assert done.returncode == 0, done.stderr
    assert "tool said: fake-tool-ran" in done.stdout
    chats = [r for r in upstream.requests if r.path == "/v1/chat/completions"]
    assert len(chats) >= 2
    assert all(r.json()["stream"] is True for r in chats), "a non-streaming retry: broken stream"
    assert not any(r.path.startswith("/v1/messages") for r in upstream.requests)
    assert all(r.header("x-api-key") is None for r in chats)
    rows = redirect.wait_rows(2, where="upstream = 'ollama' and tools_offered like '%Bash%'")
    assert rows[-1]["conversation_id"] == rows[-2]["conversation_id"]


def test_modes_are_detected_and_switched_through_the_rules_api(proxy, upstream):
    mode = httpx.get(f"{proxy.url}/__proxy/api/rules/mode").json()
    assert mode["mode"] == "passthrough"

    switched = httpx.post(
        f"{proxy.url}/__proxy/api/rules/mode", json={"mode": "redirect", "to": "qwen3-coder:30b"}
    )
    assert switched.status_code == 200
    assert switched.json()["mode"]["mode"] == "redirect"
    assert switched.json()["mode"]["routes"] == [{"from": ["claude-"], "to": "qwen3-coder:30b"}]

    message = client(proxy).messages.create(
        model="claude-opus-4-8", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.model == "qwen3-coder:30b"
    assert upstream.requests[-1].path == "/v1/chat/completions"

    back = httpx.post(f"{proxy.url}/__proxy/api/rules/mode", json={"mode": "passthrough"})
    assert back.json()["mode"]["mode"] == "passthrough"
    client(proxy).messages.create(
        model="claude-opus-4-8", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert upstream.requests[-1].path == "/v1/messages"

    bad = httpx.post(f"{proxy.url}/__proxy/api/rules/mode", json={"mode": "redirect"})
    assert bad.status_code == 400 and "to" in bad.json()["error"]
    history = httpx.get(f"{proxy.url}/__proxy/api/rules/history").json()["versions"]
    assert history[0]["by"].startswith("mode:")
