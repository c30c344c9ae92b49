"""The SQL behind the JSON API, as plain functions over a `sqlite3.Connection`.

No query here counts or aggregates the whole `requests` table, and each list walks an index in
the order it returns rows (see `tests/datasette_plugins/test_query_plans.py`):

- the requests list walks `(filter column, started_at)` indexes newest-first (status classes
  use an index on `status / 100`, errors a partial index), or the FTS index by rowid when
  searching; `total` is an exact count only when a filter narrows it to at most
  `COUNT_CAP` rows within `COUNT_BUDGET_MS`, else null, and `next_offset` comes from reading
  one row more than asked;
- conversations come from the `conversations` summary table the triggers of migration m002
  keep, newest activity first;
- stats read the hourly rollups for whole hours and `requests` only for the partial hours at the
  window's edges; latency percentiles are computed on the window's rows, on an evenly spread
  sample of at most `SAMPLE_MAX` of them when the window holds more.

Functions return JSON-ready dicts without redaction; `api` applies it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from addons.store import bodies
from addons.store.schema import IS_ERROR, iso
from addons.wire.framing import NDJSONParser, SSEParser
from datasette_plugins import redaction, timeline
from datasette_plugins.redaction import Viewer

PREVIEW_CHARS = 300
COUNT_CAP = 10_000
COUNT_BUDGET_MS = 50
SAMPLE_MAX = 10_000
FTS_SCAN_MAX = 20_000  # conversations search: the newest matching requests it looks at
MAX_LIMIT = 500
MAX_TURNS = 1000
GROUP_ROWS = 50  # items per by_* list in stats

ROW_FIELDS = (
    "id",
    "started_at",
    "ended_at",
    "state",
    "listener",
    "method",
    "path",
    "upstream",
    "dialect",
    "status",
    "requested_model",
    "served_model",
    "is_stream",
    "client_app",
    "client_ip",
    "session_id",
    "conversation_id",
    "parent_conversation_id",
    "turn_index",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tokens_estimated",
    "stop_reason",
    "tools_offered",
    "tool_calls",
    "error",
    "verdict",
)
ROW_SELECT = ", ".join(f"r.{name}" for name in ROW_FIELDS) + (
    f", substr(r.prompt_preview, 1, {PREVIEW_CHARS}) AS prompt_preview"
    f", substr(r.response_text, 1, {PREVIEW_CHARS}) AS response_text_preview"
)
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
CONVERSATION_FIELDS = (
    "conversation_id",
    "session_id",
    "parent_conversation_id",
    "first_at",
    "last_at",
    "turns",
    "requests",
    "client_apps",
    "models",
    "client_ips",
    *TOKENS,
    "errors",
    "preview",
)
STATES = ("pending", "complete", "error", "abandoned")
_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


class BadRequest(ValueError):
    """A parameter the API cannot use; the message is shown to the caller."""


# -- parameters --------------------------------------------------------------------------------


def parse_time(value: str, name: str, now: dt.datetime | None = None) -> str:
    """An ISO-8601 time (a date alone, no zone = UTC) or a duration ago (`90s`, `15m`, `24h`,
    `7d`, `2w`), as the stored timestamp format."""
    now = now or dt.datetime.now(dt.UTC)
    text = value.strip()
    if match := _RELATIVE.match(text):
        return iso(now - dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)]))
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: expected an ISO-8601 time or a duration like 24h") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return iso(moment)


def parse_paging(
    args: Mapping[str, str], default: int = 50, cap: int = MAX_LIMIT
) -> tuple[int, int]:
    return _int(args, "limit", default, 1, cap), _int(args, "offset", 0, 0, 10_000_000)


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be between {low} and {high}")
    return value


def fts_query(text: str) -> str:
    """User words as an FTS5 query: every word must occur; `word*` matches a prefix."""
    terms = []
    for word in re.findall(r'[^\s"]+', text):
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if word:
            terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    if not terms:
        raise BadRequest("q: nothing to search for")
    return " ".join(terms)


@dataclass(frozen=True, slots=True)
class RequestFilters:
    model: str | None = None
    app: str | None = None
    status: str | None = None
    verdict: str | None = None
    conversation: str | None = None
    since: str | None = None
    until: str | None = None
    q: str | None = None
    state: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RequestFilters:
        values = {f.name: (args.get(f.name) or "").strip() or None for f in fields(cls)}
        if values["since"]:
            values["since"] = parse_time(values["since"], "since")
        if values["until"]:
            values["until"] = parse_time(values["until"], "until")
        if values["state"] and values["state"] not in STATES:
            raise BadRequest(f"state: one of {', '.join(STATES)}")
        if values["q"]:
            fts_query(values["q"])
        if values["status"]:
            status_terms(values["status"], {})
        return cls(**values)

    def narrowed(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def status_terms(status: str, params: dict[str, Any]) -> list[str]:
    """WHERE terms for the status filter: `2xx`..`5xx`, `error`, or a number."""
    status = status.strip().lower()
    if status == "error":
        return [IS_ERROR]
    if match := _STATUS_CLASS.match(status):
        params["status_class"] = int(match.group(1))
        return ["status / 100 = :status_class"]
    if status.isdigit() and 100 <= int(status) <= 599:
        params["status_class"] = int(status) // 100
        params["status"] = int(status)
        # The unary + keeps SQLite from propagating the constant into `status / 100`, which
        # would stop it matching the expression index.
        return ["status / 100 = :status_class", "+status = :status"]
    raise BadRequest("status: 2xx, 4xx, 5xx, error, or a status code")


# -- the requests list -------------------------------------------------------------------------


def requests_sql(
    filters: RequestFilters, limit: int, offset: int, viewer: Viewer | None = None
) -> tuple[str, str | None, dict]:
    """(list SQL, capped count SQL or None, params) for the requests list. A search by a
    viewer who may not see everything only matches rows whose content they may see."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where: list[str] = []
    for name, column in (
        ("model", "requested_model"),
        ("app", "client_app"),
        ("verdict", "verdict"),
        ("state", "state"),
        ("conversation", "conversation_id"),
    ):
        value = getattr(filters, name)
        if value:
            where.append(f"{column} = :{name}")
            params[name] = value
    if filters.since:
        where.append("started_at >= :since")
        params["since"] = filters.since
    if filters.until:
        where.append("started_at < :until")
        params["until"] = filters.until
    if filters.status:
        where.extend(status_terms(filters.status, params))
    if filters.q:
        params["q"] = fts_query(filters.q)
        # CROSS JOIN keeps the search the outer loop: probing the FTS index per row is slow.
        source = "requests_fts CROSS JOIN requests r ON r.rowid = requests_fts.rowid"
        where.insert(0, "requests_fts MATCH :q")
        where.extend(redaction.sql_visibility(viewer, "r.client_ip", params))
        order = "requests_fts.rowid DESC"
    else:
        source = f"requests r INDEXED BY {driving_index(filters)}"
        order = "r.started_at DESC, r.rowid DESC"
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    sql = f"SELECT {ROW_SELECT} FROM {source}{clause} ORDER BY {order} LIMIT :limit OFFSET :offset"
    count = None
    if filters.narrowed():
        count = f"SELECT count(*) FROM (SELECT 1 FROM {source}{clause} LIMIT {COUNT_CAP + 1})"
    return sql, count, params


