"""Two `python -m server` processes on one data directory and one Redis: one is killed
(SIGKILL, no goodbye) mid-stream; its watcher reconnects to the other and resumes with
since_seq, missing nothing and seeing nothing twice; its users' presence leaves within the
expiry; and a user connected to both shows as one user with two connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from hamcrest import assert_that, equal_to, greater_than

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import create_project
from tests.redis_server import RedisServer
from tests.tenant_state import rows
from tests.test_presence_e2e import next_presence
from tests.test_shutdown import ServerProcess
from tests.test_transport_process import _server
from tests.wire import WsClient, open_client

TTL_MS = 1500


@asynccontextmanager
async def _pair(tmp_path: Path, broker: RedisServer) -> AsyncIterator[list[ServerProcess]]:
    """Two processes of one host: one data directory, one Redis, short intervals."""
    places = [tmp_path / "a", tmp_path / "b"]
    async with AsyncExitStack() as stack:
        processes = []
        for place in places:
            place.mkdir()
            processes.append(
                await stack.enter_async_context(
                    _server(
                        place,
                        PM_DATA_DIR=str(tmp_path / "shared"),
                        PM_BROKER_URL=broker.url,
                        PM_GAP_FILL_MS="50",
                        PM_TAIL_INTERVAL_MS="200",
                        PM_PRESENCE_TTL_MS=str(TTL_MS),
                        PM_PRESENCE_COALESCE_MS="20",
                    )
                )
            )
        yield processes


def _project_seqs(data: Path, project_id: str, after: int) -> list[int]:
    found = rows(
        data,
        "SELECT seq FROM event_projects WHERE project_id = ? AND seq > ? ORDER BY seq",
        project_id,
        after,
    )
    return [int(r[0]) for r in found]


async def _write_until_closed(
    client: WsClient, project_id: str, tag: str, acked: list[str]
) -> None:
    """One CreateWorkItem at a time until the connection goes; the titles answered OK."""
    n = 0
    try:
        while True:
            title = f"{tag} {n}"
            await client.ok(
                "create_work_item",
                items_msg.CreateWorkItem(
                    project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=title
                ),
            )
            acked.append(title)
            n += 1
    except Exception:
        return  # the server went away mid-command: what was answered counts


async def test_given_a_killed_process_when_its_watcher_resumes_on_the_other_then_nothing_is_missed(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _pair(tmp_path, redis) as (one, two):
        admin = await open_client(two.ws_url, two.token("admin"))
        project = await create_project(admin, "AA")
        data = tmp_path / "shared"
        start = max(_project_seqs(data, project, 0))
        watcher = await open_client(one.ws_url, one.token("watcher"))
        await watcher.subscribe(project)
        epoch = watcher.welcome.epoch
        on_one = await open_client(one.ws_url, one.token("w1"))
        on_two = await open_client(two.ws_url, two.token("w2"))
        acked_one: list[str] = []
        acked_two: list[str] = []
        writing = [
            asyncio.ensure_future(_write_until_closed(on_one, project, "one", acked_one)),
            asyncio.ensure_future(_write_until_closed(on_two, project, "two", acked_two)),
        ]
        seen: list[int] = []
        async with asyncio.timeout(20):
            while len(seen) < 20:  # both writers under way, events flowing
                seen.append((await watcher.event(limit=10)).seq)
        one.process.kill()
        await one.process.wait()
        # The watcher drains what reached it, then sees its connection end.
        try:
            async with asyncio.timeout(10):
                while True:
                    seen.append((await watcher.event(limit=10)).seq)
        except Exception:
            pass
        resumed = await open_client(two.ws_url, two.token("watcher"))
        await resumed.subscribe(project, since_seq=seen[-1], epoch=epoch)
        await writing[0]
        writing[1].cancel()
        await asyncio.gather(writing[1], return_exceptions=True)
        for n in range(20):  # the survivor keeps taking writes
            title = f"after {n}"
            await on_two.ok(
                "create_work_item",
                items_msg.CreateWorkItem(
                    project_id=project, type=pb.WORK_ITEM_TYPE_TASK, title=title
                ),
            )
            acked_two.append(title)
        await on_two.close()
        expected = _project_seqs(data, project, start)
        async with asyncio.timeout(20):
            while seen[-1] < expected[-1]:
                seen.append((await resumed.event(limit=10)).seq)
        seen += [e.seq for e in await resumed.events_until_quiet()]
        titles = {str(r[0]) for r in rows(data, "SELECT title FROM work_items")}
        await resumed.close()
        await admin.close()

    assert_that(seen, equal_to(expected))
    # Two processes committing to one file: seq gap-free and strictly increasing.
    assert_that(expected, equal_to(list(range(start + 1, start + 1 + len(expected)))))
    assert_that(len(acked_one), greater_than(0))
    # Every answered write is in the file, whichever process answered it.
    assert_that(sorted(set(acked_one + acked_two) - titles), equal_to([]))


async def test_given_a_user_on_both_processes_when_one_is_killed_then_presence_follows(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _pair(tmp_path, redis) as (one, two):
        admin = await open_client(two.ws_url, two.token("admin"))
        project = await create_project(admin, "AA")
        bob = await open_client(two.ws_url, two.token("bob"))
        await bob.subscribe(project)
        alice_one = await open_client(one.ws_url, one.token("alice"))
        await alice_one.subscribe(project)
        alice_two = await open_client(two.ws_url, two.token("alice"))
        await alice_two.subscribe(project)

        both = [("alice", 2, ""), ("bob", 1, "")]
        async with asyncio.timeout(10):
            while (entries := await next_presence(bob, project, limit=10)) != both:
                pass
        one.process.kill()
        await one.process.wait()
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        async with asyncio.timeout(TTL_MS / 1000 + 5):
            while (entries := await next_presence(bob, project, limit=10)) != [
                ("alice", 1, ""),
                ("bob", 1, ""),
            ]:
                pass
        waited = loop.time() - killed_at
        for client in (admin, bob, alice_two):
            await client.close()

    assert_that(entries, equal_to([("alice", 1, ""), ("bob", 1, "")]))
    # Gone within the expiry and one heartbeat (a third of it), with room for a slow host.
    assert_that(waited < TTL_MS / 1000 * 1.34 + 2.0, equal_to(True))
