"""The audit log and the rules, for the Audit and Rules pages.

`GET <base_url>api/audit` lists rule verdicts newest first (`verdict`, `rule`, `since`, `until`,
`include_allow`, `limit`, `offset`) with each one's request, and counts them per verdict and per
rule over the same time window (the counts ignore the verdict and rule filters, so the page
can show what the filters pick from). A verdict's reason and details quote the exchange, so
they are redacted for viewers who may not see its client's content; the rest is metadata.
Every list walks an index newest first, and the counts read whole hours from the hourly
rollup (both migration m003); see `test_query_plans.py`.

`<base_url>api/rules`, `.../history`, `.../schema`, `.../restore` and `.../mode` (the routing
mode: passthrough, or redirect Anthropic clients to a local model) belong to the proxy suite,
which answers them itself on its own listener. When the UI is opened on Datasette's own port,
these routes forward them to the suite (`suite_url` in the plugin settings, which the suite
passes when it starts Datasette): reading for viewers who see everything, changing only for
viewers on this machine, whom the suite's version history then names as `ui:<ip>`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from datasette.utils.asgi import Response

from datasette_plugins import api, queries, redaction
from datasette_plugins.config import InspectorConfig
from datasette_plugins.queries import BadRequest

VERDICTS = ("block", "intercept", "rewrite", "warn", "allow")
COUNT_BUDGET_MS = 2000  # counting a whole multi-million-row log: give up rather than hang
FORWARD_TIMEOUT_S = 15.0
RULES_PATH = "/__proxy/api/rules"  # where the suite answers, on its reverse listener
METHODS = {
    None: ("GET", "HEAD", "POST"),
    "history": ("GET", "HEAD"),
    "schema": ("GET", "HEAD"),
    "restore": ("POST",),
    "mode": ("GET", "HEAD", "POST"),
}
REQUEST_FIELDS = ("started_at", "client_app", "requested_model", "path", "status", "client_ip")


def routes() -> list[tuple[str, Callable]]:
    return [
        (r"^/api/audit/?$", audit),
        (r"^/api/rules/?$", rules),
        (r"^/api/rules/(?P<part>history|schema|restore|mode)/?$", rules),
    ]


# -- the audit log -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AuditFilters:
    verdict: str | None = None
    rule: str | None = None
    since: str | None = None
    until: str | None = None
    include_allow: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> AuditFilters:
        text = {
            k: (args.get(k) or "").strip() or None for k in ("verdict", "rule", "since", "until")
        }
        include = (args.get("include_allow") or "").strip().lower()
        if include not in ("", "0", "1", "false", "true", "no", "yes", "off", "on"):
            raise BadRequest("include_allow: true or false")
        for name in ("since", "until"):
            value = text[name]
            if value:
                text[name] = queries.parse_time(value, name)
        return cls(include_allow=include in ("1", "true", "yes", "on"), **text)


def window_terms(filters: AuditFilters, params: dict[str, Any]) -> list[str]:
    where = []
    if filters.since:
        where.append("v.at >= :since")
        params["since"] = filters.since
    if filters.until:
        where.append("v.at < :until")
        params["until"] = filters.until
    return where


def audit_sql(filters: AuditFilters, limit: int, offset: int) -> tuple[str, dict[str, Any]]:
    """The verdicts page: newest first, walking the index of the most selective filter."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = window_terms(filters, params)
    if filters.verdict:
        where.append("v.verdict = :verdict")
        params["verdict"] = filters.verdict
    elif not filters.include_allow:
        where.append("v.verdict IS NOT 'allow'")
    if filters.rule:
        where.append("v.rule_id = :rule")
        params["rule"] = filters.rule
    index = (
        "idx_verdicts_rule"
        if filters.rule
        else "idx_verdicts_verdict_at"
        if filters.verdict
        else "idx_verdicts_at"
    )
    columns = ", ".join(f"r.{name} AS request_{name}" for name in REQUEST_FIELDS)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    sql = (
        "SELECT v.request_id, v.seq, v.at, v.phase, v.rule_id, v.verdict, v.reason, v.details, "
        f"r.id IS NOT NULL AS request_found, {columns} "
        f"FROM verdicts v INDEXED BY {index} LEFT JOIN requests r ON r.id = v.request_id"
        f"{clause} ORDER BY v.at DESC, v.request_id DESC, v.seq DESC "
        "LIMIT :limit OFFSET :offset"
    )
    return sql, params


def count_sql(filters: AuditFilters) -> list[tuple[str, dict[str, Any]]]:
    """Statements whose (verdict, rule_id, count) rows add up to the counts in the window: the
    whole hours from the `verdicts_hourly` rollup, the partial hours at the edges from the
    covering index on `verdicts.at`."""
    since, until = filters.since, filters.until
    first = _hour(since, up=True) if since else None  # the first whole hour
    end = _hour(until, up=False) if until else None  # the end of the last whole hour
    if first is not None and end is not None and first >= end:
        return [_edge_sql(since, until)]
    where, params = [], {}
    if first is not None:
        where.append("hour >= :first")
        params["first"] = first.strftime(HOUR_KEY)
    if end is not None:
        where.append("hour < :end")
        params["end"] = end.strftime(HOUR_KEY)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    statements = [
        (
            f"SELECT verdict, rule_id, sum(count) FROM verdicts_hourly{clause} "
            "GROUP BY verdict, rule_id",
            params,
        )
    ]
    if first is not None and since and queries.iso(first) > since:
        statements.append(_edge_sql(since, queries.iso(first)))
    if end is not None and until and until > queries.iso(end):
        statements.append(_edge_sql(queries.iso(end), until))
    return statements


