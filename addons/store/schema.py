"""The SQLite schema of the capture database and how to open it.

Migrations are applied in order and never edited once released: a change to the schema is a new
`mNNN_...` function. Datasette reads the same file while the proxy writes it, hence WAL.
"""

from __future__ import annotations

import datetime as dt
import math
import pathlib
import time

import sqlite_utils

migrations = sqlite_utils.Migrations("llm_inspector")


def now_iso() -> str:
    """UTC now as ISO-8601 with milliseconds and a Z, the format of every timestamp we store."""
    return iso_at(time.time())


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_SECOND: tuple[float, str] = (math.nan, "")  # the last whole second formatted, and its text


def iso_at(ts: float) -> str:
    """A Unix time as `iso` writes it: what `datetime.fromtimestamp(ts, UTC)` gives (the same
    rounding to microseconds), cut to milliseconds.

    The recorder stamps every exchange two or three times, mostly within one second, so the
    text up to the second is made once a second (a quarter of the time of a datetime)."""
    global _SECOND
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1e6)  # half to even, as datetime rounds
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    second, text = _SECOND
    if whole != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _SECOND = (whole, text)
    return f"{text}.{micros // 1000:03d}Z"


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


# -- m002: what the UI reads -------------------------------------------------------------------
#
# Every UI list is served by an index, and nothing aggregates the whole requests table per call:
#
# - `requests_fts` (FTS5, external content over `requests`) indexes prompt_preview and
#   response_text; its rowids are those of `requests`, kept in sync by triggers. A VACUUM keeps
#   rowids of ordinary tables in practice; should they ever diverge, `rebuild_ui_tables` fixes it.
# - `conversations` holds one summary row per conversation, `conversation_tags` the apps and
#   models seen in each (for filtering); both are kept up to date incrementally by triggers.
#   Deleting requests (retention) lowers counts and tokens and moves first/last times, but
#   keeps `turns` (the highest turn seen) and the app/model/IP lists: recomputing those would
#   read the whole conversation for every deleted row.
# - `stats_hourly` and `stats_tools_hourly` roll finished requests up per hour (WITHOUT ROWID, so
#   that a range of hours is one sequential read), so that stats over long windows read tens of
#   thousands of rows instead of a million. Pending rows are not in
#   them: a request counts once it finishes (or is abandoned). Tools offered are counted per
#   tool set (`stats_toolsets_hourly`, m005) and expanded to tools when read.
# - Composite `(column, started_at, other filter columns)` indexes let every equality filter of
#   the requests list walk newest-first without a sort, checking the other filters in the index;
#   they replace m001's single-column ones.

# A request "failed": one definition for the error filter, its partial index and every counter.
IS_ERROR = "(error IS NOT NULL OR status >= 400)"


def _is_error(row: str) -> str:
    return f"(CASE WHEN {row}.error IS NOT NULL OR {row}.status >= 400 THEN 1 ELSE 0 END)"


def _hour(row: str) -> str:
    return f"substr({row}.started_at, 1, 13) || ':00:00Z'"


def _model(row: str) -> str:
    return f"coalesce({row}.requested_model, {row}.served_model)"


_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")

_STATS_TRIGGERS = ("stats_ai", "stats_au_sub", "stats_au_add", "stats_ad")
_UI_TRIGGERS = (
    "requests_fts_ai",
    "requests_fts_ad",
    "requests_fts_au",
    "conversations_ai",
    "conversations_au_same",
    "conversations_au_out",
    "conversations_au_in",
    "conversations_ad",
    *_STATS_TRIGGERS,
)


