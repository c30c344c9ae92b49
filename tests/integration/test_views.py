"""What a person watching sees: the live log in the terminal, and marked flows in mitmweb."""

from __future__ import annotations

import anthropic
import httpx

from tests.harness import free_port, until


def ask(proxy, text: str) -> None:
    client = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": text}]
    )


def test_terminal_shows_one_readable_line_per_exchange(proxy):
    ask(proxy, "log me")
    line = proxy.wait_for_output(r"anthropic-python\s+claude-haiku-4-5")
    for part in ("200", "allow", "POST /v1/messages", "ttft"):
        assert part in line
    assert "→" in line  # tokens in→out
    # mitmproxy's own flow dump and connection chatter are replaced by that line.
    assert not any("<< 200 OK" in out or "client connect" in out for out in proxy.lines)
    assert not any("deprecated" in out for out in proxy.lines)  # nothing to alarm a user


def test_quiet_option_turns_the_log_off(make_proxy):
    proxy = make_proxy(args=["--set", "inspector_quiet=true"])
    ask(proxy, "shh")
    proxy.wait_rows()
    ask(proxy, "second")
    proxy.wait_rows(2)
    assert not any("anthropic-python" in out for out in proxy.lines)


def test_mitmweb_marks_and_comments_llm_flows(make_proxy):
    port = free_port()
    proxy = make_proxy(
        args=["--set", f"web_port={port}", "--set", "web_open_browser=false"], tool="mitmweb"
    )
    ask(proxy, "web view")
    proxy.wait_rows()

    def marked():
        flows = httpx.get(f"http://127.0.0.1:{port}/flows", timeout=5).json()
        return [f for f in flows if f.get("marked")]

    [flow] = until(marked, what="a marked flow in mitmweb")
    assert flow["marked"] == "🤖"  # mitmweb shows the :robot: mark as its emoji
    assert "anthropic-python" in flow["comment"] and "claude-haiku-4-5" in flow["comment"]
    assert "tok" in flow["comment"] and "allow" in flow["comment"]
