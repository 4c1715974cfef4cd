"""A connection's bounded send queue, drained by one writer task.

Producers (responses, the hub's fan-out, heartbeats) never await: `push` appends or reports
that the reader is too slow, and the connection then closes with 4008. One slow reader is
cut off; nobody else waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable


class Outbox:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        # (frame, counts toward the limit): a replay the client asked for does not.
        self._frames: deque[tuple[bytes, bool]] = deque()
        self._bounded = 0
        self._ready = asyncio.Event()
        self._closed = False

    def push(self, frame: bytes) -> bool:
        """Queue a frame; False when the queue is full (the reader is too slow)."""
        if self._closed:
            return True
        if self._bounded >= self._limit:
            return False
        self._frames.append((frame, True))
        self._bounded += 1
        self._ready.set()
        return True

    def push_unbounded(self, frame: bytes) -> None:
        """Queue a frame past the limit: a replay the client asked for is sent whole."""
        if not self._closed:
            self._frames.append((frame, False))
            self._ready.set()

    def __len__(self) -> int:
        return len(self._frames)

    def close(self) -> None:
        self._closed = True
        self._frames.clear()
        self._bounded = 0
        self._ready.set()

    async def drain(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Send frames in order until closed."""
        while not self._closed:
            if not self._frames:
                self._ready.clear()
                await self._ready.wait()
                continue
            frame, bounded = self._frames.popleft()
            if bounded:
                self._bounded -= 1
            await send(frame)
