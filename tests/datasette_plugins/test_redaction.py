"""Viewers off the client's subnet see metadata, never content: in the API and everywhere else."""

from __future__ import annotations

import pytest

from datasette_plugins.redaction import REDACTED, Policy, Viewer
from tests.datasette_plugins.conftest import (
    LOCAL_CLIENT,
    NEIGHBOUR,
    OTHER_CLIENT,
    STRANGER,
    make_datasette,
    remote_client,
    via_proxy,
)

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    "viewer, client, visible",
    [
        ("127.0.0.1", "8.8.8.8", True),  # loopback sees everything
        ("127.9.9.9", "8.8.8.8", True),
        ("::1", "10.0.0.1", True),
        ("::ffff:127.0.0.1", "10.0.0.1", True),
        ("10.1.2.3", "10.1.2.3", True),  # the client itself
        ("10.1.2.3", "10.1.2.200", True),  # same /24
        ("10.1.2.3", "10.1.3.3", False),
        ("10.1.2.3", "::ffff:10.1.2.7", True),  # IPv4-mapped is IPv4
        ("10.1.2.3", "127.0.0.1", False),  # a loopback client is not the viewer's
        ("10.1.2.3", None, False),
        ("10.1.2.3", "", False),
        ("10.1.2.3", "not-an-ip", False),
        ("2001:db8:1:2::5", "2001:db8:1:2:ffff::9", True),  # same /64
        ("2001:db8:1:2::5", "2001:db8:1:3::5", False),
        ("[2001:db8:1:2::5]", "fe80::1%eth0", False),
        ("2001:db8::1", "10.0.0.1", False),  # families never match
        ("garbage", "garbage", False),
    ],
)
def test_who_sees_what(viewer, client, visible):
    assert Viewer(viewer).can_see(client) is visible


def test_prefixes_are_configurable_and_the_switch_turns_it_off():
    assert Viewer("10.1.2.3", Policy(True, 16, 64)).can_see("10.1.99.1")
    assert not Viewer("10.1.2.3", Policy(True, 32, 64)).can_see("10.1.2.4")
    assert Viewer("2001:db8::1", Policy(True, 24, 32)).can_see("2001:db8:ffff::1")
    assert Viewer("10.1.2.3", Policy(False)).can_see("8.8.8.8")
    assert Viewer("10.1.2.3", Policy(False)).sees_everything


@pytest.fixture
def ds(db_path):
    return make_datasette(db_path, token=TOKEN)


async def api(ds, path, ip, status=200):
    response = await ds.client.get(path, headers=via_proxy(ip, **AUTH))
    assert response.status_code == status, response.text
    return response.json()


def contains_secret(value) -> bool:
    text = repr(value)
    return any(
        secret in text
        for secret in ("secret plan", "attack at dawn", "hunter2", "zebras", "Rayleigh", "sky")
    )


async def test_a_neighbour_sees_its_subnet_and_only_metadata_of_the_rest(ds):
    page = await api(ds, "/api/requests", NEIGHBOUR)
    assert page["redacted"] is True
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id["a1"]["redacted"] is False
    assert by_id["a1"]["prompt_preview"] == "Please read the secret plan file"
    for rid in ("b1", "c1"):  # another subnet; the proxy host's own loopback client
        item = by_id[rid]
        assert item["redacted"] is True
        assert item["prompt_preview"] == REDACTED
        assert not contains_secret(item)
        assert item["requested_model"] and item["client_ip"]  # metadata stays
    assert by_id["b2"]["error"] == "upstream 429: rate limited"


