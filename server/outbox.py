"""A connection's bounded send queue, with no task of its own.

Producers (responses, the tenant stream's fan-out, heartbeats) never await. A frame goes
straight to the socket's transport while the socket takes more (the transport gathers the
writes of one event-loop turn into one send); only when the socket pushes back (its buffer
over the high-water mark: a slow reader) do frames wait here, bounded in frames and bytes,
and leave when the transport says it can take more. Past either bound the reader is too
slow: `push` says so and the connection closes with 4008. One slow reader is cut off;
nobody else waits for it, and no task per connection sits waiting to write.

A replay is pushed apart (`push_replay`): it is sent page by page, waiting for `drained()`
between pages, so it is bounded by a page and is not counted against the live bounds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol


class FrameSink(Protocol):
    """Where a connection's frames go: WebSocket-framed bytes, written at once."""

    def write(self, data: bytes) -> None: ...

    def writable(self) -> bool:
        """The socket takes more now (it is open and its buffer under the high-water mark)."""
        ...

    def on_writable(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the socket takes more again after pushing back."""
        ...


class Outbox:
    def __init__(self, sink: FrameSink, limit: int, byte_limit: int) -> None:
        self._sink = sink
        self._limit = limit
        self._byte_limit = byte_limit
        # (framed bytes, counts against the bounds); made when the socket first pushes back.
        self._frames: deque[tuple[bytes, bool]] | None = None
        self._live_frames = 0
        self._live_bytes = 0
        self._replay_bytes = 0
        self._drained: asyncio.Event | None = None
        self._closed = False
        sink.on_writable(self._resume)

    def push(self, data: bytes) -> bool:
        """Send or queue framed bytes; False when the queue is over its bounds."""
        if self._closed:
            return True
        if not self._frames and self._sink.writable():
            self._sink.write(data)
            return True
        if self._live_frames >= self._limit or self._live_bytes + len(data) > self._byte_limit:
            return False
        self._queue().append((data, True))
        self._live_frames += 1
        self._live_bytes += len(data)
        return True

    def push_replay(self, data: bytes) -> None:
        """Send or queue a replayed frame, outside the bounds (see drained())."""
        if self._closed:
            return
        if not self._frames and self._sink.writable():
            self._sink.write(data)
            return
        self._queue().append((data, False))
        self._replay_bytes += len(data)

    async def drained(self) -> None:
        """Returns once nothing waits here (a closed outbox counts as drained)."""
        while self._frames and not self._closed:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()

    def _queue(self) -> deque[tuple[bytes, bool]]:
        if self._frames is None:
            self._frames = deque()
        return self._frames

    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else 0

    @property
    def queued_bytes(self) -> int:
        return self._live_bytes + self._replay_bytes

    def close(self) -> None:
        self._closed = True
        self._frames = None
        self._live_frames = self._live_bytes = self._replay_bytes = 0
        self._wake()

    def _resume(self) -> None:
        frames = self._frames
        if frames is None:
            return
        while frames and not self._closed and self._sink.writable():
            data, bounded = frames.popleft()
            if bounded:
                self._live_frames -= 1
                self._live_bytes -= len(data)
            else:
                self._replay_bytes -= len(data)
            self._sink.write(data)
        if not frames:
            self._wake()

    def _wake(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None
