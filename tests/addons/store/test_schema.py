import datetime as dt
import re

import pytest
import sqlite_utils

from addons.store import schema
from addons.store.schema import iso_at, migrations, now_iso, open_db

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


@pytest.mark.parametrize(
    "ts",
    [
        0.0,
        1763789999.9995,  # the millisecond is cut, not rounded
        1763789999.9999996,  # rounds up to the next second, as datetime does
        1763789999.0000004,
        1.9999995,  # half a microsecond: to even
        1e9 + 1.5e-6,
        *[1763789999 + i / 1e6 for i in range(999_990, 1_000_000)],
    ],
)
def test_a_unix_time_is_stamped_as_datetime_would_stamp_it(ts):
    expected = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")
    assert iso_at(ts) == expected.replace("+00:00", "Z")


def test_stamps_in_turn_across_seconds_keep_their_own_second():
    base = 1763789999.0
    times = [base + 0.2, base + 0.9, base + 1.1, base + 0.5, base + 61.0, base + 1.1]
    assert [iso_at(t) for t in times] == [
        dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for t in times
    ]