def _conversation_add(row: str) -> str:
    """Statements adding request `row` to its conversation's summary (which may not exist)."""
    model = _model(row)
    tokens = ", ".join(f"coalesce({row}.{t}, 0)" for t in _TOKENS)
    token_updates = ", ".join(f"{t} = {t} + excluded.{t}" for t in _TOKENS)
    return f"""
        INSERT INTO conversations (
            conversation_id, session_id, parent_conversation_id, first_at, last_at, turns,
            requests, client_apps, models, client_ips, {", ".join(_TOKENS)}, errors, preview
        ) VALUES (
            {row}.conversation_id, {row}.session_id, {row}.parent_conversation_id,
            {row}.started_at, {row}.started_at, coalesce({row}.turn_index, 0), 1,
            CASE WHEN {row}.client_app IS NULL THEN '[]' ELSE json_array({row}.client_app) END,
            CASE WHEN {model} IS NULL THEN '[]' ELSE json_array({model}) END,
            CASE WHEN {row}.client_ip IS NULL OR {row}.client_ip = '' THEN '[]'
                 ELSE json_array({row}.client_ip) END,
            {tokens}, {_is_error(row)}, substr({row}.prompt_preview, 1, 300)
        )
        ON CONFLICT (conversation_id) DO UPDATE SET
            session_id = coalesce(session_id, excluded.session_id),
            parent_conversation_id = coalesce(parent_conversation_id,
                                              excluded.parent_conversation_id),
            preview = CASE WHEN first_at IS NULL OR excluded.first_at < first_at
                           THEN coalesce(excluded.preview, preview) ELSE preview END,
            first_at = CASE WHEN first_at IS NULL OR excluded.first_at < first_at
                            THEN excluded.first_at ELSE first_at END,
            last_at = CASE WHEN last_at IS NULL OR excluded.last_at > last_at
                           THEN excluded.last_at ELSE last_at END,
            turns = max(turns, excluded.turns),
            requests = requests + 1,
            {_list_add("client_apps", f"{row}.client_app")},
            {_list_add("models", model)},
            {_list_add("client_ips", f"{row}.client_ip")},
            {token_updates},
            errors = errors + excluded.errors;
        {_tags_add(row)}
    """


def _list_add(column: str, value: str) -> str:
    return (
        f"{column} = CASE WHEN {value} IS NULL OR {value} = '' OR EXISTS "
        f"(SELECT 1 FROM json_each(conversations.{column}) WHERE value = {value}) "
        f"THEN {column} ELSE json_insert({column}, '$[#]', {value}) END"
    )


def _tags_add(row: str) -> str:
    # An upsert, not INSERT OR IGNORE: inside a trigger the outer statement's conflict policy
    # would override OR IGNORE.
    return f"""
        INSERT INTO conversation_tags (kind, value, conversation_id)
        SELECT 'app', {row}.client_app, {row}.conversation_id WHERE {row}.client_app IS NOT NULL
        ON CONFLICT DO NOTHING;
        INSERT INTO conversation_tags (kind, value, conversation_id)
        SELECT 'model', {_model(row)}, {row}.conversation_id WHERE {_model(row)} IS NOT NULL
        ON CONFLICT DO NOTHING;
    """


def _conversation_remove(row: str) -> str:
    """Statements taking request `row` (no longer in `requests`) out of its conversation."""
    token_updates = ", ".join(f"{t} = {t} - coalesce({row}.{t}, 0)" for t in _TOKENS)
    cid = f"{row}.conversation_id"
    return f"""
        UPDATE conversations SET
            requests = requests - 1,
            {token_updates},
            errors = errors - {_is_error(row)},
            first_at = (SELECT min(started_at) FROM requests WHERE conversation_id = {cid}),
            last_at = (SELECT max(started_at) FROM requests WHERE conversation_id = {cid}),
            preview = (SELECT substr(prompt_preview, 1, 300) FROM requests
                       WHERE conversation_id = {cid} ORDER BY started_at LIMIT 1)
        WHERE conversation_id = {cid};
        DELETE FROM conversation_tags WHERE conversation_id = {cid} AND conversation_id IN
            (SELECT conversation_id FROM conversations
             WHERE conversation_id = {cid} AND requests <= 0);
        DELETE FROM conversations WHERE conversation_id = {cid} AND requests <= 0;
    """


