"""Analysis: snapshots in, rows out, in order, failures counted."""

from __future__ import annotations

import json

import pytest

from addons.pipeline import Begin, Chunks, Finish, Pipeline

ANTHROPIC_BODY = json.dumps(
    {
        "model": "claude-opus-4-8",
        "max_tokens": 64,
        "stream": False,
        "system": "Be terse.",
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "list files please"}],
    }
).encode()
RESPONSE = json.dumps(
    {
        "id": "msg_9",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-8-20261101",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 30,
            "output_tokens": 9,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 5,
        },
    }
).encode()
HEADERS = (
    (b"user-agent", b"claude-cli/2.1.197 (external, sdk-cli)"),
    (b"x-api-key", b"sk-ant-secret-key-value-0000-WXYZ"),
    (b"X-Claude-Code-Session-Id", b"11111111-2222-3333-4444-555555555555"),
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def begin(self, row, body):
        self.calls.append(("begin", row, body))

    def progress(self, request_id, fields):
        self.calls.append(("progress", request_id, fields))

    def finish(self, row, response_body, stream_body):
        self.calls.append(("finish", row, response_body, stream_body))


def begin(**kw) -> Begin:
    fields = dict(
        id="f1",
        started_at=1_790_000_000.0,
        listener="reverse",
        method="POST",
        scheme="http",
        host="127.0.0.1",
        path="/v1/messages?beta=true",
        upstream="anthropic",
        upstream_url="https://api.anthropic.com",
        peer_ip="127.0.0.1",
        headers=HEADERS,
        body=ANTHROPIC_BODY,
    )
    return Begin(**(fields | kw))


def run(*jobs):
    recorder = Recorder()
    pipeline = Pipeline(recorder)
    seen = []
    pipeline.on_summary(seen.append)
    for job in jobs:
        pipeline.analyse(job)
    return recorder.calls, seen, pipeline


def test_begin_row_is_parsed_identified_threaded_and_scrubbed():
    calls, _, _ = run(begin())
    [(kind, row, body)] = calls
    assert kind == "begin" and body == ANTHROPIC_BODY
    assert row["state"] == "pending" and row["dialect"] == "anthropic"
    assert row["requested_model"] == "claude-opus-4-8" and row["is_stream"] == 0
    assert row["client_app"] == "claude-code"
    assert row["session_id"] == "11111111-2222-3333-4444-555555555555"
    assert row["conversation_id"] and row["turn_index"] == 1
    assert row["tools_offered"] == ["Bash"] and row["prompt_preview"] == "list files please"
    assert row["tokens_estimated"] == 1 and row["input_tokens"] > 0
    assert row["started_at"].endswith("Z")
    assert "sk-ant-secret" not in json.dumps(row)


def test_finish_row_carries_usage_tool_calls_and_served_model():
    calls, seen, _ = run(
        begin(),
        Finish(
            id="f1",
            ended_at=1_790_000_001.5,
            status=200,
            headers=((b"content-type", b"application/json"),),
            body=RESPONSE,
            latency_ms=1500.0,
            ttft_ms=1400.0,
            overhead_ms=0.2,
        ),
    )
    assert [c[0] for c in calls] == ["begin", "finish"]
    row = calls[-1][1]
    assert row["state"] == "complete" and row["error"] is None
    assert row["served_model"] == "claude-opus-4-8-20261101"
    assert (row["input_tokens"], row["output_tokens"]) == (30, 9)
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (100, 5)
    assert row["tokens_estimated"] == 0 and row["stop_reason"] == "tool_use"
    assert row["tool_calls"] == [{"id": "toolu_1", "name": "Bash", "arguments": '{"command":"ls"}'}]
    assert row["client_app"] == "claude-code"  # begin-time fields travel with the finish
    assert seen == [row]


def test_gzip_response_body_is_decoded_before_parsing():
    import gzip

    calls, _, _ = run(
        begin(),
        Finish(
            id="f1",
            ended_at=1_790_000_001.0,
            status=200,
            body=gzip.compress(RESPONSE),
            headers=((b"content-type", b"application/json"), (b"content-encoding", b"gzip")),
        ),
    )
    row, stored = calls[-1][1], calls[-1][2]
    assert stored == RESPONSE and row["output_tokens"] == 9


def test_upstream_error_status_is_an_error_with_its_message():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    calls, _, _ = run(
        begin(),
        Finish(
            id="f1",
            ended_at=1_790_000_001.0,
            status=529,
            body=body,
            headers=((b"content-type", b"application/json"),),
        ),
    )
    row = calls[-1][1]
    assert row["state"] == "error" and row["error"] == "upstream 529: overloaded_error: Overloaded"


def test_finish_without_begin_still_records_a_row():
    calls, _, _ = run(Finish(id="lost", ended_at=1_790_000_001.0, status=200))
    [(kind, row, *_)] = calls
    assert kind == "finish" and row["id"] == "lost" and row["state"] == "complete"


def test_a_failing_job_is_counted_and_the_next_one_goes_on():
    class Broken(Recorder):
        def begin(self, row, body):
            raise RuntimeError("boom")

    recorder = Broken()
    pipeline = Pipeline(recorder)
    pipeline.analyse(begin())  # does not raise
    pipeline.analyse(Finish(id="f1", ended_at=1.0, status=200))
    assert pipeline.counters.errors == 1 and "boom" in pipeline.counters.last_error
    assert pipeline.counters.jobs == 2
    assert [c[0] for c in recorder.calls] == ["finish"]


def test_compressed_request_body_is_parsed_but_stored_as_sent():
    import gzip

    packed = gzip.compress(ANTHROPIC_BODY)
    calls, _, _ = run(begin(body=packed, headers=HEADERS + ((b"content-encoding", b"gzip"),)))
    [(kind, row, body)] = calls
    assert body == packed and row["requested_model"] == "claude-opus-4-8"


SSE = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":'
    b'{"input_tokens":12,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hello"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":7}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
SSE_HEADERS = ((b"content-type", b"text/event-stream"),)


def chunked(data: bytes, size: int, start: float = 1_790_000_000.5) -> list[tuple[float, bytes]]:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return [(start + n / 100, piece) for n, piece in enumerate(pieces)]


def stream_finish(**kw) -> Finish:
    return Finish(
        id="f1",
        ended_at=1_790_000_002.0,
        status=200,
        headers=SSE_HEADERS,
        streamed=True,
        request_end=1_790_000_000.0,
        **kw,
    )


def test_stream_chunks_give_live_counts_then_the_whole_response():
    import gzip

    packed = gzip.compress(SSE)
    items = chunked(packed, 9)
    half = len(items) // 2
    calls, _, _ = run(
        begin(),
        Chunks("f1", items[:half], "gzip", "anthropic"),
        Chunks("f1", items[half:], "gzip", "anthropic"),
        stream_finish(),
    )
    kinds = [c[0] for c in calls]
    assert kinds == ["begin", "progress", "progress", "finish"]
    row, _, stream_body = calls[-1][1:]
    assert stream_body == SSE  # decoded, as the client's SDK read it
    assert row["response_text"] == "Hello" and row["output_tokens"] == 7
    assert row["stream_events"] == 6 and row["error"] is None
    # From the arrival of the chunk that carried the first text: 500 ms + 10 ms per chunk.
    assert 500 <= row["ttft_ms"] <= 500 + 10 * len(items)


def test_the_time_to_first_token_is_when_the_chunk_with_the_first_text_came():
    """However the chunks of a job are framed, the time to first token is that of the chunk
    that completed the first output event, as feeding them one by one tells."""
    from addons import wire

    items = chunked(SSE, 7)
    accumulator = wire.stream_accumulator("anthropic")
    first = next(at for at, data in items if accumulator.feed(data))
    calls, _, _ = run(begin(), Chunks("f1", items, None, "anthropic"), stream_finish())
    row, _, stream_body = calls[-1][1:]
    assert row["ttft_ms"] == pytest.approx((first - 1_790_000_000.0) * 1000)
    assert stream_body == SSE and row["response_text"] == "Hello" and row["stream_events"] == 6


def test_a_stream_longer_than_what_is_kept_is_stored_as_its_beginning():
    items = chunked(SSE, 40)
    pipeline = Pipeline(recorder := Recorder(), max_keep=100)
    for job in (begin(), Chunks("f1", items, None, "anthropic"), stream_finish()):
        pipeline.analyse(job)
    row, _, stream_body = recorder.calls[-1][1:]
    assert stream_body == SSE[:100]
    assert row["response_text"] == "Hello"  # the response is still read whole


def test_a_stream_cut_before_its_final_event_is_an_error():
    cut = SSE[: SSE.index(b"event: message_delta")]
    calls, _, _ = run(begin(), Chunks("f1", chunked(cut, 50), None, "anthropic"), stream_finish())
    row = calls[-1][1]
    assert row["state"] == "error" and "ended before its final event" in row["error"]
    assert row["response_text"] == "Hello"


def test_a_stream_that_does_not_decode_says_so():
    calls, _, _ = run(
        begin(),
        Chunks("f1", [(1_790_000_000.5, b"not gzip at all")], "gzip", "anthropic"),
        stream_finish(),
    )
    assert "could not decode" in calls[-1][1]["error"]
