"""What becomes of an item's comments and time entries when the item is deleted."""

from __future__ import annotations

from hamcrest import assert_that, contains_exactly, equal_to

from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import envelope_pb2 as env
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import board
from tests.conftest import ClientFactory


async def test_given_a_timer_on_an_item_when_the_item_is_deleted_then_its_user_can_still_stop_it(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", time_msg.StartTimer(work_item_id=b.item_id))
    await b.alice.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=b.item_id, expected_version=1)
    )

    running = await b.alice.ok("get_running_timer", time_msg.GetRunningTimer())
    stopped = await b.alice.ok("stop_timer", time_msg.StopTimer())

    assert_that(running.time_entry.id, equal_to(started.started.id))
    assert_that(stopped.time_entry.id, equal_to(started.started.id))
    assert_that(stopped.time_entry.running, equal_to(False))


async def test_given_a_commented_item_when_deleted_and_restored_then_the_comments_come_back(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    comment = await b.alice.ok(
        "create_comment", comments_msg.CreateComment(work_item_id=b.item_id, content="Keep me")
    )
    await b.alice.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=b.item_id, expected_version=1)
    )

    hidden = await b.alice.error("list_comments", comments_msg.ListComments(work_item_id=b.item_id))
    await b.alice.ok("restore_work_item", items_msg.RestoreWorkItem(work_item_id=b.item_id))
    listed = await b.alice.ok("list_comments", comments_msg.ListComments(work_item_id=b.item_id))

    assert_that(hidden.code, equal_to(env.ERROR_CODE_NOT_FOUND))
    assert_that(
        [thread.comment.id for thread in listed.threads], contains_exactly(comment.comment.id)
    )
