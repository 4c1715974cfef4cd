"""The event loop uvicorn runs: asyncio's own, with a selector that says when it waits.

Read threads (tenants/readers.py) run Python while the loop serves writes; both want the
GIL. The loop lets it go at every SQLite call and socket write and then waits for it, so a
read thread busy converting rows would make each of those waits last CPython's switch
interval. Told when the loop is busy (between two selector waits), a read thread stands
aside instead; told it waits, the read runs at full speed.
"""

from __future__ import annotations

import asyncio
import selectors

from tenants.readers import loop_waiting


class SignallingSelector(selectors.DefaultSelector):
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)  # a poll between callbacks: the loop is busy
        loop_waiting(True)
        try:
            return super().select(timeout)
        finally:
            loop_waiting(False)


def new_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's `loop` setting ("server.eventloop:new_loop"): a custom one is the factory."""
    return asyncio.SelectorEventLoop(SignallingSelector())
