"""The inspector's HTML pages: Requests (the home), request detail, Conversations, Stats, Audit
and Rules.

Each page is a thin server-rendered shell over Datasette's own `base.html`; the content is drawn
in the browser from the JSON API under `<base_url>api/` by the ES modules in `static/js/`. So the
pages need no database access here, and the same redaction applies to them as to the API.

Templates and static files are served by this module itself rather than through Datasette's
plugin discovery, which only looks beside packages, not beside a module.
"""

from __future__ import annotations

import functools
import hashlib
import pathlib
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response, asgi_send_file
from jinja2 import ChoiceLoader, FileSystemLoader, Template

from datasette_plugins.config import InspectorConfig

HERE = pathlib.Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "-/inspector/static/"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# (path in the nav, label, page key)
NAV = (
    ("", "Requests", "requests"),
    ("conversations", "Conversations", "conversations"),
    ("stats", "Stats", "stats"),
    ("audit", "Audit", "audit"),
    ("rules", "Rules", "rules"),
)
TITLES = {
    "requests": "Requests",
    "request": "Request",
    "conversations": "Conversations",
    "conversation": "Conversation",
    "stats": "Stats",
    "audit": "Audit",
    "rules": "Rules",
}


@hookimpl
def register_routes(datasette) -> list[tuple[str, Any]]:
    return [
        (r"^/$", requests_page),
        (r"^/requests/?$", requests_page),
        (r"^/requests/(?P<request_id>[^/]+)$", request_page),
        (r"^/conversations/?$", conversations_page),
        (r"^/conversations/(?P<conversation_id>[^/]+)$", conversation_page),
        (r"^/stats/?$", stats_page),
        (r"^/audit/?$", audit_page),
        (r"^/rules/?$", rules_page),
        (r"^/-/inspector/static/(?P<path>[A-Za-z0-9_./-]+)$", static_file),
    ]


@hookimpl
def extra_css_urls(template, datasette) -> list[str] | None:
    if not template or not template.startswith("inspector/"):
        return None
    return [static_url(datasette, "inspector.css")]


@hookimpl
def menu_links(datasette) -> list[dict[str, str]]:
    return [{"href": datasette.urls.path(path), "label": label} for path, label, _ in NAV]


async def requests_page(datasette, request):
    return await render(datasette, request, "requests")


async def request_page(datasette, request):
    return await render(datasette, request, "request", item_id=request.url_vars["request_id"])


async def conversations_page(datasette, request):
    return await render(datasette, request, "conversations")


async def conversation_page(datasette, request):
    return await render(
        datasette, request, "conversation", item_id=request.url_vars["conversation_id"]
    )


async def stats_page(datasette, request):
    return await render(datasette, request, "stats")


async def audit_page(datasette, request):
    return await render(datasette, request, "audit")


async def rules_page(datasette, request):
    return await render(datasette, request, "rules")


async def static_file(request, send):
    path = request.url_vars["path"]
    full = (STATIC / path).resolve()
    if not full.is_file() or not full.is_relative_to(STATIC.resolve()):
        raise NotFound("no such file")
    await asgi_send_file(
        send,
        full,
        content_type=CONTENT_TYPES.get(full.suffix, "application/octet-stream"),
        headers={"cache-control": "no-cache"},
    )


async def render(datasette, request, page: str, item_id: str | None = None) -> Response:
    context = {
        "page": page,
        "page_title": TITLES[page],
        "item_id": item_id,
        "base_url": datasette.urls.path(""),
        "nav": [
            {"href": datasette.urls.path(path), "label": label, "active": key == nav_key(page)}
            for path, label, key in NAV
        ],
        "database_url": await database_url(datasette, request),
        "script_url": static_url(datasette, f"js/page-{page}.js"),
    }
    html = await datasette.render_template(template(datasette), context, request=request)
    return Response.html(html)


def nav_key(page: str) -> str:
    return {"request": "requests", "conversation": "conversations"}.get(page, page)


async def database_url(datasette, request) -> str | None:
    """Datasette's own page for the capture database (the configured one, else the first file),
    if this viewer may open it."""
    try:
        configured = InspectorConfig.from_datasette(datasette).database
    except ValueError:
        configured = None
    names = (
        [configured]
        if configured in datasette.databases
        else [
            name
            for name, database in datasette.databases.items()
            if name != "_internal" and not database.is_memory
        ]
    )
    if not names:
        return None
    allowed = await datasette.permission_allowed(
        request.actor, "view-database", resource=names[0], default=True
    )
    return datasette.urls.database(names[0]) if allowed else None


def template(datasette) -> Template:
    """The page template, in an overlay of Datasette's environment so `base.html` resolves."""
    env = datasette.jinja_env
    overlay = getattr(datasette, "_inspector_jinja_env", None)
    if overlay is None or overlay.loader.loaders[1] is not env.loader:
        overlay = env.overlay(loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), env.loader]))
        datasette._inspector_jinja_env = overlay
    return overlay.get_template("inspector/page.html")


def static_url(datasette, path: str) -> str:
    """The URL of a static file, versioned by its content so browsers never run stale code."""
    try:
        mtime = (STATIC / path).stat().st_mtime_ns
    except OSError:
        mtime = 0
    return datasette.urls.path(f"{STATIC_PREFIX}{path}?v={file_hash(path, mtime)}")


@functools.lru_cache(maxsize=64)
def file_hash(path: str, mtime_ns: int) -> str:
    try:
        return hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"
