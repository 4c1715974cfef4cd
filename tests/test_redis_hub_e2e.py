"""Several servers joined by a real Redis (PM_BROKER_URL=redis://...): every watcher sees
every event of its projects exactly once, in seq order, whichever server committed it,
whatever order the publishes reach Redis in, and through a Redis outage."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from hamcrest import assert_that, equal_to, greater_than

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as items_msg
from server.hub import PublishedEvent
from server.redis_hub import RedisHub, decode_event, encode_event, split_message
from tests.boards import create_project
from tests.redis_server import RedisServer
from tests.server_fixture import RunningServer, make_config, run_server
from tests.tenant_state import rows
from tests.wire import WsClient, open_client


def test_given_an_event_when_encoded_for_redis_then_it_decodes_to_the_same() -> None:
    event = PublishedEvent("acme", 42, ("p1", "p-ü"), True, b"\x00frame\xff")
    kind, origin, body = split_message(encode_event(b"12345678", event))
    assert_that((kind, origin), equal_to((1, b"12345678")))
    assert_that(decode_event("acme", body), equal_to(event))


@asynccontextmanager
async def _servers(
    tmp_path: Path, broker: RedisServer, count: int = 2, hubs: list[RedisHub] | None = None
) -> AsyncIterator[list[RunningServer]]:
    """`count` servers on one data directory and one Redis, as processes of one host."""
    config = make_config(
        tmp_path / "shared", broker_url=broker.url, gap_fill_ms=50, tail_interval_ms=100
    )
    async with AsyncExitStack() as stack:
        running = [
            await stack.enter_async_context(
                run_server(config, hub=hubs[n] if hubs is not None else None)
            )
            for n in range(count)
        ]
        yield running


async def _write(client: WsClient, project_id: str, count: int, tag: str) -> None:
    """count CreateWorkItem, pipelined a few at a time; every one must succeed."""
    for start in range(0, count, 4):
        sent = [
            await client.send(
                "create_work_item",
                items_msg.CreateWorkItem(
                    project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=f"{tag} {n}"
                ),
            )
            for n in range(start, min(count, start + 4))
        ]
        for request_id in sent:
            response = await client.response(request_id, limit=15)
            assert not response.HasField("error"), response.error


def _seqs_of(where: RunningServer, projects: list[str], after: int) -> list[int]:
    marks = ",".join("?" * len(projects))
    found = rows(
        where,
        f"SELECT DISTINCT seq FROM event_projects WHERE project_id IN ({marks}) ORDER BY seq",
        *projects,
    )
    return [int(r[0]) for r in found if int(r[0]) > after]


async def _through(client: WsClient, last: int) -> list[int]:
    """The seqs received until `last`, then whatever else is queued (a copy shows here)."""
    seqs: list[int] = []
    async with asyncio.timeout(20):
        while not seqs or seqs[-1] < last:
            seqs.append((await client.event(limit=20)).seq)
    return seqs + [e.seq for e in await client.events_until_quiet()]


async def _watch(servers: list[RunningServer], scopes: list[list[str]]) -> list[WsClient]:
    """A watcher per scope on each server in turn."""
    watchers = []
    for n, projects in enumerate(scopes):
        server = servers[n % len(servers)]
        watcher = await open_client(server.ws_url, server.token(user=f"v{n}"))
        await watcher.subscribe(*projects)
        watchers.append(watcher)
    return watchers


async def test_given_two_servers_when_both_write_then_every_watcher_sees_each_event_once(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _servers(tmp_path, redis) as (one, two):
        admin = await open_client(one.ws_url, one.token(user="admin"))
        first = await create_project(admin, "AA")
        second = await create_project(admin, "BB")
        start = max(_seqs_of(one, [first, second], 0))
        scopes = [[first], [second], [first, second], [first], [second], [first, second]]
        watchers = await _watch([one, two], scopes)
        writers = [
            await open_client(server.ws_url, server.token(user=f"w{n}"))
            for n, server in enumerate([one, two, one, two])
        ]
        try:
            await asyncio.gather(
                _write(writers[0], first, 30, "a"),
                _write(writers[1], first, 30, "b"),
                _write(writers[2], second, 30, "c"),
                _write(writers[3], second, 30, "d"),
            )
            expected = [_seqs_of(one, projects, start) for projects in scopes]
            seen = [await _through(w, e[-1]) for w, e in zip(watchers, expected, strict=True)]
        finally:
            for client in [admin, *watchers, *writers]:
                await client.close()

    assert_that(seen, equal_to(expected))
    every = _seqs_of(one, [first, second], start)
    # Gap-free and strictly increasing across both writers' processes.
    assert_that(every, equal_to(list(range(start + 1, start + 121))))


class _ReorderingHub(RedisHub):
    """Holds back each pair of outgoing messages and sends it reversed, so later seqs reach
    Redis (and the other server) before earlier ones."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._held: tuple[bytes, bytes] | None = None
        self.reordered = 0

    def send(self, channel: bytes, message: bytes) -> None:
        if self._held is None:
            self._held = (channel, message)
            return
        held, self._held = self._held, None
        super().send(channel, message)
        super().send(*held)
        self.reordered += 1


