"""Plug the inspector's Datasette plugins in for a test run, whether or not their entry points
are installed, and fall back to the stub API while the real one is absent."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator

from datasette import plugins

from tests.ui.stub_api import StubApi


def real_api_available() -> bool:
    return importlib.util.find_spec("datasette_plugins.api") is not None


@contextlib.contextmanager
def backend_plugins(stub: StubApi | None = None, *, real: bool | None = None) -> Iterator[str]:
    """Yields "real" (datasette_plugins.plugin serves the API) or "stub" (StubApi does)."""
    if real is None:
        real = real_api_available()
    modules = ["datasette_plugins.pages"] + (["datasette_plugins.plugin"] if real else [])
    added: list[str] = []
    for name in modules:
        module = importlib.import_module(name)
        if not plugins.pm.is_registered(module):
            plugins.pm.register(module, name=f"test:{name}")
            added.append(f"test:{name}")
    if not real:
        stub = stub or StubApi()
        plugins.pm.register(stub, name="test:stub_api")
        added.append("test:stub_api")
    try:
        yield "real" if real else "stub"
    finally:
        for name in added:
            plugins.pm.unregister(name=name)
