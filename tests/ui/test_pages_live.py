"""The pages over the real JSON API and a seeded database (`scripts/seed_demo.py`)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from scripts.seed_demo import seed
from tests.ui.server import make_datasette, serve
from tests.ui.wiring import backend_plugins

TOKEN = "ui-test-token"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return seed(tmp_path_factory.mktemp("ui") / "proxy.db")


@pytest.fixture(scope="module")
def site(demo):
    metadata = {"plugins": {"llm-inspector": {"token": TOKEN}}}
    with backend_plugins(real=True), serve(make_datasette(demo.path, metadata=metadata)) as url:
        yield url


@pytest.fixture
def db(demo):
    conn = sqlite3.connect(demo.path, timeout=10)
    yield conn
    conn.close()


def loaded(page):
    page.wait_for_selector("body[data-loaded='1']")


def test_every_page_renders(page, site, demo):
    page.goto(site)
    loaded(page)
    expect(page.locator("tr.ins-row").first).to_be_visible()
    assert page.locator("tr.ins-row").count() == 50
    page.locator(".ins-pager button", has_text="Older").first.click()
    expect(page.locator("tr.ins-row")).to_have_count(17)
    assert "offset=50" in page.url
    expect(page.locator(".ins-pager-range").first).to_have_text(re.compile(r"^51–67"))

    page.goto(site + f"requests/{demo.tools_id}")
    loaded(page)
    expect(page.locator("[data-section=conversation] .ins-tool-name").first).to_have_text("Bash")

    page.goto(site + "conversations")
    loaded(page)
    expect(page.locator(f"tr[data-id='{demo.conversation_id}']")).to_be_visible()

    page.goto(site + f"conversations/{demo.conversation_id}")
    loaded(page)
    expect(page.locator("article.ins-turn")).to_have_count(8)
    expect(page.locator(".ins-compaction")).to_have_count(1)
    expect(page.locator("#turn-7 .ins-compaction")).to_contain_text("Context compacted")

    page.goto(site + "stats")
    loaded(page)
    expect(page.locator("[data-group=Models] tbody tr").first).to_be_visible()
    expect(page.locator("[data-group=Tools]")).to_contain_text("Bash")

    page.locator("header .ins-nav a", has_text="Database").click()
    expect(page).to_have_url(re.compile(r"/__proxy/proxy$"))
    expect(page.locator("h1")).to_contain_text("proxy")


def test_filters_mirror_the_url(page, site):
    page.goto(site)
    loaded(page)
    page.select_option("select[name=status]", "5xx")
    expect(page.locator("tr.ins-row .ins-col-status").first).to_have_text(re.compile(r"5\d\d"))
    statuses = page.locator("tr.ins-row .ins-col-status").all_inner_texts()
    assert statuses and all(re.fullmatch(r"5\d\d", s.strip()) for s in statuses)
    assert "status=5xx" in page.url

    page.fill("input[name=model]", "gpt-4o-mini")
    page.select_option("select[name=status]", "")
    expect(page.locator("tr.ins-row .ins-col-model").first).to_contain_text("gpt-4o-mini")
    models = page.locator("tr.ins-row .ins-col-model").all_inner_texts()
    assert models and all("gpt-4o-mini" in m for m in models)
    assert "model=gpt-4o-mini" in page.url

    page.goto(site + "?q=leap")
    loaded(page)
    expect(page.locator("input[name=q]")).to_have_value("leap")
    expect(page.locator("tr[data-id='req-cc-05']")).to_contain_text("leap days")
    assert page.locator("tr.ins-row").count() < 10


def test_open_a_detail_from_the_list(page, site, demo):
    page.goto(site + f"?conversation={demo.conversation_id}")
    loaded(page)
    expect(page.locator("tr.ins-row")).to_have_count(8)
    page.locator(f"tr[data-id='{demo.tools_id}'] .ins-col-time a").click()
    loaded(page)
    chat = page.locator("[data-section=conversation]")
    bash = chat.locator(".ins-tool-call", has_text="Bash").first
    expect(bash.locator("pre").first).to_contain_text(
        '"command": "python -m pytest tests/test_dates.py -x -q"'
    )
    expect(bash.locator(".ins-tool-result.is-error")).to_contain_text("1 failed, 6 passed")
    expect(chat.locator(".ins-thinking")).to_have_count(1)
    response = page.locator("[data-section=response]")
    expect(response.locator(".ins-tool-name")).to_have_text("Edit")
    expect(page.locator("[data-section=cards]")).to_contain_text("14,822")
    page.locator("[data-section=stream] summary").first.click()
    expect(page.locator(".ins-events li").first).to_contain_text("message_start")
    expect(page.locator("[data-section=headers]")).to_contain_text("fp:3f9a61c2d0")
    page.locator("[data-section=summary] a", has_text="conv-").click()
    loaded(page)
    expect(page).to_have_url(re.compile(f"/conversations/{demo.conversation_id}$"))


def test_pending_row_updates_without_reload(page, site, demo, db):
    page.goto(site)
    loaded(page)
    row = page.locator(f"tr[data-id='{demo.pending_id}']")
    expect(row.locator(".ins-badge-pending")).to_be_visible()
    expect(row.locator(".ins-tok-out")).to_have_text("57")
    page.evaluate("window.__sameDocument = true")
    detail = page.context.new_page()
    detail.on("pageerror", lambda exc: page.js_errors.append(f"detail page: {exc}"))
    detail.goto(site + f"requests/{demo.pending_id}")
    loaded(detail)
    output_card = detail.locator("[data-section=cards] .ins-card", has_text="Output tokens")
    expect(output_card).to_contain_text("57")
    expect(detail.locator("[data-section=header]")).to_contain_text("streaming")

    db.execute("UPDATE requests SET output_tokens = 431 WHERE id = ?", (demo.pending_id,))
    db.commit()
    expect(row.locator(".ins-tok-out")).to_have_text("431")
    expect(output_card).to_contain_text("431")

    db.execute(
        "UPDATE requests SET state = 'complete', status = 200, output_tokens = 912, "
        "latency_ms = 8345, ended_at = started_at, tokens_estimated = 0, stop_reason = 'end_turn' "
        "WHERE id = ?",
        (demo.pending_id,),
    )
    db.commit()
    expect(row.locator(".ins-badge-ok")).to_have_text("200")
    expect(row.locator(".ins-tok-out")).to_have_text("912")
    expect(row.locator(".ins-col-latency")).to_have_text("8.35 s")
    expect(page.locator(".ins-live-status")).not_to_contain_text("streaming")
    assert page.evaluate("window.__sameDocument") is True
    expect(detail.locator("[data-section=header] .ins-badge-ok")).to_have_text("200")
    expect(detail.locator("[data-section=cards]")).to_contain_text("912")
    expect(detail.locator("[data-section=cards]")).to_contain_text("8.35 s")


def test_redacted_for_a_viewer_elsewhere(browser, site, demo):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        extra_http_headers={"X-Forwarded-For": "10.9.8.7", "Authorization": f"Bearer {TOKEN}"},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(site)
        loaded(page)
        expect(page.locator(".ins-banner")).to_be_visible()
        # Datasette's own views show content unredacted: no link to them for this viewer.
        expect(page.locator("header .ins-nav a", has_text="Database")).to_have_count(0)
        expect(page.locator(f"tr[data-id='{demo.tools_id}'] .ins-redacted").first).to_contain_text(
            "[redacted"
        )

        page.goto(site + f"requests/{demo.tools_id}")
        loaded(page)
        for section in ("conversation", "response", "headers"):
            block = page.locator(f"[data-section={section}]")
            expect(block.locator(".ins-redacted").first).to_be_visible()
            assert "{" not in block.inner_text()
        expect(page.locator("[data-section=cards]")).to_contain_text("14,822")

        page.goto(site + f"conversations/{demo.conversation_id}")
        loaded(page)
        expect(page.locator("#turn-1 .ins-redacted").first).to_contain_text("[redacted")
        expect(page.locator("#turn-1 .ins-tool-name")).to_have_text("Bash")
    finally:
        context.close()
    assert not errors, errors
