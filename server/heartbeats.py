"""One timer for every connection's heartbeat, instead of a sleeping task per connection.

Every tick (a quarter of the shortest of the interval and the slack between interval and
timeout) each connection is asked to beat: send its Ping when due, close with 4001 when
silent past the timeout, with 4003 when its token has expired. A tick over 5,000
connections is a few milliseconds; a task each cost memory and a wake-up each.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)

_MIN_TICK_S = 0.005
_MAX_TICK_S = 1.0


class Beating(Protocol):
    def beat(self, now: float) -> None: ...


class Heartbeats:
    def __init__(self, interval_s: float, timeout_s: float) -> None:
        slack = max(timeout_s - interval_s, interval_s)
        self.tick_s = min(_MAX_TICK_S, max(_MIN_TICK_S, min(interval_s, slack) / 4))
        self._members: set[Beating] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def add(self, member: Beating) -> None:
        self._members.add(member)
        if self._timer is None and not self._closed:
            self._schedule()

    def discard(self, member: Beating) -> None:
        self._members.discard(member)

    def __len__(self) -> int:
        return len(self._members)

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.tick_s, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        for member in list(self._members):
            try:
                member.beat(now)
            except Exception:
                log.exception("a heartbeat failed")
        if self._members and not self._closed:
            self._schedule()

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._members.clear()
