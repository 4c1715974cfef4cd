"""Another process holding a tenant's write lock (as a second server process on the same
PM_DATA_DIR would): a command waits within PM_BUSY_TIMEOUT_MS and commits once the lock is
free, or answers RESOURCE_EXHAUSTED past it, never "database is locked", and changes
nothing; the connection lives on."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from hamcrest import assert_that, equal_to

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import create_project
from tests.server_fixture import make_config, run_server
from tests.tenant_state import count, tenant_file
from tests.wire import open_client


@contextmanager
def write_lock(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """The tenant's write lock, held by a connection of the test's own."""
    with closing(sqlite3.connect(tenant_file(tmp_path), isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


def _create(project_id: str, title: str) -> items_msg.CreateWorkItem:
    return items_msg.CreateWorkItem(project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=title)


async def test_given_the_lock_held_past_the_busy_timeout_when_writing_then_resource_exhausted(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, busy_timeout_ms=200)) as running:
        client = await open_client(running.ws_url, running.token())
        project = await create_project(client, "AA")
        before = count(tmp_path, "work_items")
        with write_lock(tmp_path):
            error = await client.error("create_work_item", _create(project, "refused"))
        after = count(tmp_path, "work_items")
        created = await client.ok("create_work_item", _create(project, "later"))
        await client.close()

    assert_that(error.code, equal_to(env.ERROR_CODE_RESOURCE_EXHAUSTED))
    assert_that("locked" in error.message, equal_to(False))
    assert_that(after, equal_to(before))
    assert_that(created.work_item.title, equal_to("later"))


async def test_given_the_lock_released_within_the_busy_timeout_when_writing_then_it_commits(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, busy_timeout_ms=5000)) as running:
        client = await open_client(running.ws_url, running.token())
        project = await create_project(client, "AA")
        with write_lock(tmp_path):
            request_id = await client.send("create_work_item", _create(project, "waited"))
            # The other process's transaction lasts a while: the command must wait it out.
            await asyncio.sleep(0.3)
        response = await client.response(request_id)
        await client.close()

    assert_that(response.WhichOneof("result"), equal_to("create_work_item"))
    assert_that(response.create_work_item.work_item.title, equal_to("waited"))
