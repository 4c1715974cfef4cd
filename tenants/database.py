"""One tenant's SQLite database: writes group-committed on the event loop, reads on the
shared pool of read connections (readers.py).

Writes run on the event loop's own thread, on one writer connection per tenant. Measured
(issue 8): a writer thread per tenant spent most of its time waiting to take the GIL back
after every SQLite call, since the event loop held it meanwhile; a write here is a handful
of statements of a few microseconds each, cheaper than two thread hops. The writes waiting
for a tenant are taken together (up to `max_batch`, and for at most `batch_budget_ms` so
the loop keeps serving sockets), run in one transaction, each in its own SAVEPOINT so a
refused command undoes only itself, and committed once; results reach their callers in
commit order.

Nothing on the loop may block for long: the writer's busy timeout is zero and a busy file
(another process writing) is retried with timers for up to `busy_timeout_ms`; with
synchronous FULL or EXTRA the COMMIT, which waits for fsync, runs on a worker thread while
the next batch gathers; and the WAL is checkpointed off the loop (automatic checkpoints,
which run inside a COMMIT, are off).

A full disk (SQLITE_FULL, or ENOSPC from the OS) is no bug of ours: the writes it hits are
rolled back like any refused write and answer DiskFull (RESOURCE_EXHAUSTED), so a client
retries later instead of reporting an INTERNAL error; once there is room they commit again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from tenants import tenant_meta
from tenants.errors import DiskFull, ResourceExhausted
from tenants.migrator import Migration, check_known, migrate
from tenants.readers import ReadConnections, ReadPool
from tenants.tenant_meta import TenantMeta

log = logging.getLogger(__name__)

T = TypeVar("T")
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

# Checkpoint once the WAL passes this (SQLite's own automatic threshold is 1000 pages).
CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024
_CHECK_WAL_EVERY = 16  # commits between looks at the WAL's size
_BUSY_RETRY_S = 0.002
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass
class DatabaseStats:
    commits: int = 0
    writes: int = 0
    largest_batch: int = 0


class DatabaseClosed(RuntimeError):
    pass


# How a write's caller hears of it: called with (result, error) in commit order.
Settle = Callable[[Any, BaseException | None], None]
_Write = tuple[Callable[[sqlite3.Connection], Any], Settle]


class TenantDatabase:
    def __init__(
        self,
        tenant_id: str,
        path: Path,
        *,
        migrations: tuple[Migration, ...],
        synchronous: Synchronous = "NORMAL",
        max_batch: int = 256,
        batch_budget_ms: float = 20.0,
        busy_timeout_ms: int = 5000,
        connection_factory: type[sqlite3.Connection] = sqlite3.Connection,
        readers: ReadPool | None = None,
        read_connections: int = 2,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        # Told the size of each committed batch, on the event loop's thread (the metrics).
        self._on_commit = on_commit
        self.path = path
        self.stats = DatabaseStats()
        self._migrations = migrations
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._budget_s = batch_budget_ms / 1000
        self._busy_s = busy_timeout_ms / 1000
        self._factory = connection_factory
        self._owns_readers = readers is None
        self._readers = readers
        self._read_limit = read_connections
        self._reads: ReadConnections | None = None
        self._conn: sqlite3.Connection | None = None
        self._meta: TenantMeta | None = None
        self._pending: deque[_Write] = deque()
        self._scheduled = False
        self._committing = False
        self._busy_since: float | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._checkpointing = False
        self._closed = False
        # Whether the last write found the disk full: logged when that changes, not per write.
        self._disk_full = False
        self.in_use = 0

    # --- the interface ------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and migrate (off the loop: it may wait for another process's lock)."""
        if self._readers is None:
            self._readers = ReadPool(2)
        try:
            self._conn = await asyncio.to_thread(self._connect)
        except Exception as exc:
            if not _is_disk_full(exc):
                raise
            log.warning("tenant %s: cannot be opened, the disk is full", self.tenant_id)
            raise DiskFull() from None
        self._meta = tenant_meta.read(self._conn)
        self._reads = ReadConnections(self.path, self._read_limit, self._factory)

    @property
    def meta(self) -> TenantMeta:
        """The file's epoch and page-token key, read once when it opened."""
        assert self._meta is not None, "open() first"
        return self._meta

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn on a read connection, in one read transaction of its own."""
        if self._closed or self._readers is None or self._reads is None:
            raise DatabaseClosed(f"tenant database {self.tenant_id} is closed")
        return await self._readers.run(self._reads, fn)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue fn to run inside a transaction; the future resolves once it has committed.

        Queued at once, in call order: writes are applied in the order they were asked for.
        An exception from fn rolls back fn's own changes only and is set on the future.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.write_then(fn, lambda result, error: _settle(future, result, error))
        return future

    def write_then(self, fn: Callable[[sqlite3.Connection], Any], settle: Settle) -> None:
        """`write` for callers on the hot path: `settle(result, error)` is called once the
        write has committed (or failed), synchronously and in commit order, with no future or
        task in between. It must not raise."""
        if self._closed or self._meta is None:
            raise DatabaseClosed(f"tenant database {self.tenant_id} is closed")
        self._pending.append((fn, settle))
        self._idle.clear()
        self._schedule()

    async def close(self) -> None:
        """Finish the queued writes, then close the files."""
        if self._closed:
            return
        self._closed = True
        await self._idle.wait()
        conn, self._conn = self._conn, None
        if self._reads is not None:
            self._reads.close()
        if conn is not None:
            await asyncio.to_thread(_close_checkpointed, conn)
        if self._owns_readers and self._readers is not None:
            await self._readers.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def writing(self) -> bool:
        """Writes are queued or committing."""
        return not self._idle.is_set()

    # --- the writer ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, factory=self._factory
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            # Before anything that writes (switching to WAL does): a newer server's file
            # is left exactly as it is.
            check_known(conn, self._migrations)
            _enter_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Each command's SAVEPOINT keeps the pages it changes in a sub-journal: in memory
            # that costs a copy; in a temporary file (the default) it cost a third of a write.
            conn.execute("PRAGMA temp_store = MEMORY")
            applied = migrate(conn, self._migrations)
            if applied:
                log.info("tenant %s migrated to version %s", self.tenant_id, applied[-1])
            # From here on the connection is used on the event loop, which must never sleep.
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _schedule(self) -> None:
        if not self._scheduled and not self._committing and self._pending:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run_batch)

    def _run_batch(self) -> None:
        self._scheduled = False
        if self._committing or not self._pending:
            return
        try:
            conn = self._writer()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc) and self._retry_busy():
                return
            self._fail(self._take_batch(), exc)
            return
        except BaseException as exc:
            self._fail(self._take_batch(), exc)
            return
        self._busy_since = None
        outcomes = self._run_writes(conn)
        if outcomes is None:
            return
        if self._synchronous in ("FULL", "EXTRA"):
            self._committing = True
            task = asyncio.get_running_loop().run_in_executor(None, conn.execute, "COMMIT")
            task.add_done_callback(lambda done: self._committed(conn, outcomes, _error_of(done)))
            return
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            self._committed(conn, outcomes, exc)
        else:
            self._committed(conn, outcomes, None)

    def _run_writes(self, conn: sqlite3.Connection) -> list[_Outcome] | None:
        """Each queued write in its savepoint, until the batch is full or out of time."""
        outcomes: list[_Outcome] = []
        deadline = time.perf_counter() + self._budget_s
        while self._pending and len(outcomes) < self._max_batch:
            fn, settle = self._pending.popleft()
            outcome = _Outcome(settle)
            outcomes.append(outcome)
            try:
                conn.execute("SAVEPOINT command")
                try:
                    outcome.result = fn(conn)
                except BaseException as exc:
                    outcome.error = _client_error(exc)
                    conn.execute("ROLLBACK TO command")
                conn.execute("RELEASE command")
            except BaseException as exc:
                # The transaction itself failed (SQLite may have rolled it back on its own
                # after an I/O error or a full disk): none of the batch is kept.
                self._committed(conn, outcomes, exc)
                return None
            if time.perf_counter() > deadline:
                break
        return outcomes

    def _committed(
        self, conn: sqlite3.Connection, outcomes: list[_Outcome], error: BaseException | None
    ) -> None:
        self._committing = False
        if error is not None:
            error = _client_error(error)
            if any(isinstance(o.error, DiskFull) for o in outcomes):
                # SQLite may have rolled the whole transaction back on SQLITE_FULL, so the
                # batch then fails on a savepoint that is gone: the disk is the cause.
                error = DiskFull()
            if isinstance(error, DiskFull):
                self._note_disk_full(True)
            else:
                log.error(
                    "tenant %s: a batch of %d writes failed: %s",
                    self.tenant_id,
                    len(outcomes),
                    error,
                )
            self._rollback(conn)
            for outcome in outcomes:
                _call(outcome.settle, None, outcome.error or error)
        else:
            self._note_disk_full(any(isinstance(o.error, DiskFull) for o in outcomes))
            self.stats.commits += 1
            self.stats.writes += len(outcomes)
            self.stats.largest_batch = max(self.stats.largest_batch, len(outcomes))
            if self._on_commit is not None:
                self._on_commit(len(outcomes))
            for outcome in outcomes:
                _call(outcome.settle, outcome.result, outcome.error)
            if self.stats.commits % _CHECK_WAL_EVERY == 0:
                self._maybe_checkpoint()
        self._after_batch()

    def _after_batch(self) -> None:
        if self._pending:
            self._schedule()
        elif not self._committing:
            self._idle.set()

    def _note_disk_full(self, full: bool) -> None:
        if full and not self._disk_full:
            log.error(
                "tenant %s: the disk is full; writes answer RESOURCE_EXHAUSTED until there is"
                " room (nothing acknowledged is lost)",
                self.tenant_id,
            )
        elif self._disk_full and not full:
            log.warning("tenant %s: writes commit again (the disk has room)", self.tenant_id)
        self._disk_full = full

    def _writer(self) -> sqlite3.Connection:
        if self._conn is None:
            if self._closed:
                raise DatabaseClosed(f"tenant database {self.tenant_id} is closed")
            # A connection dropped after a failure it could not undo: open a fresh one.
            self._conn = self._connect()
        return self._conn

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except BaseException:
            log.exception("tenant %s: the batch's ROLLBACK failed", self.tenant_id)
            # Closing rolls back what is open; the next batch connects again.
            if conn is self._conn:
                self._conn = None
            try:
                conn.close()
            except sqlite3.Error:
                log.warning("tenant %s: closing a failed connection failed too", self.tenant_id)

    def _retry_busy(self) -> bool:
        """Another process holds the write lock: try again shortly, within the budget."""
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        if now - self._busy_since > self._busy_s:
            self._busy_since = None
            return False
        self._scheduled = True
        asyncio.get_running_loop().call_later(_BUSY_RETRY_S, self._run_batch)
        return True

    def _take_batch(self) -> list[_Outcome]:
        taken: list[_Outcome] = []
        while self._pending and len(taken) < self._max_batch:
            taken.append(_Outcome(self._pending.popleft()[1]))
        return taken

    def _fail(self, outcomes: list[_Outcome], error: BaseException) -> None:
        if _is_busy(error):
            error = ResourceExhausted("the tenant's database is busy; retry")
        error = _client_error(error)
        if isinstance(error, DiskFull):
            self._note_disk_full(True)
        for outcome in outcomes:
            _call(outcome.settle, None, error)
        self._after_batch()

    # --- checkpoints --------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Fold the WAL into the file now (PASSIVE: never waits for readers or the writer)."""
        if self._closed or self._checkpointing:
            return
        self._checkpointing = True
        try:
            await asyncio.to_thread(self._checkpoint)
        except sqlite3.Error as exc:
            log.warning("tenant %s: checkpoint failed: %s", self.tenant_id, exc)
        finally:
            self._checkpointing = False

    def _maybe_checkpoint(self) -> None:
        if self._checkpointing:
            return
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        if size < CHECKPOINT_WAL_BYTES:
            return
        self._checkpointing = True
        task = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        task.add_done_callback(self._checkpoint_done)

    def _checkpoint(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 1000")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _checkpoint_done(self, task: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not task.cancelled() and task.exception() is not None:
            log.warning("tenant %s: checkpoint failed: %s", self.tenant_id, task.exception())


class _Outcome:
    __slots__ = ("settle", "result", "error")

    def __init__(self, settle: Settle) -> None:
        self.settle = settle
        self.result: Any = None
        self.error: BaseException | None = None


def _call(settle: Settle, result: Any, error: BaseException | None) -> None:
    try:
        settle(result, error)
    except Exception:
        log.exception("a write's completion failed")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _enter_wal(conn: sqlite3.Connection, attempts: int = 200) -> None:
    """Switch a (new) file to WAL. SQLite answers BUSY at once, without its busy handler,
    when another process is switching the same new file at that moment: retry a while (this
    runs on a worker thread, where sleeping is fine)."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.01)


def _is_busy(error: BaseException) -> bool:
    return getattr(error, "sqlite_errorcode", None) in _BUSY_CODES


def _is_disk_full(error: BaseException) -> bool:
    if isinstance(error, DiskFull):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_FULL:
        return True
    return isinstance(error, OSError) and error.errno in _NO_SPACE


def _client_error(error: BaseException) -> BaseException:
    """A full disk as the client must hear of it: RESOURCE_EXHAUSTED, never INTERNAL."""
    return DiskFull() if _is_disk_full(error) and not isinstance(error, DiskFull) else error


def _error_of(done: asyncio.Future[Any]) -> BaseException | None:
    if done.cancelled():
        return asyncio.CancelledError("the commit was cancelled")
    return done.exception()


def _close_checkpointed(conn: sqlite3.Connection) -> None:
    """Fold the WAL into the file and close: a closed tenant leaves one tidy file."""
    try:
        conn.execute("PRAGMA busy_timeout = 1000")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        log.warning("final checkpoint failed: %s", exc)
    finally:
        conn.close()