async def test_a_stranger_sees_no_content_in_lists_details_or_timelines(ds):
    page = await api(ds, "/api/requests", STRANGER)
    assert page["redacted"] is True
    assert all(item["redacted"] for item in page["items"])
    assert not contains_secret(page)
    a1 = next(item for item in page["items"] if item["id"] == "a1")
    assert a1["tool_calls"] == [{"name": "Read", "arguments": REDACTED}]
    assert a1["input_tokens"] == 100 and a1["requested_model"] == "claude-sonnet-4-5"

    detail = await api(ds, "/api/requests/a3", STRANGER)
    assert detail["redacted"] is True
    for name in ("request_headers", "response_headers", "request_body", "response_body",
                 "stream_events", "prompt_preview", "response_text_preview"):  # fmt: skip
        assert detail[name] in (REDACTED, None), name  # None: there was nothing
    assert detail["request_body"] == REDACTED and detail["request_headers"] == REDACTED
    assert detail["verdicts"][0]["reason"] == REDACTED
    assert detail["verdicts"][0]["details"] == REDACTED
    assert detail["verdicts"][0]["rule_id"] == "loop_detector"
    assert not contains_secret(detail)
    assert detail["request_body_raw_bytes"] > 0

    conversations = await api(ds, "/api/conversations", STRANGER)
    assert conversations["redacted"] is True
    assert not contains_secret(conversations)
    assert all(c["preview"] in (REDACTED, None) for c in conversations["items"])

    timeline = await api(ds, "/api/conversations/conv-a", STRANGER)
    assert timeline["redacted"] is True
    assert not contains_secret(timeline)
    turn = timeline["turns"][1]
    assert [m["role"] for m in turn["new_messages"]] == ["assistant", "user"]
    call = turn["new_messages"][0]["blocks"][1]
    assert call["name"] == "Read" and call["arguments"] == REDACTED
    assert timeline["turns"][0]["response"]["text"] == REDACTED
    assert timeline["turns"][0]["response"]["tool_calls"] == [
        {"name": "Read", "arguments": REDACTED}
    ]
    assert turn["context_tokens"] == 2200  # metadata stays


async def test_a_conversation_is_visible_if_any_of_its_clients_is(db_path):
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    db["requests"].insert(
        {"id": "a4", "started_at": "2026-11-20T10:02:00.000Z", "state": "complete",
         "conversation_id": "conv-a", "client_ip": STRANGER, "prompt_preview": "from afar"}
    )  # fmt: skip
    db.close()
    ds = make_datasette(db_path, token=TOKEN)
    timeline = await api(ds, "/api/conversations/conv-a", STRANGER)
    assert timeline["redacted"] is False
    assert timeline["turns"][0]["new_messages"][0]["blocks"][0]["text"].startswith("Please")
    conv = await api(ds, "/api/conversations?app=claude-code", OTHER_CLIENT)
    assert conv["items"][0]["redacted"] is True


async def test_search_never_matches_content_the_viewer_may_not_see(ds):
    # A match would tell a stranger that b1's prompt mentions "hunter2".
    assert (await api(ds, "/api/requests?q=hunter2", STRANGER))["items"] == []
    assert (await api(ds, "/api/requests?q=hunter2", STRANGER))["total"] == 0
    assert (await api(ds, "/api/conversations?q=hunter2", STRANGER))["items"] == []
    [mine] = (await api(ds, "/api/requests?q=hunter2", OTHER_CLIENT))["items"]
    assert mine["id"] == "b1" and mine["redacted"] is False
    found = await api(ds, "/api/conversations?q=dawn", NEIGHBOUR)
    assert [c["conversation_id"] for c in found["items"]] == ["conv-a"]


async def test_info_reports_the_viewer(ds):
    info = await api(ds, "/api/info", STRANGER)
    assert info["viewer"] == {"ip": STRANGER, "sees_everything": False}