async def test_given_publishes_out_of_order_when_watched_elsewhere_then_released_in_order(
    tmp_path: Path, redis: RedisServer
) -> None:
    writer_hub = _ReorderingHub(redis.url)
    watcher_hub = RedisHub(redis.url)
    async with _servers(tmp_path, redis, hubs=[writer_hub, watcher_hub]) as (one, two):
        writer = await open_client(one.ws_url, one.token(user="w"))
        project = await create_project(writer, "AA")
        start = max(_seqs_of(one, [project], 0))
        (watcher,) = await _watch([two], [[project]])
        try:
            await _write(writer, project, 40, "x")
            expected = _seqs_of(one, [project], start)
            seen = await _through(watcher, expected[-1])
        finally:
            await writer.close()
            await watcher.close()

    assert_that(seen, equal_to(expected))
    assert_that(writer_hub.reordered, greater_than(10))


async def _health(server: RunningServer) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    found: dict[str, object] = json.loads(body)
    return found


async def _until_broker(server: RunningServer, state: str) -> None:
    # /healthz reflects a state the hub reaches on its own schedule (reconnect backoff).
    async with asyncio.timeout(15):
        while (await _health(server))["broker"] != state:  # noqa: ASYNC110 - over HTTP
            await asyncio.sleep(0.05)


async def test_given_redis_stopped_mid_stream_when_restarted_then_no_event_missed_or_failed(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _servers(tmp_path, redis) as (one, two):
        await _until_broker(one, "ok")
        admin = await open_client(one.ws_url, one.token(user="admin"))
        project = await create_project(admin, "AA")
        start = max(_seqs_of(one, [project], 0))
        watchers = await _watch([one, two, two], [[project], [project], [project]])
        writers = [
            await open_client(server.ws_url, server.token(user=f"w{n}"))
            for n, server in enumerate([one, two])
        ]
        try:
            await asyncio.gather(
                _write(writers[0], project, 10, "a"), _write(writers[1], project, 10, "b")
            )
            await redis.stop()
            await _until_broker(one, "degraded")
            degraded = await _health(two)
            # Commands keep committing and answering while Redis is away.
            await asyncio.gather(
                _write(writers[0], project, 10, "c"), _write(writers[1], project, 10, "d")
            )
            await redis.start()
            await _until_broker(one, "ok")
            await _until_broker(two, "ok")
            await asyncio.gather(
                _write(writers[0], project, 5, "e"), _write(writers[1], project, 5, "f")
            )
            expected = _seqs_of(one, [project], start)
            seen = [await _through(w, expected[-1]) for w in watchers]
        finally:
            for client in [admin, *watchers, *writers]:
                await client.close()

    assert_that((degraded["status"], degraded["broker"]), equal_to(("degraded", "degraded")))
    assert_that(seen, equal_to([expected, expected, expected]))
    assert_that(expected, equal_to(list(range(start + 1, start + 51))))
