"""Migration m003: the audit log's indexes and the hourly verdict counts, kept by triggers as the
recorder writes and prunes, and backfilled from the verdicts of a database made before it."""

from __future__ import annotations

import sqlite_utils

from addons.store import schema
from addons.store.recorder import Recorder, prune
from addons.store.schema import open_db


def hourly(db) -> dict[tuple[str, str, str], int]:
    return {(r["hour"], r["verdict"], r["rule_id"]): r["count"] for r in db["verdicts_hourly"].rows}


def test_upgrade_from_m002_backfills_the_hourly_counts(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    schema.migrations.apply(db, stop_before="m003_audit_log")
    db["verdicts"].insert_all(
        [
            {
                "request_id": "a",
                "seq": 0,
                "rule_id": "loop_detector",
                "verdict": "warn",
                "at": "2026-11-20T10:59:59.999Z",
            },
            {
                "request_id": "b",
                "seq": 0,
                "rule_id": "loop_detector",
                "verdict": "warn",
                "at": "2026-11-20T10:00:00.000Z",
            },
            {
                "request_id": "b",
                "seq": 1,
                "rule_id": None,
                "verdict": "block",
                "at": "2026-11-20T11:00:00.000Z",
            },
            {"request_id": "c", "seq": 0, "rule_id": "x", "verdict": "warn", "at": None},
        ]
    )
    db.close()

    db = open_db(path)  # applies m003
    assert hourly(db) == {
        ("2026-11-20T10:00:00Z", "warn", "loop_detector"): 2,
        ("2026-11-20T11:00:00Z", "block", ""): 1,
    }
    names = {index.name for index in db["verdicts"].indexes}
    assert {"idx_verdicts_at", "idx_verdicts_verdict_at", "idx_verdicts_rule"} <= names


def test_the_counts_follow_inserts_updates_and_pruning(tmp_path):
    path = str(tmp_path / "capture.db")
    recorder = Recorder(path, flush_interval=0.01)
    recorder.start().result(5)
    try:
        for i, started in enumerate(("2020-01-01T08:10:00.000Z", "2020-01-01T08:20:00.000Z")):
            recorder.finish({"id": f"r{i}", "started_at": started, "state": "complete"})
            recorder.verdicts(
                f"r{i}",
                [
                    {"rule_id": "loop_detector", "verdict": "warn", "at": started},
                    {"rule_id": "model_router", "verdict": "rewrite", "at": started},
                ],
            )
        recorder.submit(lambda db: None).result(5)
    finally:
        assert recorder.stop()

    db = open_db(path)
    assert hourly(db) == {
        ("2020-01-01T08:00:00Z", "warn", "loop_detector"): 2,
        ("2020-01-01T08:00:00Z", "rewrite", "model_router"): 2,
    }
    db.execute("UPDATE verdicts SET verdict = 'block' WHERE request_id = 'r0' AND seq = 0")
    db.conn.commit()
    assert hourly(db)[("2020-01-01T08:00:00Z", "warn", "loop_detector")] == 1
    assert hourly(db)[("2020-01-01T08:00:00Z", "block", "loop_detector")] == 1

    prune(db, older_than_days=1)
    assert db.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 0
    assert hourly(db) == {}  # emptied rows go, not zeros
    db.close()
