"""TenantDatabases: opens each tenant's file lazily and keeps at most N open.

A database is leased for the duration of one command (`async with databases.lease(t)`);
only an unleased one is ever closed, the least recently used first. Concurrent first
requests for a new tenant share one opening, so its migrations run once.

A file written by a newer server (SchemaTooNew) is refused without being touched, logged
once, and remembered: later requests get the same refusal without opening it again, until
the file changes (a restore, or a downgrade of the file by hand).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from tenants.database import Synchronous, TenantDatabase
from tenants.errors import InvalidArgument, ResourceExhausted, SchemaTooNew
from tenants.llm_context import with_seed
from tenants.migrator import Migration, load_migrations
from tenants.readers import ReadPool

log = logging.getLogger(__name__)

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# What identifies one state of a file: (inode, size, modification time in ns).
_FileState = tuple[int, int, int]


TENANT_FILE_SUFFIX = ".sqlite3"


def tenant_file(data_dir: Path, tenant_id: str) -> Path:
    """Where a tenant's database lives under the data directory (its id checked before)."""
    return data_dir / "tenants" / f"{tenant_id}{TENANT_FILE_SUFFIX}"


def is_valid_tenant_id(tenant_id: str) -> bool:
    # fullmatch: "$" alone would accept a trailing newline, and a tenant id is a file name.
    return TENANT_ID.fullmatch(tenant_id) is not None