HOUR_KEY = "%Y-%m-%dT%H:00:00Z"  # as the m003 triggers write `verdicts_hourly.hour`


def _hour(stamp: str, *, up: bool) -> dt.datetime:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor + dt.timedelta(hours=1) if up and floor < moment else floor


def _edge_sql(since: str | None, until: str | None) -> tuple[str, dict[str, Any]]:
    return (
        "SELECT coalesce(verdict, ''), coalesce(rule_id, ''), count(*) "
        "FROM verdicts v INDEXED BY idx_verdicts_at WHERE v.at >= :since AND v.at < :until "
        "GROUP BY 1, 2",
        {"since": since, "until": until},
    )


def audit_item(row: Mapping[str, Any]) -> dict[str, Any]:
    details = row["details"]
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            pass
    request = (
        {name: row[f"request_{name}"] for name in REQUEST_FIELDS} if row["request_found"] else None
    )
    return {
        "request_id": row["request_id"],
        "seq": row["seq"],
        "at": row["at"],
        "phase": row["phase"],
        "rule_id": row["rule_id"],
        "verdict": row["verdict"],
        "reason": row["reason"],
        "details": details,
        "request": request,
    }


def count_verdicts(conn: sqlite3.Connection, filters: AuditFilters) -> dict[str, Any] | None:
    """Counts per verdict and per (rule, verdict), or None when they take too long to count."""
    totals: dict[tuple[str, str], int] = {}
    try:
        with queries.time_limit(conn, COUNT_BUDGET_MS):
            for sql, params in count_sql(filters):
                for verdict, rule_id, count in conn.execute(sql, params):
                    totals[verdict, rule_id] = totals.get((verdict, rule_id), 0) + count
    except sqlite3.OperationalError as e:
        if "interrupted" not in str(e):
            raise
        return None
    by_verdict = dict.fromkeys(VERDICTS, 0)
    counted = sorted(
        ((count, verdict, rule_id) for (verdict, rule_id), count in totals.items() if count > 0),
        key=lambda c: (-c[0], VERDICTS.index(c[1]) if c[1] in VERDICTS else 99, c[2]),
    )
    by_rule = []
    for count, verdict, rule_id in counted:
        by_verdict[verdict or "(none)"] = by_verdict.get(verdict or "(none)", 0) + count
        by_rule.append({"rule_id": rule_id or None, "verdict": verdict or None, "count": count})
    return {"by_verdict": by_verdict, "by_rule": by_rule}


def list_audit(
    conn: sqlite3.Connection, filters: AuditFilters, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    sql, params = audit_sql(filters, limit + 1, offset)
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    items = [audit_item(dict(zip(names, row, strict=True))) for row in cursor]
    more = len(items) > limit
    return {
        "counts": count_verdicts(conn, filters),
        "items": items[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


@api.endpoint
async def audit(datasette, request):
    filters = AuditFilters.from_args(request.args)
    limit, offset = queries.parse_paging(request.args)
    result = await api.read(datasette, lambda conn: list_audit(conn, filters, limit, offset))
    who = api.viewer(datasette, request)
    for item in result["items"]:
        item["redacted"] = not who.can_see((item["request"] or {}).get("client_ip"))
        if item["redacted"]:
            redaction.redact_verdict(item)
    result["redacted"] = any(item["redacted"] for item in result["items"])
    return Response.json(result)


# -- the rules, forwarded to the suite ---------------------------------------------------------


async def rules(datasette, request):
    part = request.url_vars.get("part")
    method = request.method
    if method not in METHODS[part]:
        return api.error(405, "method not allowed")
    who = api.viewer(datasette, request)
    if not who.sees_everything:
        return api.error(403, "the rules can only be read from this machine or with redaction off")
    if method == "POST":
        if not who.is_loopback:
            return api.error(403, "rules can only be changed from this machine")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return api.error(415, "send the rules document as application/json")
    suite_url = InspectorConfig.from_datasette(datasette).suite_url
    if not suite_url:
        return api.error(
            503,
            "the rules live in the proxy suite, which did not tell this Datasette where it is: "
            "open the UI through the proxy (http://<proxy>/__proxy/rules)",
        )
    target = suite_url.rstrip("/") + RULES_PATH + (f"/{part}" if part else "")
    if request.query_string:
        target += "?" + request.query_string
    headers = {"accept": "application/json"}
    body = None
    if method == "POST":
        body = await request.post_body()
        headers["content-type"] = request.headers.get("content-type", "application/json")
        headers["x-proxy-user"] = f"ui:{who.ip}"
    try:
        async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S, trust_env=False) as client:
            answer = await client.request(method, target, content=body, headers=headers)
    except httpx.HTTPError as e:
        return api.error(502, f"the proxy suite did not answer at {suite_url}: {e}")
    return Response(
        answer.content,
        status=answer.status_code,
        content_type=answer.headers.get("content-type", "application/json"),
        headers={"cache-control": "no-store"},
    )


def skip_csrf(datasette, scope) -> bool | None:
    """The forwarded rules POSTs are JSON only (a cross-site form cannot send that without a
    preflight, which nothing here answers), so Datasette's form CSRF token does not apply."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    path = scope.get("path", "")
    base = datasette.urls.path("api/rules")
    if path == base or path.startswith(base + "/"):
        return True
    return None
