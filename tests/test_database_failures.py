"""A failure on a tenant's database thread is contained: the batch's commands answer
INTERNAL and the tenant keeps working (failures injected through a connection subclass)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hamcrest import assert_that, equal_to, instance_of

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as msg
from server.handlers import command_table
from server.runner import CommandRunner
from tenants.database import TenantDatabase
from tenants.manager import TenantDatabases
from tenants.migrator import load_migrations
from tests.helpers_foundation import principal


class FailingConnection(sqlite3.Connection):
    """Fails the statements named in `failing` (each once), like a disk that gives out."""

    failing: ClassVar[list[str]] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql in FailingConnection.failing:
            FailingConnection.failing.remove(sql)
            raise sqlite3.OperationalError(f"injected failure of {sql}")
        return super().execute(sql, *args)


@pytest.fixture
def failures() -> Iterator[list[str]]:
    FailingConnection.failing = []
    yield FailingConnection.failing
    FailingConnection.failing = []


def _insert(value: str) -> Any:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes(value) VALUES (?)", (value,))

    return run


def _values(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT value FROM notes ORDER BY value")]


async def _database(tmp_path: Path) -> TenantDatabase:
    db = TenantDatabase(
        "acme",
        tmp_path / "acme.sqlite3",
        migrations=load_migrations(),
        connection_factory=FailingConnection,
    )
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE notes(value TEXT)"))
    return db


async def test_given_commit_and_rollback_fail_when_a_batch_ends_then_it_fails_and_the_tenant_works(
    tmp_path: Path, failures: list[str]
) -> None:
    db = await _database(tmp_path)
    try:
        failures.extend(["COMMIT", "ROLLBACK"])

        outcomes = await asyncio.gather(
            db.write(_insert("lost-1")), db.write(_insert("lost-2")), return_exceptions=True
        )
        await db.write(_insert("kept"))

        assert_that(outcomes[0], instance_of(sqlite3.OperationalError))
        assert_that(outcomes[1], instance_of(sqlite3.OperationalError))
        assert_that(await db.read(_values), equal_to(["kept"]))
        assert_that(failures, equal_to([]))
    finally:
        async with asyncio.timeout(5):
            await db.close()


async def test_given_begin_fails_when_writing_then_that_write_fails_and_the_next_commits(
    tmp_path: Path, failures: list[str]
) -> None:
    db = await _database(tmp_path)
    try:
        failures.append("BEGIN IMMEDIATE")

        with pytest.raises(sqlite3.OperationalError):
            await db.write(_insert("lost"))
        await db.write(_insert("kept"))

        assert_that(await db.read(_values), equal_to(["kept"]))
    finally:
        async with asyncio.timeout(5):
            await db.close()


async def test_given_a_failing_rollback_when_a_command_commits_then_internal_and_the_next_works(
    tmp_path: Path, failures: list[str]
) -> None:
    databases = TenantDatabases(tmp_path, connection_factory=FailingConnection)
    runner = CommandRunner(databases, command_table())
    alice = principal()
    try:
        await runner.run(alice, "warm-up", "list_projects", msg.ListProjects())
        failures.extend(["COMMIT", "ROLLBACK"])

        failed = await runner.run(
            alice, "r1", "create_project", msg.CreateProject(key="PM", name="Platform")
        )
        retried = await runner.run(
            alice, "r1", "create_project", msg.CreateProject(key="PM", name="Platform")
        )

        assert_that(_code(failed.response), equal_to(env.ERROR_CODE_INTERNAL))
        assert_that(_code(retried.response), equal_to(env.ERROR_CODE_UNSPECIFIED))
        assert_that(retried.event is not None, equal_to(True))
    finally:
        async with asyncio.timeout(5):
            await databases.close()


def _code(frame: bytes) -> int:
    message = env.ServerMessage()
    message.ParseFromString(frame)
    return int(message.response.error.code)
