"""UserProfiles: a user's name and email reach the tenant's users table once, and a
reconnect of an unchanged user costs no write (and, while cached, no read either)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hamcrest import assert_that, equal_to

from server.auth import Principal, Role
from server.profiles import UserProfiles
from tenants import users
from tenants.database import TenantDatabase
from tenants.migrator import load_migrations
from tenants.users import UserRecord

T = TypeVar("T")


class CountingDatabase(TenantDatabase):
    """A tenant database that counts the reads and writes asked of it."""

    reads = 0
    writes = 0

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self.reads += 1
        return await super().read(fn)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        self.writes += 1
        return super().write(fn)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[CountingDatabase]:
    database = CountingDatabase("acme", tmp_path / "acme.sqlite3", migrations=load_migrations())
    await database.open()
    yield database
    async with asyncio.timeout(5):
        await database.close()


def who(user: str = "alice", name: str = "Alice", email: str = "alice@example.com") -> Principal:
    return Principal(user, "acme", Role.MEMBER, 0.0, name=name, email=email)


async def stored(db: TenantDatabase, user: str = "alice") -> UserRecord | None:
    return await db.read(lambda conn: users.get(conn, user))


def counts(db: CountingDatabase) -> tuple[int, int]:
    return db.reads, db.writes


async def test_given_a_new_user_when_remembered_then_one_row_with_name_and_email(
    db: CountingDatabase,
) -> None:
    await UserProfiles().remember(db, who())

    row: Any = await stored(db)
    assert_that((row.name, row.email), equal_to(("Alice", "alice@example.com")))
    assert_that(db.writes, equal_to(1))


async def test_given_a_remembered_user_when_connecting_again_unchanged_then_no_read_nor_write(
    db: CountingDatabase,
) -> None:
    profiles = UserProfiles()
    await profiles.remember(db, who())
    before = counts(db)

    await profiles.remember(db, who())

    assert_that(counts(db), equal_to(before))


async def test_given_a_new_process_when_an_unchanged_user_connects_then_read_but_not_written(
    db: CountingDatabase,
) -> None:
    await UserProfiles().remember(db, who())
    reads, writes = counts(db)

    await UserProfiles().remember(db, who())

    assert_that(counts(db), equal_to((reads + 1, writes)))


async def test_given_a_changed_name_when_remembered_then_written_once_and_cached(
    db: CountingDatabase,
) -> None:
    profiles = UserProfiles()
    await profiles.remember(db, who())
    first: Any = await stored(db)

    await profiles.remember(db, who(name="Alice L."))
    await profiles.remember(db, who(name="Alice L."))

    row: Any = await stored(db)
    assert_that((row.name, row.first_seen_at_ms), equal_to(("Alice L.", first.first_seen_at_ms)))
    assert_that(db.writes, equal_to(2))


async def test_given_a_small_cache_when_more_users_connect_then_the_oldest_are_forgotten(
    db: CountingDatabase,
) -> None:
    profiles = UserProfiles(max_entries=2)
    for user in ("alice", "bob", "carol"):
        await profiles.remember(db, who(user))
    reads = db.reads

    await profiles.remember(db, who("carol"))  # cached
    await profiles.remember(db, who("alice"))  # evicted: read again, not written

    assert_that(len(profiles), equal_to(2))
    assert_that((db.reads - reads, db.writes), equal_to((1, 3)))


async def test_given_a_user_id_over_200_characters_when_remembered_then_not_recorded(
    db: CountingDatabase,
) -> None:
    await UserProfiles().remember(db, who("u" * 201))

    assert_that(counts(db), equal_to((0, 0)))


async def test_given_a_closed_database_when_remembering_then_no_error_and_retried_later(
    tmp_path: Path, db: CountingDatabase
) -> None:
    profiles = UserProfiles()
    closed = CountingDatabase("acme", tmp_path / "acme.sqlite3", migrations=load_migrations())

    await profiles.remember(closed, who())  # never opened: its read fails
    await profiles.remember(db, who())

    assert_that(len(profiles), equal_to(1))
    assert_that(db.writes, equal_to(1))
