"""A restore re-checks what may have changed while the items were deleted."""

from __future__ import annotations

from hamcrest import assert_that, equal_to, greater_than, is_not

from pm.v1 import envelope_pb2 as env
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import BUG, STORY, TASK, board, create_item
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import activity_of
from tests.wire import new_request_id


async def delete(client: object, item_id: str, version: int = 1) -> None:
    await client.ok(  # type: ignore[attr-defined]
        "delete_work_item",
        items_msg.DeleteWorkItem(work_item_id=item_id, expected_version=version),
    )


async def test_given_a_parent_whose_type_changed_when_restoring_the_child_then_refused(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect, items=0)
    story = await create_item(b.alice, b.project_id, STORY, "Story")
    task = await create_item(b.alice, b.project_id, TASK, "Task", parent_id=story.id)
    await delete(b.alice, task.id)
    await b.alice.ok(
        "update_work_item",
        items_msg.UpdateWorkItem(work_item_id=story.id, expected_version=1, type=TASK),
    )

    error = await assert_refused(
        server,
        b.alice,
        "restore_work_item",
        items_msg.RestoreWorkItem(work_item_id=task.id),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "work_item_id",
        watcher=b.watcher,
    )

    assert_that(
        error.message, equal_to(f"{task.key} cannot come back under {story.key}, now a task")
    )


async def test_given_a_sprint_completed_meanwhile_when_restoring_an_unfinished_item_then_backlog(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect, items=0)
    sprint = (
        await b.alice.ok(
            "create_sprint",
            sprints_msg.CreateSprint(
                project_id=b.project_id, name="S1", start_date_ms=1_000, end_date_ms=2_000
            ),
        )
    ).sprint
    bug = await create_item(b.alice, b.project_id, BUG, "Bug", sprint_id=sprint.id)
    await delete(b.alice, bug.id)
    await b.alice.ok(
        "start_sprint", sprints_msg.StartSprint(sprint_id=sprint.id, expected_version=1)
    )
    await b.alice.ok(
        "complete_sprint", sprints_msg.CompleteSprint(sprint_id=sprint.id, expected_version=2)
    )

    request_id = new_request_id()
    restored = await b.alice.ok(
        "restore_work_item", items_msg.RestoreWorkItem(work_item_id=bug.id), request_id
    )

    assert_that(restored.work_items[0].sprint_id, equal_to(""))
    assert_that(
        activity_of(server, request_id, "field, old_json, new_json"),
        equal_to([(None, None, None), ("sprint_id", f'"{sprint.id}"', '""')]),
    )


async def test_given_a_rank_taken_meanwhile_when_restoring_then_the_item_gets_a_free_one(
    connect: ClientFactory,
) -> None:
    b = await board(connect, items=0)
    first = await create_item(b.alice, b.project_id, TASK, "First")
    gone = await create_item(b.alice, b.project_id, TASK, "Gone")
    await delete(b.alice, gone.id)
    newer = await create_item(b.alice, b.project_id, TASK, "Newer")

    restored = await b.alice.ok(
        "restore_work_item", items_msg.RestoreWorkItem(work_item_id=gone.id)
    )
    listed = await b.alice.ok(
        "list_work_items", items_msg.ListWorkItems(project_id=b.project_id, status="backlog")
    )

    assert_that(newer.rank, equal_to(gone.rank))  # the collision this test is about
    assert_that(restored.work_items[0].rank, is_not(equal_to(newer.rank)))
    assert_that(restored.work_items[0].rank, greater_than(newer.rank))
    assert_that([item.title for item in listed.work_items], equal_to(["First", "Newer", "Gone"]))
    assert_that(first.rank < newer.rank, equal_to(True))
