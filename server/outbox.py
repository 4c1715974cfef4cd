"""A connection's bounded send queue, drained by one writer task.

Producers (responses, the hub's fan-out, heartbeats) never await: `push` appends or reports
that the reader is too slow, and the connection then closes with 4008. One slow reader is
cut off; nobody else waits for it.

The queue is bounded in frames and in bytes: a client that asks for large lists and never
reads must not grow the server's memory (a frame count alone let one viewer queue 3 GB). A
replay the client asked for is held apart: it was checked against the replay limits before
it started, so it is bounded by those; a second one queued before the first drained is
refused the same way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable


class Outbox:
    def __init__(self, limit: int, byte_limit: int, replay_byte_limit: int) -> None:
        self._limit = limit
        self._byte_limit = byte_limit
        self._replay_byte_limit = replay_byte_limit
        # (frame, is a replay frame)
        self._frames: deque[tuple[bytes, bool]] = deque()
        self._live_frames = 0
        self._live_bytes = 0
        self._replay_bytes = 0
        self._ready = asyncio.Event()
        self._closed = False

    def push(self, frame: bytes) -> bool:
        """Queue a frame; False when the queue is full (the reader is too slow)."""
        if self._closed:
            return True
        if self._live_frames >= self._limit or self._live_bytes + len(frame) > self._byte_limit:
            return False
        self._frames.append((frame, False))
        self._live_frames += 1
        self._live_bytes += len(frame)
        self._ready.set()
        return True

    def push_replay(self, frame: bytes) -> bool:
        """Queue a frame of a replay; False past the replay's own byte bound."""
        if self._closed:
            return True
        if self._replay_bytes + len(frame) > self._replay_byte_limit:
            return False
        self._frames.append((frame, True))
        self._replay_bytes += len(frame)
        self._ready.set()
        return True

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def queued_bytes(self) -> int:
        return self._live_bytes + self._replay_bytes

    def close(self) -> None:
        self._closed = True
        self._frames.clear()
        self._live_frames = self._live_bytes = self._replay_bytes = 0
        self._ready.set()

    async def drain(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Send frames in order until closed."""
        while not self._closed:
            if not self._frames:
                self._ready.clear()
                await self._ready.wait()
                continue
            frame, replay = self._frames.popleft()
            if replay:
                self._replay_bytes -= len(frame)
            else:
                self._live_frames -= 1
                self._live_bytes -= len(frame)
            await send(frame)
