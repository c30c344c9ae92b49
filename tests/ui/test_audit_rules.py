"""The Audit and Rules pages against a real suite (`mitmdump -s addons/main.py`) and its UI.

The suite serves the pages at `/__proxy/` on its reverse listener and answers the rules API
itself; the last test opens the Rules page on Datasette's own port, where the plugin forwards
the rules API to the suite.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.fakes.upstream import FakeUpstreamThread
from tests.harness import Proxy, until
from tests.integration.test_rules import READ, anthropic_loop

READY = r"UI ready at /__proxy/ \(Datasette on 127\.0\.0\.1:(\d+)\)"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    with FakeUpstreamThread() as upstream:
        proxy = Proxy(tmp_path_factory.mktemp("suite"), upstream.url, "[ui]\nport = 0\n").start()
        try:
            line = proxy.wait_for_output(READY, timeout=60)
            proxy.ui_port = int(re.search(READY, line).group(1))
            yield proxy
        finally:
            proxy.stop()


def rules(proxy) -> dict:
    return httpx.get(f"{proxy.url}/__proxy/api/rules", timeout=10).json()


def set_rules(proxy, document: dict) -> dict:
    response = httpx.post(f"{proxy.url}/__proxy/api/rules", json=document, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def loop_request(proxy, calls: int) -> httpx.Response:
    return httpx.post(
        f"{proxy.url}/v1/messages",
        json={
            "model": "claude-x",
            "max_tokens": 5,
            "tools": [READ],
            "messages": anthropic_loop(calls),
        },
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        timeout=10,
    )


def loaded(page):
    page.wait_for_selector("body[data-loaded='1']")


def refused_by_the_proxy(page, path: str = "/__proxy/api/rules") -> None:
    """Chromium logs every 4xx response as a console error: take out the one refusal the test
    expects (a 400 from the rules API), so that any other error still fails the test."""
    expected = [e for e in page.js_errors if "status of 400" in e and f"{path}'" in e]
    assert len(expected) == 1, page.js_errors
    page.js_errors.remove(expected[0])


def test_audit_counts_lists_and_filters_verdicts(page, suite):
    set_rules(suite, {})
    assert loop_request(suite, 3).status_code == 200  # nudged: warn
    blocked = loop_request(suite, 4)
    assert blocked.status_code == 400 and blocked.headers["x-proxy-block"] == "loop_detector"
    until(
        lambda: len(suite.query("select 1 from verdicts where rule_id = 'loop_detector'")) >= 2,
        what="the verdicts in the database",
    )
    [block] = suite.query("select request_id from verdicts where verdict = 'block'")

    page.goto(suite.url + "/__proxy/audit")
    loaded(page)
    expect(page.locator("header .ins-nav a.active")).to_have_text("Audit")
    cards = page.locator("[data-section=counts]")
    expect(cards.locator("[data-verdict=block] .ins-card-value")).to_have_text("1")
    expect(cards.locator("[data-verdict=warn] .ins-card-value")).to_have_text("1")
    expect(cards.locator("[data-verdict=intercept] .ins-card-value")).to_have_text("0")
    by_rule = page.locator("[data-section=by-rule]")
    expect(by_rule.locator("tr[data-rule=loop_detector][data-verdict=block]")).to_contain_text("1")

    row = page.locator(f"tr.ins-audit-row[data-request-id='{block['request_id']}']")
    expect(row.locator(".ins-badge")).to_have_text("block")
    expect(row).to_contain_text("loop_detector")
    expect(row).to_contain_text("repeated 4× since the last user message")
    expect(row).to_contain_text("claude-x")
    row.locator("summary", has_text="details").click()
    expect(row.locator("pre")).to_contain_text('"tool_name": "read_file"')

    # Filter by verdict (a card) and by rule (the per-rule table); the URL says which.
    cards.locator("[data-verdict=block]").click()
    expect(page).to_have_url(re.compile(r"[?&]verdict=block"))
    expect(page.locator("tr.ins-audit-row")).to_have_count(1)
    expect(page.locator("select[name=verdict]")).to_have_value("block")
    page.locator("button", has_text="Clear").click()
    expect(page.locator("tr.ins-audit-row")).to_have_count(2)
    by_rule.locator("tr[data-rule=loop_detector] .ins-rule-link").first.click()
    expect(page).to_have_url(re.compile(r"[?&]rule=loop_detector"))
    expect(page.locator("input[name=rule]")).to_have_value("loop_detector")
    rows = page.locator("tr.ins-audit-row")
    expect(rows).to_have_count(2)
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.rule)")) == {"loop_detector"}
    page.fill("input[name=rule]", "schema_validator")
    page.locator("button", has_text="Apply").click()
    expect(page.locator(".ins-empty")).to_have_text("No verdicts match these filters.")

    # The URL alone restores the filters; a row leads to its request.
    page.goto(suite.url + "/__proxy/audit?verdict=warn&rule=loop_detector")
    loaded(page)
    expect(page.locator("tr.ins-audit-row")).to_have_count(1)
    expect(page.locator("tr.ins-audit-row .ins-badge")).to_have_text("warn")
    page.goto(suite.url + "/__proxy/audit?verdict=block")
    loaded(page)
    page.locator("tr.ins-audit-row .ins-col-time a").click()
    expect(page).to_have_url(re.compile(f"/__proxy/requests/{block['request_id']}$"))
    loaded(page)


def test_a_rule_switched_off_is_a_new_version_and_stays_off(page, suite):
    set_rules(suite, {})
    before = rules(suite)["version"]
    page.goto(suite.url + "/__proxy/rules")
    loaded(page)
    switch = page.locator("input[role=switch][data-rule=loop_detector]")
    expect(switch).to_be_checked()
    page.locator("label.ins-rule[data-rule=loop_detector]").click()
    expect(page.locator(".ins-notice")).to_contain_text(f"version {before + 1}")
    expect(page.locator(".ins-rules-meta")).to_contain_text(f"version {before + 1}")
    expect(switch).not_to_be_checked()
    expect(page.locator("textarea.ins-code")).to_have_value(
        json.dumps({"loop_detector": {"enabled": False}}, indent=2)
    )
    current = rules(suite)
    assert current["version"] == before + 1
    assert current["document"] == {"loop_detector": {"enabled": False}}
    assert current["updated_by"] == "ui:127.0.0.1"

    page.reload()
    loaded(page)
    expect(page.locator("input[role=switch][data-rule=loop_detector]")).not_to_be_checked()
    expect(page.locator("input[role=switch][data-rule=protocol_bridge]")).to_be_checked()
    expect(page.locator("[data-section=history] tr[data-version]").first).to_have_attribute(
        "data-version", str(before + 1)
    )
    page.locator("label.ins-rule[data-rule=loop_detector]").click()
    expect(page.locator("input[role=switch][data-rule=loop_detector]")).to_be_checked()
    assert rules(suite)["version"] == before + 2


def test_an_invalid_document_is_marked_inline_and_refused_by_the_proxy(page, suite):
    set_rules(suite, {})
    version = rules(suite)["version"]
    page.goto(suite.url + "/__proxy/rules")
    loaded(page)
    editor = page.locator("textarea.ins-code")

    editor.fill('{\n  "loop_detector": {\n    "max_repeats": 2,\n  }\n}')
    problem = page.locator(".ins-problem")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("trailing comma")
    expect(problem).to_contain_text("line 4")
    expect(page.locator("button", has_text="Save")).to_be_disabled()

    document = {"loop_detector": {"max_repeats": 1}, "nope": {}}
    editor.fill(json.dumps(document, indent=2))
    expect(problem).to_have_count(2)
    bad = page.locator(".ins-problem[data-path='/loop_detector/max_repeats']")
    expect(bad).to_contain_text("1 is less than the minimum of 2")
    expect(bad).to_contain_text("line 3")
    expect(page.locator(".ins-problem[data-path='/nope']")).to_contain_text("unknown rule 'nope'")
    expect(page.locator(".ins-ln.is-error")).to_have_text(["3", "5"])
    expect(page.locator(".ins-mark[data-line='3']")).to_contain_text("less than the minimum")
    expect(page.locator(".ins-editor-status")).to_contain_text("the proxy will refuse")

    # Saving anyway: the proxy says no, path by path, and nothing changes.
    page.locator("button", has_text="Save").click()
    expect(page.locator(".ins-notice.is-error")).to_contain_text("Not saved")
    expect(page.locator(".ins-problem.is-proxy")).to_have_count(2)
    expect(page.locator(".ins-problem.is-proxy[data-path='/nope'] .ins-badge")).to_have_text(
        "proxy"
    )
    expect(page.locator(".ins-editor-status")).to_contain_text("Refused by the proxy")
    refused_by_the_proxy(page)
    assert rules(suite)["version"] == version

    # Fixing it clears the marks and saves.
    editor.fill(json.dumps({"loop_detector": {"max_repeats": 5}}, indent=2))
    expect(problem).to_have_count(0)
    expect(page.locator(".ins-ln.is-error")).to_have_count(0)
    page.locator("button", has_text="Save").click()
    expect(page.locator(".ins-notice.is-ok")).to_contain_text(f"Saved as version {version + 1}")
    assert rules(suite)["document"] == {"loop_detector": {"max_repeats": 5}}


def test_history_shows_a_diff_and_restores_an_older_version(page, suite):
    old = set_rules(suite, {"loop_detector": {"max_repeats": 5}})["version"]
    newest = set_rules(
        suite, {"loop_detector": {"max_repeats": 6}, "tool_failure_breaker": {"enabled": True}}
    )["version"]
    page.goto(suite.url + "/__proxy/rules")
    loaded(page)
    history = page.locator("[data-section=history]")
    expect(history.locator("tr[data-version]").first).to_have_attribute("data-version", str(newest))
    expect(history.locator(f"tr[data-version='{newest}']")).to_contain_text("current")
    expect(history.locator(f"tr[data-version='{newest}'] button")).to_have_count(0)

    history.locator(f"tr[data-version='{old}'] button", has_text="Diff").click()
    diff = page.locator("[data-section=diff]")
    expect(diff).to_contain_text(f"Version {old} → current (version {newest})")
    expect(diff.locator(".ins-diff-line.is-del")).to_have_text([re.compile(r'"max_repeats": 5')])
    added = diff.locator(".ins-diff-line.is-add")
    expect(added.first).to_contain_text('"max_repeats": 6')
    expect(added).to_contain_text(['"max_repeats": 6', '"tool_failure_breaker": {'])

    diff.locator("button", has_text=f"Restore version {old}").click()
    expect(page.locator(".ins-notice.is-ok")).to_contain_text(
        f"Version {old} restored as version {newest + 1}"
    )
    expect(page.locator("[data-section=diff]")).to_be_hidden()
    expect(history.locator("tr[data-version]").first).to_have_attribute(
        "data-version", str(newest + 1)
    )
    expect(page.locator("input[role=switch][data-rule=tool_failure_breaker]")).not_to_be_checked()
    current = rules(suite)
    assert current["document"] == {"loop_detector": {"max_repeats": 5}}
    assert current["updated_by"] == f"restore:{old}"

    page.locator("summary", has_text="Effective rules").click()
    effective = page.locator("[data-section=effective] pre")
    expect(effective).to_contain_text('"max_repeats": 5')
    expect(effective).to_contain_text('"nudge_at": 3')  # a default, filled in


def test_the_routing_mode_switches_between_redirect_and_passthrough(page, suite):
    before = set_rules(suite, {})["version"]
    page.goto(suite.url + "/__proxy/rules")
    loaded(page)
    panel = page.locator("[data-section=mode]")
    expect(panel).to_have_attribute("data-mode", "passthrough")
    expect(panel.locator(".ins-mode-badge")).to_have_text("passthrough")
    expect(panel.locator("input[value=passthrough]")).to_be_checked()
    model = panel.locator("input[name=to]")
    expect(model).to_be_disabled()

    # Redirect: Claude models to a local one, a new version, the router rule in the editor.
    panel.locator("label.ins-mode-choice", has_text="Redirect").click()
    expect(model).to_be_enabled()
    model.fill("qwen3-coder:30b")
    panel.locator("button", has_text="Apply").click()
    expect(panel).to_have_attribute("data-mode", "redirect")
    expect(panel.locator(".ins-mode-badge")).to_have_text("redirect")
    expect(panel.locator(".ins-mode-route")).to_have_text(["claude-* → qwen3-coder:30b"])
    expect(panel.locator(".ins-mode-upstream")).to_have_text(rules(suite)["mode"]["upstream"])
    expect(page.locator(".ins-notice.is-ok")).to_contain_text(f"version {before + 1}")
    expect(page.locator(".ins-rules-meta")).to_contain_text(f"version {before + 1}")
    history = page.locator("[data-section=history] tr[data-version]")
    expect(history.first).to_have_attribute("data-version", str(before + 1))
    route = {"if": {"from_model_prefix": "claude-"}, "then": "qwen3-coder:30b"}
    document = {
        "model_router": {"enabled": True, "rules": [route]},
        "protocol_bridge": {"enabled": True},
    }
    expect(page.locator("textarea.ins-code")).to_have_value(json.dumps(document, indent=2))
    expect(page.locator("input[role=switch][data-rule=model_router]")).to_be_checked()
    current = rules(suite)
    assert current["mode"]["mode"] == "redirect" and current["document"] == document

    # After a reload the form starts from the current route.
    page.reload()
    loaded(page)
    expect(panel.locator("input[value=redirect]")).to_be_checked()
    expect(model).to_have_value("qwen3-coder:30b")

    # Back to passthrough.
    panel.locator("label.ins-mode-choice", has_text="Passthrough").click()
    panel.locator("button", has_text="Apply").click()
    expect(panel).to_have_attribute("data-mode", "passthrough")
    expect(history.first).to_have_attribute("data-version", str(before + 2))
    expect(page.locator("input[role=switch][data-rule=model_router]")).not_to_be_checked()
    assert rules(suite)["mode"]["mode"] == "passthrough"

    # Redirect without a model: the proxy's error, inline; nothing changes.
    panel.locator("label.ins-mode-choice", has_text="Redirect").click()
    model.fill("")
    panel.locator("button", has_text="Apply").click()
    expect(panel.locator(".ins-mode-error")).to_contain_text("redirect needs")
    expect(panel).to_have_attribute("data-mode", "passthrough")
    refused_by_the_proxy(page, "/__proxy/api/rules/mode")
    assert rules(suite)["version"] == before + 2


def test_rules_on_datasettes_own_port_are_forwarded_to_the_suite(page, suite):
    before = set_rules(suite, {})["version"]
    page.goto(f"http://127.0.0.1:{suite.ui_port}/__proxy/rules")
    loaded(page)
    expect(page.locator("input[role=switch][data-rule=schema_validator]")).not_to_be_checked()
    page.locator("label.ins-rule[data-rule=schema_validator]").click()
    expect(page.locator(".ins-rules-meta")).to_contain_text(f"version {before + 1}")
    current = rules(suite)
    assert current["document"] == {"schema_validator": {"enabled": True}}
    assert current["updated_by"] == "ui:127.0.0.1"

    page.locator("textarea.ins-code").fill('{"nope": {}}')
    page.locator("button", has_text="Save").click()
    expect(page.locator(".ins-problem.is-proxy[data-path='/nope']")).to_contain_text(
        "unknown rule 'nope'"
    )
    refused_by_the_proxy(page)
    assert rules(suite)["version"] == before + 1

    # The routing mode is forwarded too.
    panel = page.locator("[data-section=mode]")
    panel.locator("label.ins-mode-choice", has_text="Redirect").click()
    panel.locator("input[name=to]").fill("llama3.2:3b")
    panel.locator("button", has_text="Apply").click()
    expect(panel).to_have_attribute("data-mode", "redirect")
    expect(panel.locator(".ins-mode-route")).to_have_text(["claude-* → llama3.2:3b"])
    assert rules(suite)["version"] == before + 2
