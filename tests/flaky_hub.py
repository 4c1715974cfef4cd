"""A test twin of a broker-backed hub: it delivers late, twice, out of order and sometimes
not at all, and acknowledges a subscription only after a while. Seeded, so a failing run
can be replayed."""

from __future__ import annotations

import asyncio
import random

from server.hub import Hub, InProcessHub, PublishedEvent, Receiver


class FlakyHub(Hub):
    def __init__(
        self,
        seed: int = 7,
        *,
        max_delay_s: float = 0.03,
        duplicate: float = 0.2,
        drop: float = 0.1,
        subscribe_delay_s: float = 0.02,
    ) -> None:
        self._rng = random.Random(seed)
        self._inner = InProcessHub()
        self._max_delay_s = max_delay_s
        self._duplicate = duplicate
        self._drop = drop
        self._subscribe_delay_s = subscribe_delay_s
        self.reliable = False
        self.sent = self.dropped = self.doubled = 0
        self._timers: set[asyncio.TimerHandle] = set()

    def publish(self, event: PublishedEvent) -> None:
        self.sent += 1
        if self.reliable:
            self._inner.publish(event)
            return
        if self._rng.random() < self._drop:
            self.dropped += 1
            return
        copies = 2 if self._rng.random() < self._duplicate else 1
        self.doubled += copies - 1
        loop = asyncio.get_running_loop()
        for _ in range(copies):
            # Independent delays: copies and neighbours overtake each other.
            delay = self._rng.random() * self._max_delay_s
            self._timers.add(loop.call_later(delay, self._inner.publish, event))

    async def subscribe(self, tenant_id: str, receiver: Receiver) -> None:
        await asyncio.sleep(self._subscribe_delay_s)  # a broker's round trip
        await self._inner.subscribe(tenant_id, receiver)

    async def unsubscribe(self, tenant_id: str, receiver: Receiver) -> None:
        await self._inner.unsubscribe(tenant_id, receiver)

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        await self._inner.close()