def _finished(row: str) -> str:
    """SQL: request `row` counts in the rollups (finished or abandoned, with a start time)."""
    return f"{row}.state IS NOT 'pending' AND {row}.started_at IS NOT NULL"


def _offers_tools(column: str) -> str:
    """SQL: `column` holds a non-empty JSON array (the tools a request offered)."""
    return (
        f"json_valid({column}) AND json_type({column}) = 'array' "
        f"AND json_array_length({column}) > 0"
    )


def _stats_change(row: str, sign: str) -> str:
    """Statements adding (`sign` "+") or subtracting ("-") a finished request in the rollups."""
    values = ", ".join(f"{sign}coalesce({row}.{t}, 0)" for t in _TOKENS)
    updates = ", ".join(f"{t} = {t} + excluded.{t}" for t in _TOKENS)
    latency = f"{sign}coalesce({row}.latency_ms, 0)"
    latency_n = f"{sign}({row}.latency_ms IS NOT NULL)"
    error = f"{sign}{_is_error(row)}"
    key = (
        f"{_hour(row)}, coalesce({_model(row)}, ''), coalesce({row}.client_app, ''), "
        f"coalesce({row}.client_ip, ''), coalesce({row}.upstream, '')"
    )
    statements = f"""
        INSERT INTO stats_hourly (hour, model, client_app, client_ip, upstream, requests, errors,
                                  {", ".join(_TOKENS)}, latency_ms_sum, latency_n)
        VALUES ({key}, {sign}1, {error}, {values}, {latency}, {latency_n})
        ON CONFLICT (hour, model, client_app, client_ip, upstream) DO UPDATE SET
            requests = requests + excluded.requests,
            errors = errors + excluded.errors,
            {updates},
            latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum,
            latency_n = latency_n + excluded.latency_n;
        INSERT INTO stats_toolsets_hourly (hour, tools, requests)
        SELECT {_hour(row)}, {row}.tools_offered, {sign}1
        WHERE {_offers_tools(row + ".tools_offered")}
        ON CONFLICT (hour, tools) DO UPDATE SET requests = requests + excluded.requests;
        INSERT INTO stats_tools_hourly (hour, tool, offered, called, errors)
        SELECT {_hour(row)}, json_extract(value, '$.name'), 0, {sign}count(*),
               {sign}count(*) * {_is_error(row)}
        FROM json_each(
            CASE WHEN json_valid({row}.tool_calls) THEN {row}.tool_calls ELSE '[]' END)
        WHERE json_extract(value, '$.name') IS NOT NULL
        GROUP BY json_extract(value, '$.name')
        ON CONFLICT (hour, tool) DO UPDATE SET
            called = called + excluded.called, errors = errors + excluded.errors;
    """
    if sign == "-":
        statements += f"""
        DELETE FROM stats_hourly WHERE hour = {_hour(row)} AND requests <= 0
            AND model = coalesce({_model(row)}, '')
            AND client_app = coalesce({row}.client_app, '')
            AND client_ip = coalesce({row}.client_ip, '')
            AND upstream = coalesce({row}.upstream, '');
        DELETE FROM stats_tools_hourly WHERE hour = {_hour(row)} AND offered <= 0 AND called <= 0;
        DELETE FROM stats_toolsets_hourly
            WHERE hour = {_hour(row)} AND tools = {row}.tools_offered AND requests <= 0;
        """
    return statements


