"""Work items over the WebSocket, end to end: commands, events and what the database holds."""

from __future__ import annotations

import asyncio
from contextlib import closing
from typing import Any

from hamcrest import (
    assert_that,
    contains_exactly,
    empty,
    equal_to,
    has_length,
    has_properties,
)

from pm.v1 import dependencies_pb2 as dep
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import work_items_pb2 as msg
from scripts.harness.client import Client
from scripts.harness.demo import demo
from tests.boards import BUG, EPIC, STORY, TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.tenant_state import read_only
from tests.wire import WsClient


async def move(client: WsClient, item: pb.WorkItem, **fields: Any) -> pb.WorkItem:
    moved = await client.ok(
        "move_work_item",
        msg.MoveWorkItem(work_item_id=item.id, expected_version=item.version, **fields),
    )
    result: pb.WorkItem = moved.work_item
    return result


async def lane(client: WsClient, project_id: str, status: str) -> list[str]:
    listed = await client.ok(
        "list_work_items", msg.ListWorkItems(project_id=project_id, status=status, page_size=500)
    )
    return [item.key for item in listed.work_items]


async def test_given_a_hierarchy_when_reading_then_get_list_tree_and_ancestors_agree(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice)
    epic = await create_item(alice, project_id, EPIC, "Epic")
    story = await create_item(alice, project_id, STORY, "Story", parent_id=epic.id)
    task = await create_item(alice, project_id, TASK, "Task", parent_id=story.id)
    bug = await create_item(alice, project_id, BUG, "Bug", parent_id=epic.id, status="done")

    got = await alice.ok("get_work_item", msg.GetWorkItem(work_item_id=task.id))
    tree = await alice.ok("get_work_item_tree", msg.GetWorkItemTree(work_item_id=epic.id))
    path = await alice.ok("get_ancestors", msg.GetAncestors(work_item_id=task.id))
    listed = await alice.ok("list_work_items", msg.ListWorkItems(project_id=project_id))
    children = await alice.ok(
        "list_work_items", msg.ListWorkItems(project_id=project_id, parent_id=epic.id)
    )

    assert_that(got.work_item, equal_to(task))
    assert_that([i.key for i in tree.work_items], contains_exactly("PM-1", "PM-2", "PM-3", "PM-4"))
    assert_that([i.id for i in path.ancestors], contains_exactly(epic.id, story.id))
    assert_that(
        [i.key for i in listed.work_items], contains_exactly("PM-1", "PM-2", "PM-3", "PM-4")
    )
    assert_that([i.id for i in children.work_items], contains_exactly(story.id, bug.id))
    assert_that(task, has_properties(priority=pb.PRIORITY_MEDIUM, status="backlog", version=1))


async def test_given_many_items_when_listing_in_pages_then_every_item_comes_once_in_order(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice)
    for index in range(7):
        await create_item(alice, project_id, status="done" if index % 2 else "backlog")
    seen: list[pb.WorkItem] = []
    token = ""

    while True:
        page = await alice.ok(
            "list_work_items",
            msg.ListWorkItems(project_id=project_id, page_size=3, page_token=token),
        )
        seen.extend(page.work_items)
        token = page.next_page_token
        if not token:
            break

    assert_that(
        [(i.status, i.number) for i in seen],
        contains_exactly(
            ("backlog", 1),
            ("backlog", 3),
            ("backlog", 5),
            ("backlog", 7),
            ("done", 2),
            ("done", 4),
            ("done", 6),
        ),
    )


