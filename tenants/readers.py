"""Reads on their own WAL connections, on a small pool of threads shared by every tenant.

A read never waits behind a tenant's writes (they run on the writer connection, see
database.py) and writes never wait behind a read: in WAL mode a reader works from the
snapshot its transaction began with. Each read is one function run inside one bounded read
transaction (BEGIN ... COMMIT), so it sees one consistent state and ends before the next
read of that connection, which lets checkpoints complete.

Each tenant keeps at most `per_tenant` read connections (three file descriptors each),
opened on first use; `ReadConnections.acquire` waits on the event loop for a free one, so a
pool thread never blocks on a busy tenant while another tenant's read is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAIN = threading.main_thread()
_SLICE = 8
# How long a read thread stands aside while the event loop is running (not waiting in its
# selector): long enough for a write's statements to run without waiting for the GIL.
_BACKOFF_S = 0.0001


class _Loop:
    # Set by the server's selector (server/eventloop.py); True where nothing tells: then
    # read threads only yield every few items, as CPython alone would let them.
    waiting = True


def loop_waiting(waiting: bool) -> None:
    """The event loop enters (True) or leaves (False) its selector's wait."""
    _Loop.waiting = waiting


def give_way() -> None:
    """On a read thread, between two pieces of Python work: while the event loop is busy,
    stand aside for it; otherwise offer the GIL to whoever waits. A thread running Python
    gives up the GIL only at the end of CPython's switch interval, and the loop gives it up
    at every SQLite call and socket write, so without this each of a write's statements
    would wait a whole interval behind a large read."""
    time.sleep(0 if _Loop.waiting else _BACKOFF_S)


def fetch_all(cursor: sqlite3.Cursor, chunk: int = 64) -> list[Any]:
    """`cursor.fetchall()` for a result that may be large, giving way between chunks: the
    C loop of fetchall drops the GIL around each row's step and takes it back at once,
    which keeps the event loop waiting for whole switch intervals (measured: a write's
    17 statements took 1.2 ms each behind a 10,000-row fetch, 20 ms in all)."""
    found: list[Any] = []
    on_read_thread = threading.current_thread() is not _MAIN
    while batch := cursor.fetchmany(chunk):
        found += batch
        if on_read_thread:
            give_way()
    return found


def yield_gil(index: int) -> None:
    """Called per item of a long Python loop: on a read thread, gives way (see `give_way`)
    at once while the event loop is busy, and every few items otherwise. On the event
    loop's thread it does nothing."""
    if (not _Loop.waiting or index % _SLICE == _SLICE - 1) and (
        threading.current_thread() is not _MAIN
    ):
        give_way()


class ReadConnections:
    """One tenant's read connections: at most `limit`, handed out one read at a time."""

    def __init__(
        self, path: Path, limit: int, factory: type[sqlite3.Connection] = sqlite3.Connection
    ) -> None:
        self._path = path
        self._factory = factory
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    async def acquire(self) -> None:
        await self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    def take(self) -> sqlite3.Connection:
        """An idle connection, or a new one (runs on a pool thread, after acquire)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, factory=self._factory
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        # Reads never write; a handler that tried would fail loudly instead.
        conn.execute("PRAGMA query_only = 1")
        return conn

    def give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; one still in use closes when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Job:
    __slots__ = ("connections", "fn", "loop", "future")

    def __init__(
        self,
        connections: ReadConnections,
        fn: Callable[[sqlite3.Connection], Any],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
    ) -> None:
        self.connections = connections
        self.fn = fn
        self.loop = loop
        self.future = future


class ReadPool:
    """A bounded pool of threads running reads for every tenant."""

    def __init__(self, threads: int = 4) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"tenant-reader-{n}", daemon=True)
            for n in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()
        self._closed = False

    async def run(self, connections: ReadConnections, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("the read pool is closed")
        await connections.acquire()
        try:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()
            self._queue.put(_Job(connections, fn, loop, future))
            return await future
        finally:
            connections.release()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        await asyncio.to_thread(self._join)

    def _join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._read(job)
            except BaseException as exc:  # reported to the caller, never ends the thread
                error = exc
            try:
                job.loop.call_soon_threadsafe(_resolve, job.future, result, error)
            except RuntimeError:
                pass  # the loop is gone; nobody waits for this result

    @staticmethod
    def _read(job: _Job) -> Any:
        conn = job.connections.take()
        try:
            conn.execute("BEGIN")
            try:
                result = job.fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error:
            # A connection in an unknown state is not given back.
            conn.close()
            raise
        except BaseException:
            job.connections.give_back(conn)
            raise
        job.connections.give_back(conn)
        return result


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