def create_ui_triggers(db: sqlite_utils.Database) -> None:
    """The triggers that keep the FTS index, conversation summaries and rollups in sync."""
    _token_deltas = ", ".join(
        f"{t} = {t} + coalesce(new.{t}, 0) - coalesce(old.{t}, 0)" for t in _TOKENS
    )
    statements = [
        """
        CREATE TRIGGER requests_fts_ai AFTER INSERT ON requests BEGIN
            INSERT INTO requests_fts (rowid, prompt_preview, response_text)
            VALUES (new.rowid, new.prompt_preview, new.response_text);
        END
        """,
        """
        CREATE TRIGGER requests_fts_ad AFTER DELETE ON requests BEGIN
            INSERT INTO requests_fts (requests_fts, rowid, prompt_preview, response_text)
            VALUES ('delete', old.rowid, old.prompt_preview, old.response_text);
        END
        """,
        """
        CREATE TRIGGER requests_fts_au AFTER UPDATE OF prompt_preview, response_text ON requests
        BEGIN
            INSERT INTO requests_fts (requests_fts, rowid, prompt_preview, response_text)
            VALUES ('delete', old.rowid, old.prompt_preview, old.response_text);
            INSERT INTO requests_fts (rowid, prompt_preview, response_text)
            VALUES (new.rowid, new.prompt_preview, new.response_text);
        END
        """,
        f"""
        CREATE TRIGGER conversations_ai AFTER INSERT ON requests
        WHEN new.conversation_id IS NOT NULL BEGIN
            {_conversation_add("new")}
        END
        """,
        f"""
        CREATE TRIGGER conversations_au_same AFTER UPDATE ON requests
        WHEN new.conversation_id IS NOT NULL AND new.conversation_id IS old.conversation_id BEGIN
            UPDATE conversations SET
                {_token_deltas},
                errors = errors + {_is_error("new")} - {_is_error("old")},
                turns = max(turns, coalesce(new.turn_index, 0)),
                session_id = coalesce(session_id, new.session_id),
                parent_conversation_id = coalesce(parent_conversation_id,
                                                  new.parent_conversation_id),
                {_list_add("client_apps", "new.client_app")},
                {_list_add("models", _model("new"))},
                {_list_add("client_ips", "new.client_ip")}
            WHERE conversation_id = new.conversation_id;
            {_tags_add("new")}
        END
        """,
        f"""
        CREATE TRIGGER conversations_au_out AFTER UPDATE OF conversation_id ON requests
        WHEN old.conversation_id IS NOT NULL AND new.conversation_id IS NOT old.conversation_id
        BEGIN
            {_conversation_remove("old")}
        END
        """,
        f"""
        CREATE TRIGGER conversations_au_in AFTER UPDATE OF conversation_id ON requests
        WHEN new.conversation_id IS NOT NULL AND new.conversation_id IS NOT old.conversation_id
        BEGIN
            {_conversation_add("new")}
        END
        """,
        f"""
        CREATE TRIGGER conversations_ad AFTER DELETE ON requests
        WHEN old.conversation_id IS NOT NULL BEGIN
            {_conversation_remove("old")}
        END
        """,
        *_stats_triggers(),
    ]
    for sql in statements:
        db.execute(sql)


def _stats_triggers() -> list[str]:
    finished_new, finished_old = _finished("new"), _finished("old")
    return [
        f"""
        CREATE TRIGGER stats_ai AFTER INSERT ON requests WHEN {finished_new} BEGIN
            {_stats_change("new", "+")}
        END
        """,
        f"""
        CREATE TRIGGER stats_au_sub AFTER UPDATE ON requests WHEN {finished_old} BEGIN
            {_stats_change("old", "-")}
        END
        """,
        f"""
        CREATE TRIGGER stats_au_add AFTER UPDATE ON requests WHEN {finished_new} BEGIN
            {_stats_change("new", "+")}
        END
        """,
        f"""
        CREATE TRIGGER stats_ad AFTER DELETE ON requests WHEN {finished_old} BEGIN
            {_stats_change("old", "-")}
        END
        """,
    ]


def drop_ui_triggers(db: sqlite_utils.Database) -> None:
    """For bulk loads: drop the sync triggers, load, then `rebuild_ui_tables` and recreate them."""
    for name in _UI_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")


