"""No page counts a whole table or scans unindexed columns: every query the API and the canned
queries run walks an index, with or without the statistics `ANALYZE` leaves behind."""

from __future__ import annotations

import itertools
import re
import sqlite3

import pytest

from datasette_plugins import audit, queries
from datasette_plugins.queries import RequestFilters
from datasette_plugins.redaction import Viewer, register_sql_function

# sqlite_stat1 of the bench's 1,000,000-request database (bench/ui_scale.py).
BIG_STATS = [
    ("requests", "idx_requests_app_started", "1000000 125000 1 1 1 1 1"),
    ("requests", "idx_requests_conversation", "1000000 50 1"),
    ("requests", "idx_requests_errors", "45821 1 1 1 1 1 1"),
    ("requests", "idx_requests_model_started", "1000000 90910 1 1 1 1 1"),
    ("requests", "idx_requests_session", "1000000 50"),
    ("requests", "idx_requests_started_at", "1000000 1"),
    ("requests", "idx_requests_state_started", "1000000 250000 1 1 1 1 1"),
    ("requests", "idx_requests_status_class_started", "1000000 250000 1 1 1 1 1 1"),
    ("requests", "idx_requests_verdict_started", "1000000 500000 1 1 1 1 1"),
    ("requests", "sqlite_autoindex_requests_1", "1000000 1"),
    ("conversations", "idx_conversations_last_at", "20000 1"),
    ("conversations", "sqlite_autoindex_conversations_1", "20000 1"),
    ("conversation_tags", "conversation_tags", "40000 20000 2 1"),
    ("verdicts", "idx_verdicts_at", "400000 2 2 2"),
    ("verdicts", "idx_verdicts_verdict_at", "400000 80000 2 2"),
    ("verdicts", "idx_verdicts_rule", "400000 50000 2"),
    ("verdicts", "sqlite_autoindex_verdicts_1", "400000 1 1"),
    ("verdicts_hourly", "verdicts_hourly", "40000 10 3 1"),
]

FILTERS = {
    "model": "claude-sonnet-4-5",
    "app": "claude-code",
    "status": ["2xx", "5xx", "404", "error"],
    "verdict": ["block", "allow"],
    "state": ["pending", "complete"],
    "conversation": "conv-a",
    "since": "2026-11-20T00:00:00.000Z",
    "until": "2026-11-21T00:00:00.000Z",
    "q": "dawn",
}
FULL_SCAN = re.compile(r"^SCAN (r|requests|c|conversations|v|verdicts)$")


def filter_sets():
    names = list(FILTERS)
    yield {}
    for name in names:
        values = FILTERS[name] if isinstance(FILTERS[name], list) else [FILTERS[name]]
        for value in values:
            yield {name: value}
    for a, b in itertools.combinations(names, 2):
        yield {a: _first(a), b: _first(b)}
    yield {"model": _first("model"), "app": _first("app"), "status": "2xx", "verdict": "block"}
    yield {"q": "dawn", "model": _first("model"), "status": "error"}


def _first(name):
    value = FILTERS[name]
    return value[0] if isinstance(value, list) else value


@pytest.fixture(params=["no statistics", "big-database statistics"])
def conn(request, db_path):
    conn = sqlite3.connect(db_path)
    if request.param != "no statistics":
        conn.execute("ANALYZE")
        conn.execute("DELETE FROM sqlite_stat1")
        conn.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", BIG_STATS)
        conn.commit()
        conn.close()
        conn = sqlite3.connect(db_path)
    register_sql_function(conn)
    yield conn
    conn.close()


def plan(conn, sql, params) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def assert_indexed(steps: list[str], sorted_ok: bool = False) -> None:
    for step in steps:
        assert not FULL_SCAN.match(step), steps
        if not sorted_ok:
            assert step != "USE TEMP B-TREE FOR ORDER BY", steps  # would sort every match


