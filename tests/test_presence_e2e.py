"""Presence over real sockets: who is in a project, what each views, and when they leave."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from hamcrest import (
    assert_that,
    contains_exactly,
    empty,
    equal_to,
    has_length,
    less_than_or_equal_to,
)

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as items_msg
from server.protocol import CloseCode
from tests.boards import UNKNOWN_ID, create_item, create_project
from tests.helpers_foundation import close_code
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import TIMEOUT, WsClient, open_client

Entries = list[tuple[str, int, str]]
ERR = env.ErrorCode


def _entries(update: session_pb2.PresenceUpdate) -> Entries:
    return [(e.user_id, e.connections, e.viewing_work_item_id) for e in update.entries]


def _answering(client: WsClient, match: Callable[[env.ServerMessage], bool]) -> Callable[..., bool]:
    """A frame matcher that answers the server's Pings on the way (short heartbeats)."""

    def matches(message: env.ServerMessage) -> bool:
        if message.WhichOneof("payload") == "ping":
            asyncio.get_running_loop().create_task(client.send("pong", session_pb2.Pong()))
            return False
        return match(message)

    return matches


async def next_presence(client: WsClient, project_id: str, limit: float = TIMEOUT) -> Entries:
    message = await client._wait_for(
        _answering(
            client,
            lambda m: m.WhichOneof("payload") == "presence" and m.presence.project_id == project_id,
        ),
        limit,
    )
    return _entries(message.presence)


async def presence_until_quiet(client: WsClient) -> list[session_pb2.PresenceUpdate]:
    """Every presence update queued for us before this call (a Pong comes after them)."""
    request_id = await client.send("ping", session_pb2.Ping())
    updates = [m.presence for m in client.backlog if m.WhichOneof("payload") == "presence"]
    client.backlog = [m for m in client.backlog if m.WhichOneof("payload") != "presence"]
    while True:
        message = await client._read(TIMEOUT)
        kind = message.WhichOneof("payload")
        if kind == "pong" and message.pong.request_id == request_id:
            return updates
        if kind == "presence":
            updates.append(message.presence)


@asynccontextmanager
async def kept_alive(*alive: WsClient) -> AsyncIterator[None]:
    """These clients send a Pong every 50 ms (any frame is a sign of life), so that only
    the silent one meets the short heartbeat timeout."""

    async def beat(client: WsClient) -> None:
        while True:
            await client.send("pong", session_pb2.Pong())
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(beat(client)) for client in alive]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def view(client: WsClient, project_id: str, item_id: str = "") -> Entries:
    result = await client.ok(
        "set_viewing", session_pb2.SetViewing(project_id=project_id, work_item_id=item_id)
    )
    return _entries(result.presence)


@asynccontextmanager
async def clients(
    running: RunningServer,
) -> AsyncIterator[Callable[..., Awaitable[WsClient]]]:
    opened: list[WsClient] = []

    async def factory(user: str, tenant: str = "acme", roles: list[str] | None = None) -> WsClient:
        client = await open_client(running.ws_url, running.token(tenant, user, roles))
        opened.append(client)
        return client

    try:
        yield factory
    finally:
        for client in opened:
            await client.close()


