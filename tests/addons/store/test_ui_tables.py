"""Migration m002: the FTS index, conversation summaries and hourly rollups the UI reads, kept in
step with `requests` by triggers as the recorder writes, and rebuilt from existing rows."""

from __future__ import annotations

import json

import sqlite_utils

from addons.store import schema
from addons.store.recorder import Recorder
from addons.store.schema import open_db, rebuild_ui_tables

SUMMARIES = (
    "conversations",
    "conversation_tags",
    "stats_hourly",
    "stats_tools_hourly",
    "stats_toolsets_hourly",
)


def snapshot(db, without_turns: bool = False) -> dict[str, list]:
    """The summary tables, with JSON lists as sets (their order is the order rows came in)."""
    out = {}
    for table in SUMMARIES:
        rows = []
        for row in db[table].rows:
            if without_turns:
                row.pop("turns", None)
            rows.append(
                tuple(
                    tuple(sorted(json.loads(v))) if isinstance(v, str) and v.startswith("[") else v
                    for v in row.values()
                )
            )
        out[table] = sorted(rows, key=repr)
    return out


def record_traffic(path) -> None:
    recorder = Recorder(str(path), flush_interval=0.01)
    recorder.start()
    for i in range(40):
        row = {
            "id": f"r{i}",
            "started_at": f"2026-11-21T1{i % 3}:{i:02d}:00.000Z",
            "conversation_id": f"c{i % 6}" if i % 9 else None,
            "client_app": ["claude-code", "cursor"][i % 2],
            "client_ip": ["10.0.0.1", "10.0.0.2", None][i % 3],
            "requested_model": ["m1", "m2"][i % 2],
            "upstream": "anthropic",
            "tools_offered": ["Read", "Bash"],
            "prompt_preview": f"question {i} about zebras",
            "input_tokens": 5,
            "turn_index": i % 4,
        }
        recorder.begin(row, b'{"messages":[]}')
        recorder.progress(row["id"], {"output_tokens": 3})  # live counts of a pending row
        if i % 4:
            status = [200, 500, 429][i % 3]
            recorder.finish(
                {
                    **row,
                    "status": status,
                    "error": "boom" if status >= 400 else None,
                    "input_tokens": 7,
                    "output_tokens": 11,
                    "cache_read_tokens": 100,
                    "latency_ms": 90.0,
                    "tool_calls": [{"name": "Read", "arguments": "{}"}],
                    "response_text": f"answer {i} mentions narwhals",
                },
                b"{}",
            )
    assert recorder.flush(10)
    # A crash leaves pending rows; the next start marks them abandoned (they then count).
    assert recorder.sweep_abandoned().result(10) == 10
    assert recorder.stop()


def test_triggers_keep_summaries_equal_to_a_rebuild(tmp_path):
    path = tmp_path / "proxy.db"
    open_db(path).close()
    record_traffic(path)
    db = sqlite_utils.Database(path)
    live = snapshot(db)
    with db.atomic():
        rebuild_ui_tables(db)
    assert snapshot(db) == live

    db.execute("DELETE FROM requests WHERE id IN ('r5', 'r6', 'r30')")  # retention pruning
    db.execute("UPDATE requests SET conversation_id = 'c-moved' WHERE id = 'r7'")
    live = snapshot(db, without_turns=True)
    fts = db.execute(
        "SELECT count(*) FROM requests_fts WHERE requests_fts MATCH 'narwhals'"
    ).fetchone()[0]
    with db.atomic():
        rebuild_ui_tables(db)
    # `turns` is the highest turn seen: pruning old rows does not lower it.
    assert snapshot(db, without_turns=True) == live
    assert (
        fts
        == db.execute(
            "SELECT count(*) FROM requests WHERE response_text LIKE '%narwhals%'"
        ).fetchone()[0]
    )
    c1 = db["conversations"].get("c1")
    assert (
        c1["requests"]
        == db.execute("SELECT count(*) FROM requests WHERE conversation_id = 'c1'").fetchone()[0]
    )
    assert c1["preview"] == "question 1 about zebras"
    hourly = db.execute("SELECT sum(requests), sum(errors) FROM stats_hourly").fetchone()
    assert hourly == (
        db.execute("SELECT count(*) FROM requests WHERE state != 'pending'").fetchone()[0],
        db.execute(f"SELECT count(*) FROM requests WHERE {schema.IS_ERROR}").fetchone()[0],
    )


