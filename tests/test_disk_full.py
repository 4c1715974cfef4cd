"""A full disk answers RESOURCE_EXHAUSTED, keeps everything acknowledged, and heals.

The disk fills for real: `PRAGMA max_page_count` on the tenant's writer connection caps the
file at its current size, so SQLite itself answers SQLITE_FULL ("database or disk is full")
exactly as it does when the file system has no room.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hamcrest import (
    assert_that,
    contains_string,
    empty,
    equal_to,
    has_length,
    instance_of,
)

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import work_items_pb2 as items_msg
from server.handlers import command_table
from server.runner import CommandRunner
from tenants.database import TenantDatabase
from tenants.errors import DiskFull
from tenants.manager import TenantDatabases
from tenants.migrator import load_migrations
from tests.boards import TASK, create_project
from tests.helpers_foundation import bearer, principal, refused_status
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client

ERR = env.ErrorCode
DESCRIPTION = "d" * 30_000  # about eight pages of overflow: each item needs fresh pages
# Enough items to use up the pages a fresh file has free; it fills after a few.
MAX_ATTEMPTS = 200
ROOM = 1_073_741_823  # SQLite's largest page count: no cap


async def _cap_file(running: RunningServer, tenant: str, pages: int) -> None:
    """Caps the tenant's file at `pages` (never below its size: SQLite keeps the larger)."""
    db = running.services.databases.open_database(tenant)
    assert db is not None, f"tenant {tenant} is not open"
    await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages:d}").fetchone())


def _create(project_id: str, title: str) -> items_msg.CreateWorkItem:
    return items_msg.CreateWorkItem(
        project_id=project_id, type=TASK, title=title, description=DESCRIPTION
    )


async def _fill_until_refused(alice: WsClient, project_id: str) -> tuple[list[str], str]:
    """Creates items until one is refused; the acknowledged titles and the refused request."""
    acknowledged: list[str] = []
    for attempt in range(MAX_ATTEMPTS):
        title = f"item {attempt}"
        request_id = f"fill-{attempt}"
        response = await alice.request("create_work_item", _create(project_id, title), request_id)
        if response.HasField("error"):
            assert_that(response.error.code, equal_to(ERR.ERROR_CODE_RESOURCE_EXHAUSTED))
            return acknowledged, request_id
        acknowledged.append(title)
    raise AssertionError(f"the disk never filled in {MAX_ATTEMPTS} items")


async def _titles(client: WsClient, project_id: str) -> list[str]:
    listed = await client.ok(
        "list_work_items", items_msg.ListWorkItems(project_id=project_id, page_size=500)
    )
    return sorted(item.title for item in listed.work_items)


def _tenant_rows(data_dir: Path, request_id: str) -> tuple[int, int, int]:
    """(idempotency records of request_id, events of request_id, highest seq)."""
    conn = sqlite3.connect(data_dir / "tenants" / "acme.sqlite3")
    try:
        records = conn.execute(
            "SELECT count(*) FROM processed_requests WHERE request_id = ?", (request_id,)
        ).fetchone()[0]
        events = conn.execute(
            "SELECT count(*) FROM events WHERE request_id = ?", (request_id,)
        ).fetchone()[0]
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    finally:
        conn.close()
    return int(records), int(events), int(seq)


async def test_given_a_full_disk_when_a_command_writes_then_resource_exhausted_and_nothing_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        alice = await open_client(running.ws_url, running.token(roles=["admin"]))
        watcher = await open_client(running.ws_url, running.token(user="wendy", roles=["viewer"]))
        try:
            project_id = await create_project(alice, "PM")
            await watcher.subscribe(project_id)
            await _cap_file(running, "acme", 1)

            acknowledged, refused_id = await _fill_until_refused(alice, project_id)
            refused = await alice.error("create_work_item", _create(project_id, "again"), "r2")
            events = await watcher.events_until_quiet()
            records, refused_events, seq = _tenant_rows(tmp_path, refused_id)

            assert_that(refused.code, equal_to(ERR.ERROR_CODE_RESOURCE_EXHAUSTED))
            assert_that(refused.message, equal_to("the server's disk is full"))
            assert_that(
                [e.request_id for e in events],
                equal_to([f"fill-{i}" for i in range(len(acknowledged))]),
            )
            assert_that((records, refused_events), equal_to((0, 0)))
            assert_that(seq, equal_to(alice.welcome.current_seq + 1 + len(acknowledged)))
            assert_that(await _titles(alice, project_id), equal_to(sorted(acknowledged)))
            assert_that(alice.ws.close_code, equal_to(None))
            # Refused twice, said once: a full disk does not flood the log.
            said = [r for r in caplog.records if "disk is full" in r.getMessage()]
            assert_that(said, has_length(1))
            assert_that(said[0].levelno, equal_to(logging.ERROR))
        finally:
            await alice.close()
            await watcher.close()


