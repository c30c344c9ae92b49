"""Who gets in: loopback always; anyone else only with the token, and never without one set."""

from __future__ import annotations

import pytest

from datasette_plugins.auth import COOKIE, cookie_value
from datasette_plugins.config import TOKEN_ENV
from tests.datasette_plugins.conftest import STRANGER, make_datasette, remote_client, via_proxy

TOKEN = "s3cret-token"


async def test_loopback_needs_no_token_even_when_one_is_set(db_path):
    for ds in (make_datasette(db_path), make_datasette(db_path, token=TOKEN)):
        assert (await ds.client.get("/api/info")).status_code == 200
        assert (await ds.client.get("/proxy/requests.json")).status_code == 200
        ipv6 = await ds.client.get("/api/info", headers=via_proxy("::1"))
        assert ipv6.status_code == 200 and ipv6.json()["viewer"]["ip"] == "::1"


@pytest.mark.parametrize("path", ["/api/requests", "/", "/proxy/requests", "/-/versions.json"])
async def test_without_a_configured_token_remote_viewers_are_refused(db_path, path):
    ds = make_datasette(db_path)
    response = await ds.client.get(path, headers=via_proxy(STRANGER))
    assert response.status_code == 403
    async with remote_client(ds, STRANGER) as client:
        direct = await client.get("/__proxy" + path, headers={"Authorization": "Bearer x"})
        assert direct.status_code == 403
    if path.startswith("/api/"):
        assert "token" in response.json()["error"]


async def test_refusals_are_json_for_the_api_and_html_for_browsers(db_path):
    ds = make_datasette(db_path, token=TOKEN)
    api = await ds.client.get("/api/requests", headers=via_proxy(STRANGER, Accept="text/html"))
    assert api.status_code == 403 and api.headers["content-type"] == "application/json"
    assert set(api.json()) == {"error"}
    page = await ds.client.get("/conversations", headers=via_proxy(STRANGER, Accept="text/html"))
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "?token=" in page.text


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 403),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Basic {TOKEN}"}, 403),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
        ({"Authorization": f"bearer {TOKEN}"}, 200),
        ({"Cookie": f"{COOKIE}={cookie_value(TOKEN)}"}, 200),
        ({"Cookie": f"{COOKIE}={TOKEN}"}, 403),  # the cookie holds a digest, not the token
        ({"Cookie": f"{COOKIE}=nope"}, 403),
        ({"Cookie": "garbage;;=\x7f"}, 403),
    ],
)
async def test_token_rule(db_path, headers, status):
    ds = make_datasette(db_path, token=TOKEN)
    response = await ds.client.get("/api/requests", headers=via_proxy(STRANGER, **headers))
    assert response.status_code == status


async def test_token_in_the_query_sets_a_cookie_and_is_not_passed_on(db_path):
    ds = make_datasette(db_path, token=TOKEN)
    api = await ds.client.get(f"/api/requests?limit=1&token={TOKEN}", headers=via_proxy(STRANGER))
    assert api.status_code == 200 and len(api.json()["items"]) == 1
    cookie = api.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={cookie_value(TOKEN)};")
    assert "Path=/__proxy/" in cookie and "HttpOnly" in cookie
    assert TOKEN not in cookie

    # A browser is sent on to the same page without the token in its address.
    page = await ds.client.get(
        f"/conversations?token={TOKEN}&app=x", headers=via_proxy(STRANGER, Accept="text/html")
    )
    assert page.status_code == 302
    assert page.headers["location"] == "/__proxy/conversations?app=x"
    assert page.headers["set-cookie"] == cookie

    again = await ds.client.get(
        "/api/requests",
        headers=via_proxy(STRANGER, Cookie=f"{COOKIE}={cookie_value(TOKEN)}"),
    )
    assert again.status_code == 200

    wrong = await ds.client.get("/api/requests?token=nope", headers=via_proxy(STRANGER))
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers


async def test_token_from_the_environment(db_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    ds = make_datasette(db_path)
    ok = await ds.client.get(
        "/api/info", headers=via_proxy(STRANGER, Authorization="Bearer from-env")
    )
    assert ok.status_code == 200
    async with remote_client(ds, STRANGER) as client:
        direct = await client.get("/__proxy/api/info", headers={"Authorization": "Bearer from-env"})
        assert direct.status_code == 200
        assert direct.json()["viewer"] == {"ip": STRANGER, "sees_everything": False}


async def test_bad_settings_stop_datasette_at_startup(db_path):
    ds = make_datasette(db_path, redact_ipv4_prefix=40)
    with pytest.raises(ValueError, match="redact_ipv4_prefix"):
        await ds.invoke_startup()
