"""The audit API (`api/audit`) and the rules API forwarded to the suite (`api/rules*`)."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlite_utils

from addons.store.schema import iso
from datasette_plugins import audit
from datasette_plugins.audit import AuditFilters
from datasette_plugins.redaction import REDACTED
from tests.datasette_plugins.conftest import (
    LOCAL_CLIENT,
    NEIGHBOUR,
    STRANGER,
    make_datasette,
    via_proxy,
)

TOKEN = "audit-token"


def add_verdicts(path) -> None:
    db = sqlite_utils.Database(path)
    db["verdicts"].insert_all(
        [
            {
                "request_id": "b1",
                "seq": 0,
                "phase": "preflight",
                "rule_id": "loop_detector",
                "verdict": "block",
                "reason": "Tool call 'pay' repeated 4× (card 4111)",
                "details": json.dumps({"tool_name": "pay", "count": 4}),
                "at": "2026-11-20T11:00:01.000Z",
            },
            {
                "request_id": "c1",
                "seq": 0,
                "phase": "transform",
                "rule_id": "model_router",
                "verdict": "allow",
                "reason": "",
                "details": None,
                "at": "2026-11-20T12:00:00.500Z",
            },
            {
                "request_id": "c1",
                "seq": 1,
                "phase": "transform",
                "rule_id": "ollama_options",
                "verdict": "rewrite",
                "reason": "options set: num_ctx=8192",
                "details": json.dumps({"applied": {"num_ctx": 8192}}),
                "at": "2026-11-20T12:00:00.500Z",
            },
            {
                "request_id": "gone",
                "seq": 0,
                "phase": "postflight",
                "rule_id": "schema_validator",
                "verdict": "intercept",
                "reason": "Edit: missing required field 'old_string'",
                "details": "not json",
                "at": "2026-11-20T09:00:00.000Z",
            },
        ]
    )
    db.close()


@pytest.fixture
def ds(db_path):
    add_verdicts(db_path)
    return make_datasette(db_path, token=TOKEN)


async def get(ds, path, ip=None):
    headers = via_proxy(ip, Authorization=f"Bearer {TOKEN}") if ip else {}
    response = await ds.client.get(path, headers=headers)
    return response


async def test_newest_first_with_each_request_and_counts(ds):
    response = await get(ds, "/api/audit")
    assert response.status_code == 200
    body = response.json()
    items = body["items"]
    assert [(i["request_id"], i["seq"]) for i in items] == [
        ("c1", 1),
        ("b1", 0),
        ("a3", 0),
        ("gone", 0),
    ]  # allow left out by default
    rewrite = items[0]
    assert rewrite == {
        "request_id": "c1",
        "seq": 1,
        "at": "2026-11-20T12:00:00.500Z",
        "phase": "transform",
        "rule_id": "ollama_options",
        "verdict": "rewrite",
        "reason": "options set: num_ctx=8192",
        "details": {"applied": {"num_ctx": 8192}},
        "request": {
            "started_at": "2026-11-20T12:00:00.000Z",
            "client_app": "ollama-python",
            "requested_model": "qwen3:8b",
            "path": "/api/chat",
            "status": 200,
            "client_ip": "127.0.0.1",
        },
        "redacted": False,
    }
    assert items[-1]["request"] is None and items[-1]["details"] == "not json"
    assert body["counts"]["by_verdict"] == {
        "block": 1,
        "intercept": 1,
        "rewrite": 1,
        "warn": 1,
        "allow": 1,
    }
    assert {(r["rule_id"], r["verdict"]): r["count"] for r in body["counts"]["by_rule"]} == {
        ("loop_detector", "block"): 1,
        ("loop_detector", "warn"): 1,
        ("model_router", "allow"): 1,
        ("ollama_options", "rewrite"): 1,
        ("schema_validator", "intercept"): 1,
    }
    assert body["next_offset"] is None and body["redacted"] is False


@pytest.mark.parametrize(
    "query, expected",
    [
        ("verdict=block", [("b1", 0)]),
        ("verdict=allow", [("c1", 0)]),
        ("include_allow=true", [("c1", 1), ("c1", 0), ("b1", 0), ("a3", 0), ("gone", 0)]),
        ("rule=loop_detector", [("b1", 0), ("a3", 0)]),
        ("rule=loop_detector&verdict=warn", [("a3", 0)]),
        ("rule=model_router", []),
        ("rule=model_router&include_allow=1", [("c1", 0)]),
        ("since=2026-11-20T10:30:00Z", [("c1", 1), ("b1", 0)]),
        ("until=2026-11-20T11:00:00Z", [("a3", 0), ("gone", 0)]),
        ("since=2026-11-20T10:00:00Z&until=2026-11-20T12:00:00Z", [("b1", 0), ("a3", 0)]),
        ("limit=2", [("c1", 1), ("b1", 0)]),
        ("limit=2&offset=2", [("a3", 0), ("gone", 0)]),
    ],
)
async def test_filters_and_paging(ds, query, expected):
    body = (await get(ds, "/api/audit?" + query)).json()
    assert [(i["request_id"], i["seq"]) for i in body["items"]] == expected
    if query == "limit=2":
        assert body["next_offset"] == 2


async def test_counts_cover_the_time_window_not_the_other_filters(ds):
    body = (await get(ds, "/api/audit?verdict=block&since=2026-11-20T10:30:00Z")).json()
    assert body["counts"]["by_verdict"] == {
        "block": 1,
        "intercept": 0,
        "rewrite": 1,
        "warn": 0,
        "allow": 1,
    }


@pytest.mark.parametrize(
    "query", ["since=yesterday", "until=13:00", "limit=0", "offset=-1", "include_allow=maybe"]
)
async def test_bad_parameters_are_400(ds, query):
    response = await get(ds, "/api/audit?" + query)
    assert response.status_code == 400 and "error" in response.json()


async def test_reasons_and_details_are_content_for_redaction(ds):
    # A stranger with the token sees every verdict's metadata, but no reason or details.
    body = (await get(ds, "/api/audit", STRANGER)).json()
    assert body["redacted"] is True
    assert {i["request_id"] for i in body["items"]} == {"c1", "b1", "a3", "gone"}
    for item in body["items"]:
        assert item["redacted"] is True
        assert item["reason"] == REDACTED and item["details"] in (REDACTED, None)
        assert item["rule_id"] and item["verdict"]
    assert body["counts"]["by_verdict"]["block"] == 1

    # A neighbour of the loop's client sees that one only.
    body = (await get(ds, "/api/audit", NEIGHBOUR)).json()
    visible = {i["request_id"]: i for i in body["items"] if not i["redacted"]}
    assert set(visible) == {"a3"}
    assert visible["a3"]["reason"] == "repeated attack plan"
    assert visible["a3"]["request"]["client_ip"] == LOCAL_CLIENT
    assert "4111" not in json.dumps(body)


def test_counts_from_the_rollup_match_counting_the_rows(tmp_path):
    from addons.store.schema import open_db

    path = tmp_path / "many.db"
    db = open_db(path)
    rng = random.Random(7)
    start = dt.datetime(2026, 11, 18, 22, 17, tzinfo=dt.UTC)
    rows = []
    for n in range(3000):
        rows.append(
            {
                "request_id": f"r{n}",
                "seq": 0,
                "rule_id": rng.choice(["loop_detector", "model_router", None]),
                "verdict": rng.choice(["block", "warn", "rewrite", "allow", None]),
                "at": iso(start + dt.timedelta(seconds=rng.random() * 3 * 86400)),
            }
        )
    db["verdicts"].insert_all(rows)
    db.execute("DELETE FROM verdicts WHERE request_id IN ('r1', 'r2', 'r3')")
    db.execute("UPDATE verdicts SET verdict = 'intercept' WHERE request_id = 'r4'")
    db.conn.commit()
    db.close()
    conn = sqlite3.connect(path)

    def naive(since, until):
        where, params = ["at IS NOT NULL"], []
        if since:
            where.append("at >= ?")
            params.append(since)
        if until:
            where.append("at < ?")
            params.append(until)
        counted = {}
        for verdict, rule_id, count in conn.execute(
            f"SELECT verdict, rule_id, count(*) FROM verdicts WHERE {' AND '.join(where)} "
            "GROUP BY 1, 2",
            params,
        ):
            counted[verdict, rule_id] = count
        return counted

    def stamp():
        moment = start + dt.timedelta(seconds=rng.random() * 3 * 86400)
        return iso(
            moment.replace(minute=0, second=0, microsecond=0) if rng.random() < 0.3 else moment
        )

    windows = [(None, None), (stamp(), None), (None, stamp())]
    windows += [tuple(sorted((stamp(), stamp()))) for _ in range(40)]
    windows += [("2026-11-19T10:10:00.000Z", "2026-11-19T10:50:00.000Z")]
    for since, until in windows:
        counts = audit.count_verdicts(conn, AuditFilters(since=since, until=until))
        got = {(r["verdict"], r["rule_id"]): r["count"] for r in counts["by_rule"]}
        assert got == naive(since, until), (since, until)
    conn.close()


# -- the rules API, forwarded ------------------------------------------------------------------


class FakeSuite:
    """Answers like the suite's rules API and remembers what it was asked."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        suite = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                suite.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": self.rfile.read(length) if length else b"",
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                status, doc = (400, {"error": "invalid rules document", "errors": []})
                if self.command == "GET" or b"nope" not in suite.seen[-1]["body"]:
                    status, doc = 200, {"ok": True, "version": 7, "path": self.path}
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def suite():
    fake = FakeSuite()
    yield fake
    fake.close()


