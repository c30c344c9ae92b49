import re

import sqlite_utils

from addons.store import schema
from addons.store.schema import migrations, now_iso, open_db

# Every migration of today's code, in order.
ALL_MIGRATIONS = [m.name for m in migrations.pending(sqlite_utils.Database(memory=True))]


def applied(db: sqlite_utils.Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]


def test_open_db_creates_schema_and_sets_pragmas(tmp_path):
    db = open_db(tmp_path / "capture.db")
    assert {"requests", "verdicts", "blobs", "bodies", "settings"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    columns = db["requests"].columns_dict
    assert columns["latency_ms"] is float and columns["status"] is int
    assert db["requests"].pks == ["id"]
    assert db["verdicts"].pks == ["request_id", "seq"]
    indexed = {tuple(index.columns[:2]) for index in db["requests"].indexes}
    for wanted in [
        ("started_at",),
        ("conversation_id", "started_at"),
        ("state", "started_at"),
        ("requested_model", "started_at"),
        ("client_app", "started_at"),
        ("verdict", "started_at"),
        ("session_id",),
    ]:
        assert wanted in indexed
    assert applied(db) == ALL_MIGRATIONS
    assert migrations.pending(db) == []


def test_open_db_on_an_existing_database_is_idempotent(tmp_path):
    path = tmp_path / "capture.db"
    db = open_db(path)
    db["requests"].insert({"id": "r1", "state": "complete"})
    db.close()
    db = open_db(path, busy_timeout_ms=250)
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 250
    assert applied(db) == ALL_MIGRATIONS
    assert [r["id"] for r in db["requests"].rows] == ["r1"]
    assert db["requests"].get("r1")["verdict"] == "allow"


def test_upgrade_from_the_previous_schema_keeps_data(tmp_path):
    """A database made by today's migrations takes a future migration without losing rows."""
    path = tmp_path / "capture.db"
    db = open_db(path)
    db["requests"].insert({"id": "r1", "state": "complete", "input_tokens": 12})
    db.close()

    future = sqlite_utils.Migrations("llm_inspector")
    for name in ALL_MIGRATIONS:
        future(name=name)(getattr(schema, name))

    @future()
    def m999_add_cost(db):
        db["requests"].add_column("cost_usd", float)

    db = sqlite_utils.Database(path)
    assert [m.name for m in future.pending(db)] == ["m999_add_cost"]
    future.apply(db)
    assert [m.name for m in future.applied(db)] == [*ALL_MIGRATIONS, "m999_add_cost"]
    row = db["requests"].get("r1")
    assert row["input_tokens"] == 12 and row["cost_usd"] is None
    db.close()

    # Today's code still opens the upgraded file.
    db = open_db(path)
    assert db["requests"].get("r1")["input_tokens"] == 12


def test_timestamps_are_utc_iso_with_milliseconds():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now_iso())
