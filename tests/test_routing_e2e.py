"""Who receives a work item's events, and that tenants never see each other's items."""

from __future__ import annotations

from google.protobuf.message import Message
from hamcrest import assert_that, contains_exactly, empty, equal_to

from pm.v1 import envelope_pb2 as env
from pm.v1 import work_items_pb2 as msg
from tests.boards import EPIC, STORY, TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.tenant_state import snapshot


async def test_given_subscribers_when_a_project_changes_then_only_its_subscribers_see_it(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    carol = await connect(user="carol")
    dora = await connect(tenant="globex", user="dora")
    project = await create_project(alice, "PM")
    other = await create_project(alice, "QA")
    dora_project = await create_project(dora, "PM")
    await bob.subscribe(project)
    await carol.subscribe(other)
    await dora.subscribe(dora_project)

    story = await create_item(alice, project, STORY, "Story")
    updated = await alice.ok(
        "update_work_item",
        msg.UpdateWorkItem(work_item_id=story.id, expected_version=1, title="Renamed"),
    )
    moved = await alice.ok(
        "move_work_item",
        msg.MoveWorkItem(work_item_id=story.id, expected_version=2, status="in_progress"),
    )
    deleted = await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=story.id, expected_version=3)
    )
    restored = await alice.ok("restore_work_item", msg.RestoreWorkItem(work_item_id=story.id))

    events = await bob.events_until_quiet()
    assert_that(
        [e.WhichOneof("change") for e in events],
        contains_exactly(
            "work_item_created",
            "work_item_updated",
            "work_item_moved",
            "work_item_deleted",
            "work_item_restored",
        ),
    )
    assert_that([e.seq for e in events], equal_to(sorted({e.seq for e in events})))
    assert_that(
        [
            events[0].work_item_created.work_item,
            events[1].work_item_updated.work_item,
            events[2].work_item_moved.work_item,
            *events[4].work_item_restored.work_items,
        ],
        contains_exactly(story, updated.work_item, moved.work_item, *restored.work_items),
    )
    assert_that(list(events[3].work_item_deleted.work_item_ids), equal_to([story.id]))
    assert_that({e.actor_id for e in events}, equal_to({"alice"}))
    assert_that(list(deleted.work_item_ids), equal_to([story.id]))
    assert_that(await carol.events_until_quiet(), empty())
    assert_that(await dora.events_until_quiet(), empty())


async def test_given_another_tenants_ids_when_naming_them_then_not_found_and_nothing_changes(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    dora = await connect(tenant="globex", user="dora")
    project = await create_project(alice, "PM")
    epic = await create_item(alice, project, EPIC)
    item = await create_item(alice, project, TASK, parent_id=epic.id)
    dora_project = await create_project(dora, "PM")
    dora_item = await create_item(dora, dora_project)
    before = snapshot(server, "acme")
    commands: list[tuple[str, Message]] = [
        ("get_work_item", msg.GetWorkItem(work_item_id=item.id)),
        ("get_work_item_tree", msg.GetWorkItemTree(work_item_id=epic.id)),
        ("get_ancestors", msg.GetAncestors(work_item_id=item.id)),
        ("list_work_items", msg.ListWorkItems(project_id=project)),
        ("create_work_item", msg.CreateWorkItem(project_id=project, type=TASK, title="T")),
        (
            "update_work_item",
            msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="x"),
        ),
        ("move_work_item", msg.MoveWorkItem(work_item_id=item.id, expected_version=1)),
        (
            "move_work_item",
            msg.MoveWorkItem(work_item_id=dora_item.id, expected_version=1, after_id=item.id),
        ),
        ("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)),
        ("restore_work_item", msg.RestoreWorkItem(work_item_id=item.id)),
    ]

    errors = [await dora.error(name, command) for name, command in commands]

    assert_that({e.code for e in errors}, equal_to({env.ERROR_CODE_NOT_FOUND}))
    assert_that(snapshot(server, "acme"), equal_to(before))
    mine = await dora.ok("get_work_item", msg.GetWorkItem(work_item_id=dora_item.id))
    assert_that(mine.work_item.version, equal_to(1))
