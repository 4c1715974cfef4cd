"""Dependencies over the WebSocket, end to end: pairs, cycles, projects, blocked state."""

from __future__ import annotations

import asyncio

from hamcrest import (
    assert_that,
    contains_exactly,
    contains_inanyorder,
    contains_string,
    equal_to,
    has_length,
    is_in,
)

from pm.v1 import dependencies_pb2 as msg
from pm.v1 import envelope_pb2 as env
from pm.v1.entities_pb2 import (
    DEPENDENCY_TYPE_BLOCKS,
    DEPENDENCY_TYPE_RELATES_TO,
    DEPENDENCY_TYPE_UNSPECIFIED,
    DependencyType,
)
from tests.boards import UNKNOWN_ID, board, create_item, create_project
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import rows
from tests.wire import WsClient


async def link(
    client: WsClient, source: str, target: str, type: DependencyType = DEPENDENCY_TYPE_BLOCKS
) -> msg.CreateDependencyResult:
    result: msg.CreateDependencyResult = await client.ok(
        "create_dependency", msg.CreateDependency(from_item_id=source, to_item_id=target, type=type)
    )
    return result


def live_edges(server: RunningServer) -> list[tuple[str, str]]:
    found = rows(
        server, "SELECT from_item_id, to_item_id FROM dependencies WHERE deleted_at IS NULL"
    )
    return [(row[0], row[1]) for row in found]


async def test_given_two_items_when_one_blocks_the_other_then_subscribers_see_the_dependency(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=4)

    created = await link(b.alice, b.items[0], b.items[1])

    dependency = created.dependency
    assert_that(
        (dependency.from_item_id, dependency.to_item_id, dependency.type, dependency.version),
        equal_to((b.items[0], b.items[1], DEPENDENCY_TYPE_BLOCKS, 1)),
    )
    event = await b.watcher.event()
    assert_that(event.dependency_created.dependency, equal_to(dependency))
    assert_that(list(event.project_ids), contains_exactly(b.project_id))


async def test_given_items_in_two_projects_when_linked_then_both_projects_see_one_event(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=4)
    web = await create_project(b.alice, "WEB")
    web_item = (await create_item(b.alice, web, title="Task")).id
    web_watcher = await connect(user="web-watcher", roles=["viewer"])
    await web_watcher.subscribe(web)

    created = await link(b.alice, web_item, b.items[0])

    for watcher in (b.watcher, web_watcher):
        events = await watcher.events_until_quiet()
        assert_that(events, has_length(1))
        assert_that(events[0].dependency_created.dependency, equal_to(created.dependency))
        assert_that(list(events[0].project_ids), contains_inanyorder(b.project_id, web))


async def test_given_a_self_dependency_when_creating_then_invalid_argument_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)

    await assert_refused(
        server,
        b.alice,
        "create_dependency",
        msg.CreateDependency(
            from_item_id=b.items[0], to_item_id=b.items[0], type=DEPENDENCY_TYPE_BLOCKS
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "to_item_id",
        watcher=b.watcher,
    )


async def test_given_no_type_when_creating_then_invalid_argument_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)

    await assert_refused(
        server,
        b.alice,
        "create_dependency",
        msg.CreateDependency(
            from_item_id=b.items[0], to_item_id=b.items[1], type=DEPENDENCY_TYPE_UNSPECIFIED
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "type",
        watcher=b.watcher,
    )


async def test_given_an_unknown_item_when_creating_then_not_found_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)

    await assert_refused(
        server,
        b.alice,
        "create_dependency",
        msg.CreateDependency(
            from_item_id=UNKNOWN_ID, to_item_id=b.items[1], type=DEPENDENCY_TYPE_BLOCKS
        ),
        env.ERROR_CODE_NOT_FOUND,
        "from_item_id",
        watcher=b.watcher,
    )