BUILT_IN = [
    "/proxy",
    "/proxy.json",
    "/proxy.db",
    "/proxy/requests",
    "/proxy/requests.json",
    "/proxy/requests.csv",
    "/proxy/requests.json?_shape=array&_col=prompt_preview",
    "/proxy/requests?_search=dawn",
    "/proxy/requests/a1",
    "/proxy/requests/a1.json",
    "/proxy/bodies.json",
    "/proxy/blobs.csv",
    "/proxy/verdicts.json",
    "/proxy/requests_fts.json",
    "/proxy/conversations.json",
    "/proxy/stats_hourly.json",
    "/proxy.json?sql=select+prompt_preview+from+requests",
    "/proxy?sql=select+body_text(request_body_id)+from+requests",
    "/proxy.csv?sql=select+*+from+requests",
]


@pytest.mark.parametrize("path", BUILT_IN)
@pytest.mark.parametrize("ip", [NEIGHBOUR, STRANGER])
async def test_datasette_views_are_denied_to_viewers_who_may_not_see_everything(ds, path, ip):
    response = await ds.client.get(path, headers=via_proxy(ip, **AUTH))
    assert response.status_code == 403, path
    assert not contains_secret(response.text)


@pytest.mark.parametrize("path", [p for p in BUILT_IN if p != "/proxy.db"])  # mutable: never
async def test_datasette_views_stay_open_to_loopback(ds, path):
    response = await ds.client.get(path)
    assert response.status_code == 200, (path, response.text[:300])


async def test_the_index_hides_the_database_from_restricted_viewers(ds):
    response = await ds.client.get("/.json", headers=via_proxy(STRANGER, **AUTH))
    assert response.status_code == 200
    assert "proxy" not in response.json()


async def test_canned_queries_read_no_content_and_stay_open(ds):
    for name in ("slowest_requests", "error_bursts", "tokens_per_app_per_day"):
        response = await ds.client.get(
            f"/proxy/{name}.json?_shape=array&days=3650", headers=via_proxy(STRANGER, **AUTH)
        )
        assert response.status_code == 200, response.text
        assert not contains_secret(response.text)
    rows = (
        await ds.client.get("/proxy/error_bursts.json?_shape=array&days=3650&min_errors=1")
    ).json()
    assert {r["errors"] for r in rows} == {1}
    # A canned query cannot be turned into arbitrary SQL.
    response = await ds.client.get(
        "/proxy/slowest_requests.json?sql=select+prompt_preview+from+requests",
        headers=via_proxy(STRANGER, **AUTH),
    )
    assert not contains_secret(response.text)


async def test_peer_address_counts_when_not_loopback_and_its_forwarded_for_does_not(ds):
    async with remote_client(ds, STRANGER) as client:
        headers = {**AUTH, "X-Forwarded-For": LOCAL_CLIENT}  # a lie from a remote peer
        page = (await client.get("/__proxy/api/requests", headers=headers)).json()
        assert all(item["redacted"] for item in page["items"])
        assert (await client.get("/__proxy/proxy/requests.json", headers=AUTH)).status_code == 403
    async with remote_client(ds, NEIGHBOUR) as client:
        page = (await client.get("/__proxy/api/requests", headers=AUTH)).json()
        assert {i["id"] for i in page["items"] if not i["redacted"]} == {"a1", "a2", "a3", "p1"}


async def test_the_last_forwarded_for_entry_is_the_one_the_proxy_wrote(ds):
    page = await api(ds, "/api/requests", f"{LOCAL_CLIENT}, {STRANGER}")
    assert all(item["redacted"] for item in page["items"])


async def test_the_off_switch_shows_everything_to_everyone_let_in(db_path):
    ds = make_datasette(db_path, token=TOKEN, redact=False)
    info = await api(ds, "/api/info", STRANGER)
    assert info["redaction"]["enabled"] is False
    assert info["viewer"]["sees_everything"] is True
    page = await api(ds, "/api/requests?q=hunter2", STRANGER)
    assert page["redacted"] is False and page["items"][0]["prompt_preview"].startswith("my bank")
    response = await ds.client.get("/proxy/requests.json", headers=via_proxy(STRANGER, **AUTH))
    assert response.status_code == 200