class TenantDatabases:
    def __init__(
        self,
        data_dir: Path,
        *,
        max_open: int = 256,
        synchronous: Synchronous = "NORMAL",
        migrations: tuple[Migration, ...] | None = None,
        connection_factory: type[sqlite3.Connection] = sqlite3.Connection,
        read_threads: int = 4,
        read_connections: int = 2,
        busy_timeout_ms: int = 5000,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._busy_timeout_ms = busy_timeout_ms
        self._on_commit = on_commit
        self._factory = connection_factory
        # One pool of read threads for every tenant, instead of a thread per tenant.
        self._readers = ReadPool(read_threads)
        self._read_connections = read_connections
        self._max_open = max(1, max_open)
        self._synchronous = synchronous
        # Migration 0009 seeds llm_context from tenants/llm_context_seed.md (read here).
        self._migrations = migrations if migrations is not None else with_seed(load_migrations())
        self._open: OrderedDict[str, TenantDatabase] = OrderedDict()
        self._opening: dict[str, asyncio.Future[TenantDatabase]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        # Tenants refused for a newer schema: the file's state then, its version, ours.
        self._refused: dict[str, tuple[_FileState, int, int]] = {}
        # Tenants whose file is being replaced (a restore): no lease until released.
        self._held: set[str] = set()
        # Bumped when a tenant's file is replaced: whoever read its epoch under an older
        # generation holds a stale one.
        self._generations: dict[str, int] = {}
        # A held tenant's drain waits on this until its last lease ends.
        self._unleased: dict[str, asyncio.Event] = {}

    def path_for(self, tenant_id: str) -> Path:
        if not is_valid_tenant_id(tenant_id):
            raise InvalidArgument("invalid tenant id", field="tenant_id")
        return tenant_file(self._data_dir, tenant_id)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def is_open(self, tenant_id: str) -> bool:
        return tenant_id in self._open

    @asynccontextmanager
    async def lease(self, tenant_id: str) -> AsyncIterator[TenantDatabase]:
        db = await self._get(tenant_id)
        db.in_use += 1
        try:
            yield db
        finally:
            db.in_use -= 1
            self._evict_idle()
            unleased = self._unleased.get(tenant_id)
            if unleased is not None and db.in_use == 0:
                unleased.set()

    def is_held(self, tenant_id: str) -> bool:
        """Whether the tenant's file is being replaced (its leases are refused meanwhile)."""
        return tenant_id in self._held

    def generation(self, tenant_id: str) -> int:
        return self._generations.get(tenant_id, 0)

    @asynccontextmanager
    async def hold(self, tenant_id: str) -> AsyncIterator[TenantHold]:
        """Take the tenant's file away from the server: new leases are refused at once
        (RESOURCE_EXHAUSTED), and `TenantHold.drain()` waits for the leases and writes in
        flight, then closes the database, so the file may be replaced in place. The next
        lease after the hold opens it again, lazily, as it is then."""
        if tenant_id in self._held:
            raise ResourceExhausted(f"tenant {tenant_id} is already held (a restore is running)")
        self.path_for(tenant_id)  # a valid tenant id, or InvalidArgument
        self._held.add(tenant_id)
        self._generations[tenant_id] = self.generation(tenant_id) + 1
        try:
            yield TenantHold(self, tenant_id)
        finally:
            self._held.discard(tenant_id)

    async def _drain(self, tenant_id: str) -> None:
        opening = self._opening.get(tenant_id)
        if opening is not None:
            await asyncio.gather(opening, return_exceptions=True)
        db = self._open.get(tenant_id)
        if db is None:
            await asyncio.gather(*self._closing, return_exceptions=True)
            return
        while db.in_use > 0:
            unleased = self._unleased[tenant_id] = asyncio.Event()
            try:
                await unleased.wait()
            finally:
                self._unleased.pop(tenant_id, None)
        if self._open.get(tenant_id) is db:
            del self._open[tenant_id]
        # Finishes the writes already queued, then checkpoints and closes every connection.
        await db.close()
        # An eviction may have been closing it already, on a task of its own.
        await asyncio.gather(*self._closing, return_exceptions=True)

    def open_tenants(self) -> list[str]:
        return list(self._open)

    def open_database(self, tenant_id: str) -> TenantDatabase | None:
        """The tenant's database if it is open now, without a lease: for queueing a write,
        which a closing database still finishes (see TenantDatabase.close). None while the
        tenant is held: the write then takes the lease path, which refuses it."""
        if tenant_id in self._held:
            return None
        db = self._open.get(tenant_id)
        if db is not None:
            self._open.move_to_end(tenant_id)
        return db

    async def _get(self, tenant_id: str) -> TenantDatabase:
        while True:
            if self._closed:
                raise RuntimeError("tenant databases are closed")
            if tenant_id in self._held:
                raise ResourceExhausted(f"tenant {tenant_id} is being restored; retry in a moment")
            db = self._open.get(tenant_id)
            if db is not None:
                self._open.move_to_end(tenant_id)
                return db
            self._check_refused(tenant_id)
            opening = self._opening.get(tenant_id)
            if opening is None:
                # A task of its own: a caller cancelled while waiting must neither cancel
                # the opening for the others nor leave a database open that nobody tracks.
                opening = asyncio.get_running_loop().create_task(self._open_new(tenant_id))
                opening.add_done_callback(_retrieve_exception)
                self._opening[tenant_id] = opening
            db = await asyncio.shield(opening)
            # Another lease may have ended and evicted it before this caller resumed: only
            # a database still in the open set may be handed out.
            if self._open.get(tenant_id) is db:
                return db

    async def _open_new(self, tenant_id: str) -> TenantDatabase:
        try:
            db = TenantDatabase(
                tenant_id,
                self.path_for(tenant_id),
                migrations=self._migrations,
                synchronous=self._synchronous,
                connection_factory=self._factory,
                readers=self._readers,
                read_connections=self._read_connections,
                busy_timeout_ms=self._busy_timeout_ms,
                on_commit=self._on_commit,
            )
            try:
                await db.open()
            except SchemaTooNew as error:
                self._refuse(tenant_id, error)
                raise
            if self._closed:
                await db.close()
                raise RuntimeError("tenant databases are closed")
        finally:
            del self._opening[tenant_id]
        self._open[tenant_id] = db
        log.debug("opened tenant %s (%d open)", tenant_id, len(self._open))
        return db

    def _check_refused(self, tenant_id: str) -> None:
        refused = self._refused.get(tenant_id)
        if refused is None:
            return
        state, found, known = refused
        if _file_state(self.path_for(tenant_id)) == state:
            # A new error each time: raising one instance again would grow its traceback.
            raise SchemaTooNew(found, known)
        del self._refused[tenant_id]

    def _refuse(self, tenant_id: str, error: SchemaTooNew) -> None:
        state = _file_state(self.path_for(tenant_id))
        if state is not None:
            self._refused[tenant_id] = (state, error.found, error.known)
        log.error("tenant %s not opened: %s", tenant_id, error.message)

    def _evict_idle(self) -> None:
        if len(self._open) <= self._max_open:
            return
        for tenant_id, db in list(self._open.items()):
            if len(self._open) <= self._max_open:
                break
            if db.in_use == 0 and not db.writing:
                del self._open[tenant_id]
                task = asyncio.get_running_loop().create_task(db.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                log.debug("closed idle tenant %s", tenant_id)

    async def close(self) -> None:
        """Close every database after its queued work; called last at shutdown."""
        self._closed = True
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        dbs = list(self._open.values())
        self._open.clear()
        await asyncio.gather(*(db.close() for db in dbs), *self._closing)
        await self._readers.close()


class TenantHold:
    """A tenant's file taken from the server (TenantDatabases.hold)."""

    def __init__(self, databases: TenantDatabases, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.path = databases.path_for(tenant_id)
        self._databases = databases

    async def drain(self) -> None:
        """Wait for the leases and writes in flight, then close the tenant's database."""
        await self._databases._drain(self.tenant_id)


def _file_state(path: Path) -> _FileState | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


def _retrieve_exception(task: asyncio.Task[TenantDatabase]) -> None:
    # Every waiter re-raises the failure itself; this only keeps asyncio from logging
    # "exception never retrieved" when nobody was left waiting.
    if not task.cancelled():
        task.exception()
