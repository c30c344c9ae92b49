"""The suite's one addon object: each event reaches every part that handles it, in order."""

from __future__ import annotations

import asyncio

from mitmproxy import hooks
from mitmproxy.test import taddons, tflow

from addons.dispatch import Dispatch


class Part:
    def __init__(self, name: str, seen: list[str], wait: bool = False) -> None:
        self.name, self.seen, self.wait = name, seen, wait

    def request(self, flow):
        self.seen.append(f"{self.name}:request")
        return self.later() if self.wait else None

    async def later(self) -> None:
        await asyncio.sleep(0)
        self.seen.append(f"{self.name}:done")


class ResponseOnly:
    def response(self, flow):
        pass


def test_an_event_reaches_its_handlers_in_order_and_no_other_event_is_looked_up():
    seen: list[str] = []
    only = ResponseOnly()
    dispatch = Dispatch(Part("a", seen), only, Part("b", seen))
    dispatch.request(tflow.tflow())
    assert seen == ["a:request", "b:request"]
    assert dispatch.response == only.response  # one handler: the bound method itself
    assert dispatch.requestheaders is None and dispatch.tcp_message is None
    assert not hasattr(dispatch, "add_log")  # mitmproxy would warn that it is deprecated


def test_handlers_after_an_awaitable_one_run_once_it_is_done():
    """As mitmproxy runs them: a handler that returns a coroutine is awaited before the next."""
    seen: list[str] = []
    dispatch = Dispatch(Part("a", seen), Part("b", seen, wait=True), Part("c", seen))
    pending = dispatch.request(tflow.tflow())
    assert seen == ["a:request", "b:request"]
    asyncio.run(pending)
    assert seen == ["a:request", "b:request", "b:done", "c:request"]


async def test_handlers_after_an_awaitable_one_run_even_when_nobody_awaits():
    """mitmproxy calls `done` without awaiting it when it unloads a script."""
    seen: list[str] = []
    dispatch = Dispatch(Part("a", seen, wait=True), Part("b", seen))
    pending = dispatch.request(tflow.tflow())  # a task of its own: not awaited here
    assert seen == ["a:request"]
    while not pending.done():
        await asyncio.sleep(0)
    assert seen == ["a:request", "a:done", "b:request"]


def test_every_hook_of_the_suites_addons_is_dispatched():
    import addons.main as main

    with taddons.context():
        [dispatch] = main.addons
        for part in dispatch.parts:
            for name in hooks.all_hooks:
                if callable(getattr(part, name, None)):
                    assert getattr(dispatch, name) is not None, (type(part).__name__, name)
        names = {n for part in dispatch.parts for n in hooks.all_hooks if hasattr(part, n)}
        assert {"load", "running", "requestheaders", "request", "response", "error"} <= names
        assert {"tls_clienthello", "client_disconnected"} <= names
