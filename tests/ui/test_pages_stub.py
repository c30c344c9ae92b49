"""The pages against the stub API: rendering, filters, live updates, redaction placeholders."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.server import make_datasette, serve
from tests.ui.stub_api import StubApi
from tests.ui.wiring import backend_plugins


@pytest.fixture(scope="module")
def stub():
    api = StubApi()
    with backend_plugins(api, real=False):
        yield api


@pytest.fixture(scope="module")
def site(stub):
    with serve(make_datasette(None)) as url:
        yield url


def loaded(page):
    page.wait_for_selector("body[data-loaded='1']")


def test_requests_page_lists_rows(page, site):
    page.goto(site)
    loaded(page)
    rows = page.locator("tr.ins-row")
    expect(rows).to_have_count(4)
    first = rows.nth(0)
    expect(first).to_have_attribute("data-id", "req-pending")
    expect(first.locator(".ins-badge-pending")).to_have_text("pending")
    expect(page.locator("tr[data-id='req-error'] .ins-badge-error")).to_have_text("500")
    expect(page.locator("tr[data-id='req-tools']")).to_contain_text("1,100 cached")
    expect(page.locator("tr[data-id='req-tools']")).to_contain_text("⚙ Read")
    expect(page.locator("header .ins-nav a.active")).to_have_text("Requests")


def test_filter_updates_url_and_rows(page, site):
    page.goto(site)
    loaded(page)
    page.select_option("select[name=status]", "5xx")
    expect(page.locator("tr.ins-row")).to_have_count(1)
    expect(page.locator("tr.ins-row")).to_have_attribute("data-id", "req-error")
    assert "status=5xx" in page.url
    page.reload()
    loaded(page)
    expect(page.locator("select[name=status]")).to_have_value("5xx")
    expect(page.locator("tr.ins-row")).to_have_count(1)
    page.fill("input[name=q]", "fix the bug")
    page.select_option("select[name=status]", "")
    expect(page.locator("tr.ins-row")).to_have_count(1)
    expect(page.locator("tr.ins-row")).to_have_attribute("data-id", "req-tools")
    assert re.search(r"[?&]q=fix", page.url)


def test_pending_row_updates_live(page, site, stub):
    page.goto(site)
    loaded(page)
    row = page.locator("tr[data-id='req-pending']")
    expect(row.locator(".ins-tok-out")).to_have_text("12")
    marker = row.element_handle()
    page.evaluate("window.__notReloaded = true")
    stub.set_row("req-pending", output_tokens=377)
    expect(page.locator("tr[data-id='req-pending'] .ins-tok-out")).to_have_text("377")
    stub.set_row(
        "req-pending",
        state="complete",
        status=200,
        output_tokens=1234,
        latency_ms=5400.0,
        ended_at="2026-11-20T10:05:05.400Z",
        tokens_estimated=0,
    )
    done = page.locator("tr[data-id='req-pending']")
    expect(done.locator(".ins-badge-ok")).to_have_text("200")
    expect(done.locator(".ins-tok-out")).to_have_text("1,234")
    expect(done.locator(".ins-col-latency")).to_have_text("5.40 s")
    assert page.evaluate("window.__notReloaded") is True
    # Other rows were not re-rendered.
    assert marker is not None
    stub.set_row(
        "req-pending",
        state="pending",
        status=None,
        output_tokens=12,
        latency_ms=None,
        ended_at=None,
        tokens_estimated=1,
    )


def test_request_detail_renders_chat(page, site):
    page.goto(site + "requests/req-tools")
    loaded(page)
    expect(page.locator("h1")).to_contain_text("Request")
    chat = page.locator("[data-section=conversation]")
    expect(chat.locator(".ins-role-user").first).to_contain_text("Fix the bug in app.py")
    call = chat.locator(".ins-tool-call").first
    expect(call.locator(".ins-tool-name")).to_have_text("Bash")
    expect(call.locator("pre")).to_contain_text('"command": "ls src"')
    expect(call.locator(".ins-tool-result.is-error")).to_contain_text("No such file")
    expect(chat.locator(".ins-image img")).to_have_count(1)
    response = page.locator("[data-section=response]")
    expect(response).to_contain_text("Let me read the file.")
    expect(response.locator(".ins-tool-name")).to_have_text("Read")
    expect(page.locator("[data-section=problems]")).to_contain_text("tool_pruner")
    page.locator("[data-section=stream] summary").first.click()
    expect(page.locator(".ins-events li")).to_have_count(9)
    expect(page.locator("[data-section=headers]")).to_contain_text("sha256:1a2b3c4d")


def test_redacted_items_render_as_placeholders(page, site):
    page.goto(site)
    loaded(page)
    expect(page.locator("tr[data-id='req-redacted'] .ins-redacted")).to_have_text(
        "[redacted: 42 chars]"
    )
    page.goto(site + "requests/req-redacted")
    loaded(page)
    expect(page.locator("[data-section=conversation] .ins-redacted")).to_have_text(
        "[redacted: 42 chars]"
    )
    expect(page.locator("[data-section=response] .ins-redacted")).to_contain_text("response body")
    assert "{" not in page.locator("[data-section=response]").inner_text()


def test_conversation_timeline(page, site):
    page.goto(site + "conversations/conv-1")
    loaded(page)
    turns = page.locator("article.ins-turn")
    expect(turns).to_have_count(3)
    # The Bash call of turn 1 carries its (failed) result, shown in turn 2 as a reference.
    first = turns.nth(0)
    expect(first.locator(".ins-tool-call .ins-tool-result.is-error")).to_contain_text(
        "No such file"
    )
    expect(turns.nth(1).locator(".ins-tool-ref")).to_contain_text("Result of Bash")
    expect(turns.nth(1)).to_contain_text("reply from turn 1")
    expect(turns.nth(2).locator(".ins-compaction")).to_contain_text("Context compacted")
    expect(turns.nth(2).locator(".ins-redacted")).to_have_text("[redacted: 17 chars]")
    expect(page.locator("svg.ins-chart .ins-marker")).to_have_count(1)


def test_conversations_list(page, site):
    page.goto(site + "conversations")
    loaded(page)
    expect(page.locator("tr.ins-row")).to_have_count(1)
    page.locator("tr.ins-row a").first.click()
    loaded(page)
    expect(page).to_have_url(re.compile(r"/conversations/conv-1$"))


def test_stats_page(page, site):
    page.goto(site + "stats")
    loaded(page)
    expect(page.locator("[data-group=Models] tbody tr")).to_have_count(2)
    expect(page.locator("[data-group=Tools]")).to_contain_text("Bash")
    expect(page.locator("svg.ins-chart")).to_have_count(2)
    page.locator("[data-group=Models] a", has_text="gpt-4o-mini").click()
    loaded(page)
    expect(page.locator("input[name=model]")).to_have_value("gpt-4o-mini")
    expect(page.locator("tr.ins-row")).to_have_count(1)


def test_missing_request_shows_not_found(page, site):
    page.goto(site + "requests/nope")
    expect(page.locator(".ins-error")).to_contain_text("No request with this id")
    # The 404 of the API call is the expected console error here.
    page.js_errors[:] = [e for e in page.js_errors if "404" not in e]