async def test_rules_are_forwarded_to_the_suite(db_path, suite):
    ds = make_datasette(db_path, suite_url=suite.url)
    got = await ds.client.get("/api/rules/history?x=1")
    assert got.status_code == 200 and got.json()["path"] == "/__proxy/api/rules/history?x=1"

    # A browser's POST carries cookies but no CSRF token: JSON is enough.
    posted = await ds.client.post(
        "/api/rules",
        content=b'{"loop_detector": {"enabled": false}}',
        headers={"content-type": "application/json", "cookie": "ds_csrftoken=abc; other=1"},
    )
    assert posted.status_code == 200 and posted.json()["version"] == 7
    seen = suite.seen[-1]
    assert (seen["method"], seen["path"]) == ("POST", "/__proxy/api/rules")
    assert seen["body"] == b'{"loop_detector": {"enabled": false}}'
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-proxy-user"] == "ui:127.0.0.1"
    assert "cookie" not in seen["headers"]

    refused = await ds.client.post("/api/rules", json={"nope": {}})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid rules document"
    restored = await ds.client.post("/api/rules/restore", json={"version": 3})
    assert restored.status_code == 200 and suite.seen[-1]["path"] == "/__proxy/api/rules/restore"
    mode = await ds.client.get("/api/rules/mode")
    assert mode.status_code == 200 and suite.seen[-1]["path"] == "/__proxy/api/rules/mode"
    switched = await ds.client.post("/api/rules/mode", json={"mode": "redirect", "to": "m"})
    assert switched.status_code == 200
    seen = suite.seen[-1]
    assert (seen["method"], seen["path"]) == ("POST", "/__proxy/api/rules/mode")
    assert json.loads(seen["body"]) == {"mode": "redirect", "to": "m"}
    assert seen["headers"]["x-proxy-user"] == "ui:127.0.0.1"


