"""The suite's addons as one addon object, so that mitmproxy finds each event's handlers once.

For every event, mitmproxy looks for a handler on each object under a script (an attribute
lookup, and another for sub-addons: for an object without them, an AttributeError raised and
caught), and calls each handler it finds with the event's arguments built anew. With the
suite's seven addons that came to 0.02-0.03 ms per request in a loop (four events and their
four updates, over a script with no addons), against 0.01 ms for one object; in a running
proxy, 2-3 times that. `Dispatch` looks the handlers up once, at start-up: an event
with one handler gets that bound method itself, an event with several a function that calls
them in order, and every other event None, which mitmproxy skips without raising anything.

A handler may return an awaitable (a coroutine for the requests it must answer itself); the
handlers after it then run once it is done, as mitmproxy would run them, in a task of their
own: mitmproxy awaits it, except when it unloads a script, where it calls `done` and moves on.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from mitmproxy import hooks

Handler = Callable[..., Any]


class Dispatch:
    addons = ()  # no sub-addons: mitmproxy's search stops here

    def __init__(self, *parts: Any) -> None:
        self.parts = parts
        for name in hooks.all_hooks:
            found = [h for part in parts if callable(h := getattr(part, name, None))]
            if len(found) > 1:
                setattr(self, name, in_order(found))
            elif found or name not in DEPRECATED:
                setattr(self, name, found[0] if found else None)


# Events mitmproxy warns about at start-up when an addon has an attribute of their name.
DEPRECATED = frozenset({"add_log"})


def in_order(handlers: list[Handler]) -> Handler:
    def handle(*args: Any) -> Awaitable[None] | None:
        for i, handler in enumerate(handlers):
            result = handler(*args)
            if result is not None and inspect.isawaitable(result):
                rest = finish(result, handlers[i + 1 :], args)
                try:  # a task: the rest run even if the caller does not await (a script reload)
                    return asyncio.get_running_loop().create_task(rest)
                except RuntimeError:
                    return rest
        return None

    return handle


async def finish(pending: Awaitable[Any], rest: list[Handler], args: tuple[Any, ...]) -> None:
    await pending
    for handler in rest:
        result = handler(*args)
        if result is not None and inspect.isawaitable(result):
            await result
