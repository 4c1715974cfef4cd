"""The harness's presence, view and refresh-token subcommands against a real server."""

from __future__ import annotations

import asyncio

from hamcrest import assert_that, contains_string, equal_to, greater_than

from server.tokens import mint_token
from tests.boards import create_item, create_project
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.test_harness import TIMEOUT, connection, finish, harness, start_harness


async def _until_line(process: asyncio.subprocess.Process, text: str) -> None:
    assert process.stderr is not None
    async with asyncio.timeout(TIMEOUT):
        while text not in (await process.stderr.readline()).decode():
            pass


async def test_given_a_presence_watcher_when_another_user_views_an_item_then_it_prints_them(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect(user="alice")
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id)
    watcher = await start_harness(
        *connection(server), "--json", "presence", "--project", project_id, "--count", "1"
    )
    processes = [watcher]
    try:
        await _until_line(watcher, "watching presence")
        viewer = await start_harness(
            *connection(server, server.token(user="bob")),
            "view",
            "--project",
            project_id,
            "--item",
            item.id,
        )
        processes.append(viewer)
        await _until_line(viewer, "viewing")
        ran = await finish(watcher)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert_that(ran.returncode, equal_to(0))
    first, update = ran.json_lines()
    assert_that(first["entries"], equal_to([{"user_id": "alice", "connections": 1}]))
    assert_that(
        update["entries"],
        equal_to(
            [
                {"user_id": "alice", "connections": 1},
                {"user_id": "bob", "connections": 1, "viewing_work_item_id": item.id},
            ]
        ),
    )


async def test_given_a_newer_token_when_refresh_token_runs_then_it_prints_the_later_expiry(
    server: RunningServer,
) -> None:
    newer = server.token(ttl=7200)
    stranger = mint_token(server.config.jwt_secret, tenant_id="acme", user_id="mallory")

    ran = await harness(*connection(server), "--json", "refresh-token", "--new-token", newer)
    refused = await harness(*connection(server), "refresh-token", "--new-token", stranger)

    assert_that(ran.returncode, equal_to(0))
    assert_that(int(ran.json_lines()[0]["expires_at_ms"]), greater_than(0))
    assert_that(refused.returncode, greater_than(0))
    assert_that(refused.stderr, contains_string("PERMISSION_DENIED"))
