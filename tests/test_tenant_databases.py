"""Tenant storage: lazy opening, one migration run, LRU of open files, group commit, close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    equal_to,
    has_length,
    instance_of,
)

from tenants import projects
from tenants.database import TenantDatabase
from tenants.errors import InvalidArgument
from tenants.manager import TenantDatabases
from tenants.migrator import load_migrations
from tests.helpers_foundation import tenant_files
from tests.tenant_state import rows

MIGRATIONS = load_migrations()


def _applied_versions(data_dir: Path, tenant: str) -> list[int]:
    found = rows(data_dir, "SELECT version FROM schema_migrations ORDER BY version", tenant=tenant)
    return [int(r[0]) for r in found]


def _insert_project(key: str) -> Callable[[sqlite3.Connection], Any]:
    def write(conn: sqlite3.Connection) -> Any:
        return projects.insert(
            conn,
            project_id=f"00000000-0000-4000-8000-{abs(hash(key)) % 10**12:012d}",
            key=key,
            name=key,
            description="",
            actor_id="alice",
            now_ms=1,
        )

    return write


def _keys(conn: sqlite3.Connection) -> list[str]:
    return [p.key for p in projects.list_live(conn, after_key="", limit=100)]


class _Boom(Exception):
    pass


def _insert_then_fail(key: str) -> Callable[[sqlite3.Connection], Any]:
    def write(conn: sqlite3.Connection) -> Any:
        _insert_project(key)(conn)
        raise _Boom(key)

    return write


def _submitted(*coroutines: Any) -> list[asyncio.Task[Any]]:
    return [asyncio.ensure_future(c) for c in coroutines]


async def _queued() -> None:
    # One loop turn: every task created above takes its first step, which queues its job.
    await asyncio.sleep(0)


# --- opening ----------------------------------------------------------------------------------


async def test_given_a_new_tenant_when_not_yet_leased_then_no_file_exists(tmp_path: Path) -> None:
    databases = TenantDatabases(tmp_path)
    try:
        assert_that(databases.path_for("acme").exists(), equal_to(False))

        async with databases.lease("acme") as db:
            await db.read(_keys)

        assert_that(databases.path_for("acme").exists(), equal_to(True))
    finally:
        await databases.close()


async def test_given_an_invalid_tenant_id_when_leasing_then_invalid_argument_and_no_file(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path)
    try:
        with pytest.raises(InvalidArgument):
            async with databases.lease("../x"):
                pass
        assert_that(tenant_files(tmp_path), has_length(0))
    finally:
        await databases.close()


async def test_given_50_concurrent_first_leases_when_opening_then_one_open_and_one_migration_run(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path)

    async def lease_and_read() -> TenantDatabase:
        async with databases.lease("acme") as db:
            await db.read(_keys)
            return db

    try:
        opened = await asyncio.gather(*(lease_and_read() for _ in range(50)))

        assert_that({id(db) for db in opened}, has_length(1))
        assert_that(databases.open_count, equal_to(1))
    finally:
        await databases.close()
    assert_that(_applied_versions(tmp_path, "acme"), equal_to([m.version for m in MIGRATIONS]))


async def test_given_five_managers_on_one_directory_when_racing_then_migrations_apply_once(
    tmp_path: Path,
) -> None:
    # Five TenantDatabases stand for five processes sharing the data directory.
    managers = [TenantDatabases(tmp_path) for _ in range(5)]

    async def write_through(manager: TenantDatabases, n: int) -> Any:
        async with manager.lease("acme") as db:
            return await db.write(_insert_project(f"K{n}"))

    try:
        await asyncio.gather(*(write_through(m, n) for n, m in enumerate(managers)))
        async with managers[0].lease("acme") as db:
            keys = await db.read(_keys)
    finally:
        await asyncio.gather(*(m.close() for m in managers))

    assert_that(_applied_versions(tmp_path, "acme"), equal_to([m.version for m in MIGRATIONS]))
    assert_that(keys, contains_exactly("K0", "K1", "K2", "K3", "K4"))


async def test_given_a_waiter_cancelled_during_opening_when_it_finishes_then_others_get_it(
    tmp_path: Path,
) -> None:
    # An exclusive lock on the new file holds the opening (busy timeout) until released.
    (tmp_path / "tenants").mkdir()
    blocker = sqlite3.connect(tmp_path / "tenants" / "acme.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    databases = TenantDatabases(tmp_path)

    async def lease_and_read() -> list[str]:
        async with databases.lease("acme") as db:
            return await db.read(_keys)

    first, second = _submitted(lease_and_read(), lease_and_read())
    await _queued()
    first.cancel()
    blocker.execute("ROLLBACK")
    blocker.close()
    try:
        async with asyncio.timeout(15):
            keys = await second
        assert_that(first.cancelled(), equal_to(True))
        assert_that(keys, equal_to([]))
        assert_that(databases.open_count, equal_to(1))
    finally:
        await databases.close()
    assert_that(
        [t.name for t in threading.enumerate() if t.name == "tenant-db-acme"], has_length(0)
    )


# --- the LRU of open files --------------------------------------------------------------------


async def test_given_max_open_2_when_a_third_tenant_is_leased_then_the_lru_idle_one_closes(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path, max_open=2)
    try:
        async with databases.lease("a") as a:
            await a.write(_insert_project("AA"))
        async with databases.lease("b") as b:
            pass
        async with databases.lease("a"):
            pass  # a is now the most recently used

        async with databases.lease("c"):
            pass

        assert_that(databases.is_open("a"), equal_to(True))
        assert_that(databases.is_open("b"), equal_to(False))
        assert_that(databases.is_open("c"), equal_to(True))
        async with databases.lease("b") as b_again:
            assert_that(b_again is b, equal_to(False))
        assert_that(b.closed, equal_to(True))
        async with databases.lease("a") as a_again:
            assert_that(await a_again.read(_keys), equal_to(["AA"]))
    finally:
        await databases.close()


async def test_given_leased_tenants_when_over_max_open_then_no_leased_one_is_closed(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path, max_open=2)
    try:
        async with databases.lease("a") as a, databases.lease("b") as b:
            async with databases.lease("c"):
                pass

            assert_that(databases.is_open("a"), equal_to(True))
            assert_that(databases.is_open("b"), equal_to(True))
            assert_that(databases.is_open("c"), equal_to(False))
            await a.write(_insert_project("AA"))
            await b.write(_insert_project("BB"))
            assert_that(await a.read(_keys), equal_to(["AA"]))
    finally:
        await databases.close()


async def test_given_a_waiter_on_an_opening_when_the_opener_evicts_it_then_the_waiter_still_works(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path, max_open=1)

    async def brief() -> None:
        async with databases.lease("a"):
            pass  # its end evicts "a", idle and over the limit, before the waiter resumes

    async def use() -> list[str]:
        async with databases.lease("a") as db:
            return await db.read(_keys)

    try:
        async with databases.lease("b"):
            _, keys = await asyncio.gather(brief(), use())
        assert_that(keys, equal_to([]))
    finally:
        await databases.close()


async def test_given_two_tenants_when_each_writes_then_neither_sees_the_other(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path)
    try:
        async with databases.lease("acme") as acme, databases.lease("globex") as globex:
            await acme.write(_insert_project("AC"))
            await globex.write(_insert_project("GL"))

            assert_that(await acme.read(_keys), equal_to(["AC"]))
            assert_that(await globex.read(_keys), equal_to(["GL"]))
    finally:
        await databases.close()


async def test_given_closed_databases_when_leasing_then_refused(tmp_path: Path) -> None:
    databases = TenantDatabases(tmp_path)
    await databases.close()

    with pytest.raises(RuntimeError):
        async with databases.lease("acme"):
            pass


# --- group commit, and reads beside writes ---------------------------------------------------


async def _open(tmp_path: Path, **options: Any) -> TenantDatabase:
    db = TenantDatabase("acme", tmp_path / "acme.sqlite3", migrations=MIGRATIONS, **options)
    await db.open()
    return db


async def test_given_a_batch_where_one_write_raises_when_committed_then_the_others_are_kept(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path)
    try:
        # Asked for together: they are taken as one batch, one transaction, one commit.
        writes = [
            db.write(_insert_project("AA")),
            db.write(_insert_then_fail("BB")),
            db.write(_insert_project("CC")),
        ]
        outcomes = await asyncio.gather(*writes, return_exceptions=True)

        assert_that(outcomes[1], instance_of(_Boom))
        assert_that(
            [getattr(o, "key", o) for o in (outcomes[0], outcomes[2])], equal_to(["AA", "CC"])
        )
        assert_that(await db.read(_keys), equal_to(["AA", "CC"]))
        assert_that(db.stats.largest_batch, equal_to(3))
        assert_that(db.stats.commits, equal_to(1))
    finally:
        await db.close()


async def test_given_writes_of_two_tenants_when_asked_together_then_each_tenant_commits_once(
    tmp_path: Path,
) -> None:
    databases = TenantDatabases(tmp_path, read_threads=2)
    try:
        async with databases.lease("acme") as acme, databases.lease("globex") as globex:
            writes = [
                db.write(_insert_project(f"{name}{n}"))
                for n in range(5)
                for db, name in ((acme, "A"), (globex, "G"))
            ]
            await asyncio.gather(*writes)

            assert_that((acme.stats.commits, acme.stats.writes), equal_to((1, 5)))
            assert_that((globex.stats.commits, globex.stats.writes), equal_to((1, 5)))
            assert_that(await acme.read(_keys), equal_to([f"A{n}" for n in range(5)]))
    finally:
        await databases.close()


async def test_given_a_long_read_when_writes_arrive_then_they_commit_without_waiting_for_it(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path)
    gate = threading.Event()
    started = threading.Event()

    def long_read(conn: sqlite3.Connection) -> list[str]:
        before = _keys(conn)
        started.set()
        gate.wait(10)
        # Its snapshot began before the writes: it does not see them.
        assert _keys(conn) == before
        return before

    try:
        reading = asyncio.ensure_future(db.read(long_read))
        await asyncio.to_thread(started.wait, 10)
        async with asyncio.timeout(10):
            await db.write(_insert_project("AA"))
            await db.write(_insert_project("BB"))
            later_read = await db.read(_keys)
        gate.set()
        async with asyncio.timeout(10):
            first_read = await reading

        assert_that(first_read, equal_to([]))
        assert_that(later_read, equal_to(["AA", "BB"]))
    finally:
        gate.set()
        await db.close()


class _SlowCommit(sqlite3.Connection):
    """While `holding`, every COMMIT of the writer waits until `release` is set (a slow
    fsync)."""

    holding = False
    entered = threading.Event()
    release = threading.Event()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and _SlowCommit.holding:
            _SlowCommit.entered.set()
            _SlowCommit.release.wait(10)
        return super().execute(sql, *args)


async def test_given_a_full_sync_batch_committing_when_reading_then_the_read_is_not_held(
    tmp_path: Path,
) -> None:
    _SlowCommit.entered.clear()
    _SlowCommit.release.clear()
    db = await _open(tmp_path, synchronous="FULL", connection_factory=_SlowCommit)
    try:
        await db.write(_insert_project("AA"))
        _SlowCommit.holding = True

        committing = db.write(_insert_project("BB"))
        await asyncio.to_thread(_SlowCommit.entered.wait, 10)
        _SlowCommit.holding = False  # reads end their transactions with COMMIT too
        async with asyncio.timeout(10):
            seen_meanwhile = await db.read(_keys)
        queued_behind = db.write(_insert_project("CC"))
        _SlowCommit.release.set()
        async with asyncio.timeout(10):
            await committing
            await queued_behind

        assert_that(seen_meanwhile, equal_to(["AA"]))
        assert_that(await db.read(_keys), equal_to(["AA", "BB", "CC"]))
        assert_that(db.stats.commits, equal_to(3))
    finally:
        _SlowCommit.holding = False
        _SlowCommit.release.set()
        await db.close()


async def test_given_queued_writes_when_closing_then_they_finish_before_the_file_closes(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path)
    writes = [db.write(_insert_project(f"K{n}")) for n in range(5)]
    closing = asyncio.ensure_future(db.close())

    async with asyncio.timeout(10):
        await closing
        results = await asyncio.gather(*writes)

    assert_that([r.key for r in results], equal_to([f"K{n}" for n in range(5)]))
    reopened = await _open(tmp_path)
    try:
        assert_that(await reopened.read(_keys), has_length(5))
    finally:
        await reopened.close()


async def test_given_sqlite_drops_the_transaction_when_a_batch_runs_then_its_writes_fail(
    tmp_path: Path,
) -> None:
    def lost_transaction(conn: sqlite3.Connection) -> None:
        # What SQLite does on its own after a disk-full or I/O error mid-transaction.
        conn.execute("ROLLBACK")

    db = await _open(tmp_path)
    try:
        writes = [
            db.write(_insert_project("AA")),
            db.write(lost_transaction),
            db.write(_insert_project("CC")),
        ]
        async with asyncio.timeout(10):
            outcomes = await asyncio.gather(*writes, return_exceptions=True)

        # AA went down with the transaction; CC, not yet run, gets a fresh one.
        assert_that([isinstance(o, sqlite3.Error) for o in outcomes], equal_to([True, True, False]))
        async with asyncio.timeout(10):
            await db.write(_insert_project("DD"))
            assert_that(await db.read(_keys), equal_to(["CC", "DD"]))
    finally:
        await db.close()


async def test_given_a_closed_database_when_writing_then_refused(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    await db.close()

    with pytest.raises(RuntimeError):
        await db.write(_insert_project("AA"))