async def test_given_two_users_on_three_connections_when_they_come_view_and_go_then_others_see_it(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, presence_coalesce_ms=20)) as running:
        async with clients(running) as connect:
            alice_tab = await connect("alice")
            project_id = await create_project(alice_tab, "PM")
            other_project = await create_project(alice_tab, "OT")
            item = await create_item(alice_tab, project_id)
            alice_phone = await connect("alice")
            bob = await connect("bob", roles=["viewer"])
            elsewhere = await connect("carol")
            other_tenant = await connect("dave", tenant="globex")
            globex_project = await create_project(other_tenant, "PM")
            await elsewhere.subscribe(other_project)
            await other_tenant.subscribe(globex_project)

            first = await alice_tab.subscribe(project_id)
            assert_that([u.project_id for u in first.presence], contains_exactly(project_id))
            assert_that(_entries(first.presence[0]), contains_exactly(("alice", 1, "")))

            await alice_phone.subscribe(project_id)
            assert_that(await next_presence(alice_tab, project_id), equal_to([("alice", 2, "")]))
            joined = await bob.subscribe(project_id)
            assert_that(_entries(joined.presence[0]), equal_to([("alice", 2, ""), ("bob", 1, "")]))
            for client in (alice_tab, alice_phone):
                assert_that(
                    await next_presence(client, project_id),
                    equal_to([("alice", 2, ""), ("bob", 1, "")]),
                )

            answered = await view(bob, project_id, item.id)
            assert_that(answered, equal_to([("alice", 2, ""), ("bob", 1, item.id)]))
            assert_that(
                await next_presence(alice_phone, project_id),
                equal_to([("alice", 2, ""), ("bob", 1, item.id)]),
            )

            await alice_tab.ok("unsubscribe", session_pb2.Unsubscribe(project_ids=[project_id]))
            assert_that(
                await next_presence(bob, project_id),
                equal_to([("alice", 1, ""), ("bob", 1, item.id)]),
            )
            await alice_phone.close()
            assert_that(await next_presence(bob, project_id), equal_to([("bob", 1, item.id)]))

            assert_that(await presence_until_quiet(elsewhere), empty())
            assert_that(await presence_until_quiet(other_tenant), empty())
            # The unsubscribed tab heard bob's view while subscribed, and nothing after.
            assert_that(
                [_entries(u) for u in await presence_until_quiet(alice_tab)],
                equal_to([[("alice", 2, ""), ("bob", 1, item.id)]]),
            )


async def test_given_bad_view_requests_when_sent_then_not_found_and_nothing_changes(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, presence_coalesce_ms=20)) as running:
        async with clients(running) as connect:
            alice = await connect("alice")
            project_id = await create_project(alice, "PM")
            other_project = await create_project(alice, "OT")
            foreign_item = await create_item(alice, other_project)
            deleted = await create_item(alice, project_id)
            await alice.ok(
                "delete_work_item",
                items_msg.DeleteWorkItem(work_item_id=deleted.id, expected_version=deleted.version),
            )
            dave = await connect("dave", tenant="globex")
            globex_item = await create_item(dave, await create_project(dave, "PM"))
            await alice.subscribe(project_id)

            not_subscribed = await alice.error(
                "set_viewing", session_pb2.SetViewing(project_id=other_project)
            )
            other_projects_item = await alice.error(
                "set_viewing",
                session_pb2.SetViewing(project_id=project_id, work_item_id=foreign_item.id),
            )
            other_tenants_item = await alice.error(
                "set_viewing",
                session_pb2.SetViewing(project_id=project_id, work_item_id=globex_item.id),
            )
            deleted_item = await alice.error(
                "set_viewing",
                session_pb2.SetViewing(project_id=project_id, work_item_id=deleted.id),
            )
            unknown = await alice.error(
                "set_viewing",
                session_pb2.SetViewing(project_id=project_id, work_item_id=UNKNOWN_ID),
            )
            not_an_id = await alice.error(
                "set_viewing", session_pb2.SetViewing(project_id=project_id, work_item_id="x")
            )

            for error, field in (
                (not_subscribed, "project_id"),
                (other_projects_item, "work_item_id"),
                (other_tenants_item, "work_item_id"),
                (deleted_item, "work_item_id"),
                (unknown, "work_item_id"),
            ):
                assert_that((error.code, error.field), equal_to((ERR.ERROR_CODE_NOT_FOUND, field)))
            assert_that(not_an_id.code, equal_to(ERR.ERROR_CODE_INVALID_ARGUMENT))
            assert_that(await view(alice, project_id), equal_to([("alice", 1, "")]))