async def test_given_an_item_when_updating_then_the_subscriber_sees_the_changed_fields(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project_id = await create_project(alice)
    item = await create_item(alice, project_id, STORY, "Old", assignee_id="carol")
    await bob.subscribe(project_id)

    updated = await alice.ok(
        "update_work_item",
        msg.UpdateWorkItem(
            work_item_id=item.id,
            expected_version=1,
            title="New",
            priority=pb.PRIORITY_HIGH,
            clear_assignee_id=True,
            story_points=8,
        ),
    )

    event = await bob.event()
    assert_that(event.work_item_updated.work_item, equal_to(updated.work_item))
    assert_that(
        [(c.field, c.old_json, c.new_json) for c in event.work_item_updated.changes],
        contains_exactly(
            ("title", '"Old"', '"New"'),
            ("priority", '"PRIORITY_MEDIUM"', '"PRIORITY_HIGH"'),
            ("assignee_id", '"carol"', '""'),
            ("story_points", "null", "8"),
        ),
    )
    assert_that(updated.work_item, has_properties(version=2, title="New", assignee_id=""))


async def test_given_a_story_with_tasks_when_changing_its_type_to_epic_then_it_keeps_them(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice)
    story = await create_item(alice, project_id, STORY)
    await create_item(alice, project_id, TASK, parent_id=story.id)

    updated = await alice.ok(
        "update_work_item",
        msg.UpdateWorkItem(work_item_id=story.id, expected_version=1, type=EPIC),
    )

    assert_that(updated.work_item.type, equal_to(EPIC))
    assert_that([c.field for c in updated.changes], contains_exactly("type"))


async def test_given_items_in_lanes_when_moving_them_then_lanes_and_order_follow(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice)
    one, two, three = [await create_item(alice, project_id) for _ in range(3)]
    target = await create_item(alice, project_id, status="in_progress")

    three = await move(alice, three, before_id=one.id)
    one = await move(alice, one, status="in_progress", after_id=target.id)
    two = await move(alice, two, status="in_progress", before_id=target.id)
    three = await move(alice, three, status="in_progress")

    assert_that(await lane(alice, project_id, "backlog"), empty())
    assert_that(
        await lane(alice, project_id, "in_progress"),
        contains_exactly("PM-2", "PM-4", "PM-1", "PM-3"),
    )
    assert_that(three.version, equal_to(3))


async def test_given_a_move_when_it_reparents_then_the_event_lists_the_field_changes(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project_id = await create_project(alice)
    first = await create_item(alice, project_id, STORY)
    second = await create_item(alice, project_id, STORY)
    task = await create_item(alice, project_id, TASK, parent_id=first.id)
    await bob.subscribe(project_id)

    moved = await move(alice, task, status="done", parent_id=second.id)
    cleared = await move(alice, moved, clear_parent_id=True)

    events = await bob.events_until_quiet()
    assert_that(events, has_length(2))
    assert_that(events[0].work_item_moved.work_item, equal_to(moved))
    assert_that(
        [c.field for c in events[0].work_item_moved.changes],
        contains_exactly("status", "parent_id", "rank"),
    )
    assert_that(events[1].work_item_moved.work_item, has_properties(parent_id="", status="done"))
    assert_that(cleared.parent_id, equal_to(""))


async def test_given_a_lane_of_a_thousand_items_when_moving_one_then_one_row_and_one_event(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project_id = await create_project(alice)
    # Pipelined: every command goes out before any answer is read, so the server's group
    # commit takes them in large batches.
    command = msg.CreateWorkItem(project_id=project_id, type=TASK, title="Item")
    request_ids = [await alice.send("create_work_item", command) for _ in range(1000)]
    items = [(await alice.response(r)).create_work_item.work_item for r in request_ids]
    await bob.subscribe(project_id)
    moved, neighbour = items[10], items[500]
    with closing(read_only(server)) as conn:
        query = "SELECT id, version, rank, updated_at FROM work_items ORDER BY id"
        before = conn.execute(query).fetchall()

        result = await move(alice, moved, after_id=neighbour.id)

        after = conn.execute(query).fetchall()
    changed = [row for row in after if row not in before]
    assert_that([row[0] for row in changed], contains_exactly(moved.id))
    assert_that(len(after), equal_to(1000))
    events = await bob.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("work_item_moved"))
    assert_that(neighbour.rank < result.rank < items[501].rank, equal_to(True))


async def test_given_two_updates_from_the_same_version_when_racing_then_one_wins_one_conflicts(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project_id = await create_project(alice)
    item = await create_item(alice, project_id)

    sent = await asyncio.gather(
        alice.send(
            "update_work_item",
            msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="Alice's"),
        ),
        bob.send(
            "update_work_item",
            msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="Bob's"),
        ),
    )
    responses = [await alice.response(sent[0]), await bob.response(sent[1])]

    winners = [r for r in responses if not r.HasField("error")]
    losers = [r for r in responses if r.HasField("error")]
    assert_that(winners, has_length(1))
    assert_that(losers, has_length(1))
    assert_that(losers[0].error.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(losers[0].error.work_item, equal_to(winners[0].update_work_item.work_item))


async def test_given_a_tree_with_dependencies_when_deleting_then_all_go_and_restore_brings_them(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    project_id = await create_project(alice)
    other_project = await create_project(alice, "OTHER")
    epic = await create_item(alice, project_id, EPIC)
    story = await create_item(alice, project_id, STORY, parent_id=epic.id)
    task = await create_item(alice, project_id, TASK, parent_id=story.id)
    outside = await create_item(alice, other_project)
    gone_before = await create_item(alice, project_id, TASK, parent_id=story.id)
    link = await alice.ok(
        "create_dependency",
        dep.CreateDependency(
            from_item_id=task.id, to_item_id=outside.id, type=pb.DEPENDENCY_TYPE_BLOCKS
        ),
    )
    await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=gone_before.id, expected_version=1)
    )
    await bob.subscribe(other_project)

    deleted = await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=epic.id, expected_version=1)
    )
    hidden = await alice.error("get_work_item", msg.GetWorkItem(work_item_id=task.id))
    restored = await alice.ok("restore_work_item", msg.RestoreWorkItem(work_item_id=epic.id))

    assert_that(list(deleted.work_item_ids), contains_exactly(epic.id, story.id, task.id))
    assert_that(list(deleted.dependency_ids), contains_exactly(link.dependency.id))
    assert_that(hidden.code, equal_to(env.ERROR_CODE_NOT_FOUND))
    assert_that(
        [(i.id, i.version) for i in restored.work_items],
        contains_exactly((epic.id, 3), (story.id, 3), (task.id, 3)),
    )
    assert_that([d.id for d in restored.dependencies], contains_exactly(link.dependency.id))
    tree = await alice.ok("get_work_item_tree", msg.GetWorkItemTree(work_item_id=epic.id))
    assert_that([i.id for i in tree.work_items], contains_exactly(epic.id, story.id, task.id))
    events = await bob.events_until_quiet()
    assert_that(
        [e.WhichOneof("change") for e in events],
        contains_exactly("work_item_deleted", "work_item_restored"),
    )
    assert_that(list(events[0].project_ids), contains_exactly(project_id, other_project))
    with closing(read_only(server)) as conn:
        actions = conn.execute(
            "SELECT entity_type, action, COUNT(*) FROM activity_log"
            " WHERE action IN ('deleted', 'restored') AND entity_id <> ?"
            " GROUP BY entity_type, action ORDER BY 1, 2",
            (gone_before.id,),
        ).fetchall()
    assert_that(
        actions,
        contains_exactly(
            ("dependency", "deleted", 1),
            ("dependency", "restored", 1),
            ("work_item", "deleted", 3),
            ("work_item", "restored", 3),
        ),
    )


async def test_given_the_demo_when_it_runs_then_the_watcher_sees_every_change_live(
    server: RunningServer,
) -> None:
    lines: list[str] = []
    token = server.token(roles=["member"])

    async with Client(server.ws_url, token) as main, Client(server.ws_url, token) as watcher:
        report = await demo(main, watcher, emit=lines.append)

    assert_that(
        [e.WhichOneof("change") for e in report.events],
        contains_exactly("project_created", *["work_item_created"] * 6, *["work_item_moved"] * 5),
    )
    assert_that([e.seq for e in report.events], equal_to(sorted(e.seq for e in report.events)))
    key = report.project_key
    assert_that(
        report.lanes,
        equal_to(
            {
                "backlog": [f"{key}-1"],
                "in_progress": [f"{key}-2", f"{key}-5", f"{key}-4"],
                "in_review": [f"{key}-3"],
                "done": [f"{key}-6"],
            }
        ),
    )
    assert_that(len([line for line in lines if line.startswith("[watcher]")]), equal_to(12))
