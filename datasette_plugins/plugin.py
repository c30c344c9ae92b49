"""The Datasette plugin: JSON API routes, the viewer gate, and who may use Datasette's own views.

Registered through the `datasette` entry point `inspector = "datasette_plugins.plugin"`. The
HTML pages live in `pages.py`, registered as their own entry point; the audit log and the rules
forwarding (`audit.py`) are routes of this plugin.

Datasette's table, row, SQL and export views show content without redaction, so a viewer who
may not see everything (redaction on and not on loopback) is denied all of them for every
database, and may only run the suite's canned queries, which read no content. Loopback viewers
(and everyone, with redaction off) get them all.
"""

from __future__ import annotations

import importlib

from datasette import hookimpl

from addons.store import bodies
from datasette_plugins import api, audit, auth, redaction
from datasette_plugins.config import InspectorConfig
from datasette_plugins.queries import CANNED_QUERIES

# Actions on a database's content that a restricted viewer is refused.
CONTENT_ACTIONS = frozenset(
    {
        "view-database",
        "view-database-download",
        "view-table",
        "execute-sql",
        "insert-row",
        "delete-row",
        "update-row",
        "create-table",
        "drop-table",
    }
)
PLUGIN_MODULES = ("datasette_plugins.plugin", "datasette_plugins.pages")


@hookimpl
def startup(datasette):
    InspectorConfig.from_datasette(datasette)  # a bad setting stops Datasette at start


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        return auth.gate(
            app,
            lambda: InspectorConfig.from_datasette(datasette),
            lambda: datasette.urls.path(""),
        )

    return wrap


@hookimpl
def actor_from_request(datasette, request):
    viewer = request.scope.get(auth.SCOPE_KEY)
    if viewer is None:
        return None
    return auth.actor(viewer)


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    if auth.sees_everything(actor):
        return None
    if action == "view-query":
        _, name = resource
        return name in CANNED_QUERIES
    if action in CONTENT_ACTIONS:
        return False
    return None


@hookimpl
def register_routes(datasette):
    return api.routes() + audit.routes()


@hookimpl
def skip_csrf(datasette, scope):
    return audit.skip_csrf(datasette, scope)


@hookimpl
def prepare_connection(conn):
    bodies.register_functions(conn)
    redaction.register_sql_function(conn)


def ensure_registered() -> None:
    """Register this plugin and the pages with Datasette if the entry points did not (a source
    checkout that was not `pip install`ed): the database is never served without the gate."""
    from datasette.plugins import pm

    for name in PLUGIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            if name == __name__:
                raise
            continue  # the pages are optional; the gate is not
        if not pm.is_registered(module):
            pm.register(module, name=name)
