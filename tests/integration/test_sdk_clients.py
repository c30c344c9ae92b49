"""Real client libraries through a real suite process: what they get, and what is recorded."""

from __future__ import annotations

import json

import anthropic
import httpx
import ollama
import openai
import pytest

KEY = "sk-ant-api03-integration-test-key-000000000000-ABCD"

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def anthropic_client(proxy, **kw):
    return anthropic.Anthropic(base_url=proxy.url, api_key=KEY, max_retries=0, **kw)


def test_anthropic_sdk_non_streaming(proxy, upstream):
    message = anthropic_client(proxy).messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.content[0].text.startswith("echo: hello there")

    [row] = proxy.wait_rows()
    assert row["state"] == "complete" and row["status"] == 200
    assert row["dialect"] == "anthropic" and row["upstream"] == "anthropic"
    assert row["listener"] == "reverse" and row["method"] == "POST"
    assert row["requested_model"] == "claude-sonnet-4-5"
    assert row["served_model"] == message.model
    assert row["client_app"] == "anthropic-python"
    assert row["is_stream"] == 0
    assert row["input_tokens"] == message.usage.input_tokens
    assert row["output_tokens"] == message.usage.output_tokens
    assert row["tokens_estimated"] == 0
    assert row["stop_reason"] == "end_turn"
    assert row["conversation_id"] and row["turn_index"] == 1
    assert row["prompt_preview"] == "hello there"
    assert row["latency_ms"] > 0 and row["ttft_ms"] > 0
    assert row["client_ip"] == "127.0.0.1"

    # The request body is stored byte for byte as the upstream received it.
    [sent] = upstream.requests
    import sqlite_utils

    from addons.store import bodies

    db = sqlite_utils.Database(proxy.db_path)
    assert bodies.load(db, row["request_body_id"]) == sent.body
    assert json.loads(bodies.load(db, row["response_body_id"]))["id"] == message.id

    # Credentials never reach the database, in any table.
    headers = json.loads(row["request_headers"])
    assert headers["x-api-key"].startswith("fp:") and headers["x-api-key"].endswith("ABCD")
    assert KEY.encode() not in proxy.db_path.read_bytes()
    assert sent.header("x-api-key") == KEY  # ...while the upstream got it untouched


def test_anthropic_sdk_stream_with_tool_use(proxy):
    client = anthropic_client(proxy)
    with client.messages.stream(
        model="claude-opus-4-8",
        max_tokens=200,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "use tool get_weather please"}],
    ) as stream:
        final = stream.get_final_message()
    [call] = [b for b in final.content if b.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input

    [row] = proxy.wait_rows()
    assert row["is_stream"] == 1 and row["state"] == "complete"
    assert row["stop_reason"] == "tool_use" == final.stop_reason
    assert json.loads(row["tools_offered"]) == ["get_weather"]
    [recorded] = json.loads(row["tool_calls"])
    assert recorded["name"] == "get_weather"
    assert json.loads(recorded["arguments"]) == call.input
    assert row["output_tokens"] == final.usage.output_tokens
    assert row["input_tokens"] == final.usage.input_tokens
    assert row["stream_events"] > 5
    import sqlite_utils

    from addons.store import bodies

    raw = bodies.load(sqlite_utils.Database(proxy.db_path), row["stream_body_id"]).decode()
    assert "event: message_start" in raw and "event: message_stop" in raw


def test_anthropic_tool_loop_threads_into_one_conversation(proxy):
    client = anthropic_client(proxy)
    messages = [{"role": "user", "content": "use tool get_weather for Paris"}]
    first = client.messages.create(
        model="claude-opus-4-8", max_tokens=100, tools=[WEATHER], messages=messages
    )
    call = next(b for b in first.content if b.type == "tool_use")
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}],
        },
    ]
    second = client.messages.create(
        model="claude-opus-4-8", max_tokens=100, tools=[WEATHER], messages=messages
    )
    assert "sunny" in second.content[0].text

    rows = proxy.wait_rows(2)
    assert rows[0]["conversation_id"] == rows[1]["conversation_id"]
    assert [r["turn_index"] for r in rows] == [1, 2]