@pytest.mark.parametrize(
    "method, path, body, headers, status",
    [
        ("POST", "/api/rules", b"{}", {"content-type": "text/plain"}, 415),
        ("POST", "/api/rules/history", b"{}", {"content-type": "application/json"}, 405),
        ("GET", "/api/rules/restore", None, {}, 405),
        ("POST", "/api/rules/mode", b"{}", {"content-type": "text/plain"}, 415),
        ("PUT", "/api/rules/mode", b"{}", {"content-type": "application/json"}, 405),
        ("DELETE", "/api/rules", None, {}, 405),
    ],
)
async def test_rules_forwarding_refuses_what_the_suite_would_not_take(
    db_path, suite, method, path, body, headers, status
):
    ds = make_datasette(db_path, suite_url=suite.url)
    response = await ds.client.request(method, path, content=body, headers=headers)
    assert response.status_code == status
    assert suite.seen == []


async def test_only_viewers_who_see_everything_read_and_only_loopback_writes(db_path, suite):
    stranger = via_proxy(STRANGER, Authorization=f"Bearer {TOKEN}")
    ds = make_datasette(db_path, suite_url=suite.url, token=TOKEN)
    assert (await ds.client.get("/api/rules", headers=stranger)).status_code == 403

    open_ds = make_datasette(db_path, suite_url=suite.url, token=TOKEN, redact=False)
    assert (await open_ds.client.get("/api/rules", headers=stranger)).status_code == 200
    post = await open_ds.client.post("/api/rules", json={}, headers=stranger)
    assert post.status_code == 403 and "this machine" in post.json()["error"]
    mode = await open_ds.client.post(
        "/api/rules/mode", json={"mode": "passthrough"}, headers=stranger
    )
    assert mode.status_code == 403 and "this machine" in mode.json()["error"]
    assert [s["method"] for s in suite.seen] == ["GET"]


async def test_without_a_suite_the_rules_say_where_to_look(db_path):
    ds = make_datasette(db_path)
    response = await ds.client.get("/api/rules")
    assert response.status_code == 503 and "through the proxy" in response.json()["error"]
    down = make_datasette(db_path, suite_url="http://127.0.0.1:9")
    response = await down.client.get("/api/rules/schema")
    assert response.status_code == 502 and "did not answer" in response.json()["error"]


@pytest.mark.parametrize("page", ["/audit", "/rules"])
async def test_the_pages_are_in_the_nav(ds, page):
    response = await ds.client.get(page)
    assert response.status_code == 200
    assert f'href="/__proxy{page}" class="active"' in response.text
    assert "/-/inspector/static/js/page-" + page[1:] + ".js" in response.text