def test_upgrade_from_m001_backfills_existing_rows(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    schema.migrations.apply(db, stop_before="m002_ui_search_summaries_rollups")
    db["requests"].insert_all(
        [
            {
                "id": "a",
                "started_at": "2026-11-20T10:00:00.000Z",
                "state": "complete",
                "conversation_id": "c",
                "client_app": "app",
                "client_ip": "10.0.0.1",
                "requested_model": "m",
                "input_tokens": 3,
                "status": 200,
                "tools_offered": '["Read"]',
                "prompt_preview": "first words",
            },
            {
                "id": "b",
                "started_at": "2026-11-20T10:05:00.000Z",
                "state": "error",
                "conversation_id": "c",
                "client_app": "app",
                "client_ip": "10.0.0.9",
                "requested_model": "m",
                "input_tokens": 4,
                "status": 500,
                "error": "x",
                "prompt_preview": "second words",
            },
        ]  # fmt: skip
    )
    db.close()

    db = open_db(path)  # applies m002
    conv = db["conversations"].get("c")
    assert (conv["requests"], conv["errors"], conv["input_tokens"]) == (2, 1, 7)
    assert json.loads(conv["client_ips"]) == ["10.0.0.1", "10.0.0.9"]
    assert conv["preview"] == "first words"
    assert (
        db.execute("SELECT rowid FROM requests_fts WHERE requests_fts MATCH 'second'").fetchall()
        == db.execute("SELECT rowid FROM requests WHERE id = 'b'").fetchall()
    )
    assert db.execute("SELECT sum(requests), sum(errors) FROM stats_hourly").fetchone() == (2, 1)
    assert db["stats_toolsets_hourly"].get(("2026-11-20T10:00:00Z", '["Read"]'))["requests"] == 1
    names = {index.name for index in db["requests"].indexes}
    assert "idx_requests_state" not in names and "idx_requests_state_started" in names


def test_tools_offered_are_counted_per_tool_set_and_older_databases_move_over(tmp_path):
    """m005: an agent offering the same tools every turn costs one rollup row per hour, not one
    per tool; a database from before it keeps its numbers, now read from the tool sets."""
    path = tmp_path / "proxy.db"
    open_db(path).close()
    record_traffic(path)
    db = sqlite_utils.Database(path)
    offered = """
        SELECT substr(started_at, 1, 13) || ':00:00Z', j.value, count(*)
        FROM requests, json_each(tools_offered) AS j
        WHERE state IS NOT 'pending' GROUP BY 1, 2 ORDER BY 1, 2"""
    from_sets = """
        SELECT s.hour, j.value, sum(s.requests)
        FROM stats_toolsets_hourly AS s, json_each(s.tools) AS j GROUP BY 1, 2 ORDER BY 1, 2"""
    expected = db.execute(offered).fetchall()
    assert expected and db.execute(from_sets).fetchall() == expected
    hours = {hour for hour, _, _ in expected}
    assert db.execute("SELECT count(*) FROM stats_toolsets_hourly").fetchone()[0] == len(hours)

    # As m004 left a database: offered counted per tool, no tool sets.
    db.execute("DROP TABLE stats_toolsets_hourly")
    for hour, tool, count in expected:
        db.execute(
            "INSERT INTO stats_tools_hourly (hour, tool, offered) VALUES (?, ?, ?) "
            "ON CONFLICT (hour, tool) DO UPDATE SET offered = excluded.offered",
            [hour, tool, count],
        )
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_toolsets_hourly'")
    db.close()

    db = open_db(path)  # applies m005
    assert db.execute(from_sets).fetchall() == expected
    assert db.execute("SELECT sum(offered) FROM stats_tools_hourly").fetchone() == (0,)
    db.execute("DELETE FROM requests WHERE id = 'r1'")  # the new triggers keep it in step
    assert db.execute(from_sets).fetchall() == db.execute(offered).fetchall() != expected