def test_openai_sdk_non_streaming_and_streaming(proxy):
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-test-openai-1234", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "one"}]
    )
    assert reply.choices[0].message.content.startswith("echo: one")
    chunks = list(
        client.chat.completions.create(
            model="gpt-5-mini",
            messages=[{"role": "user", "content": "two"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text.startswith("echo: two")

    plain, streamed = proxy.wait_rows(2)
    assert plain["dialect"] == streamed["dialect"] == "openai_chat"
    assert plain["client_app"] == "openai-python"
    assert plain["output_tokens"] == reply.usage.completion_tokens
    assert streamed["is_stream"] == 1
    assert streamed["output_tokens"] == usage.completion_tokens
    assert streamed["input_tokens"] + (streamed["cache_read_tokens"] or 0) == usage.prompt_tokens
    assert streamed["response_text"] == text
    assert streamed["stop_reason"] == "end_turn"


def test_openai_models_and_embeddings_pass_through(proxy):
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-x", max_retries=0)
    assert client.models.list().data
    emb = client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert emb.data[0].embedding
    rows = proxy.wait_rows(2)
    assert {r["path"] for r in rows} == {"/v1/models", "/v1/embeddings"}
    assert all(r["status"] == 200 for r in rows)


def test_openai_responses_api_stream(proxy):
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-x", max_retries=0)
    with client.responses.stream(model="gpt-5", input="hello responses") as stream:
        final = stream.get_final_response()
    assert "hello responses" in final.output_text
    [row] = proxy.wait_rows()
    assert row["dialect"] == "openai_responses"
    assert row["output_tokens"] == final.usage.output_tokens
    assert row["response_text"] == final.output_text


def test_ollama_client_streaming_chat(proxy):
    client = ollama.Client(host=proxy.url)
    parts = list(
        client.chat(model="llama3.2", messages=[{"role": "user", "content": "hey"}], stream=True)
    )
    text = "".join(p.message.content for p in parts)
    assert text.startswith("echo: hey")
    [row] = proxy.wait_rows()
    assert row["dialect"] == "ollama" and row["upstream"] == "ollama"
    assert row["client_app"] == "ollama-python"
    assert row["output_tokens"] == parts[-1].eval_count
    assert row["input_tokens"] == parts[-1].prompt_eval_count
    assert row["response_text"] == text


def test_gemini_sse_stream(proxy):
    url = (
        f"{proxy.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        "?alt=sse&key=AIzaSECRETKEY123456"
    )
    body = {"contents": [{"role": "user", "parts": [{"text": "gem"}]}]}
    with httpx.stream("POST", url, json=body) as response:
        raw = response.read().decode()
    assert "\r\n" in raw
    events = [json.loads(line[6:]) for line in raw.split("\r\n") if line.startswith("data: ")]
    text = "".join(p["text"] for e in events for p in e["candidates"][0]["content"]["parts"])
    assert text.startswith("echo: gem")
    [row] = proxy.wait_rows()
    assert row["dialect"] == "gemini" and row["requested_model"] == "gemini-2.5-flash"
    assert row["output_tokens"] and row["response_text"] == text
    assert "AIzaSECRETKEY123456" not in row["path"]
    assert b"AIzaSECRETKEY123456" not in proxy.db_path.read_bytes()


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_compressed_streams_still_yield_tokens(proxy, encoding):
    client = anthropic_client(proxy, default_headers={"x-fake-scenario": f"encoding={encoding}"})
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "squeeze"}]
    ) as stream:
        final = stream.get_final_message()
    [row] = proxy.wait_rows()
    assert json.loads(row["response_headers"])["content-encoding"] == encoding
    assert row["output_tokens"] == final.usage.output_tokens
    assert row["response_text"] == final.content[0].text
    assert row["error"] is None