def rebuild_ui_tables(db: sqlite_utils.Database) -> None:
    """Recompute the FTS index, conversation summaries and rollups from `requests`."""
    db.execute("INSERT INTO requests_fts (requests_fts) VALUES ('rebuild')")
    for table in ("conversations", "conversation_tags", "stats_hourly", "stats_tools_hourly"):
        db.execute(f"DELETE FROM {table}")
    sums = ", ".join(f"coalesce(sum({t}), 0)" for t in _TOKENS)
    db.execute(
        f"""
        INSERT INTO conversations (
            conversation_id, session_id, parent_conversation_id, first_at, last_at, turns,
            requests, client_apps, models, client_ips, {", ".join(_TOKENS)}, errors, preview
        )
        SELECT conversation_id, max(session_id), max(parent_conversation_id),
               min(started_at), max(started_at), coalesce(max(turn_index), 0), count(*),
               coalesce(json_group_array(DISTINCT client_app)
                        FILTER (WHERE client_app IS NOT NULL), '[]'),
               coalesce(json_group_array(DISTINCT {_model("requests")})
                        FILTER (WHERE {_model("requests")} IS NOT NULL), '[]'),
               coalesce(json_group_array(DISTINCT client_ip)
                        FILTER (WHERE client_ip IS NOT NULL AND client_ip != ''), '[]'),
               {sums}, sum({_is_error("requests")}), NULL
        FROM requests WHERE conversation_id IS NOT NULL GROUP BY conversation_id
        """
    )
    db.execute(
        """
        UPDATE conversations SET preview = (
            SELECT substr(prompt_preview, 1, 300) FROM requests
            WHERE requests.conversation_id = conversations.conversation_id
            ORDER BY started_at LIMIT 1)
        """
    )
    db.execute(
        f"""
        INSERT OR IGNORE INTO conversation_tags (kind, value, conversation_id)
        SELECT DISTINCT 'app', client_app, conversation_id FROM requests
        WHERE conversation_id IS NOT NULL AND client_app IS NOT NULL
        UNION
        SELECT DISTINCT 'model', {_model("requests")}, conversation_id FROM requests
        WHERE conversation_id IS NOT NULL AND {_model("requests")} IS NOT NULL
        """
    )
    finished = _finished("requests")
    db.execute(
        f"""
        INSERT INTO stats_hourly (hour, model, client_app, client_ip, upstream, requests, errors,
                                  {", ".join(_TOKENS)}, latency_ms_sum, latency_n)
        SELECT {_hour("requests")}, coalesce({_model("requests")}, ''),
               coalesce(client_app, ''), coalesce(client_ip, ''), coalesce(upstream, ''),
               count(*), sum({_is_error("requests")}), {sums},
               coalesce(sum(latency_ms), 0), count(latency_ms)
        FROM requests WHERE {finished}
        GROUP BY 1, 2, 3, 4, 5
        """
    )
    db.execute(
        f"""
        INSERT INTO stats_tools_hourly (hour, tool, offered, called, errors)
        SELECT {_hour("requests")}, json_extract(j.value, '$.name'), 0, count(*),
               sum({_is_error("requests")})
        FROM requests, json_each(CASE WHEN json_valid(tool_calls)
                                      THEN tool_calls ELSE '[]' END) AS j
        WHERE {finished} AND tool_calls IS NOT NULL
          AND json_extract(j.value, '$.name') IS NOT NULL
        GROUP BY 1, 2
        """
    )
    rebuild_toolsets(db)


