"""The JSON API under `<base_url>api/`: requests, conversations, stats, info.

Every handler reads through Datasette's read connections (`execute_fn`), never writes, and
applies the viewer's redaction to what it returns. Errors are `{"error": "..."}` with 400, 403,
404, 405 or 503.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any

from datasette.utils.asgi import Response

from datasette_plugins import queries, redaction
from datasette_plugins.auth import SCOPE_KEY, viewer_ip
from datasette_plugins.config import InspectorConfig
from datasette_plugins.redaction import Viewer

NAME = "llm-inspector"
VERSION = "0.1.0"


def routes() -> list[tuple[str, Callable]]:
    return [
        (r"^/api/info/?$", info),
        (r"^/api/requests/?$", requests_list),
        (r"^/api/requests/(?P<request_id>[^/]+)$", request_detail),
        (r"^/api/conversations/?$", conversations_list),
        (r"^/api/conversations/(?P<conversation_id>[^/]+)$", conversation_detail),
        (r"^/api/stats/?$", stats),
    ]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status=status)


def viewer(datasette, request) -> Viewer:
    found = request.scope.get(SCOPE_KEY)
    if isinstance(found, Viewer):
        return found
    # Only without the ASGI gate (a test app): compute it the same way.
    return Viewer(viewer_ip(request.scope), InspectorConfig.from_datasette(datasette).policy)


def database(datasette):
    """The capture database: the configured name, else the first file database served."""
    name = InspectorConfig.from_datasette(datasette).database
    if name:
        if name not in datasette.databases:
            raise ApiError(503, f"database {name!r} is not served")
        return datasette.databases[name]
    for db_name, db in datasette.databases.items():
        if db_name != "_internal" and not db.is_memory:
            return db
    raise ApiError(503, "no capture database is served")


def endpoint(handler: Callable) -> Callable:
    """GET only; turns BadRequest, ApiError and a missing schema into JSON errors."""

    async def view(datasette, request):
        if request.method not in ("GET", "HEAD"):
            return error(405, "method not allowed")
        try:
            return await handler(datasette, request)
        except queries.BadRequest as e:
            return error(400, str(e))
        except ApiError as e:
            return error(e.status, str(e))
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return error(503, f"the database has an older schema ({e}); start the proxy once")
            raise

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


async def read(datasette, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    return await database(datasette).execute_fn(fn)


@endpoint
async def info(datasette, request):
    settings = InspectorConfig.from_datasette(datasette)
    who = viewer(datasette, request)
    db = database(datasette)
    return Response.json(
        {
            "name": NAME,
            "version": VERSION,
            "database": db.path,
            "redaction": {
                "enabled": settings.redact,
                "ipv4_prefix": settings.ipv4_prefix,
                "ipv6_prefix": settings.ipv6_prefix,
            },
            "viewer": {"ip": who.ip, "sees_everything": who.sees_everything},
        }
    )


@endpoint
async def requests_list(datasette, request):
    filters = queries.RequestFilters.from_args(request.args)
    limit, offset = queries.parse_paging(request.args)
    who = viewer(datasette, request)
    result = await read(
        datasette, lambda conn: queries.list_requests(conn, filters, limit, offset, who)
    )
    result["items"] = [redaction.redact_item(item, who) for item in result["items"]]
    result["redacted"] = any(item["redacted"] for item in result["items"])
    return Response.json(result)


@endpoint
async def request_detail(datasette, request):
    request_id = request.url_vars["request_id"]
    item = await read(datasette, lambda conn: queries.get_request(conn, request_id))
    if item is None:
        return error(404, "not found")
    if item["conversation"] is not None:
        item["conversation"]["url"] = conversation_url(datasette, item["conversation"]["id"])
    return Response.json(redaction.redact_item(item, viewer(datasette, request)))


@endpoint
async def conversations_list(datasette, request):
    args = request.args
    limit, offset = queries.parse_paging(args)
    app, model, q = ((args.get(k) or "").strip() or None for k in ("app", "model", "q"))
    who = viewer(datasette, request)
    result = await read(
        datasette,
        lambda conn: queries.list_conversations(
            conn, app=app, model=model, q=q, limit=limit, offset=offset, viewer=who
        ),
    )
    for item in result["items"]:
        redaction.redact_conversation(item, who)
        item["url"] = conversation_url(datasette, item["conversation_id"])
    result["redacted"] = any(item["redacted"] for item in result["items"])
    return Response.json(result)


@endpoint
async def conversation_detail(datasette, request):
    conversation_id = request.url_vars["conversation_id"]
    limit, offset = queries.parse_paging(request.args, queries.MAX_LIMIT, queries.MAX_TURNS)
    who = viewer(datasette, request)
    item = await read(
        datasette,
        lambda conn: queries.get_conversation(conn, conversation_id, limit=limit, offset=offset),
    )
    if item is None:
        return error(404, "not found")
    item["url"] = conversation_url(datasette, conversation_id)
    return Response.json(redaction.redact_conversation(item, who))


@endpoint
async def stats(datasette, request):
    now = dt.datetime.now(dt.UTC)
    args = request.args
    until = (
        queries.parse_time(args["until"], "until", now) if args.get("until") else queries.iso(now)
    )
    since = (
        queries.parse_time(args["since"], "since", now)
        if args.get("since")
        else queries.iso(now - dt.timedelta(hours=24))
    )
    return Response.json(await read(datasette, lambda conn: queries.stats(conn, since, until)))


def conversation_url(datasette, conversation_id: str) -> str:
    return datasette.urls.path(f"conversations/{conversation_id}")
