"""Browser fixtures: one Chromium per session, a fresh page per test that fails on JS errors."""

from __future__ import annotations

import pytest

from tests.ui.server import CHROMIUM, INSTALL_HINT, launch_chromium

try:
    from playwright import sync_api
except ImportError:  # the tests must fail, not skip, where the browser tooling is missing
    sync_api = None


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: while Playwright's sync API runs, its event loop counts as
    # running in this thread, and pytest-asyncio's tests after these could not start theirs.
    if sync_api is None or not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A light-theme 1280x800 page; any console error or uncaught exception fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console.{msg.type}: {msg.text} ({msg.location})")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, "JavaScript errors on the page:\n" + "\n".join(errors)
