"""Commands of one connection pipelined over a real socket: sent without waiting, applied in
the order sent, answered in that order, group-committed, and reads see earlier writes."""

from __future__ import annotations

import uuid

from hamcrest import assert_that, contains_exactly, equal_to, greater_than, has_length

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as msg
from tests.boards import TASK, create_project
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.wire import WsClient


async def _answers(client: WsClient, request_ids: list[str]) -> list[env.Response]:
    """The next responses, in arrival order, until every request id has one."""
    wanted = set(request_ids)
    got: list[env.Response] = []
    while wanted:
        message = await client.receive()
        if message.WhichOneof("payload") == "response":
            got.append(message.response)
            wanted.discard(message.response.request_id)
    return got


def _create(project_id: str, title: str, item_id: str = "") -> msg.CreateWorkItem:
    return msg.CreateWorkItem(project_id=project_id, type=TASK, title=title, id=item_id)


async def test_given_50_writes_sent_at_once_when_answered_then_in_order_and_numbered_so(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")

    sent = [await alice.send("create_work_item", _create(project_id, f"T{n}")) for n in range(50)]
    answers = await _answers(alice, sent)

    assert_that([a.request_id for a in answers], equal_to(sent))
    assert_that(
        [a.create_work_item.work_item.number for a in answers], equal_to(list(range(1, 51)))
    )
    assert_that(
        [a.create_work_item.work_item.title for a in answers],
        equal_to([f"T{n}" for n in range(50)]),
    )
    async with server.services.databases.lease("acme") as db:
        # Sent together, they shared commits.
        assert_that(db.stats.largest_batch, greater_than(1))


async def test_given_a_refused_command_amid_pipelined_writes_when_answered_then_the_rest_apply(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    watcher = await connect(user="bob")
    await watcher.subscribe(project_id)

    titles = ["A", "B", "", "C", "D"]  # the empty title is refused
    sent = [await alice.send("create_work_item", _create(project_id, t)) for t in titles]
    answers = await _answers(alice, sent)
    events = await watcher.events_until_quiet()

    assert_that([a.request_id for a in answers], equal_to(sent))
    assert_that(
        [a.WhichOneof("result") for a in answers],
        contains_exactly(
            "create_work_item", "create_work_item", "error", "create_work_item", "create_work_item"
        ),
    )
    assert_that(answers[2].error.field, equal_to("title"))
    assert_that(
        [e.work_item_created.work_item.title for e in events], contains_exactly("A", "B", "C", "D")
    )
    assert_that(
        [e.work_item_created.work_item.number for e in events], contains_exactly(1, 2, 3, 4)
    )
    assert_that([e.seq for e in events], equal_to(sorted(e.seq for e in events)))


async def test_given_a_write_then_a_read_pipelined_when_answered_then_the_read_sees_the_write(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    item_id = str(uuid.uuid4())

    listed_before = await alice.send("list_work_items", msg.ListWorkItems(project_id=project_id))
    created = await alice.send("create_work_item", _create(project_id, "Mine", item_id))
    got = await alice.send("get_work_item", msg.GetWorkItem(work_item_id=item_id))
    listed_after = await alice.send("list_work_items", msg.ListWorkItems(project_id=project_id))
    answers = await _answers(alice, [listed_before, created, got, listed_after])

    assert_that(
        [a.request_id for a in answers], equal_to([listed_before, created, got, listed_after])
    )
    assert_that(answers[0].list_work_items.work_items, has_length(0))
    assert_that(answers[2].get_work_item.work_item.title, equal_to("Mine"))
    assert_that([i.id for i in answers[3].list_work_items.work_items], contains_exactly(item_id))


async def test_given_a_ping_amid_pipelined_commands_when_answered_then_it_keeps_its_place(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")

    first = await alice.send("create_work_item", _create(project_id, "A"))
    ping = await alice.send("ping", session_pb2.Ping())
    second = await alice.send("create_work_item", _create(project_id, "B"))
    order: list[str] = []
    while len(order) < 3:
        message = await alice.receive()
        kind = message.WhichOneof("payload")
        if kind == "response":
            order.append(message.response.request_id)
        elif kind == "pong":
            order.append(message.pong.request_id)

    assert_that(order, equal_to([first, ping, second]))