async def test_given_a_viewer_when_creating_then_permission_denied_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)

    await assert_refused(
        server,
        b.watcher,
        "create_dependency",
        msg.CreateDependency(
            from_item_id=b.items[0], to_item_id=b.items[1], type=DEPENDENCY_TYPE_BLOCKS
        ),
        env.ERROR_CODE_PERMISSION_DENIED,
        "",
        watcher=b.watcher,
    )


async def test_given_a_linked_pair_when_linking_it_again_any_way_then_already_exists(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)
    created = await link(b.alice, b.items[0], b.items[1])
    await b.watcher.events_until_quiet()

    for source, target, kind in [
        (b.items[0], b.items[1], DEPENDENCY_TYPE_BLOCKS),
        (b.items[1], b.items[0], DEPENDENCY_TYPE_BLOCKS),
        (b.items[1], b.items[0], DEPENDENCY_TYPE_RELATES_TO),
    ]:
        error = await assert_refused(
            server,
            b.alice,
            "create_dependency",
            msg.CreateDependency(from_item_id=source, to_item_id=target, type=kind),
            env.ERROR_CODE_ALREADY_EXISTS,
            "to_item_id",
            watcher=b.watcher,
        )
        assert_that(error.dependency, equal_to(created.dependency))


async def test_given_a_chain_when_its_end_would_block_its_start_then_the_cycle_is_named(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=5)
    for source, target in zip(b.items, b.items[1:], strict=False):
        await link(b.alice, source, target)
    await b.watcher.events_until_quiet()

    error = await assert_refused(
        server,
        b.alice,
        "create_dependency",
        msg.CreateDependency(
            from_item_id=b.items[4], to_item_id=b.items[0], type=DEPENDENCY_TYPE_BLOCKS
        ),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "to_item_id",
        watcher=b.watcher,
    )

    assert_that(error.message, contains_string("PM-5 -> PM-1 -> PM-2 -> PM-3 -> PM-4 -> PM-5"))


async def test_given_a_cycle_across_projects_when_refused_then_keys_of_both_projects_appear(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=2)
    web = await create_project(b.alice, "WEB")
    web_item = (await create_item(b.alice, web, title="Task")).id
    await link(b.alice, b.items[0], web_item)
    await link(b.alice, web_item, b.items[1])
    await b.watcher.events_until_quiet()

    error = await assert_refused(
        server,
        b.alice,
        "create_dependency",
        msg.CreateDependency(
            from_item_id=b.items[1], to_item_id=b.items[0], type=DEPENDENCY_TYPE_BLOCKS
        ),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "to_item_id",
        watcher=b.watcher,
    )

    assert_that(error.message, contains_string("PM-2 -> PM-1 -> WEB-1 -> PM-2"))


async def test_given_a_blocks_chain_when_relating_its_ends_then_no_cycle_is_claimed(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=3)
    await link(b.alice, b.items[0], b.items[1])
    await link(b.alice, b.items[1], b.items[2])

    created = await link(b.alice, b.items[2], b.items[0], DEPENDENCY_TYPE_RELATES_TO)

    assert_that(created.dependency.type, equal_to(DEPENDENCY_TYPE_RELATES_TO))


async def test_given_two_clients_adding_opposite_edges_at_once_then_exactly_one_is_kept(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=2)
    bob = await connect(user="bob")
    a, c = b.items

    responses = await asyncio.gather(
        b.alice.request(
            "create_dependency",
            msg.CreateDependency(from_item_id=a, to_item_id=c, type=DEPENDENCY_TYPE_BLOCKS),
        ),
        bob.request(
            "create_dependency",
            msg.CreateDependency(from_item_id=c, to_item_id=a, type=DEPENDENCY_TYPE_BLOCKS),
        ),
    )

    failed = [r.error.code for r in responses if r.HasField("error")]
    assert_that(failed, contains_exactly(env.ERROR_CODE_ALREADY_EXISTS))
    edges = live_edges(server)
    assert_that(edges, has_length(1))
    assert_that(edges[0], is_in([(a, c), (c, a)]))
    assert_that(await b.watcher.events_until_quiet(), has_length(1))


