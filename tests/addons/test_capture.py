"""Capture hooks with mitmproxy's own test helpers: what each hook hands to the pipeline."""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow, tutils

from addons import config, replies
from addons.capture import STATE, Capture, StreamTap
from addons.pipeline import Begin, Chunks, Finish
from addons.routing import Router

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


class Jobs:
    def __init__(self) -> None:
        self.jobs: list = []

    def submit(self, job) -> None:
        self.jobs.append(job)

    def of(self, kind):
        return [j for j in self.jobs if isinstance(j, kind)]


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "mitm.toml"
    path.write_text('[upstreams]\nanthropic = "http://127.0.0.1:9001"\n')
    jobs = Jobs()  # stands in for the recorder process
    return SimpleNamespace(config=config.load(path, env={}), worker=jobs, pipeline=jobs)


def llm_flow(body: bytes = b'{"model":"claude-x","messages":[]}', path: str = "/v1/messages"):
    client = tflow.tclient_conn()
    client.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9001@127.0.0.1:8000")
    req = tutils.treq(method=b"POST", path=path.encode(), content=body)
    return tflow.tflow(client_conn=client, req=req)


def run_request(suite, flow) -> Capture:
    capture = Capture(suite)
    Router(suite).requestheaders(flow)
    capture.requestheaders(flow)
    capture.request(flow)
    return capture


def test_request_hook_takes_a_snapshot_without_parsing(suite):
    with taddons.context():
        flow = llm_flow()
        capture = run_request(suite, flow)
        [begin] = suite.pipeline.of(Begin)
        assert begin.id == flow.id and begin.upstream == "anthropic"
        assert begin.body is flow.request.raw_content  # a reference, not a copy
        assert begin.headers is flow.request.headers.fields
        assert begin.thread is None  # parsing and threading happen in the recorder process
        assert flow.id in capture.inflight


def test_buffered_response_is_finished_with_its_raw_body(suite):
    with taddons.context():
        flow = llm_flow()
        capture = run_request(suite, flow)
        flow.response = tutils.tresp(content=b'{"id":"msg_1"}')
        capture.responseheaders(flow)
        capture.response(flow)
        [finish] = suite.pipeline.of(Finish)
        assert finish.status == 200 and finish.body == b'{"id":"msg_1"}'
        assert not finish.streamed and finish.error is None
        assert finish.latency_ms >= 0 and finish.overhead_ms > 0
        assert flow.id not in capture.inflight


def test_event_stream_is_relayed_unchanged_and_handed_over_in_chunks(suite):
    with taddons.context():
        flow = llm_flow()
        capture = run_request(suite, flow)
        flow.response = tutils.tresp(content=None)
        flow.response.headers["content-type"] = "text/event-stream"
        capture.responseheaders(flow)
        tap = flow.response.stream
        assert isinstance(tap, StreamTap)
        relayed = [tap(SSE[i : i + 7]) for i in range(0, len(SSE), 7)]
        assert b"".join(relayed) == SSE
        assert tap(b"") == []  # an empty chunk would end the client's chunked body early
        capture.response(flow)
        shipped = suite.pipeline.of(Chunks)
        assert b"".join(data for job in shipped for _, data in job.items) == SSE
        assert all(job.dialect == "anthropic" for job in shipped)
        [finish] = suite.pipeline.of(Finish)
        assert finish.streamed and finish.body is None and finish.response_bytes == len(SSE)
        assert finish.request_end is not None and finish.error is None


def test_chunks_are_handed_over_at_once_then_at_most_every_interval(suite):
    with taddons.context():
        flow = llm_flow()
        capture = run_request(suite, flow)
        flow.response = tutils.tresp(content=None)
        flow.response.headers["content-type"] = "text/event-stream"
        capture.responseheaders(flow)
        for i in range(0, len(SSE), 3):
            flow.response.stream(SSE[i : i + 3])
        assert len(suite.pipeline.of(Chunks)) == 1  # the first chunk goes at once: row is live
        tap = flow.response.stream
        capture.expire(tap.next_flush + 0.01)  # the watchdog hands over what a quiet stream has
        assert len(suite.pipeline.of(Chunks)) == 2


def test_compressed_stream_goes_to_the_recorder_still_encoded(suite):
    wire = gzip.compress(SSE)
    with taddons.context():
        flow = llm_flow()
        capture = run_request(suite, flow)
        flow.response = tutils.tresp(content=None)
        flow.response.headers.update(
            {"content-type": "text/event-stream", "content-encoding": "gzip"}
        )
        capture.responseheaders(flow)
        tap = flow.response.stream
        assert b"".join(tap(wire[i : i + 5]) for i in range(0, len(wire), 5)) == wire
        tap(b"")
        shipped = suite.pipeline.of(Chunks)
        assert b"".join(d for job in shipped for _, d in job.items) == wire
        assert shipped[0].encoding == "gzip"


def test_upstream_failure_registers_a_reply_in_the_clients_dialect(suite):
    with taddons.context():
        flow = llm_flow(path="/v1/chat/completions")
        capture = run_request(suite, flow)
        flow.error = flow.error or tflow.terr("[Errno 111] Connect call failed")
        flow.response = None
        capture.error(flow)
        reply = replies.PENDING.pop(flow.client_conn.id)
        assert reply.status == 502
        body = json.loads(reply.body)
        assert (
            body["error"]["type"] == "server_error"
            and "Connect call failed" in body["error"]["message"]
        )
        assert reply.trailer.startswith(b"data: {")
        [finish] = suite.pipeline.of(Finish)
        assert finish.status == 502 and "Connect call failed" in finish.error


def test_client_disconnect_registers_no_reply(suite):
    with taddons.context():
        flow = llm_flow()
        capture = run_request(suite, flow)
        flow.error = tflow.terr("Client disconnected.")
        capture.error(flow)
        assert flow.client_conn.id not in replies.PENDING
        [finish] = suite.pipeline.of(Finish)
        assert finish.error.startswith("client disconnected")


def test_non_llm_flows_are_left_alone(suite):
    with taddons.context():
        capture = Capture(suite)
        flow = tflow.tflow(resp=True)
        flow.client_conn.proxy_mode = ProxyMode.parse("regular")
        Router(suite).requestheaders(flow)
        capture.requestheaders(flow)
        capture.request(flow)
        capture.response(flow)
        assert STATE not in flow.metadata and suite.pipeline.jobs == []


def test_the_http1_seam_is_installed_once():
    from mitmproxy.proxy.layers.http import _http1

    assert replies.install() and replies.install()
    assert _http1.Http1Server.send.inspector_wrapped
