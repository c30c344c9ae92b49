"""Answer upstream failures in the client's own dialect, and enforce upstream timeouts.

mitmproxy 11 answers a failed upstream (refused, reset, cut) from its HTTP/1 server layer with a
hard-coded HTML page, after the `error` hook has run, and no hook can change that page. An SDK
that receives HTML shows a parse error instead of the reason. So this module owns the suite's two
seams into mitmproxy's internals, both small and covered by tests that fail if mitmproxy changes:

1. `install()` wraps `Http1Server.send`: when the layer is about to send its protocol error to a
   client connection for which the `error` hook registered a `Reply`, the reply is sent instead: a
   whole JSON error response if nothing was sent yet, or a last error event on a stream that was
   already under way (only when that stream is chunked and not content-encoded, so we never
   corrupt it). HTTP/2 clients keep mitmproxy's default behaviour.
2. `abort_upstream(flow)` cancels the flow's server connection task, which makes mitmproxy end
   the flow through its normal error path; the timeout watchdog uses it.

Failure policy: fails open. If a seam is missing the client gets mitmproxy's default error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mitmproxy import ctx, http
from mitmproxy.connection import ConnectionState
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.proxy.layers.http._events import (
    ResponseData,
    ResponseEndOfMessage,
    ResponseHeaders,
    ResponseProtocolError,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes  # sent when no response has started
    trailer: bytes = b""  # sent as the last chunk when a stream had started


# Registry of replies waiting for their connection's protocol error: client connection id -> Reply.
# HTTP/1 carries one request at a time per connection, so the id names the flow exactly.
PENDING: dict[str, Reply] = {}


def register(flow: http.HTTPFlow, reply: Reply) -> None:
    PENDING[flow.client_conn.id] = reply


def forget(connection_id: str) -> None:
    PENDING.pop(connection_id, None)


def install() -> bool:
    """Wrap Http1Server.send once per process. Returns False if the seam is gone."""
    original = getattr(_http1.Http1Server, "send", None)
    if original is None:
        log.warning("mitmproxy changed: Http1Server.send not found, dialect errors disabled")
        return False
    if getattr(original, "inspector_wrapped", False):
        return True

    def send(self, event):
        # Not a generator itself: every other event gets mitmproxy's own generator untouched,
        # so the wrapper costs one type check per event.
        if type(event) is ResponseProtocolError:
            reply = PENDING.pop(self.conn.id, None)
            if reply is not None and self.conn.state & ConnectionState.CAN_WRITE:
                return _send_reply(self, original, event, reply)
        return original(self, event)

    send.inspector_wrapped = True  # type: ignore[attr-defined]
    _http1.Http1Server.send = send  # type: ignore[method-assign]
    return True


def _send_reply(server, original, event: ResponseProtocolError, reply: Reply):
    started = server.response
    if started is None:
        response = http.Response.make(
            reply.status,
            reply.body,
            {"content-type": reply.content_type, "connection": "close"},
        )
        yield from original(server, ResponseHeaders(event.stream_id, response, end_stream=False))
        yield from original(server, ResponseData(event.stream_id, reply.body))
        yield from original(server, ResponseEndOfMessage(event.stream_id))
    elif (
        reply.trailer
        and "chunked" in started.headers.get("transfer-encoding", "").lower()
        and started.headers.get("content-encoding", "identity").lower() == "identity"
    ):
        yield from original(server, ResponseData(event.stream_id, reply.trailer))
        yield from original(server, ResponseEndOfMessage(event.stream_id))
    yield commands.CloseConnection(server.conn)


def abort_upstream(flow: http.HTTPFlow) -> bool:
    """Cancel the flow's upstream connection (connecting or connected). False if not found."""
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(flow.client_conn.id)
    transport = getattr(handler, "transports", {}).get(flow.server_conn)
    task = getattr(transport, "handler", None)
    if task is None or task.done():
        return False
    task.cancel("llm-inspector: upstream timeout")
    return True