def driving_index(filters: RequestFilters) -> str:
    """The index the requests list walks, newest first: the filter most likely to be rare.

    Chosen here, not by SQLite: once `ANALYZE` has run, the planner knows `state` has four
    values and would rather walk every row by time than look up the five pending ones.
    """
    status = (filters.status or "").lower()
    common_status = status.startswith("2")
    if filters.conversation:
        return "idx_requests_conversation"
    if filters.state in ("pending", "abandoned"):
        return "idx_requests_state_started"
    if status == "error":
        return "idx_requests_errors"
    if filters.verdict and filters.verdict != "allow":
        return "idx_requests_verdict_started"
    if status and not common_status:
        return "idx_requests_status_class_started"
    if filters.model:
        return "idx_requests_model_started"
    if filters.app:
        return "idx_requests_app_started"
    if status:
        return "idx_requests_status_class_started"
    if filters.state:
        return "idx_requests_state_started"
    if filters.verdict:
        return "idx_requests_verdict_started"
    return "idx_requests_started_at"


def list_requests(
    conn: sqlite3.Connection,
    filters: RequestFilters,
    limit: int = 50,
    offset: int = 0,
    viewer: Viewer | None = None,
) -> dict[str, Any]:
    redaction.register_sql_function(conn)
    sql, count_sql, params = requests_sql(filters, limit + 1, offset, viewer)
    rows = [row_item(row) for row in _rows(conn, sql, params)]
    more = len(rows) > limit
    total = None
    if count_sql is not None:
        try:
            with time_limit(conn, COUNT_BUDGET_MS):
                counted = conn.execute(count_sql, params).fetchone()[0]
        except sqlite3.OperationalError:  # interrupted: too many to count cheaply
            counted = None
        if counted is not None and counted <= COUNT_CAP:
            total = counted
    return {
        "total": total,
        "items": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


def row_item(row: Mapping[str, Any]) -> dict[str, Any]:
    item = {name: row[name] for name in ROW_FIELDS}
    item["prompt_preview"] = row["prompt_preview"]
    item["response_text_preview"] = row["response_text_preview"]
    item["tools_offered"] = _json_list(item["tools_offered"])
    item["tool_calls"] = _json_list(item["tool_calls"])
    for name in ("is_stream", "tokens_estimated"):
        if item[name] is not None:
            item[name] = bool(item[name])
    item["tokens_live"] = item["state"] == "pending"
    return item


# -- one request -------------------------------------------------------------------------------


def get_request(conn: sqlite3.Connection, request_id: str) -> dict[str, Any] | None:
    row = _one(
        conn,
        f"SELECT {ROW_SELECT}, r.request_headers, r.response_headers, r.request_body_id, "
        "r.response_body_id, r.stream_body_id, r.request_bytes, r.upstream_request_body_id "
        "FROM requests r WHERE r.id = ?",
        (request_id,),
    )
    if row is None:
        return None
    item = row_item(row)
    item["request_headers"] = _json_value(row["request_headers"], {})
    item["response_headers"] = _json_value(row["response_headers"], {})
    request_body = _body(conn, row["request_body_id"])
    item["request_body"] = _parsed(request_body)
    # What the upstream got, when a rule or the protocol bridge changed it (else null).
    item["upstream_request_body"] = _parsed(_body(conn, row["upstream_request_body_id"]))
    item["response_body"] = _parsed(_body(conn, row["response_body_id"]))
    stream = _body(conn, row["stream_body_id"])
    item["stream_events"] = stream_events(row["dialect"], stream) if stream is not None else []
    item["request_body_raw_bytes"] = (
        len(request_body) if request_body is not None else (row["request_bytes"] or 0)
    )
    item["verdicts"] = [
        {**v, "details": _json_value(v["details"], v["details"])}
        for v in _rows(
            conn,
            "SELECT phase, rule_id, verdict, reason, details, at FROM verdicts "
            "WHERE request_id = ? ORDER BY seq",
            (request_id,),
        )
    ]
    item["conversation"] = None
    if row["conversation_id"]:
        summary = _one(
            conn,
            "SELECT turns FROM conversations WHERE conversation_id = ?",
            (row["conversation_id"],),
        )
        item["conversation"] = {
            "id": row["conversation_id"],
            "turns": summary["turns"] if summary else None,
        }
    return item


def stream_events(dialect: str | None, data: bytes) -> list[dict[str, Any]]:
    """A stored stream as events: SSE for every dialect but Ollama's NDJSON."""
    if dialect == "ollama":
        parser = NDJSONParser()
        lines = parser.feed(data) + parser.finish()
        return [{"event": None, "data": _maybe_json(line)} for line in lines]
    sse = SSEParser()
    events = sse.feed(data) + sse.finish()
    return [{"event": e.event, "data": _maybe_json(e.data)} for e in events]


def _body(conn: sqlite3.Connection, body_id: str | None) -> bytes | None:
    if not body_id:
        return None
    try:
        return bodies.load(conn, body_id)
    except KeyError:
        return None


def _parsed(data: bytes | None) -> Any:
    if data is None:
        return None
    text = data.decode("utf-8", "replace")
    return _maybe_json(text)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- conversations -----------------------------------------------------------------------------


def conversations_sql(
    app: str | None,
    model: str | None,
    q: str | None,
    limit: int,
    offset: int,
    viewer: Viewer | None = None,
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = []
    for kind, value in (("app", app), ("model", model)):
        if value:
            where.append(
                "c.conversation_id IN (SELECT conversation_id FROM conversation_tags "
                f"WHERE kind = '{kind}' AND value = :{kind})"
            )
            params[kind] = value
    if q:
        params["q"] = fts_query(q)
        visible = "".join(
            " AND " + term for term in redaction.sql_visibility(viewer, "r.client_ip", params)
        )
        where.append(
            "c.conversation_id IN (SELECT r.conversation_id FROM requests r WHERE r.rowid IN "
            "(SELECT rowid FROM requests_fts WHERE requests_fts MATCH :q "
            f"ORDER BY rowid DESC LIMIT {FTS_SCAN_MAX}){visible})"
        )
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    columns = ", ".join(f"c.{name}" for name in CONVERSATION_FIELDS)
    sql = (
        f"SELECT {columns} FROM conversations c{clause} "
        "ORDER BY c.last_at DESC LIMIT :limit OFFSET :offset"
    )
    return sql, params


def list_conversations(
    conn: sqlite3.Connection,
    *,
    app: str | None = None,
    model: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
    viewer: Viewer | None = None,
) -> dict[str, Any]:
    redaction.register_sql_function(conn)
    sql, params = conversations_sql(app, model, q, limit + 1, offset, viewer)
    items = [conversation_item(row) for row in _rows(conn, sql, params)]
    more = len(items) > limit
    return {
        "items": items[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


def conversation_item(row: Mapping[str, Any]) -> dict[str, Any]:
    item = {name: row[name] for name in CONVERSATION_FIELDS}
    for name in ("client_apps", "models", "client_ips"):
        item[name] = _json_list(item[name])
    return item


TURN_SELECT = (
    "id, started_at, state, turn_index, dialect, path, requested_model, served_model, status, "
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, error, verdict, "
    "response_text, tool_calls, stop_reason, request_body_id"
)


def turns_sql() -> str:
    return (
        f"SELECT {TURN_SELECT} FROM requests WHERE conversation_id = ? "
        "ORDER BY started_at, rowid LIMIT ? OFFSET ?"
    )


def get_conversation(
    conn: sqlite3.Connection, conversation_id: str, *, limit: int = MAX_LIMIT, offset: int = 0
) -> dict[str, Any] | None:
    """The summary and a page of turns, each with the messages it added to the previous one."""
    summary = _one(
        conn,
        f"SELECT {', '.join(CONVERSATION_FIELDS)} FROM conversations WHERE conversation_id = ?",
        (conversation_id,),
    )
    if summary is None:
        return None
    item = conversation_item(summary)
    item["turn_count"] = item["turns"]
    start = max(offset - 1, 0)  # the turn before the page, to diff the page's first against
    rows = _rows(conn, turns_sql(), (conversation_id, limit + 1 + (offset - start), start))
    cache = timeline.SegmentCache(conn)
    loaded = timeline.load_turn_bodies(conn, rows, cache)
    turns = []
    previous: dict[str, Any] | None = None
    previous_body: timeline.TurnBody | None = None
    for index, (row, body) in enumerate(zip(rows, loaded, strict=True)):
        if start + index >= offset and len(turns) < limit:
            turns.append(
                turn_item(
                    row,
                    previous,
                    timeline.new_messages(body, previous_body, cache, conn, row["path"]),
                )
            )
        previous = row
        if body.hashes:  # a turn without a stored body: diff the next against the one before
            previous_body = body
    item["turns"] = turns
    item["offset"] = offset
    item["limit"] = limit
    item["next_offset"] = offset + limit if len(rows) - (offset - start) > limit else None
    return item


def context_tokens(row: Mapping[str, Any]) -> int | None:
    values = [row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]]
    if all(v is None for v in values):
        return None
    return sum(v or 0 for v in values)


def turn_item(
    row: Mapping[str, Any], previous: Mapping[str, Any] | None, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    context = context_tokens(row)
    before = context_tokens(previous) if previous is not None else None
    return {
        "request_id": row["id"],
        "started_at": row["started_at"],
        "state": row["state"],
        "turn_index": row["turn_index"],
        "model": row["requested_model"] or row["served_model"],
        "status": row["status"],
        **{name: row[name] for name in TOKENS},
        "context_tokens": context,
        "context_delta": context - before if context is not None and before is not None else None,
        "new_messages": messages,
        "response": {
            "text": row["response_text"],
            "tool_calls": _json_list(row["tool_calls"]),
            "stop_reason": row["stop_reason"],
        },
        "error": row["error"],
        "verdict": row["verdict"],
    }


# -- stats -------------------------------------------------------------------------------------


def bucket_seconds(window_s: float) -> int:
    """About 24 buckets: hourly for a day, 15 minutes for 6 hours, daily for a month."""
    for size in BUCKETS:
        if size * 24 >= window_s:
            return size
    return BUCKETS[-1]


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _stamp(epoch: float) -> str:
    return iso(dt.datetime.fromtimestamp(epoch, dt.UTC))


_FINISHED = "state IS NOT 'pending'"
_DIMENSIONS = (
    ("by_model", "model"),
    ("by_app", "client_app"),
    ("by_client_ip", "client_ip"),
    ("by_upstream", "upstream"),
)
_LATENCY_COLUMNS = (
    "coalesce(requested_model, served_model, ''), coalesce(client_app, ''), "
    "coalesce(client_ip, ''), coalesce(upstream, ''), latency_ms, ttft_ms"
)


def stats_sql() -> dict[str, str]:
    """Every statement `stats` runs, by name (for the query-plan test)."""
    error = f"CASE WHEN {IS_ERROR} THEN 1 ELSE 0 END"
    sums = "sum(requests), sum(errors), " + ", ".join(f"sum({t})" for t in TOKENS)
    raw = f"""
        SELECT substr(started_at, 1, 13) || ':00:00Z',
               coalesce(requested_model, served_model, ''), coalesce(client_app, ''),
               coalesce(client_ip, ''), coalesce(upstream, ''), 1, {error},
               {", ".join(f"coalesce({t}, 0)" for t in TOKENS)}
        FROM requests WHERE started_at >= :{{a}} AND started_at < :{{b}} AND {_FINISHED}"""
    groups = "\n        UNION ALL ".join(
        f"SELECT '{name}', {column}, {sums} FROM rows_in_window GROUP BY {column}"
        for name, column in _DIMENSIONS
    )
    return {
        # Whole hours from the rollup, the partial hours at either edge from requests.
        "totals": f"""
        WITH rows_in_window (hour, model, client_app, client_ip, upstream, requests, errors,
                {", ".join(TOKENS)}) AS MATERIALIZED (
            SELECT hour, model, client_app, client_ip,
                   upstream, requests, errors, {", ".join(TOKENS)}
            FROM stats_hourly WHERE hour >= :whole_a AND hour < :whole_b
            UNION ALL {raw.format(a="edge1_a", b="edge1_b")}
            UNION ALL {raw.format(a="edge2_a", b="edge2_b")}
        )
        SELECT 'overall', '', {sums} FROM rows_in_window
        UNION ALL {groups}
        UNION ALL SELECT 'hour', hour, {sums} FROM rows_in_window GROUP BY hour""",
        "over_time": f"""
            SELECT CAST(strftime('%s', started_at) AS INTEGER) / :size * :size,
                   count(*), sum({error}), coalesce(sum(input_tokens), 0),
                   coalesce(sum(output_tokens), 0)
            FROM requests WHERE started_at >= :a AND started_at < :b AND {_FINISHED}
            GROUP BY 1""",
        "tools": f"""
            SELECT tool, sum(offered), sum(called), sum(errors) FROM (
                SELECT tool, 0 AS offered, called, errors FROM stats_tools_hourly
                WHERE hour >= :whole_a AND hour < :whole_b
                UNION ALL
                SELECT j.value, s.requests, 0, 0
                FROM stats_toolsets_hourly AS s, json_each(s.tools) AS j
                WHERE s.hour >= :whole_a AND s.hour < :whole_b AND j.type = 'text'
                UNION ALL
                SELECT j.value, 1, 0, 0
                FROM requests, json_each(CASE WHEN json_valid(tools_offered)
                                              THEN tools_offered ELSE '[]' END) AS j
                WHERE ((started_at >= :edge1_a AND started_at < :edge1_b)
                       OR (started_at >= :edge2_a AND started_at < :edge2_b))
                  AND {_FINISHED} AND j.type = 'text'
                UNION ALL
                SELECT json_extract(j.value, '$.name'), 0, 1, {error}
                FROM requests, json_each(CASE WHEN json_valid(tool_calls)
                                              THEN tool_calls ELSE '[]' END) AS j
                WHERE ((started_at >= :edge1_a AND started_at < :edge1_b)
                       OR (started_at >= :edge2_a AND started_at < :edge2_b))
                  AND {_FINISHED} AND json_extract(j.value, '$.name') IS NOT NULL
            ) GROUP BY tool""",
        "latency": f"""
            SELECT {_LATENCY_COLUMNS}
            FROM requests WHERE started_at >= :a AND started_at < :b AND {_FINISHED}""",
        # Rows are written in the order requests start, so every step-th rowid between the
        # window's first and last is an even sample of it, read by point lookups.
        "window_rowids": """
            SELECT (SELECT rowid FROM requests WHERE started_at >= :a
                    ORDER BY started_at, rowid LIMIT 1),
                   (SELECT rowid FROM requests WHERE started_at < :b
                    ORDER BY started_at DESC, rowid DESC LIMIT 1)""",
        "latency_sample": f"""
            WITH RECURSIVE picks(n) AS (
                SELECT :low UNION ALL SELECT n + :step FROM picks WHERE n + :step <= :high
            )
            SELECT {_LATENCY_COLUMNS}
            FROM picks JOIN requests ON requests.rowid = picks.n
            WHERE started_at >= :a AND started_at < :b AND {_FINISHED}""",
    }


def stats(conn: sqlite3.Connection, since: str, until: str) -> dict[str, Any]:
    """Traffic in [since, until): totals, breakdowns, tools and a time series."""
    start, end = _epoch(since), _epoch(until)
    if end <= start:
        raise BadRequest("until must be after since")
    sql = stats_sql()
    size = bucket_seconds(end - start)
    first_hour = math.ceil(start / 3600) * 3600
    last_hour = math.floor(end / 3600) * 3600
    if first_hour < last_hour:
        params = {
            "whole_a": _stamp(first_hour),
            "whole_b": _stamp(last_hour),
            "edge1_a": since,
            "edge1_b": _stamp(first_hour),
            "edge2_a": _stamp(last_hour),
            "edge2_b": until,
        }
    else:  # no whole hour inside: everything from requests
        params = {"whole_a": "", "whole_b": "", "edge1_a": since, "edge1_b": until,
                  "edge2_a": "", "edge2_b": ""}  # fmt: skip

    totals: dict[str, dict[str, list[int]]] = {}
    for group, key, *numbers in conn.execute(sql["totals"], params):
        totals.setdefault(group, {})[key] = [n or 0 for n in numbers]
    overall = totals.get("overall", {}).get("", [0] * 6)

    window = {"a": since, "b": until}
    sampled = overall[0] > SAMPLE_MAX
    if sampled:
        low, high = conn.execute(sql["window_rowids"], window).fetchone()
        low, high = low or 0, high or 0
        window.update(low=low, high=high, step=max(1, (high - low) // SAMPLE_MAX))
        samples = conn.execute(sql["latency_sample"], window).fetchall()
    else:
        samples = conn.execute(sql["latency"], window).fetchall()
    latency = _percentile_groups(samples)

    result: dict[str, Any] = {
        "window": {
            "since": since,
            "until": until,
            "bucket_seconds": size,
            "latency_sampled": sampled,
        },
        "overall": {
            **_numbers(overall),
            "latency_p50": latency["all"][""][0],
            "latency_p95": latency["all"][""][1],
            "ttft_p50": latency["all"][""][2],
            "ttft_p95": latency["all"][""][3],
        },
    }
    for index, (name, _) in enumerate(_DIMENSIONS):
        items = []
        for key, numbers in totals.get(name, {}).items():
            if not numbers[0]:
                continue
            p50, p95, ttft_p50, _ = latency[index].get(key, (None, None, None, None))
            items.append(
                {
                    "key": key or None,
                    **_numbers(numbers),
                    "error_rate": round(numbers[1] / numbers[0], 4),
                    "latency_p50": p50,
                    "latency_p95": p95,
                    "ttft_p50": ttft_p50,
                }
            )
        items.sort(key=lambda item: (-item["requests"], item["key"] or ""))
        result[name] = items[:GROUP_ROWS]
    tools = [
        {"tool": tool, "offered": offered or 0, "called": called or 0, "errors": errors or 0}
        for tool, offered, called, errors in conn.execute(sql["tools"], params)
        if tool is not None and ((offered or 0) > 0 or (called or 0) > 0)
    ]
    tools.sort(key=lambda t: (-t["called"], -t["offered"], t["tool"]))
    result["by_tool"] = tools[:GROUP_ROWS]
    if size >= 3600:
        series: dict[int, list[int]] = {}
        for hour, numbers in totals.get("hour", {}).items():
            bucket = int(_epoch(hour)) // size * size
            into = series.setdefault(bucket, [0, 0, 0, 0])
            for i in range(4):
                into[i] += numbers[i]
    else:
        series = {
            int(bucket): [requests, errors, tokens_in, tokens_out]
            for bucket, requests, errors, tokens_in, tokens_out in conn.execute(
                sql["over_time"], {**window, "size": size}
            )
        }
    result["over_time"] = _series(series, start, end, size)
    return result


def _numbers(numbers: list[int]) -> dict[str, int]:
    return {
        "requests": numbers[0],
        "errors": numbers[1],
        **{name: numbers[2 + i] for i, name in enumerate(TOKENS)},
    }


def percentile(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    last = len(ordered) - 1
    return round(ordered[min(last, round(last * p / 100))], 3)


def _percentile_groups(samples: list[tuple]) -> dict[Any, dict[str, tuple]]:
    """{dimension index or "all": {key: (latency p50, p95, ttft p50, p95)}}."""
    out: dict[Any, dict[str, tuple]] = {}
    for dimension in ("all", 0, 1, 2, 3):
        latency: dict[str, list[float]] = {}
        ttft: dict[str, list[float]] = {}
        for sample in samples:
            key = "" if dimension == "all" else sample[dimension]
            if sample[4] is not None:
                latency.setdefault(key, []).append(sample[4])
            if sample[5] is not None:
                ttft.setdefault(key, []).append(sample[5])
        groups = {}
        for key in latency.keys() | ttft.keys() | ({""} if dimension == "all" else set()):
            lat = sorted(latency.get(key, ()))
            first = sorted(ttft.get(key, ()))
            groups[key] = (
                percentile(lat, 50),
                percentile(lat, 95),
                percentile(first, 50),
                percentile(first, 95),
            )
        out[dimension] = groups
    return out


def _series(series: dict[int, list[int]], start: float, end: float, size: int) -> list[dict]:
    buckets = []
    for bucket in range(int(start // size * size), int(math.ceil(end / size) * size), size):
        requests, errors, tokens_in, tokens_out = series.get(bucket, (0, 0, 0, 0))
        buckets.append(
            {
                "bucket": _stamp(bucket),
                "requests": requests or 0,
                "input_tokens": tokens_in or 0,
                "output_tokens": tokens_out or 0,
                "errors": errors or 0,
            }
        )
    return buckets


# -- canned queries (metadata only: no content columns, safe for every viewer) -----------------


def _days_ago(default: int) -> str:
    return (
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', "
        f"'-' || coalesce(nullif(:days, ''), '{default}') || ' days')"
    )


CANNED_QUERIES: dict[str, dict[str, str]] = {
    "slowest_requests": {
        "title": "Slowest requests",
        "description": "The 100 slowest finished requests of the last :days days (default 1).",
        "sql": f"""
SELECT id, started_at, client_app, coalesce(requested_model, served_model) AS model,
       upstream, status, is_stream, latency_ms, ttft_ms, output_tokens
FROM requests
WHERE started_at >= {_days_ago(1)} AND latency_ms IS NOT NULL
ORDER BY latency_ms DESC LIMIT 100""",
    },
    "biggest_prompts": {
        "title": "Biggest prompts",
        "description": "The 100 largest prompts (context tokens) of the last :days days "
        "(default 1).",
        "sql": f"""
SELECT id, started_at, client_app, coalesce(requested_model, served_model) AS model,
       request_bytes, input_tokens, cache_read_tokens, cache_write_tokens,
       coalesce(input_tokens, 0) + coalesce(cache_read_tokens, 0)
           + coalesce(cache_write_tokens, 0) AS context_tokens
FROM requests
WHERE started_at >= {_days_ago(1)}
ORDER BY context_tokens DESC, request_bytes DESC LIMIT 100""",
    },
    "most_called_tools": {
        "title": "Most-called tools",
        "description": "Tool calls per tool over the last :days days (default 7), with how "
        "often each was offered.",
        "sql": f"""
SELECT tool, sum(called) AS calls, sum(offered) AS offered,
       sum(errors) AS calls_in_failed_exchanges
FROM (
    SELECT tool, called, 0 AS offered, errors FROM stats_tools_hourly
    WHERE hour >= {_days_ago(7)}
    UNION ALL
    SELECT j.value, 0, s.requests, 0
    FROM stats_toolsets_hourly AS s, json_each(s.tools) AS j
    WHERE s.hour >= {_days_ago(7)} AND j.type = 'text'
)
GROUP BY tool ORDER BY calls DESC, offered DESC LIMIT 100""",
    },
    "error_bursts": {
        "title": "Error bursts",
        "description": "Minutes of the last :days days (default 1) with at least :min_errors "
        "(default 3) failed requests.",
        "sql": f"""
SELECT substr(started_at, 1, 16) AS minute, count(*) AS errors,
       group_concat(DISTINCT upstream) AS upstreams,
       group_concat(DISTINCT status) AS statuses
FROM requests
WHERE {IS_ERROR} AND started_at >= {_days_ago(1)}
GROUP BY minute
HAVING count(*) >= CAST(coalesce(nullif(:min_errors, ''), '3') AS INTEGER)
ORDER BY minute DESC LIMIT 500""",
    },
    "tokens_per_app_per_day": {
        "title": "Tokens per app per day",
        "description": "Finished requests and tokens per client app per UTC day, last :days "
        "days (default 30).",
        "sql": f"""
SELECT substr(hour, 1, 10) AS day, nullif(client_app, '') AS client_app,
       sum(requests) AS requests, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens,
       sum(cache_write_tokens) AS cache_write_tokens
FROM stats_hourly
WHERE hour >= {_days_ago(30)}
GROUP BY day, client_app ORDER BY day DESC, input_tokens DESC""",
    },
    "cache_hit_ratio_per_model": {
        "title": "Cache hit ratio per model",
        "description": "Share of prompt tokens read from the provider's cache, per model, last "
        ":days days (default 7).",
        "sql": f"""
SELECT nullif(model, '') AS model, sum(requests) AS requests,
       sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
       sum(cache_write_tokens) AS cache_write_tokens,
       round(1.0 * sum(cache_read_tokens)
             / nullif(sum(input_tokens + cache_read_tokens + cache_write_tokens), 0), 3)
           AS cache_hit_ratio
FROM stats_hourly
WHERE hour >= {_days_ago(7)}
GROUP BY model ORDER BY requests DESC""",
    },
}


# -- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def time_limit(conn: sqlite3.Connection, ms: int) -> Iterator[None]:
    """Interrupt the statements run inside after `ms` (they raise OperationalError)."""
    deadline = time.perf_counter() + ms / 1000
    conn.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 1000)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 1000)


def _rows(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _one(conn: sqlite3.Connection, sql: str, params: Any = ()) -> dict[str, Any] | None:
    rows = _rows(conn, sql, params)
    return rows[0] if rows else None


def _json_list(text: Any) -> list[Any]:
    if text in (None, ""):
        return []
    if isinstance(text, list):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []


def _json_value(text: Any, default: Any) -> Any:
    if text in (None, ""):
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default
