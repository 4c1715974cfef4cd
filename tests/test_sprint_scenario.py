"""A whole sprint, scripted: plan, assign, start, work the board, track time, discuss,
complete with carry-over; a watcher sees every step, in seq order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hamcrest import assert_that, contains_exactly, equal_to

from pm.v1 import comments_pb2, time_entries_pb2, work_items_pb2
from pm.v1 import entities_pb2 as pb
from pm.v1 import sprints_pb2 as msg
from tests.boards import create_project
from tests.conftest import ClientFactory
from tests.test_sprints_e2e import DAY, START
from tests.wire import WsClient


@dataclass
class Script:
    """Runs each step as a command that must succeed and remembers what it expects to see."""

    expected: list[tuple[str, str]] = field(default_factory=list)

    async def step(self, client: WsClient, name: str, command: Any, event: str) -> Any:
        request_id = await client.send(name, command)
        response = await client.response(request_id)
        assert not response.HasField("error"), f"{name} failed: {response.error}"
        self.expected.append((request_id, event))
        return getattr(response, name)


async def create_item(
    script: Script, client: WsClient, project_id: str, kind: pb.WorkItemType, points: int
) -> pb.WorkItem:
    created = await script.step(
        client,
        "create_work_item",
        work_items_pb2.CreateWorkItem(
            project_id=project_id, type=kind, title=f"{kind}", story_points=points
        ),
        "work_item_created",
    )
    return created.work_item  # type: ignore[no-any-return]


async def move(script: Script, client: WsClient, item: pb.WorkItem, lane: str) -> pb.WorkItem:
    moved = await script.step(
        client,
        "move_work_item",
        work_items_pb2.MoveWorkItem(
            work_item_id=item.id, expected_version=item.version, status=lane
        ),
        "work_item_moved",
    )
    return moved.work_item  # type: ignore[no-any-return]


async def test_given_a_planned_sprint_when_worked_through_then_stats_and_events_tell_the_story(
    connect: ClientFactory,
) -> None:
    alice = await connect(user="alice")
    bob = await connect(user="bob")
    watcher = await connect(user="carol", roles=["viewer"])
    project_id = await create_project(alice)
    await watcher.subscribe(project_id)
    s = Script()

    # Plan two sprints and the work.
    sprint = (
        await s.step(
            alice,
            "create_sprint",
            msg.CreateSprint(
                project_id=project_id,
                name="Sprint 1",
                start_date_ms=START,
                end_date_ms=START + 14 * DAY,
            ),
            "sprint_created",
        )
    ).sprint
    nxt = (
        await s.step(
            alice,
            "create_sprint",
            msg.CreateSprint(
                project_id=project_id,
                name="Sprint 2",
                start_date_ms=START + 14 * DAY,
                end_date_ms=START + 28 * DAY,
            ),
            "sprint_created",
        )
    ).sprint
    story = await create_item(s, alice, project_id, pb.WORK_ITEM_TYPE_STORY, 5)
    task_a = await create_item(s, alice, project_id, pb.WORK_ITEM_TYPE_TASK, 3)
    task_b = await create_item(s, bob, project_id, pb.WORK_ITEM_TYPE_TASK, 2)
    bug = await create_item(s, bob, project_id, pb.WORK_ITEM_TYPE_BUG, 1)
    assigned = await s.step(
        alice,
        "assign_to_sprint",
        msg.AssignToSprint(
            sprint_id=sprint.id, work_item_ids=[story.id, task_a.id, task_b.id, bug.id]
        ),
        "work_items_assigned_to_sprint",
    )
    story, task_a, task_b, bug = assigned.work_items
    await s.step(
        alice,
        "start_sprint",
        msg.StartSprint(sprint_id=sprint.id, expected_version=sprint.version),
        "sprint_started",
    )

    # Work the board, with time tracked and a discussion.
    task_a = await move(s, alice, task_a, "in_progress")
    await s.step(
        alice,
        "start_timer",
        time_entries_pb2.StartTimer(work_item_id=task_a.id),
        "timer_started",
    )
    comment = await s.step(
        alice,
        "create_comment",
        comments_pb2.CreateComment(work_item_id=task_a.id, content="Needs a migration?"),
        "comment_created",
    )
    await s.step(
        bob,
        "create_comment",
        comments_pb2.CreateComment(
            work_item_id=task_a.id, content="No.", parent_comment_id=comment.comment.id
        ),
        "comment_created",
    )
    task_a = await move(s, alice, task_a, "done")
    switched = await s.step(
        alice,
        "start_timer",
        time_entries_pb2.StartTimer(work_item_id=task_b.id),
        "timer_started",
    )
    task_b = await move(s, bob, task_b, "in_review")
    await s.step(alice, "stop_timer", time_entries_pb2.StopTimer(), "timer_stopped")
    bug = await move(s, bob, bug, "done")

    # Complete, carrying the unfinished work over.
    completed = await s.step(
        alice,
        "complete_sprint",
        msg.CompleteSprint(
            sprint_id=sprint.id, expected_version=sprint.version + 1, carry_over_sprint_id=nxt.id
        ),
        "sprint_completed",
    )

    assert_that(switched.stopped.work_item_id, equal_to(task_a.id))
    assert_that(list(completed.moved_work_item_ids), contains_exactly(story.id, task_b.id))
    done_stats = await alice.ok("get_sprint_stats", msg.GetSprintStats(sprint_id=sprint.id))
    next_stats = await alice.ok("get_sprint_stats", msg.GetSprintStats(sprint_id=nxt.id))
    assert_that(
        [
            (st.sprint.state, st.items_total, st.items_done, st.points_total, st.points_done)
            for st in (done_stats, next_stats)
        ],
        contains_exactly(
            (pb.SPRINT_STATE_COMPLETED, 2, 2, 4, 4), (pb.SPRINT_STATE_PLANNED, 2, 0, 7, 0)
        ),
    )
    listed = await bob.ok("list_comments", comments_pb2.ListComments(work_item_id=task_a.id))
    assert_that(
        [(t.comment.content, [r.content for r in t.replies]) for t in listed.threads],
        equal_to([("Needs a migration?", ["No."])]),
    )
    seen = await watcher.events_until_quiet()
    assert_that([(e.request_id, e.WhichOneof("change")) for e in seen], equal_to(s.expected))
    seqs = [e.seq for e in seen]
    assert_that(seqs, equal_to(sorted(set(seqs))))
    assert_that(
        list(seen[-1].sprint_completed.moved_work_item_ids), contains_exactly(story.id, task_b.id)
    )