async def test_given_a_dependency_when_deleting_it_then_both_ends_learn_and_the_pair_is_free(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=4)
    created = await link(b.alice, b.items[0], b.items[1])
    await b.watcher.events_until_quiet()

    result = await b.alice.ok(
        "delete_dependency",
        msg.DeleteDependency(dependency_id=created.dependency.id, expected_version=1),
    )

    assert_that(result.dependency_id, equal_to(created.dependency.id))
    event = await b.watcher.event()
    assert_that(
        (
            event.dependency_deleted.dependency_id,
            event.dependency_deleted.from_item_id,
            event.dependency_deleted.to_item_id,
        ),
        equal_to((created.dependency.id, b.items[0], b.items[1])),
    )
    again = await link(b.alice, b.items[1], b.items[0])
    assert_that(again.dependency.from_item_id, equal_to(b.items[1]))


async def test_given_a_stale_version_when_deleting_then_conflict_with_the_current_dependency(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)
    created = await link(b.alice, b.items[0], b.items[1])
    await b.watcher.events_until_quiet()

    error = await assert_refused(
        server,
        b.alice,
        "delete_dependency",
        msg.DeleteDependency(dependency_id=created.dependency.id, expected_version=3),
        env.ERROR_CODE_CONFLICT,
        "expected_version",
        watcher=b.watcher,
    )

    assert_that(error.dependency, equal_to(created.dependency))


async def test_given_no_version_when_deleting_then_invalid_argument_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)
    created = await link(b.alice, b.items[0], b.items[1])
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "delete_dependency",
        msg.DeleteDependency(dependency_id=created.dependency.id),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "expected_version",
        watcher=b.watcher,
    )


async def test_given_a_deleted_dependency_when_deleting_again_then_not_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect, items=4)
    created = await link(b.alice, b.items[0], b.items[1])
    await b.alice.ok(
        "delete_dependency",
        msg.DeleteDependency(dependency_id=created.dependency.id, expected_version=1),
    )
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "delete_dependency",
        msg.DeleteDependency(dependency_id=created.dependency.id, expected_version=2),
        env.ERROR_CODE_NOT_FOUND,
        "dependency_id",
        watcher=b.watcher,
    )


async def test_given_edges_around_an_item_when_listing_then_they_are_sorted_by_kind(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=4)
    blocker, item, blocked, related = b.items
    into = await link(b.alice, blocker, item)
    out = await link(b.alice, item, blocked)
    rel = await link(b.alice, related, item, DEPENDENCY_TYPE_RELATES_TO)

    listed = await b.alice.ok("list_dependencies", msg.ListDependencies(work_item_id=item))

    assert_that(listed.blocked_by, contains_exactly(into.dependency))
    assert_that(listed.blocks, contains_exactly(out.dependency))
    assert_that(listed.relates_to, contains_exactly(rel.dependency))
    assert_that(listed.is_blocked, equal_to(True))


async def test_given_only_done_blockers_when_listing_then_the_item_is_not_blocked(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=1)
    done_blocker = (await create_item(b.alice, b.project_id, title="Task", status="done")).id
    await link(b.alice, done_blocker, b.items[0])

    listed = await b.alice.ok("list_dependencies", msg.ListDependencies(work_item_id=b.items[0]))

    assert_that(listed.blocked_by, has_length(1))
    assert_that(listed.is_blocked, equal_to(False))


async def test_given_an_unknown_item_when_listing_dependencies_then_not_found(
    connect: ClientFactory,
) -> None:
    alice = await connect()

    error = await alice.error("list_dependencies", msg.ListDependencies(work_item_id=UNKNOWN_ID))

    assert_that((error.code, error.field), equal_to((env.ERROR_CODE_NOT_FOUND, "work_item_id")))
