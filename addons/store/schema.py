"""The SQLite schema of the capture database and how to open it.

Migrations are applied in order and never edited once released: a change to the schema is a new
`mNNN_...` function. Datasette reads the same file while the proxy writes it, hence WAL.
"""

from __future__ import annotations

import datetime as dt
import pathlib

import sqlite_utils

migrations = sqlite_utils.Migrations("llm_inspector")


def now_iso() -> str:
    """UTC now as ISO-8601 with milliseconds and a Z, the format of every timestamp we store."""
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@migrations()
def m001_create_tables(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            started_at TEXT,
            ended_at TEXT,
            state TEXT DEFAULT 'pending',
            listener TEXT,
            method TEXT,
            scheme TEXT,
            host TEXT,
            path TEXT,
            upstream TEXT,
            upstream_url TEXT,
            dialect TEXT,
            status INTEGER,
            requested_model TEXT,
            served_model TEXT,
            is_stream INTEGER,
            client_app TEXT,
            client_ip TEXT,
            user_agent TEXT,
            session_id TEXT,
            conversation_id TEXT,
            parent_conversation_id TEXT,
            turn_index INTEGER,
            latency_ms REAL,
            ttft_ms REAL,
            overhead_ms REAL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_read_tokens INTEGER,
            cache_write_tokens INTEGER,
            tokens_estimated INTEGER,
            stop_reason TEXT,
            tools_offered TEXT,
            tool_calls TEXT,
            error TEXT,
            verdict TEXT DEFAULT 'allow',
            request_headers TEXT,
            response_headers TEXT,
            request_body_id TEXT,
            response_body_id TEXT,
            stream_body_id TEXT,
            request_bytes INTEGER,
            response_bytes INTEGER,
            stream_events INTEGER,
            prompt_preview TEXT,
            response_text TEXT
        )
        """
    )
    for name, columns in (
        ("started_at", "started_at"),
        ("conversation", "conversation_id, started_at"),
        ("state", "state"),
        ("requested_model", "requested_model"),
        ("client_app", "client_app"),
        ("status", "status"),
        ("session", "session_id"),
    ):
        db.execute(f"CREATE INDEX idx_requests_{name} ON requests ({columns})")

    db.execute(
        """
        CREATE TABLE verdicts (
            request_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            phase TEXT,
            rule_id TEXT,
            verdict TEXT,
            reason TEXT,
            details TEXT,
            at TEXT,
            PRIMARY KEY (request_id, seq)
        )
        """
    )
    db.execute("CREATE INDEX idx_verdicts_rule ON verdicts (rule_id, at)")

    db.execute(
        """
        CREATE TABLE blobs (
            hash TEXT PRIMARY KEY,
            size INTEGER,
            codec TEXT,
            data BLOB
        )
        """
    )
    db.execute(
        """
        CREATE TABLE bodies (
            id TEXT PRIMARY KEY,
            size INTEGER,
            segments TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT,
            updated_at TEXT
        )
        """
    )


def open_db(path: str | pathlib.Path, *, busy_timeout_ms: int = 5000) -> sqlite_utils.Database:
    """Open (creating if needed) the capture database and bring its schema up to date.

    The connection belongs to the calling thread, as sqlite3 connections do by default.
    """
    db = sqlite_utils.Database(path)
    try:
        # First, so that the journal-mode switch and the migrations wait for other writers.
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(db)
    except BaseException:
        db.close()
        raise
    return db
