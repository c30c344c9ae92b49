"""Who is looking, and may they look at all.

The viewer's address is the socket peer, except that when the peer is loopback and the request
carries `X-Forwarded-For`, it is the last entry of that header: the suite's proxy forwards
`/__proxy/*` to Datasette from 127.0.0.1 and overwrites the header with the real client address.

The rule for getting in:

- A loopback viewer never needs a token.
- Every other viewer needs the token (`LLM_INSPECTOR_UI_TOKEN`, or `token` in the plugin
  config), sent as `Authorization: Bearer <token>`, as the `llm_inspector_token` cookie, or once
  as `?token=<token>`, which sets that cookie. With no token configured, non-loopback viewers are
  refused, whether they come through the proxy's `/__proxy/` or straight to Datasette's port.
- Refusals are 403 with `{"error": ...}` (a short HTML page for browsers).

A viewer who gets in still sees content only as `redaction` allows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette_plugins.config import InspectorConfig
from datasette_plugins.redaction import Viewer, is_loopback

COOKIE = "llm_inspector_token"
SCOPE_KEY = "llm_inspector.viewer"

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def header(scope: dict[str, Any], name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers") or () if k.lower() == name]
    if not values:
        return None
    return ",".join(v.decode("latin-1") for v in values)


def viewer_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    peer = client[0] if client else ""
    forwarded = header(scope, b"x-forwarded-for")
    if forwarded and is_loopback(peer):
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return peer


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, not the token itself."""
    return hashlib.sha256(f"llm-inspector-ui:{token}".encode()).hexdigest()


def presented_token(scope: dict[str, Any], token: str) -> tuple[bool, bool]:
    """(valid, came in the query string) for the token a request presents."""
    authorization = header(scope, b"authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token):
        return True, False
    cookies = SimpleCookie()
    try:
        cookies.load(header(scope, b"cookie") or "")
    except Exception:  # a malformed Cookie header is just no cookie
        cookies = SimpleCookie()
    if COOKIE in cookies and hmac.compare_digest(cookies[COOKIE].value, cookie_value(token)):
        return True, False
    for key, value in query_params(scope):
        if key == "token" and hmac.compare_digest(value, token):
            return True, True
    return False, False


def query_params(scope: dict[str, Any]) -> list[tuple[str, str]]:
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def without_token(scope: dict[str, Any]) -> bytes:
    return urlencode([(k, v) for k, v in query_params(scope) if k != "token"]).encode()


def wants_html(scope: dict[str, Any]) -> bool:
    return "text/html" in (header(scope, b"accept") or "")


def gate(app: ASGIApp, config: Callable[[], InspectorConfig], base_path: Callable[[], str]):
    """Wrap Datasette's ASGI app: resolve the viewer, refuse or admit, remember the viewer in the
    scope (`SCOPE_KEY`) for the API, the actor and the permission checks."""

    async def gated(scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        settings = config()
        viewer = Viewer(viewer_ip(scope), settings.policy)
        set_cookie: str | None = None
        if not viewer.is_loopback:
            if not settings.token:
                await refuse(
                    scope,
                    send,
                    "this UI answers only loopback viewers unless a token is configured "
                    "(set LLM_INSPECTOR_UI_TOKEN or [ui] token)",
                )
                return
            valid, in_query = presented_token(scope, settings.token)
            if not valid:
                await refuse(
                    scope,
                    send,
                    "a token is needed: send 'Authorization: Bearer <token>' or open the page "
                    "once with ?token=<token>",
                )
                return
            if in_query:
                set_cookie = (
                    f"{COOKIE}={cookie_value(settings.token)}; Path={base_path()}; HttpOnly; "
                    "SameSite=Lax"
                )
                query = without_token(scope)
                if scope.get("method") == "GET" and wants_html(scope):
                    location = scope.get("root_path", "") + scope["path"]
                    if query:
                        location += "?" + query.decode("latin-1")
                    await respond(
                        send,
                        302,
                        b"",
                        "text/plain",
                        [("location", location), ("set-cookie", set_cookie)],
                    )
                    return
                scope = dict(scope, query_string=query)
        scope = dict(scope, **{SCOPE_KEY: viewer, "actor": actor(viewer)})
        if set_cookie is None:
            await app(scope, receive, send)
            return
        cookie = set_cookie.encode("latin-1")

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = dict(
                    message, headers=[*message.get("headers", []), (b"set-cookie", cookie)]
                )
            await send(message)

        await app(scope, receive, send_with_cookie)

    return gated


def actor(viewer: Viewer) -> dict[str, Any]:
    """The Datasette actor for a viewer; `permission_allowed` reads `llm_inspector` from it."""
    return {
        "id": f"viewer:{viewer.ip}",
        "llm_inspector": {"ip": viewer.ip, "sees_everything": viewer.sees_everything},
    }


def sees_everything(actor: dict[str, Any] | None) -> bool:
    """Whether an actor may use Datasette's own table, row, SQL and export views."""
    info = (actor or {}).get("llm_inspector")
    return isinstance(info, dict) and info.get("sees_everything") is True


async def refuse(scope: dict[str, Any], send: Callable, message: str) -> None:
    if wants_html(scope) and "/api/" not in scope.get("path", ""):
        body = (
            f"<!DOCTYPE html><title>403 Forbidden</title><h1>403 Forbidden</h1><p>{message}</p>"
        ).encode()
        await respond(send, 403, body, "text/html; charset=utf-8")
    else:
        await respond(send, 403, json.dumps({"error": message}).encode(), "application/json")


async def respond(
    send: Callable,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"private, no-store"),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