def rebuild_toolsets(db: sqlite_utils.Database) -> None:
    """The tools offered per hour, as how many requests offered each tool set: one row an
    hour for an agent that offers the same 20 to 100 tools every turn, and one upsert per
    request for the trigger instead of one per tool."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS stats_toolsets_hourly (
            hour TEXT NOT NULL,
            tools TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (hour, tools)
        ) WITHOUT ROWID
        """
    )
    db.execute("DELETE FROM stats_toolsets_hourly")
    db.execute(
        f"""
        INSERT INTO stats_toolsets_hourly (hour, tools, requests)
        SELECT {_hour("requests")}, tools_offered, count(*) FROM requests
        WHERE {_finished("requests")} AND {_offers_tools("tools_offered")}
        GROUP BY 1, 2
        """
    )


@migrations()
def m002_ui_search_summaries_rollups(db: sqlite_utils.Database) -> None:
    for name in ("state", "requested_model", "client_app", "status"):
        db.execute(f"DROP INDEX IF EXISTS idx_requests_{name}")
    # Each filter index ends with the other filter columns, so that a combination of filters
    # (app and model and status...) is checked in the index without reading the row.
    filters = ("requested_model", "client_app", "status", "verdict", "state")
    for name, lead in (
        ("model_started", "requested_model"),
        ("app_started", "client_app"),
        ("state_started", "state"),
        ("verdict_started", "verdict"),
        ("status_class_started", "status / 100"),
    ):
        rest = ", ".join(c for c in filters if c != lead)
        db.execute(f"CREATE INDEX idx_requests_{name} ON requests ({lead}, started_at, {rest})")
    db.execute(
        f"CREATE INDEX idx_requests_errors ON requests (started_at, {', '.join(filters)}) "
        f"WHERE {IS_ERROR}"
    )
    db.execute(
        """
        CREATE VIRTUAL TABLE requests_fts USING fts5(
            prompt_preview, response_text, content='requests', content_rowid='rowid'
        )
        """
    )
    db.execute(
        f"""
        CREATE TABLE conversations (
            conversation_id TEXT PRIMARY KEY,
            session_id TEXT,
            parent_conversation_id TEXT,
            first_at TEXT,
            last_at TEXT,
            turns INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            client_apps TEXT NOT NULL DEFAULT '[]',
            models TEXT NOT NULL DEFAULT '[]',
            client_ips TEXT NOT NULL DEFAULT '[]',
            {", ".join(f"{t} INTEGER NOT NULL DEFAULT 0" for t in _TOKENS)},
            errors INTEGER NOT NULL DEFAULT 0,
            preview TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_conversations_last_at ON conversations (last_at)")
    db.execute(
        """
        CREATE TABLE conversation_tags (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            PRIMARY KEY (kind, value, conversation_id)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        f"""
        CREATE TABLE stats_hourly (
            hour TEXT NOT NULL,
            model TEXT NOT NULL,
            client_app TEXT NOT NULL,
            client_ip TEXT NOT NULL,
            upstream TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            {", ".join(f"{t} INTEGER NOT NULL DEFAULT 0" for t in _TOKENS)},
            latency_ms_sum REAL NOT NULL DEFAULT 0,
            latency_n INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (hour, model, client_app, client_ip, upstream)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE stats_tools_hourly (
            hour TEXT NOT NULL,
            tool TEXT NOT NULL,
            offered INTEGER NOT NULL DEFAULT 0,
            called INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (hour, tool)
        ) WITHOUT ROWID
        """
    )
    rebuild_ui_tables(db)
    create_ui_triggers(db)


# -- m003: the audit log -----------------------------------------------------------------------
#
# The Audit page lists verdicts newest first, optionally of one verdict or one rule, and counts
# them per verdict and rule over a time window:
#
# - m001's `(rule_id, at)` serves the rule filter; `(at, verdict, rule_id)` the unfiltered list
#   (skipping allows inside the index) and `(verdict, at, rule_id)` the verdict filter.
# - `verdicts_hourly` counts verdicts per hour, verdict and rule (WITHOUT ROWID, '' for NULL),
#   kept by triggers, so that counts over any window read the whole hours here and only the
#   partial hours at its edges from `verdicts`. The recorder inserts verdicts without a `seq`
#   clash, so an `INSERT OR REPLACE` never replaces one behind the delete trigger's back.


def _verdict_hour(row: str) -> str:
    return f"substr({row}.at, 1, 13) || ':00:00Z'"


def _verdict_count(row: str, sign: str) -> str:
    hour, verdict, rule_id = (
        _verdict_hour(row),
        f"coalesce({row}.verdict, '')",
        f"coalesce({row}.rule_id, '')",
    )
    statement = f"""
        INSERT INTO verdicts_hourly (hour, verdict, rule_id, count)
        VALUES ({hour}, {verdict}, {rule_id}, {sign}1)
        ON CONFLICT (hour, verdict, rule_id) DO UPDATE SET count = count + excluded.count;
    """
    if sign == "-":
        statement += f"""
        DELETE FROM verdicts_hourly
        WHERE hour = {hour} AND verdict = {verdict} AND rule_id = {rule_id} AND count <= 0;
        """
    return statement


@migrations()
def m003_audit_log(db: sqlite_utils.Database) -> None:
    db.execute("CREATE INDEX idx_verdicts_at ON verdicts (at, verdict, rule_id)")
    db.execute("CREATE INDEX idx_verdicts_verdict_at ON verdicts (verdict, at, rule_id)")
    db.execute(
        """
        CREATE TABLE verdicts_hourly (
            hour TEXT NOT NULL,
            verdict TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (hour, verdict, rule_id)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        f"""
        INSERT INTO verdicts_hourly (hour, verdict, rule_id, count)
        SELECT {_verdict_hour("verdicts")}, coalesce(verdict, ''), coalesce(rule_id, ''), count(*)
        FROM verdicts WHERE at IS NOT NULL GROUP BY 1, 2, 3
        """
    )
    for sql in (
        f"""
        CREATE TRIGGER verdicts_hourly_ai AFTER INSERT ON verdicts WHEN new.at IS NOT NULL BEGIN
            {_verdict_count("new", "+")}
        END
        """,
        f"""
        CREATE TRIGGER verdicts_hourly_ad AFTER DELETE ON verdicts WHEN old.at IS NOT NULL BEGIN
            {_verdict_count("old", "-")}
        END
        """,
        f"""
        CREATE TRIGGER verdicts_hourly_au_old AFTER UPDATE OF at, verdict, rule_id ON verdicts
        WHEN old.at IS NOT NULL BEGIN
            {_verdict_count("old", "-")}
        END
        """,
        f"""
        CREATE TRIGGER verdicts_hourly_au_new AFTER UPDATE OF at, verdict, rule_id ON verdicts
        WHEN new.at IS NOT NULL BEGIN
            {_verdict_count("new", "+")}
        END
        """,
    ):
        db.execute(sql)


# -- m004: both sides of a rewritten or bridged request ------------------------------------------


@migrations()
def m004_upstream_request_body(db: sqlite_utils.Database) -> None:
    """What the upstream got, when a rule or the protocol bridge sent something else than what
    the client sent (`request_body_id` stays the client's)."""
    db.execute("ALTER TABLE requests ADD COLUMN upstream_request_body_id TEXT")
    db.execute("ALTER TABLE requests ADD COLUMN upstream_request_bytes INTEGER")


# -- m005: tools offered, counted per tool set -------------------------------------------------


@migrations()
def m005_toolsets_hourly(db: sqlite_utils.Database) -> None:
    """Tools offered are counted per tool set and hour (`stats_toolsets_hourly`): an agent
    offering 60 tools cost the recorder 60 upserts per request. `stats_tools_hourly` keeps the
    calls; its `offered` column stays 0."""
    rebuild_toolsets(db)
    db.execute("UPDATE stats_tools_hourly SET offered = 0")
    db.execute("DELETE FROM stats_tools_hourly WHERE called <= 0")
    for name in _STATS_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for sql in _stats_triggers():
        db.execute(sql)
