from __future__ import annotations

import pytest

from tests.fakes.upstream import FakeUpstreamThread
from tests.harness import Proxy


@pytest.fixture
def upstream():
    with FakeUpstreamThread() as fake:
        yield fake


@pytest.fixture
def make_proxy(tmp_path, upstream):
    """Start a suite process against the fake upstream; extra TOML and args per test."""
    started: list[Proxy] = []

    def make(
        toml: str = "",
        args: list[str] | None = None,
        upstream_url: str | None = None,
        tmp=None,
        tool: str = "mitmdump",
    ) -> Proxy:
        folder = tmp or tmp_path / f"proxy{len(started)}"
        folder.mkdir(exist_ok=True)
        proxy = Proxy(folder, upstream_url or upstream.url, toml, args, tool).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def proxy(make_proxy):
    return make_proxy()
