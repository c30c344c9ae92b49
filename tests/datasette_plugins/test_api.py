"""The JSON API as the pages see it, from a loopback viewer (who sees everything)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.datasette_plugins.conftest import LOCAL_CLIENT, OTHER_CLIENT, make_datasette

ROW_KEYS = {
    "id", "started_at", "ended_at", "state", "listener", "method", "path", "upstream", "dialect",
    "status", "requested_model", "served_model", "is_stream", "client_app", "client_ip",
    "session_id", "conversation_id", "parent_conversation_id", "turn_index", "latency_ms",
    "ttft_ms", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "tokens_estimated", "tokens_live", "stop_reason", "tools_offered", "tool_calls", "error",
    "verdict", "prompt_preview", "response_text_preview", "redacted",
}  # fmt: skip
CONVERSATION_KEYS = {
    "conversation_id", "session_id", "parent_conversation_id", "first_at", "last_at", "turns",
    "requests", "client_apps", "models", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "errors", "preview", "redacted",
}  # fmt: skip
BREAKDOWN_KEYS = {
    "key", "requests", "errors", "error_rate", "input_tokens", "output_tokens", "latency_p50",
    "latency_p95", "ttft_p50",
}  # fmt: skip


async def get(ds, path, status=200):
    response = await ds.client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def ids(ds, query=""):
    return [item["id"] for item in (await get(ds, f"/api/requests{query}"))["items"]]


async def test_info_describes_the_database_redaction_and_viewer(ds, db_path):
    info = await get(ds, "/api/info")
    assert info == {
        "name": "llm-inspector",
        "version": "0.1.0",
        "database": str(db_path),
        "redaction": {"enabled": True, "ipv4_prefix": 24, "ipv6_prefix": 64},
        "viewer": {"ip": "127.0.0.1", "sees_everything": True},
    }


async def test_requests_list_newest_first_with_the_row_shape(ds):
    page = await get(ds, "/api/requests")
    assert set(page) == {"total", "items", "limit", "offset", "next_offset", "redacted"}
    assert page["limit"] == 50 and page["offset"] == 0 and page["next_offset"] is None
    assert page["total"] is None  # never a count of the whole table
    assert page["redacted"] is False
    assert [i["id"] for i in page["items"]] == ["p1", "c1", "b2", "b1", "a3", "a2", "a1"]
    for item in page["items"]:
        assert set(item) >= ROW_KEYS
    a1 = next(i for i in page["items"] if i["id"] == "a1")
    assert a1["tools_offered"] == ["Read", "Bash"]
    assert a1["tool_calls"] == [{"name": "Read", "arguments": '{"path":"plan.txt"}'}]
    assert a1["prompt_preview"] == "Please read the secret plan file"
    assert a1["response_text_preview"] == "Reading it."
    assert a1["tokens_live"] is False


async def test_pending_rows_carry_live_token_counts(ds):
    [pending] = (await get(ds, "/api/requests?state=pending"))["items"]
    assert pending["id"] == "p1"
    assert pending["tokens_live"] is True and pending["tokens_estimated"] is True
    assert (pending["input_tokens"], pending["output_tokens"]) == (12, 7)
    assert pending["status"] is None


async def test_previews_are_cut_to_300_characters(db_path):
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    db.execute("UPDATE requests SET response_text = ? WHERE id = 'a3'", ["x" * 5000])
    db.close()
    ds = make_datasette(db_path)
    [item] = (await get(ds, "/api/requests?conversation=conv-a&limit=1"))["items"]
    assert item["response_text_preview"] == "x" * 300


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?model=gpt-4o", ["b1"]),
        ("?app=openai-python", ["b2", "b1"]),
        ("?status=2xx", ["c1", "a3", "a2", "a1"]),
        ("?status=4xx", ["b2"]),
        ("?status=5xx", ["b1"]),
        ("?status=429", ["b2"]),
        ("?status=error", ["b2", "b1"]),
        ("?verdict=block", ["b2"]),
        ("?conversation=conv-a", ["a3", "a2", "a1"]),
        ("?state=complete&app=claude-code", ["a3", "a2", "a1"]),
        ("?since=2026-11-20T10:00:30Z&until=2026-11-20T11:01:00Z", ["b1", "a3"]),
        ("?since=2026-11-20T12:00", ["p1", "c1"]),
        ("?q=dawn", ["a3", "a2"]),
        ("?q=zebras", ["p1"]),
        ("?q=ZEBRAS", ["p1"]),
        ("?q=attack%20dawn", ["a3", "a2"]),
        ("?q=plan%20says", ["a2"]),
        ("?q=summ*", ["a3"]),
        ("?q=dawn&app=claude-code&status=2xx", ["a3", "a2"]),
        ("?q=nothing-like-this", []),
        ("?model=no-such-model", []),
    ],
)
async def test_requests_filters(ds, query, expected):
    page = await get(ds, f"/api/requests{query}")
    assert [i["id"] for i in page["items"]] == expected
    assert page["total"] == len(expected)  # narrowed, so counted


async def test_requests_pagination_reads_one_more_row(ds):
    first = await get(ds, "/api/requests?limit=3")
    assert [i["id"] for i in first["items"]] == ["p1", "c1", "b2"]
    assert first["next_offset"] == 3 and first["total"] is None
    second = await get(ds, "/api/requests?limit=3&offset=3")
    assert [i["id"] for i in second["items"]] == ["b1", "a3", "a2"]
    third = await get(ds, "/api/requests?limit=3&offset=6")
    assert [i["id"] for i in third["items"]] == ["a1"] and third["next_offset"] is None


@pytest.mark.parametrize(
    "query",
    ["?limit=0", "?limit=501", "?limit=x", "?offset=-1", "?status=7xx", "?status=ok",
     "?since=yesterday", "?state=done", "?q=%22%22"],
)  # fmt: skip
async def test_bad_parameters_are_400(ds, query):
    body = await get(ds, f"/api/requests{query}", status=400)
    assert set(body) == {"error"} and body["error"]


async def test_request_detail(ds):
    item = await get(ds, "/api/requests/a1")
    assert set(item) >= ROW_KEYS | {
        "request_headers", "response_headers", "request_body", "response_body",
        "stream_events", "request_body_raw_bytes", "verdicts", "conversation",
    }  # fmt: skip
    assert item["request_headers"] == {"user-agent": "claude-cli/2.0", "x-api-key": "fp:abc…1234"}
    assert item["response_headers"] == {"content-type": "application/json"}
    assert item["request_body"]["messages"] == [
        {"role": "user", "content": "Please read the secret plan file"}
    ]
    assert item["response_body"] == {"id": "msg_1", "content": [{"type": "text"}]}
    assert item["stream_events"] == []
    assert item["request_body_raw_bytes"] > 100
    assert item["conversation"] == {
        "id": "conv-a", "turns": 3, "url": "/__proxy/conversations/conv-a"
    }  # fmt: skip


async def test_request_detail_parses_sse_and_ndjson_streams(ds):
    sse = await get(ds, "/api/requests/a2")
    assert [e["event"] for e in sse["stream_events"]] == [
        "message_start", "content_block_delta", "message_stop"
    ]  # fmt: skip
    assert sse["stream_events"][1]["data"]["delta"]["text"] == "The plan"
    assert sse["response_body"] is None
    ndjson = await get(ds, "/api/requests/c1")
    assert ndjson["stream_events"] == [
        {"event": None, "data": {"message": {"content": "Ray"}, "done": False}},
        {"event": None, "data": {"done": True}},
    ]
    assert ndjson["request_body"] is None and ndjson["request_body_raw_bytes"] == 0


async def test_request_detail_lists_verdicts(ds):
    item = await get(ds, "/api/requests/a3")
    assert item["verdicts"] == [
        {
            "phase": "pre",
            "rule_id": "loop_detector",
            "verdict": "warn",
            "reason": "repeated attack plan",
            "details": {"count": 3},
            "at": "2026-11-20T10:01:00.100Z",
        }
    ]


async def test_unknown_ids_are_404(ds):
    assert await get(ds, "/api/requests/nope", status=404) == {"error": "not found"}
    assert await get(ds, "/api/conversations/nope", status=404) == {"error": "not found"}


async def test_api_is_read_only(ds):
    response = await ds.client.post("/api/requests", data={})
    assert response.status_code in (403, 405)  # Datasette's CSRF check may answer first


async def test_conversations_list(ds):
    page = await get(ds, "/api/conversations")
    assert [c["conversation_id"] for c in page["items"]] == ["conv-d", "conv-c", "conv-b", "conv-a"]
    assert page["next_offset"] is None and page["redacted"] is False
    conv = page["items"][-1]
    assert set(conv) >= CONVERSATION_KEYS
    assert conv == conv | {
        "session_id": "s1",
        "first_at": "2026-11-20T10:00:00.000Z",
        "last_at": "2026-11-20T10:01:00.000Z",
        "turns": 3,
        "requests": 3,
        "client_apps": ["claude-code"],
        "models": ["claude-sonnet-4-5"],
        "input_tokens": 180,
        "output_tokens": 75,
        "cache_read_tokens": 3000,
        "cache_write_tokens": 2150,
        "errors": 0,
        "preview": "Please read the secret plan file",
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?app=openai-python", ["conv-c", "conv-b"]),
        ("?model=gpt-4o", ["conv-b"]),
        ("?app=openai-python&model=gpt-4o-mini", ["conv-c"]),
        ("?q=dawn", ["conv-a"]),
        ("?q=hunter2", ["conv-b"]),
        ("?limit=2", ["conv-d", "conv-c"]),
        ("?limit=2&offset=2", ["conv-b", "conv-a"]),
    ],
)
async def test_conversations_filters(ds, query, expected):
    page = await get(ds, f"/api/conversations{query}")
    assert [c["conversation_id"] for c in page["items"]] == expected


async def test_conversation_timeline(ds):
    conv = await get(ds, "/api/conversations/conv-a")
    assert conv["conversation_id"] == "conv-a" and conv["requests"] == 3
    assert conv["next_offset"] is None
    turns = conv["turns"]
    assert [t["request_id"] for t in turns] == ["a1", "a2", "a3"]
    assert [t["context_tokens"] for t in turns] == [2100, 2200, 1030]
    assert [t["context_delta"] for t in turns] == [None, 100, -1170]  # a3 shrank: compaction
    roles = [[m["role"] for m in t["new_messages"]] for t in turns]
    assert roles == [["user"], ["assistant", "user"], ["assistant", "user"]]
    call = turns[1]["new_messages"][0]["blocks"][1]
    assert call == {
        "type": "tool_call", "text": "", "name": "Read", "arguments": {"path": "plan.txt"},
        "id": "tu1", "is_error": False,
    }  # fmt: skip
    result = turns[1]["new_messages"][1]["blocks"][0]
    assert result["type"] == "tool_result" and result["text"] == "attack at dawn"
    assert turns[2]["new_messages"][1]["blocks"][0]["text"] == "Thanks, now summarise it"
    assert turns[0]["response"] == {
        "text": "Reading it.",
        "tool_calls": [{"name": "Read", "arguments": '{"path":"plan.txt"}'}],
        "stop_reason": "tool_use",
    }
    assert turns[0]["model"] == "claude-sonnet-4-5" and turns[0]["status"] == 200


async def test_conversation_timeline_pages_keep_diffs_against_the_turn_before(ds):
    page = await get(ds, "/api/conversations/conv-a?offset=1&limit=1")
    [turn] = page["turns"]
    assert turn["request_id"] == "a2" and turn["context_delta"] == 100
    assert [m["role"] for m in turn["new_messages"]] == ["assistant", "user"]
    assert page["next_offset"] == 2


async def test_stats_shape_and_numbers(ds):
    stats = await get(ds, "/api/stats?since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z")
    assert set(stats) >= {
        "overall", "by_model", "by_app", "by_client_ip", "by_upstream", "by_tool", "over_time",
    }  # fmt: skip
    overall = stats["overall"]
    assert overall["requests"] == 6  # the pending request is not counted until it finishes
    assert overall["errors"] == 2
    assert overall["input_tokens"] == 190 and overall["cache_read_tokens"] == 3000
    assert overall["latency_p50"] == 800.0 and overall["latency_p95"] == 2000.0
    assert overall["ttft_p50"] == 300.0
    by_app = {item["key"]: item for item in stats["by_app"]}
    assert set(by_app["openai-python"]) >= BREAKDOWN_KEYS
    assert by_app["openai-python"]["error_rate"] == 1.0
    assert by_app["claude-code"]["requests"] == 3
    assert {i["key"] for i in stats["by_client_ip"]} == {LOCAL_CLIENT, OTHER_CLIENT, "127.0.0.1"}
    assert {i["key"] for i in stats["by_upstream"]} == {"anthropic", "openai", "ollama"}
    tools = {t["tool"]: t for t in stats["by_tool"]}
    assert tools["Read"] == {"tool": "Read", "offered": 3, "called": 1, "errors": 0}
    assert len(stats["over_time"]) == 24  # hourly over a day
    assert sum(b["requests"] for b in stats["over_time"]) == 6
    assert stats["over_time"][10] == {
        "bucket": "2026-11-20T10:00:00.000Z", "requests": 3, "input_tokens": 180,
        "output_tokens": 75, "errors": 0,
    }  # fmt: skip


async def test_stats_edges_and_rollups_agree(ds):
    # A window not aligned on hours reads partial hours raw and whole hours from the rollup.
    aligned = await get(ds, "/api/stats?since=2026-11-20T09:00:00Z&until=2026-11-20T13:00:00Z")
    ragged = await get(ds, "/api/stats?since=2026-11-20T09:59:59Z&until=2026-11-20T12:00:01Z")
    assert aligned["overall"]["requests"] == ragged["overall"]["requests"] == 6
    small = await get(ds, "/api/stats?since=2026-11-20T10:00:00Z&until=2026-11-20T10:00:30Z")
    assert small["overall"]["requests"] == 2
    assert small["window"]["bucket_seconds"] == 60


async def test_stats_defaults_to_the_last_day(ds):
    stats = await get(ds, "/api/stats")
    window = stats["window"]
    since, until = (dt.datetime.fromisoformat(window[k]) for k in ("since", "until"))
    assert until - since == dt.timedelta(hours=24)
    assert abs(dt.datetime.now(dt.UTC) - until) < dt.timedelta(minutes=1)
    assert window["bucket_seconds"] == 3600 and 24 <= len(stats["over_time"]) <= 25
    await get(ds, "/api/stats?since=2026-11-21&until=2026-11-20", status=400)
