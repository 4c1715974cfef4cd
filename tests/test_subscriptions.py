"""Subscribe / Unsubscribe: scope, refusals, replay from since_seq without gap or duplicate.

End to end against uvicorn, plus unit tests of Connection where a live event must arrive
exactly while a Subscribe reads the log (a race a real socket cannot place on demand).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any, cast

from hamcrest import assert_that, contains_exactly, empty, equal_to

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as msg
from pm.v1 import session_pb2
from server.hub import PublishedEvent
from server.services import Services
from tenants.database import TenantDatabase
from tenants.manager import TenantDatabases
from tests.conftest import ClientFactory
from tests.helpers_foundation import (
    FakeWebSocket,
    build_services,
    client_frame,
    create_project,
    fake_connection,
    principal,
)
from tests.server_fixture import RunningServer, make_config
from tests.tenant_state import tenant_file
from tests.wire import WsClient


async def _rename(client: WsClient, project: Any, name: str) -> Any:
    result = await client.ok(
        "update_project",
        msg.UpdateProject(project_id=project.id, expected_version=project.version, name=name),
    )
    return result.project


def _seqs(events: list[env.Event]) -> list[int]:
    return [e.seq for e in events]


# --- refusals ---------------------------------------------------------------------------------


async def test_given_an_unknown_project_when_subscribing_then_not_found_and_nothing_subscribed(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project = (await create_project(alice, "AB")).project

    error = await bob.error(
        "subscribe", session_pb2.Subscribe(project_ids=[project.id, str(uuid.uuid4())])
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_NOT_FOUND))
    assert_that(error.field, equal_to("project_ids"))
    await _rename(alice, project, "Renamed")
    assert_that(await bob.events_until_quiet(), empty())


async def test_given_a_since_seq_above_current_when_subscribing_then_invalid_argument(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project = (await create_project(alice, "AB")).project

    error = await alice.error(
        "subscribe",
        session_pb2.Subscribe(project_ids=[project.id], since_seq=2, epoch=alice.welcome.epoch),
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(error.field, equal_to("since_seq"))
    await _rename(alice, project, "Renamed")
    assert_that(await alice.events_until_quiet(), empty())


async def test_given_neither_projects_nor_feed_when_subscribing_then_invalid_argument(
    connect: ClientFactory,
) -> None:
    alice = await connect()

    error = await alice.error("subscribe", session_pb2.Subscribe())

    assert_that(error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(error.field, equal_to("project_ids"))


async def test_given_a_project_id_that_is_not_a_uuid_when_subscribing_then_invalid_argument(
    connect: ClientFactory,
) -> None:
    alice = await connect()

    error = await alice.error("subscribe", session_pb2.Subscribe(project_ids=["../etc"]))

    assert_that(error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(error.field, equal_to("project_ids"))


async def test_given_another_tenants_project_when_subscribing_then_not_found(
    connect: ClientFactory,
) -> None:
    alice = await connect(tenant="acme")
    dora = await connect(tenant="globex", user="dora")
    project = (await create_project(alice, "AB")).project

    error = await dora.error("subscribe", session_pb2.Subscribe(project_ids=[project.id]))

    assert_that(error.code, equal_to(env.ERROR_CODE_NOT_FOUND))


# --- replay -----------------------------------------------------------------------------------


async def test_given_events_after_since_seq_when_subscribing_then_response_replay_then_live(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project = (await create_project(alice, "AB")).project  # seq 1
    other = (await create_project(alice, "CD")).project  # seq 2: not bob's project
    for n in range(4):  # seqs 3..6
        project = await _rename(alice, project, f"Name {n}")
        if n == 1:
            other = await _rename(alice, other, "Other")  # seq 5
    k = 3

    request_id = await bob.send(
        "subscribe",
        session_pb2.Subscribe(project_ids=[project.id], since_seq=k, epoch=bob.welcome.epoch),
    )
    first = await bob.receive()
    replayed = await bob.events_until_quiet()
    await _rename(alice, project, "Live")
    live = await bob.event()

    assert_that(first.WhichOneof("payload"), equal_to("response"))
    assert_that(first.response.request_id, equal_to(request_id))
    assert_that(first.response.subscribe.replay_to_seq, equal_to(7))
    assert_that(first.response.subscribe.current_seq, equal_to(7))
    assert_that(_seqs(replayed), contains_exactly(4, 6, 7))
    assert_that([e.request_id != "" for e in replayed], contains_exactly(True, True, True))
    assert_that(live.seq, equal_to(8))
    assert_that(await bob.events_until_quiet(), empty())


async def test_given_an_empty_tenant_loaded_when_subscribing_with_since_seq_0_then_seq_1_replays(
    connect: ClientFactory,
) -> None:
    bob = await connect(user="bob")
    loaded_at = bob.welcome.current_seq  # an empty tenant: 0
    alice = await connect()
    await create_project(alice, "AB")  # seq 1, after bob loaded

    result = await bob.subscribe(tenant_feed=True, since_seq=loaded_at)

    events = await bob.events_until_quiet()
    assert_that(loaded_at, equal_to(0))
    assert_that(_seqs(events), contains_exactly(1))
    assert_that(result.replay_to_seq, equal_to(1))


async def test_given_no_since_seq_when_subscribing_then_live_events_only(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    await create_project(alice, "AB")  # seq 1
    bob = await connect(user="bob")

    result = await bob.subscribe(tenant_feed=True)
    before = await bob.events_until_quiet()
    await create_project(alice, "CD")  # seq 2

    assert_that(before, empty())
    assert_that(result.replay_to_seq, equal_to(0))
    assert_that((await bob.event()).seq, equal_to(2))


async def test_given_seq_1_pruned_when_subscribing_with_since_seq_0_then_resync_required(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    await create_project(alice, "AB")  # seq 1
    await create_project(alice, "CD")  # seq 2
    with closing(sqlite3.connect(tenant_file(server))) as conn:
        # What retention will do: the oldest event leaves the log (its references with it).
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM event_projects WHERE seq = 1")
        conn.execute("DELETE FROM events WHERE seq = 1")
        conn.commit()

    error = await alice.error(
        "subscribe", session_pb2.Subscribe(tenant_feed=True, since_seq=0, epoch=alice.welcome.epoch)
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_RESYNC_REQUIRED))


async def test_given_a_live_subscription_when_resubscribing_with_since_seq_then_no_duplicates(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    first = (await create_project(alice, "AB")).project  # seq 1
    second = (await create_project(alice, "CD")).project  # seq 2
    await bob.subscribe(first.id)  # live for AB from seq 2 on
    first = await _rename(alice, first, "AB live")  # seq 3: bob gets it live
    second = await _rename(alice, second, "CD only")  # seq 4: not bob's yet
    live = await bob.events_until_quiet()

    # A client adding CD replays from seq 1 for both; AB's seq 3 already came live.
    result = await bob.subscribe(first.id, second.id, since_seq=1)
    replayed = await bob.events_until_quiet()

    assert_that(_seqs(live), contains_exactly(3))
    assert_that(_seqs(replayed), contains_exactly(2, 4))
    assert_that(result.replay_to_seq, equal_to(4))


async def test_given_since_seq_equal_to_current_when_subscribing_then_only_live_events(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project = (await create_project(alice, "AB")).project

    result = await alice.subscribe(project.id, since_seq=1)
    before = await alice.events_until_quiet()
    await _rename(alice, project, "Live")

    assert_that(result.replay_to_seq, equal_to(1))
    assert_that(before, empty())
    assert_that((await alice.event()).seq, equal_to(2))


async def test_given_a_tenant_feed_with_since_seq_when_subscribing_then_project_events_replay(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    for key in ("AB", "CD", "EF"):
        await create_project(alice, key)
    bob = await connect(user="bob")

    await bob.subscribe(tenant_feed=True, since_seq=1)

    events = await bob.events_until_quiet()
    assert_that(_seqs(events), contains_exactly(2, 3))
    assert_that([e.project_created.project.key for e in events], contains_exactly("CD", "EF"))


async def test_given_a_project_and_the_feed_when_an_event_touches_both_then_it_arrives_once(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project = (await create_project(alice, "AB")).project
    await alice.subscribe(project.id, tenant_feed=True)
    await alice.subscribe(project.id)

    await _rename(alice, project, "Once")

    assert_that(_seqs(await alice.events_until_quiet()), contains_exactly(2))


async def test_given_a_subscription_when_unsubscribing_then_no_more_events(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project = (await create_project(alice, "AB")).project
    await bob.subscribe(project.id)
    project = await _rename(alice, project, "Seen")
    assert_that((await bob.event()).seq, equal_to(2))

    result = await bob.ok("unsubscribe", session_pb2.Unsubscribe(project_ids=[project.id]))
    await _rename(alice, project, "Unseen")

    assert_that(result.project_ids, empty())
    assert_that(await bob.events_until_quiet(), empty())


async def test_given_a_tenant_feed_when_unsubscribing_from_it_then_no_more_project_events(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    await bob.subscribe(tenant_feed=True)

    result = await bob.ok("unsubscribe", session_pb2.Unsubscribe(tenant_feed=True))
    await create_project(alice, "AB")

    assert_that(result.tenant_feed, equal_to(False))
    assert_that(await bob.events_until_quiet(), empty())


# --- a live event published while Subscribe reads the log (unit level) ----------------------


class _HookedDatabase:
    def __init__(self, db: TenantDatabase, before_read: list[Callable[[], Any]]) -> None:
        self._db = db
        self._before_read = before_read

    async def read(self, fn: Callable[..., Any]) -> Any:
        while self._before_read:
            await self._before_read.pop(0)()
        return await self._db.read(fn)

    async def write(self, fn: Callable[..., Any]) -> Any:
        return await self._db.write(fn)

    @property
    def meta(self) -> Any:
        return self._db.meta

    @property
    def tenant_id(self) -> str:
        return self._db.tenant_id


class _HookedDatabases:
    """TenantDatabases whose next read first runs the queued hooks: events committed
    before the read but published to the hub only while the read is under way."""

    def __init__(self, inner: TenantDatabases) -> None:
        self.inner = inner
        self.before_read: list[Callable[[], Any]] = []

    @asynccontextmanager
    async def lease(self, tenant_id: str) -> AsyncIterator[_HookedDatabase]:
        async with self.inner.lease(tenant_id) as db:
            yield _HookedDatabase(db, self.before_read)

    def __getattr__(self, name: str) -> Any:
        # Everything but the lease is the real manager's (generation, is_open, ...).
        return getattr(self.inner, name)


async def _run(services: Services, name: str, command: Any) -> Any:
    """A committed command whose event is *not* published yet."""
    outcome = await services.runner.run(principal(), f"r-{uuid.uuid4()}", name, command)
    response = env.ServerMessage()
    response.ParseFromString(outcome.response)
    assert not response.response.HasField("error"), response
    return getattr(response.response, name), outcome.event


@asynccontextmanager
async def _served(
    tmp_path: Path,
) -> AsyncIterator[tuple[Services, _HookedDatabases, FakeWebSocket]]:
    services = build_services(make_config(tmp_path))
    hooked = _HookedDatabases(services.databases)
    ws = FakeWebSocket()
    # Only the connection sees the hooks; the runner writes through the real databases.
    hooked_services = dataclasses.replace(services, databases=cast(TenantDatabases, hooked))
    conn = fake_connection(ws, hooked_services, principal(user="x"))
    serving = asyncio.create_task(conn.serve())
    try:
        ws.welcome = (await ws.next_message()).welcome
        yield services, hooked, ws
    finally:
        ws.disconnect()
        async with asyncio.timeout(5):
            await serving
        await services.databases.close()


def _publish_later(services: Services, event: PublishedEvent | None) -> Callable[[], Any]:
    assert event is not None

    async def publish() -> None:
        services.hub.publish(event)

    return publish


def _outline(messages: list[env.ServerMessage]) -> list[str]:
    """Each frame as "response" or "event <seq>", in arrival order."""
    return [
        f"event {m.event.seq}" if m.HasField("event") else str(m.WhichOneof("payload"))
        for m in messages
    ]


async def test_given_an_earlier_subscription_when_its_event_lands_during_a_replay_then_sent(
    tmp_path: Path,
) -> None:
    async with _served(tmp_path) as (services, hooked, ws):
        a, _ = await _run(services, "create_project", msg.CreateProject(key="AA", name="A"))
        b, _ = await _run(services, "create_project", msg.CreateProject(key="BB", name="B"))
        ws.feed(client_frame("subscribe", session_pb2.Subscribe(project_ids=[a.project.id]), "s1"))
        await ws.response("s1")
        _, on_a = await _run(
            services,
            "update_project",
            msg.UpdateProject(project_id=a.project.id, expected_version=1, name="A2"),
        )  # seq 3, touches only the earlier subscription
        _, on_b = await _run(
            services,
            "update_project",
            msg.UpdateProject(project_id=b.project.id, expected_version=1, name="B2"),
        )  # seq 4, in the replay
        hooked.before_read += [_publish_later(services, on_a), _publish_later(services, on_b)]

        ws.feed(
            client_frame(
                "subscribe",
                session_pb2.Subscribe(
                    project_ids=[b.project.id], since_seq=2, epoch=ws.welcome.epoch
                ),
                "s2",
            )
        )
        ws.feed(client_frame("ping", session_pb2.Ping(), "barrier"))
        received = await ws.until_pong("barrier")

    assert_that(_outline(received), contains_exactly("response", "event 3", "event 4"))
    # The tenant's stream had released up to seq 2: the replay (of b, after 2) held nothing,
    # and 3 (a's, live) and 4 (b's) came right after the Response, as live events, once each.
    assert_that(received[0].response.subscribe.replay_to_seq, equal_to(2))


async def test_given_a_refused_subscribe_when_an_event_lands_during_its_read_then_not_sent(
    tmp_path: Path,
) -> None:
    async with _served(tmp_path) as (services, hooked, ws):
        a, _ = await _run(services, "create_project", msg.CreateProject(key="AA", name="A"))
        _, on_a = await _run(
            services,
            "update_project",
            msg.UpdateProject(project_id=a.project.id, expected_version=1, name="A2"),
        )
        hooked.before_read.append(_publish_later(services, on_a))

        ws.feed(
            client_frame(
                "subscribe",
                session_pb2.Subscribe(project_ids=[a.project.id, str(uuid.uuid4())]),
                "s1",
            )
        )
        ws.feed(client_frame("ping", session_pb2.Ping(), "barrier"))
        received = await ws.until_pong("barrier")

    assert_that(_outline(received), contains_exactly("response"))
    assert_that(received[0].response.error.code, equal_to(env.ERROR_CODE_NOT_FOUND))
