"""Screenshots of every inspector page over a seeded demo database, for the docs.

    python scripts/screenshots.py [OUT_DIR]      (default docs/screenshots)

Seeds `scripts/seed_demo.py` into a temporary folder, serves it with Datasette on a free loopback
port and saves one 1280x800 PNG per page, light theme (plus `*-dark.png` of the Requests page).
Needs Chromium at /usr/bin/chromium and the `playwright` package (never `playwright install`).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from scripts.seed_demo import seed  # noqa: E402
from tests.ui.server import launch_chromium, make_datasette, serve  # noqa: E402
from tests.ui.wiring import backend_plugins  # noqa: E402


def shoot(out: pathlib.Path) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp, backend_plugins() as mode:
        demo = seed(pathlib.Path(tmp) / "proxy.db")
        ds = make_datasette(demo.path) if mode == "real" else make_datasette(None)
        shots = [
            ("requests", ""),
            (
                "request-detail",
                f"requests/{demo.tools_id}" if mode == "real" else "requests/req-tools",
            ),
            ("conversations", "conversations"),
            (
                "conversation",
                f"conversations/{demo.conversation_id}"
                if mode == "real"
                else "conversations/conv-1",
            ),
            ("stats", "stats"),
        ]
        with serve(ds) as url, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for scheme in ("light", "dark"):
                context = browser.new_context(
                    viewport={"width": 1280, "height": 800}, color_scheme=scheme
                )
                page = context.new_page()
                for name, path in shots if scheme == "light" else shots[:2]:
                    page.goto(url + path)
                    page.wait_for_selector("body[data-loaded='1']", timeout=15_000)
                    page.wait_for_timeout(400)
                    target = out / (f"{name}.png" if scheme == "light" else f"{name}-dark.png")
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