@pytest.mark.parametrize("args", list(filter_sets()), ids=lambda a: "&".join(a) or "none")
def test_requests_list_walks_an_index_in_order(conn, args):
    filters = RequestFilters(**args)
    for viewer in (None, Viewer("192.168.7.7")):
        sql, count, params = queries.requests_sql(filters, 51, 100, viewer)
        assert_indexed(plan(conn, sql, params))
        if count is not None:
            assert_indexed(plan(conn, count, params))
        conn.execute(sql, params).fetchall()  # and it runs
    assert (count is None) == (not args)  # an unfiltered list is never counted


@pytest.mark.parametrize(
    "app, model, q",
    [(None, None, None), ("claude-code", None, None), (None, "gpt-4o", None),
     ("claude-code", "gpt-4o", None), (None, None, "dawn"), ("claude-code", None, "dawn")],
)  # fmt: skip
def test_conversations_list_reads_the_summary_table(conn, app, model, q):
    sql, params = queries.conversations_sql(app, model, q, 51, 0, Viewer("10.0.0.1"))
    steps = plan(conn, sql, params)
    # Filtered lists sort only the matching conversations, found through conversation_tags.
    assert_indexed(steps, sorted_ok=bool(app or model or q))
    assert not any(s.startswith("SCAN requests") and "INDEX" not in s for s in steps)
    conn.execute(sql, params).fetchall()


def test_timeline_and_stats_use_their_indexes(conn):
    assert_indexed(plan(conn, queries.turns_sql(), ("conv-a", 501, 0)))
    params = {
        "a": "2026-11-20T00:00:00.000Z",
        "b": "2026-11-21T00:00:00.000Z",
        "whole_a": "2026-11-20T01:00:00Z",
        "whole_b": "2026-11-20T23:00:00Z",
        "edge1_a": "2026-11-20T00:00:00.000Z",
        "edge1_b": "2026-11-20T01:00:00Z",
        "edge2_a": "2026-11-20T23:00:00Z",
        "edge2_b": "2026-11-21T00:00:00.000Z",
        "size": 3600,
        "low": 1,
        "high": 100,
        "step": 10,
    }
    for name, sql in queries.stats_sql().items():
        steps = plan(conn, sql, params)
        assert_indexed(steps, sorted_ok=True)
        assert all("requests" not in s or "INDEX" in s or "PRIMARY KEY" in s for s in steps), (
            name,
            steps,
        )


@pytest.mark.parametrize("name", list(queries.CANNED_QUERIES))
def test_canned_queries_use_a_time_window_index(conn, name):
    steps = plan(conn, queries.CANNED_QUERIES[name]["sql"], {"days": "", "min_errors": ""})
    assert_indexed(steps, sorted_ok=True)  # they sort one window's rows, not the table's
    assert any("INDEX" in s or "PRIMARY KEY" in s for s in steps), steps


AUDIT_FILTERS = {
    "verdict": "block",
    "rule": "loop_detector",
    "since": "2026-11-20T10:30:00.000Z",
    "until": "2026-11-20T12:15:00.000Z",
    "include_allow": True,
}


def audit_filter_sets():
    names = list(AUDIT_FILTERS)
    yield {}
    for size in (1, 2, 3):
        for combo in itertools.combinations(names, size):
            yield {name: AUDIT_FILTERS[name] for name in combo}


@pytest.mark.parametrize("args", list(audit_filter_sets()), ids=lambda a: "&".join(a) or "none")
def test_audit_log_walks_an_index_newest_first_and_counts_from_the_rollup(conn, args):
    filters = audit.AuditFilters(**args)
    sql, params = audit.audit_sql(filters, 51, 100)
    steps = plan(conn, sql, params)
    assert_indexed(steps)
    assert any(s.startswith("SEARCH r USING INDEX sqlite_autoindex_requests_1") for s in steps)
    conn.execute(sql, params).fetchall()
    for sql, params in audit.count_sql(filters):
        steps = plan(conn, sql, params)
        assert_indexed(steps, sorted_ok=True)  # groups of a few (verdict, rule) pairs
        # Whole hours come from the rollup; only the edges' rows are read, by the time index.
        assert all(
            s.startswith(("SCAN verdicts_hourly", "SEARCH verdicts_hourly", "USE TEMP B-TREE"))
            or "COVERING INDEX idx_verdicts_at (at>? AND at<?)" in s
            for s in steps
        ), steps
        conn.execute(sql, params).fetchall()
