"""Exactly once, in seq order, with no gap, whatever the hub does: a twin of a broker that
delivers late, twice, out of order and sometimes not at all, end to end through real
sockets. The order and the exactness come from the tenant's stream and the sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hamcrest import assert_that, equal_to, greater_than

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import create_project
from tests.flaky_hub import FlakyHub
from tests.server_fixture import make_config, run_server
from tests.tenant_state import rows
from tests.wire import WsClient, open_client


async def _write(client: WsClient, project_id: str, count: int, tag: str) -> None:
    """count CreateWorkItem, pipelined a few at a time."""
    for start in range(0, count, 8):
        sent = [
            await client.send(
                "create_work_item",
                items_msg.CreateWorkItem(
                    project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=f"{tag} {n}"
                ),
            )
            for n in range(start, min(count, start + 8))
        ]
        for request_id in sent:
            response = await client.response(request_id)
            assert not response.HasField("error"), response.error


async def test_given_a_flaky_broker_when_many_write_then_every_watcher_sees_each_event_once(
    tmp_path: Path,
) -> None:
    hub = FlakyHub(seed=20261202)
    config = make_config(tmp_path, gap_fill_ms=20)
    async with run_server(config, hub=hub) as running:
        writers = [await open_client(running.ws_url, running.token(user=f"w{n}")) for n in range(3)]
        first = await create_project(writers[0], "AA")
        second = await create_project(writers[0], "BB")
        watchers = [
            await open_client(running.ws_url, running.token(user=f"v{n}")) for n in range(3)
        ]
        scopes = [[first], [second], [first, second]]
        for watcher, projects in zip(watchers, scopes, strict=True):
            await watcher.subscribe(*projects)
        try:
            await asyncio.gather(
                _write(writers[0], first, 60, "a"),
                _write(writers[1], second, 60, "b"),
                _write(writers[2], first, 30, "c"),
            )
            # A drop at the very end shows as a gap only once a later event arrives.
            hub.reliable = True
            await _write(writers[0], first, 1, "last")
            await _write(writers[0], second, 1, "last")
            expected = [_seqs_of(running, projects) for projects in scopes]
            seen = [await _through(w, e[-1]) for w, e in zip(watchers, expected, strict=True)]
        finally:
            for client in [*writers, *watchers]:
                await client.close()

    assert_that(seen, equal_to(expected))
    assert_that(hub.dropped, greater_than(0))
    assert_that(hub.doubled, greater_than(0))


async def _through(client: WsClient, last: int) -> list[int]:
    """The seqs received until `last` (released in order: all before it came first), then
    whatever else is queued (a duplicate would show here)."""
    seqs: list[int] = []
    async with asyncio.timeout(10):  # gap fills take PM_GAP_FILL_MS each
        while not seqs or seqs[-1] < last:
            seqs.append((await client.event(limit=10)).seq)
    return seqs + [e.seq for e in await client.events_until_quiet()]


def _seqs_of(running: object, projects: list[str]) -> list[int]:
    marks = ",".join("?" * len(projects))
    return [
        int(r[0])
        for r in rows(
            running,  # type: ignore[arg-type]
            f"SELECT DISTINCT seq FROM event_projects WHERE project_id IN ({marks}) ORDER BY seq",
            *projects,
        )
        if int(r[0]) > 2  # after both projects existed: what the watchers subscribed to
    ]
