"""A command that would change nothing commits nothing: same version, no activity, no event."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from hamcrest import assert_that, empty, equal_to, has_length

from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import Board, board, create_item
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.tenant_state import snapshot


async def assert_unchanged(server: RunningServer, b: Board, name: str, command: Message) -> Any:
    """The command succeeds, yet no row, activity row or event is written."""
    await b.watcher.events_until_quiet()
    before = snapshot(server)

    result = await b.alice.ok(name, command)

    assert_that(snapshot(server), equal_to(before))
    assert_that(await b.watcher.events_until_quiet(), empty())
    return result


async def test_given_a_project_when_updated_with_its_own_name_then_nothing_is_committed(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect)

    result = await assert_unchanged(
        server,
        b,
        "update_project",
        projects_msg.UpdateProject(project_id=b.project_id, expected_version=1, name="PM"),
    )

    assert_that(result.project.version, equal_to(1))
    assert_that(result.changes, empty())


async def test_given_an_item_when_updated_with_its_own_title_then_nothing_is_committed(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect, title="Same")

    result = await assert_unchanged(
        server,
        b,
        "update_work_item",
        items_msg.UpdateWorkItem(work_item_id=b.item_id, expected_version=1, title="Same"),
    )

    assert_that(result.work_item.version, equal_to(1))


async def test_given_the_last_item_of_a_lane_when_moved_to_the_end_then_nothing_is_committed(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect, items=3)

    result = await assert_unchanged(
        server,
        b,
        "move_work_item",
        items_msg.MoveWorkItem(work_item_id=b.items[-1], expected_version=1),
    )

    assert_that(result.work_item.version, equal_to(1))


async def test_given_items_already_in_a_sprint_when_assigned_to_it_again_then_nothing_is_committed(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect)
    sprint = await b.alice.ok(
        "create_sprint",
        sprints_msg.CreateSprint(
            project_id=b.project_id, name="S1", start_date_ms=1_000, end_date_ms=2_000
        ),
    )
    item = await create_item(b.alice, b.project_id, sprint_id=sprint.sprint.id)

    result = await assert_unchanged(
        server,
        b,
        "assign_to_sprint",
        sprints_msg.AssignToSprint(sprint_id=sprint.sprint.id, work_item_ids=[item.id]),
    )

    assert_that(result.work_items, has_length(1))
    assert_that(result.work_items[0].version, equal_to(1))


async def test_given_a_comment_when_edited_to_the_same_text_then_nothing_is_committed(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect)
    created = await b.alice.ok(
        "create_comment", comments_msg.CreateComment(work_item_id=b.item_id, content="Hi")
    )

    result = await assert_unchanged(
        server,
        b,
        "update_comment",
        comments_msg.UpdateComment(comment_id=created.comment.id, expected_version=1, content="Hi"),
    )

    assert_that(result.comment.version, equal_to(1))


async def test_given_an_unchanged_command_when_retried_with_other_content_then_it_runs(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect)
    same = projects_msg.UpdateProject(project_id=b.project_id, expected_version=1, name="PM")
    await b.alice.ok("update_project", same, "req-unchanged")

    # Nothing was committed, so nothing was recorded under the request id either.
    renamed = await b.alice.ok(
        "update_project",
        projects_msg.UpdateProject(project_id=b.project_id, expected_version=1, name="New"),
        "req-unchanged",
    )

    assert_that(renamed.project.version, equal_to(2))