async def test_given_a_full_disk_when_room_comes_back_then_the_same_request_commits_once(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            project_id = await create_project(alice, "PM")
            await _cap_file(running, "acme", 1)
            acknowledged, refused_id = await _fill_until_refused(alice, project_id)

            await _cap_file(running, "acme", ROOM)
            retried = await alice.ok("create_work_item", _create(project_id, "late"), refused_id)
            again = await alice.ok("create_work_item", _create(project_id, "late"), refused_id)
            records, events, _ = _tenant_rows(tmp_path, refused_id)

            assert_that(again.work_item.id, equal_to(retried.work_item.id))
            assert_that((records, events), equal_to((1, 1)))
            assert_that(await _titles(alice, project_id), equal_to(sorted([*acknowledged, "late"])))
        finally:
            await alice.close()

    # A fresh server on the same files: every acknowledged write is still there.
    async with run_server(make_config(tmp_path)) as restarted:
        reader = await open_client(restarted.ws_url, restarted.token(user="bob"))
        try:
            assert_that(
                await _titles(reader, project_id), equal_to(sorted([*acknowledged, "late"]))
            )
        finally:
            await reader.close()


async def test_given_a_full_disk_when_a_project_command_fails_then_other_tenants_still_write(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        alice = await open_client(running.ws_url, running.token())
        other = await open_client(running.ws_url, running.token(tenant="globex", user="gina"))
        try:
            project_id = await create_project(alice, "PM")
            await _cap_file(running, "acme", 1)
            await _fill_until_refused(alice, project_id)

            created = await other.ok(
                "create_project", projects_msg.CreateProject(key="GL", name="Globex")
            )

            assert_that(created.project.key, equal_to("GL"))
        finally:
            await alice.close()
            await other.close()


# --- the writer itself, and opening a tenant --------------------------------------------------


def _insert(value: str) -> Any:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes(value) VALUES (?)", (value,))

    return run


def _values(conn: sqlite3.Connection) -> list[str]:
    return [row[0][:10] for row in conn.execute("SELECT value FROM notes ORDER BY rowid")]


async def test_given_a_batch_with_a_write_that_fills_the_disk_when_run_then_none_is_kept(
    tmp_path: Path,
) -> None:
    db = TenantDatabase("acme", tmp_path / "acme.sqlite3", migrations=load_migrations())
    await db.open()
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE notes(value TEXT)"))
        await db.write(_insert("before"))
        await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1").fetchone())

        # Queued together: one batch, one transaction, which SQLite undoes on SQLITE_FULL.
        outcomes = await asyncio.gather(
            db.write(_insert("small")),
            db.write(_insert("x" * 200_000)),
            db.write(_insert("after")),
            return_exceptions=True,
        )
        await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {ROOM}").fetchone())
        await db.write(_insert("healed"))

        assert_that(outcomes[0], instance_of(DiskFull))
        assert_that(outcomes[1], instance_of(DiskFull))
        # The third came after the failure: a batch of its own, on a file that had room for it.
        assert_that(outcomes[2], equal_to(None))
        assert_that(await db.read(_values), equal_to(["before", "after", "healed"]))
    finally:
        async with asyncio.timeout(5):
            await db.close()


class FullDiskConnection(sqlite3.Connection):
    """A connection to a file that may not grow (while `full`): a disk with no room left."""

    full: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if FullDiskConnection.full:
            self.execute("PRAGMA max_page_count = 1")


@pytest.fixture
def full_disk() -> Any:
    FullDiskConnection.full = True
    yield FullDiskConnection
    FullDiskConnection.full = False


def _code_and_message(frame: bytes) -> tuple[int, str]:
    message = env.ServerMessage()
    message.ParseFromString(frame)
    return int(message.response.error.code), message.response.error.message


async def test_given_a_full_disk_when_a_new_tenant_is_first_used_then_resource_exhausted(
    tmp_path: Path, full_disk: type[FullDiskConnection], caplog: pytest.LogCaptureFixture
) -> None:
    databases = TenantDatabases(tmp_path, connection_factory=full_disk)
    runner = CommandRunner(databases, command_table())
    alice = principal()
    try:
        refused = await runner.run(alice, "r1", "list_projects", projects_msg.ListProjects())
        FullDiskConnection.full = False
        listed = await runner.run(alice, "r2", "list_projects", projects_msg.ListProjects())

        assert_that(
            _code_and_message(refused.response),
            equal_to((ERR.ERROR_CODE_RESOURCE_EXHAUSTED, "the server's disk is full")),
        )
        assert_that(_code_and_message(listed.response)[0], equal_to(ERR.ERROR_CODE_UNSPECIFIED))
        assert_that(databases.is_open("acme"), equal_to(True))
        # One line saying which tenant and why; no stack trace for a disk without room.
        assert_that([r for r in caplog.records if r.exc_info], empty())
        said = [r.getMessage() for r in caplog.records if "disk is full" in r.getMessage()]
        assert_that(said, has_length(1))
        assert_that(said[0], contains_string("tenant acme"))
    finally:
        async with asyncio.timeout(5):
            await databases.close()


async def test_given_a_full_disk_when_a_new_tenants_client_connects_then_the_upgrade_answers_503(
    tmp_path: Path, full_disk: type[FullDiskConnection]
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        databases = running.services.databases
        # The running server's next files open on a disk with no room (a real SQLITE_FULL).
        databases._factory = full_disk
        status = await refused_status(
            running.ws_url, additional_headers=bearer(running.token(tenant="globex"))
        )
        full_disk.full = False
        joined = await open_client(running.ws_url, running.token(tenant="globex"))
        await joined.close()

    assert_that(status, equal_to(503))
    assert_that(joined.welcome.tenant_id, equal_to("globex"))