async def test_given_a_silent_connection_when_the_heartbeat_times_out_then_exactly_one_leave(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path, presence_coalesce_ms=20, heartbeat_interval_ms=100, heartbeat_timeout_ms=600
    )
    async with run_server(config) as running:
        async with clients(running) as connect:
            alice = await connect("alice")
            carol = await connect("carol")
            async with kept_alive(alice, carol):
                project_id = await create_project(alice, "PM")
                item = await create_item(alice, project_id)
                await alice.subscribe(project_id)
                await carol.subscribe(project_id)
                assert_that(await next_presence(alice, project_id), has_length(2))
                silent = await connect("bob")
                await silent.subscribe(project_id)  # and then never a Pong
                assert_that(await next_presence(alice, project_id), has_length(3))
                left = await next_presence(alice, project_id, limit=10)
                code, _ = await close_code(silent.ws)
                await view(carol, project_id, item.id)  # the marker
                after = await next_presence(alice, project_id)

            assert_that(code, equal_to(CloseCode.HEARTBEAT_TIMEOUT))
            assert_that(left, equal_to([("alice", 1, ""), ("carol", 1, "")]))
            assert_that(after, equal_to([("alice", 1, ""), ("carol", 1, item.id)]))


def _small_window_socket(running: RunningServer) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    return sock


async def test_given_a_slow_consumer_when_it_is_cut_off_with_4008_then_exactly_one_leave(
    tmp_path: Path,
) -> None:
    async with run_server(
        make_config(tmp_path, presence_coalesce_ms=20, send_queue_limit=4)
    ) as running:
        async with clients(running) as connect:
            alice = await connect("alice")
            project_id = await create_project(alice, "PM")
            item = await create_item(alice, project_id)
            await alice.subscribe(project_id)
            carol = await connect("carol")
            await carol.subscribe(project_id)
            assert_that(await next_presence(alice, project_id), has_length(2))
            sock = _small_window_socket(running)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.port))
            slow = await open_client(
                running.ws_url, running.token(user="slow"), sock=sock, max_queue=1
            )
            try:
                await slow.subscribe(project_id)  # then it stops reading
                assert_that(await next_presence(alice, project_id), has_length(3))

                left: Entries = []
                for n in range(400):
                    await create_item(alice, project_id, description=f"{n}" + "x" * 60_000)
                    message = await alice._wait_for(
                        lambda m: m.WhichOneof("payload") in ("event", "presence")
                    )
                    if message.WhichOneof("payload") == "presence":
                        left = _entries(message.presence)
                        break
                await view(carol, project_id, item.id)  # the marker
                after = await next_presence(alice, project_id)

                assert_that(left, equal_to([("alice", 1, ""), ("carol", 1, "")]))
                assert_that(after, equal_to([("alice", 1, ""), ("carol", 1, item.id)]))
                code, _ = await close_code(slow.ws, limit=30)
                assert_that(code, equal_to(CloseCode.SLOW_CONSUMER))
            finally:
                await slow.close()


async def test_given_fifty_rapid_view_changes_when_they_settle_then_the_latest_state_in_few_updates(
    tmp_path: Path,
) -> None:
    window_ms = 50
    async with run_server(make_config(tmp_path, presence_coalesce_ms=window_ms)) as running:
        async with clients(running) as connect:
            alice = await connect("alice")
            project_id = await create_project(alice, "PM")
            items = [(await create_item(alice, project_id)).id for _ in range(5)]
            await alice.subscribe(project_id)
            bob = await connect("bob")
            await bob.subscribe(project_id)
            assert_that(await next_presence(alice, project_id), has_length(2))

            started = time.monotonic()
            for n in range(50):
                await bob.send(
                    "set_viewing",
                    session_pb2.SetViewing(project_id=project_id, work_item_id=items[n % 5]),
                )
            last = await view(bob, project_id, items[2])  # answered after the 50 above
            final = [("alice", 1, ""), ("bob", 1, items[2])]
            received = [await next_presence(alice, project_id)]
            while received[-1] != final:
                received.append(await next_presence(alice, project_id))
            elapsed_ms = (time.monotonic() - started) * 1000
            received += [_entries(u) for u in await presence_until_quiet(alice)]

            assert_that(last, equal_to(final))
            assert_that(received[-1], equal_to(final))
            assert_that(len(received), less_than_or_equal_to(1 + int(elapsed_ms / window_ms)))
