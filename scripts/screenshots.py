"""Screenshots of every inspector page over a seeded demo database, for the docs.

    python scripts/screenshots.py [OUT_DIR]      (default docs/screenshots)

Seeds `scripts/seed_demo.py` into a temporary folder, serves it with Datasette on a free loopback
port and saves one 1280x800 PNG per page, light theme (plus `*-dark.png` of the Requests page).
The Audit and Rules pages are saved 1280 px wide and up to 1200 px tall (`audit.png`, `rules.png`
with a version's diff open, `rules-invalid.png` with an edit the proxy would refuse). The rules
live in the proxy suite, so a suite (`mitmdump -s addons/main.py`, no UI, no traffic) runs beside
Datasette with a few saved versions. Needs Chromium at /usr/bin/chromium, the `playwright`
package (never `playwright install`) and mitmproxy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import sys
import tempfile
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from scripts.seed_demo import seed  # noqa: E402
from tests.harness import Proxy  # noqa: E402
from tests.ui.server import launch_chromium, make_datasette, serve  # noqa: E402
from tests.ui.wiring import backend_plugins  # noqa: E402

# Versions of the rules document the Rules page shows, oldest first.
RULE_VERSIONS = [
    {"loop_detector": {"max_repeats": 5}},
    {
        "loop_detector": {"max_repeats": 5},
        "model_router": {
            "enabled": True,
            "aliases": {"gpt-4o-mini": "qwen2.5-coder:32b"},
            "rules": [
                {
                    "if": {"from_model_prefix": "claude-haiku", "has_tools": False},
                    "then": "llama3.2:3b",
                }
            ],
        },
        "ollama_options": {"enabled": True, "defaults": {"num_ctx": 16384, "keep_alive": "30m"}},
    },
    {
        "loop_detector": {"max_repeats": 4, "nudge_at": 3},
        "model_router": {
            "enabled": True,
            "aliases": {"gpt-4o-mini": "qwen2.5-coder:32b"},
            "rules": [
                {
                    "if": {"from_model_prefix": "claude-haiku", "has_tools": False},
                    "then": "llama3.2:3b",
                }
            ],
        },
        "ollama_options": {"enabled": True, "defaults": {"num_ctx": 16384, "keep_alive": "30m"}},
        "tool_failure_breaker": {"enabled": True},
        "schema_validator": {"enabled": True},
    },
]
INVALID_EDIT = {
    "loop_detector": {"max_repeats": 1, "nudge_at": 3},
    "tool_failure_breaker": {"enabled": "yes"},
    "schema_validator": {"enabled": True},
    "spam_filter": {"enabled": True},
}


@contextlib.contextmanager
def rules_suite(folder: pathlib.Path) -> Iterator[str]:
    """A suite process with RULE_VERSIONS saved; yields its URL (where the rules API is)."""
    import httpx

    folder.mkdir()
    proxy = Proxy(folder, "http://127.0.0.1:9", "[ui]\nenabled = false\n").start()
    try:
        for n, document in enumerate(RULE_VERSIONS):
            who = "ui:127.0.0.1" if n % 2 == 0 else "api:192.168.1.23"
            response = httpx.post(
                proxy.url + "/__proxy/api/rules",
                json=document,
                headers={"x-proxy-user": who},
                timeout=10,
            )
            response.raise_for_status()
        yield proxy.url
    finally:
        proxy.stop()


def show_diff(page) -> None:
    page.locator("[data-section=history] tr[data-version] button", has_text="Diff").first.click()
    page.wait_for_selector("[data-section=diff] .ins-diff-line")


def edit_badly(page) -> None:
    page.fill("textarea.ins-code", json.dumps(INVALID_EDIT, indent=2))
    page.wait_for_selector(".ins-problem")


def shoot(out: pathlib.Path) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with contextlib.ExitStack() as stack:
        tmp = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
        mode = stack.enter_context(backend_plugins())
        demo = seed(tmp / "proxy.db")
        shots = [
            ("requests", "", None),
            (
                "request-detail",
                f"requests/{demo.tools_id}" if mode == "real" else "requests/req-tools",
                None,
            ),
            ("conversations", "conversations", None),
            (
                "conversation",
                f"conversations/{demo.conversation_id}"
                if mode == "real"
                else "conversations/conv-1",
                None,
            ),
            ("stats", "stats", None),
        ]
        if mode == "real":
            suite_url = stack.enter_context(rules_suite(tmp / "suite"))
            metadata = {"plugins": {"llm-inspector": {"suite_url": suite_url}}}
            ds = make_datasette(demo.path, metadata=metadata)
            shots += [
                ("audit", "audit", None),
                ("rules", "rules", show_diff),
                ("rules-invalid", "rules", edit_badly),
            ]
        else:
            ds = make_datasette(None)
        url = stack.enter_context(serve(ds))
        playwright = stack.enter_context(sync_playwright())
        browser = launch_chromium(playwright)
        for scheme in ("light", "dark"):
            context = browser.new_context(
                viewport={"width": 1280, "height": 800}, color_scheme=scheme
            )
            page = context.new_page()
            for name, path, prepare in shots if scheme == "light" else shots[:2]:
                page.goto(url + path)
                page.wait_for_selector("body[data-loaded='1']", timeout=15_000)
                if prepare is not None:
                    prepare(page)
                page.wait_for_timeout(400)
                target = out / (f"{name}.png" if scheme == "light" else f"{name}-dark.png")
                if name.startswith(("audit", "rules")):  # taller pages: their first 1200 px
                    height = min(1200, page.evaluate("document.documentElement.scrollHeight"))
                    page.screenshot(
                        path=str(target),
                        full_page=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": height},
                    )
                else:
                    page.screenshot(path=str(target))
                saved.append(target)
            context.close()
        browser.close()
    if mode != "real":
        print("note: the JSON API is not installed; these pages show the test stub's data")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    for path in shoot(pathlib.Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
