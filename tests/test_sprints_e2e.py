"""Sprints over the WebSocket, end to end: every rule, its error, and nothing changed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest
from google.protobuf.message import Message
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_inanyorder,
    empty,
    equal_to,
    has_length,
)

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import sprints_pb2 as msg
from pm.v1 import work_items_pb2
from tests.boards import UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import activity_of, rows
from tests.wire import WsClient

DAY = 86_400_000
START = 1_767_225_600_000  # 2026-01-01 UTC
UNKNOWN_STATE = cast(pb.SprintState, 99)


M = TypeVar("M", bound=Message)


def _copy(message: M) -> M:
    copied = type(message)()
    copied.CopyFrom(message)
    return copied


def active_sprints(server: RunningServer, project_id: str) -> list[str]:
    found = rows(
        server,
        "SELECT id FROM sprints WHERE project_id = ? AND state = 'active' AND deleted_at IS NULL",
        project_id,
    )
    return [row[0] for row in found]


@dataclass
class Board:
    """A member subscribed to one project, with no event pending."""

    alice: WsClient
    project_id: str


async def make_sprint(
    client: WsClient, project_id: str, name: str = "Sprint 1", start: int = START
) -> pb.Sprint:
    created = await client.ok(
        "create_sprint",
        msg.CreateSprint(
            project_id=project_id, name=name, start_date_ms=start, end_date_ms=start + 14 * DAY
        ),
    )
    return created.sprint  # type: ignore[no-any-return]


async def make_item(
    client: WsClient,
    project_id: str,
    *,
    kind: pb.WorkItemType = pb.WORK_ITEM_TYPE_TASK,
    status: str = "",
    points: int | None = None,
    sprint_id: str = "",
) -> pb.WorkItem:
    extra = {} if points is None else {"story_points": points}
    return await create_item(
        client, project_id, kind, "item", status=status, sprint_id=sprint_id, **extra
    )


async def in_state(client: WsClient, project_id: str, state: str) -> pb.Sprint:
    """A sprint taken to `state` through the commands themselves."""
    sprint = await make_sprint(client, project_id, name=state)
    if state == "planned":
        return sprint
    if state == "cancelled":
        done = await client.ok(
            "cancel_sprint", msg.CancelSprint(sprint_id=sprint.id, expected_version=1)
        )
        return done.sprint  # type: ignore[no-any-return]
    started = await client.ok(
        "start_sprint", msg.StartSprint(sprint_id=sprint.id, expected_version=1)
    )
    if state == "active":
        return started.sprint  # type: ignore[no-any-return]
    done = await client.ok(
        "complete_sprint", msg.CompleteSprint(sprint_id=sprint.id, expected_version=2)
    )
    return done.sprint  # type: ignore[no-any-return]


async def board(connect: ClientFactory) -> Board:
    alice = await connect(user="alice")
    project_id = await create_project(alice)
    await alice.subscribe(project_id)
    return Board(alice, project_id)


# CreateSprint


async def test_given_a_project_when_creating_a_sprint_then_it_is_planned_and_subscribers_see_it(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    await bob.subscribe(b.project_id)

    created = await b.alice.ok(
        "create_sprint",
        msg.CreateSprint(
            project_id=b.project_id,
            name="  Sprint 1 ",
            goal="ship",
            start_date_ms=START,
            end_date_ms=START + DAY,
        ),
        request_id="create-s1",
    )

    sprint = created.sprint
    assert_that(
        (sprint.name, sprint.goal, sprint.state, sprint.version, sprint.created_by),
        equal_to(("Sprint 1", "ship", pb.SPRINT_STATE_PLANNED, 1, "alice")),
    )
    event = await bob.event()
    assert_that(event.WhichOneof("change"), equal_to("sprint_created"))
    assert_that(event.sprint_created.sprint, equal_to(sprint))
    assert_that(list(event.project_ids), contains_exactly(b.project_id))
    assert_that(
        activity_of(server, "create-s1"),
        contains_exactly(("sprint", sprint.id, "created", None, None, None)),
    )


async def test_given_another_project_subscriber_when_a_sprint_changes_then_it_sees_nothing(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    other = await create_project(bob, "OTHER")
    await bob.subscribe(other)

    sprint = await make_sprint(b.alice, b.project_id)
    await b.alice.ok("start_sprint", msg.StartSprint(sprint_id=sprint.id, expected_version=1))

    assert_that(await bob.events_until_quiet(), empty())


CREATE_BREAKS: list[tuple[str, Callable[[msg.CreateSprint], None], int, str]] = [
    ("empty name", lambda c: setattr(c, "name", "   "), env.ERROR_CODE_INVALID_ARGUMENT, "name"),
    ("long name", lambda c: setattr(c, "name", "x" * 121), env.ERROR_CODE_INVALID_ARGUMENT, "name"),
    (
        "no start",
        lambda c: setattr(c, "start_date_ms", 0),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "start_date_ms",
    ),
    (
        "no end",
        lambda c: setattr(c, "end_date_ms", 0),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "end_date_ms",
    ),
    (
        "end equals start",
        lambda c: setattr(c, "end_date_ms", c.start_date_ms),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "end_date_ms",
    ),
    (
        "end before start",
        lambda c: setattr(c, "end_date_ms", c.start_date_ms - 1),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "end_date_ms",
    ),
    (
        "unknown project",
        lambda c: setattr(c, "project_id", UNKNOWN_ID),
        env.ERROR_CODE_NOT_FOUND,
        "project_id",
    ),
    (
        "project not a uuid",
        lambda c: setattr(c, "project_id", "PM"),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "project_id",
    ),
    ("id not a uuid", lambda c: setattr(c, "id", "s-1"), env.ERROR_CODE_INVALID_ARGUMENT, "id"),
]


@pytest.mark.parametrize(
    ("breaks", "code", "field"),
    [pytest.param(b, c, f, id=name) for name, b, c, f in CREATE_BREAKS],
)
async def test_given_a_broken_create_sprint_when_sent_then_refused_and_nothing_changes(
    server: RunningServer,
    connect: ClientFactory,
    breaks: Callable[[msg.CreateSprint], None],
    code: int,
    field: str,
) -> None:
    b = await board(connect)
    command = msg.CreateSprint(
        project_id=b.project_id, name="S", start_date_ms=START, end_date_ms=START + DAY
    )
    breaks(command)

    await assert_refused(server, b.alice, "create_sprint", command, code, field)


async def test_given_a_used_sprint_id_when_creating_again_then_already_exists(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    command = msg.CreateSprint(
        id=sprint.id, project_id=b.project_id, name="S", start_date_ms=START, end_date_ms=START + 1
    )

    await assert_refused(
        server, b.alice, "create_sprint", command, env.ERROR_CODE_ALREADY_EXISTS, "id"
    )


async def test_given_a_viewer_when_creating_a_sprint_then_permission_denied(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    viewer = await connect(user="vic", roles=["viewer"])
    command = msg.CreateSprint(
        project_id=b.project_id, name="S", start_date_ms=START, end_date_ms=START + 1
    )

    await assert_refused(
        server, viewer, "create_sprint", command, env.ERROR_CODE_PERMISSION_DENIED, ""
    )
    assert_that(await b.alice.events_until_quiet(), empty())


# UpdateSprint


async def test_given_a_sprint_when_updating_name_and_end_then_one_activity_row_per_field(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    await b.alice.events_until_quiet()

    updated = await b.alice.ok(
        "update_sprint",
        msg.UpdateSprint(
            sprint_id=sprint.id, expected_version=1, name="Renamed", end_date_ms=START + DAY
        ),
        request_id="update-s1",
    )

    assert_that(
        (updated.sprint.name, updated.sprint.end_date_ms, updated.sprint.version),
        equal_to(("Renamed", START + DAY, 2)),
    )
    assert_that([c.field for c in updated.changes], contains_exactly("name", "end_date_ms"))
    event = await b.alice.event()
    assert_that(event.sprint_updated.changes, equal_to(updated.changes))
    assert_that(
        activity_of(server, "update-s1"),
        contains_exactly(
            ("sprint", sprint.id, "updated", "name", '"Sprint 1"', '"Renamed"'),
            (
                "sprint",
                sprint.id,
                "updated",
                "end_date_ms",
                f'"{START + 14 * DAY}"',
                f'"{START + DAY}"',
            ),
        ),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_date_ms": START}, "end_date_ms"),
        ({"start_date_ms": START + 14 * DAY}, "start_date_ms"),
        ({"start_date_ms": START + 20 * DAY, "end_date_ms": START + 19 * DAY}, "end_date_ms"),
        ({"name": ""}, "name"),
        ({}, "name"),
    ],
    ids=["end-at-start", "start-at-end", "both-reversed", "empty-name", "nothing"],
)
async def test_given_a_sprint_when_an_update_breaks_a_field_rule_then_invalid_argument(
    server: RunningServer, connect: ClientFactory, change: dict[str, Any], field: str
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    command = msg.UpdateSprint(sprint_id=sprint.id, expected_version=1, **change)

    await assert_refused(
        server, b.alice, "update_sprint", command, env.ERROR_CODE_INVALID_ARGUMENT, field
    )


@pytest.mark.parametrize("state", ["completed", "cancelled"])
async def test_given_an_ended_sprint_when_updating_then_failed_precondition(
    server: RunningServer, connect: ClientFactory, state: str
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, state)
    command = msg.UpdateSprint(sprint_id=sprint.id, expected_version=sprint.version, name="N")

    await assert_refused(
        server, b.alice, "update_sprint", command, env.ERROR_CODE_FAILED_PRECONDITION, "sprint_id"
    )


async def test_given_a_stale_version_when_updating_then_conflict_carries_the_current_sprint(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    command = msg.UpdateSprint(sprint_id=sprint.id, expected_version=7, name="N")

    error = await assert_refused(
        server, b.alice, "update_sprint", command, env.ERROR_CODE_CONFLICT, "expected_version"
    )

    assert_that(error.sprint, equal_to(sprint))


async def test_given_no_expected_version_when_updating_then_invalid_argument(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    command = msg.UpdateSprint(sprint_id=sprint.id, name="N")

    await assert_refused(
        server,
        b.alice,
        "update_sprint",
        command,
        env.ERROR_CODE_INVALID_ARGUMENT,
        "expected_version",
    )


# StartSprint


async def test_given_a_planned_sprint_when_starting_then_active_with_started_at(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    await b.alice.events_until_quiet()

    started = await b.alice.ok(
        "start_sprint", msg.StartSprint(sprint_id=sprint.id, expected_version=1), "start-1"
    )

    assert_that(started.sprint.state, equal_to(pb.SPRINT_STATE_ACTIVE))
    assert_that(started.sprint.started_at_ms > 0, equal_to(True))
    event = await b.alice.event()
    assert_that(event.sprint_started.sprint, equal_to(started.sprint))
    assert_that(
        [(row[2], row[3]) for row in activity_of(server, "start-1")],
        contains_exactly(("started", "state"), ("started", "started_at_ms")),
    )


@pytest.mark.parametrize("state", ["active", "completed", "cancelled"])
async def test_given_a_sprint_not_planned_when_starting_then_failed_precondition(
    server: RunningServer, connect: ClientFactory, state: str
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, state)
    command = msg.StartSprint(sprint_id=sprint.id, expected_version=sprint.version)

    await assert_refused(
        server, b.alice, "start_sprint", command, env.ERROR_CODE_FAILED_PRECONDITION, "sprint_id"
    )


async def test_given_an_active_sprint_when_starting_another_then_failed_precondition(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    await in_state(b.alice, b.project_id, "active")
    second = await make_sprint(b.alice, b.project_id, name="Second")
    command = msg.StartSprint(sprint_id=second.id, expected_version=1)

    await assert_refused(
        server, b.alice, "start_sprint", command, env.ERROR_CODE_FAILED_PRECONDITION, "sprint_id"
    )


async def test_given_active_sprints_in_two_projects_when_started_then_both_are_active(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    other = await create_project(b.alice, "OTHER")
    await in_state(b.alice, b.project_id, "active")

    started = await in_state(b.alice, other, "active")

    assert_that(active_sprints(server, other), contains_exactly(started.id))


async def test_given_two_planned_sprints_when_two_clients_start_them_at_once_then_one_is_active(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    first = await make_sprint(b.alice, b.project_id, name="First")
    second = await make_sprint(b.alice, b.project_id, name="Second")

    responses = await asyncio.gather(
        b.alice.request("start_sprint", msg.StartSprint(sprint_id=first.id, expected_version=1)),
        bob.request("start_sprint", msg.StartSprint(sprint_id=second.id, expected_version=1)),
    )

    failed = [r.error for r in responses if r.HasField("error")]
    assert_that(failed, has_length(1))
    assert_that(failed[0].code, equal_to(env.ERROR_CODE_FAILED_PRECONDITION))
    assert_that(active_sprints(server, b.project_id), has_length(1))
    events = await b.alice.events_until_quiet()
    assert_that(
        [e.WhichOneof("change") for e in events if e.WhichOneof("change") == "sprint_started"],
        has_length(1),
    )


async def test_given_one_planned_sprint_when_two_clients_start_it_at_once_then_one_wins(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    sprint = await make_sprint(b.alice, b.project_id)
    command = msg.StartSprint(sprint_id=sprint.id, expected_version=1)

    responses = await asyncio.gather(
        b.alice.request("start_sprint", command), bob.request("start_sprint", command)
    )

    assert_that([r.HasField("error") for r in responses], contains_inanyorder(True, False))
    assert_that(active_sprints(server, b.project_id), contains_exactly(sprint.id))


# CompleteSprint


async def test_given_an_active_sprint_when_completing_then_unfinished_items_go_to_the_backlog(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, "active")
    open_item = await make_item(b.alice, b.project_id, status="in_progress", sprint_id=sprint.id)
    done_item = await make_item(b.alice, b.project_id, status="done", sprint_id=sprint.id)
    await b.alice.events_until_quiet()

    completed = await b.alice.ok(
        "complete_sprint", msg.CompleteSprint(sprint_id=sprint.id, expected_version=2), "done-1"
    )

    assert_that(completed.sprint.state, equal_to(pb.SPRINT_STATE_COMPLETED))
    assert_that(completed.sprint.completed_at_ms > 0, equal_to(True))
    assert_that(list(completed.moved_work_item_ids), contains_exactly(open_item.id))
    assert_that(completed.carry_over_sprint_id, equal_to(""))
    event = await b.alice.event()
    assert_that(event.sprint_completed.sprint, equal_to(completed.sprint))
    assert_that(list(event.sprint_completed.moved_work_item_ids), contains_exactly(open_item.id))
    moved = await b.alice.ok("get_work_item", work_items_pb2.GetWorkItem(work_item_id=open_item.id))
    assert_that(
        (moved.work_item.sprint_id, moved.work_item.status, moved.work_item.version),
        equal_to(("", "in_progress", open_item.version + 1)),
    )
    kept = await b.alice.ok("get_work_item", work_items_pb2.GetWorkItem(work_item_id=done_item.id))
    assert_that(kept.work_item, equal_to(done_item))
    assert_that(
        activity_of(server, "done-1"),
        contains_exactly(
            ("work_item", open_item.id, "updated", "sprint_id", f'"{sprint.id}"', '""'),
            (
                "sprint",
                sprint.id,
                "completed",
                "state",
                '"SPRINT_STATE_ACTIVE"',
                '"SPRINT_STATE_COMPLETED"',
            ),
            (
                "sprint",
                sprint.id,
                "completed",
                "completed_at_ms",
                '"0"',
                f'"{completed.sprint.completed_at_ms}"',
            ),
        ),
    )


async def test_given_a_planned_carry_over_sprint_when_completing_then_unfinished_items_move_there(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, "active")
    nxt = await make_sprint(b.alice, b.project_id, name="Next")
    first = await make_item(b.alice, b.project_id, sprint_id=sprint.id)
    second = await make_item(b.alice, b.project_id, kind=pb.WORK_ITEM_TYPE_BUG, sprint_id=sprint.id)

    completed = await b.alice.ok(
        "complete_sprint",
        msg.CompleteSprint(sprint_id=sprint.id, expected_version=2, carry_over_sprint_id=nxt.id),
    )

    assert_that(list(completed.moved_work_item_ids), contains_exactly(first.id, second.id))
    assert_that(completed.carry_over_sprint_id, equal_to(nxt.id))
    stats = await b.alice.ok("get_sprint_stats", msg.GetSprintStats(sprint_id=nxt.id))
    assert_that(stats.items_total, equal_to(2))


async def test_given_a_planned_sprint_when_completing_then_failed_precondition(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    await make_item(b.alice, b.project_id, sprint_id=sprint.id)
    command = msg.CompleteSprint(sprint_id=sprint.id, expected_version=1)

    await assert_refused(
        server,
        b.alice,
        "complete_sprint",
        command,
        env.ERROR_CODE_FAILED_PRECONDITION,
        "sprint_id",
    )


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("other-project", env.ERROR_CODE_FAILED_PRECONDITION),
        ("cancelled", env.ERROR_CODE_FAILED_PRECONDITION),
        ("completed", env.ERROR_CODE_FAILED_PRECONDITION),
        ("itself", env.ERROR_CODE_FAILED_PRECONDITION),
        ("unknown", env.ERROR_CODE_NOT_FOUND),
        ("not-a-uuid", env.ERROR_CODE_INVALID_ARGUMENT),
    ],
)
async def test_given_a_wrong_carry_over_sprint_when_completing_then_refused_and_nothing_changes(
    server: RunningServer, connect: ClientFactory, target: str, code: int
) -> None:
    b = await board(connect)
    other = await create_project(b.alice, "OTHER")
    ended = {"cancelled", "completed"}
    target_id = (
        (await in_state(b.alice, b.project_id, target)).id
        if target in ended
        else {"unknown": UNKNOWN_ID, "not-a-uuid": "next"}.get(target, "")
    )
    sprint = await in_state(b.alice, b.project_id, "active")
    await make_item(b.alice, b.project_id, sprint_id=sprint.id)
    if target == "other-project":
        target_id = (await make_sprint(b.alice, other)).id
    if target == "itself":
        target_id = sprint.id
    command = msg.CompleteSprint(
        sprint_id=sprint.id, expected_version=2, carry_over_sprint_id=target_id
    )

    await assert_refused(server, b.alice, "complete_sprint", command, code, "carry_over_sprint_id")


async def test_given_a_stale_version_when_completing_then_conflict(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, "active")
    command = msg.CompleteSprint(sprint_id=sprint.id, expected_version=1)

    error = await assert_refused(
        server, b.alice, "complete_sprint", command, env.ERROR_CODE_CONFLICT, "expected_version"
    )
    assert_that(error.sprint, equal_to(sprint))


# CancelSprint


async def test_given_an_active_sprint_when_cancelling_then_unfinished_items_leave_it(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, "active")
    open_item = await make_item(b.alice, b.project_id, sprint_id=sprint.id)
    await make_item(b.alice, b.project_id, status="done", sprint_id=sprint.id)
    await b.alice.events_until_quiet()

    cancelled = await b.alice.ok(
        "cancel_sprint", msg.CancelSprint(sprint_id=sprint.id, expected_version=2)
    )

    assert_that(cancelled.sprint.state, equal_to(pb.SPRINT_STATE_CANCELLED))
    assert_that(list(cancelled.moved_work_item_ids), contains_exactly(open_item.id))
    event = await b.alice.event()
    assert_that(list(event.sprint_cancelled.moved_work_item_ids), contains_exactly(open_item.id))
    stats = await b.alice.ok("get_sprint_stats", msg.GetSprintStats(sprint_id=sprint.id))
    assert_that((stats.items_total, stats.items_done), equal_to((1, 1)))
    # The project may start a new sprint once the active one is cancelled.
    await in_state(b.alice, b.project_id, "active")


@pytest.mark.parametrize("state", ["completed", "cancelled"])
async def test_given_an_ended_sprint_when_cancelling_then_failed_precondition(
    server: RunningServer, connect: ClientFactory, state: str
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, state)
    command = msg.CancelSprint(sprint_id=sprint.id, expected_version=sprint.version)

    await assert_refused(
        server, b.alice, "cancel_sprint", command, env.ERROR_CODE_FAILED_PRECONDITION, "sprint_id"
    )


# DeleteSprint


async def test_given_a_sprint_with_items_when_deleting_then_hidden_and_items_leave_it(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, "active")
    done_item = await make_item(b.alice, b.project_id, status="done", sprint_id=sprint.id)
    await b.alice.events_until_quiet()

    deleted = await b.alice.ok(
        "delete_sprint", msg.DeleteSprint(sprint_id=sprint.id, expected_version=2), "del-1"
    )

    assert_that(list(deleted.moved_work_item_ids), contains_exactly(done_item.id))
    event = await b.alice.event()
    assert_that(
        (event.sprint_deleted.sprint_id, event.sprint_deleted.project_id),
        equal_to((sprint.id, b.project_id)),
    )
    listed = await b.alice.ok("list_sprints", msg.ListSprints(project_id=b.project_id))
    assert_that(listed.sprints, empty())
    error = await b.alice.error("get_sprint_stats", msg.GetSprintStats(sprint_id=sprint.id))
    assert_that(error.code, equal_to(env.ERROR_CODE_NOT_FOUND))
    assert_that(
        [row[:4] for row in activity_of(server, "del-1")],
        contains_exactly(
            ("work_item", done_item.id, "updated", "sprint_id"),
            ("sprint", sprint.id, "deleted", None),
        ),
    )
    # The deleted active sprint no longer blocks starting another.
    await in_state(b.alice, b.project_id, "active")


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("update_sprint", msg.UpdateSprint(expected_version=2, name="N")),
        ("start_sprint", msg.StartSprint(expected_version=2)),
        ("cancel_sprint", msg.CancelSprint(expected_version=2)),
        ("delete_sprint", msg.DeleteSprint(expected_version=2)),
        ("get_sprint_stats", msg.GetSprintStats()),
    ],
)
async def test_given_a_deleted_sprint_when_commanded_then_not_found(
    server: RunningServer, connect: ClientFactory, name: str, command: Any
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    await b.alice.ok("delete_sprint", msg.DeleteSprint(sprint_id=sprint.id, expected_version=1))
    command = _copy(command)  # the parametrized message is shared by every run
    command.sprint_id = sprint.id

    await assert_refused(server, b.alice, name, command, env.ERROR_CODE_NOT_FOUND, "sprint_id")


# ListSprints and GetSprintStats


async def test_given_sprints_when_listing_by_pages_then_ordered_by_start_date(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    names = [f"S{i}" for i in range(5)]
    for i, name in reversed(list(enumerate(names))):
        await make_sprint(b.alice, b.project_id, name=name, start=START + i * DAY)
    seen: list[str] = []
    token = ""

    for _ in range(3):
        page = await b.alice.ok(
            "list_sprints",
            msg.ListSprints(project_id=b.project_id, page_size=2, page_token=token),
        )
        seen.extend(s.name for s in page.sprints)
        token = page.next_page_token

    assert_that(seen, equal_to(names))
    assert_that(token, equal_to(""))


async def test_given_sprints_in_several_states_when_listing_one_state_then_only_those(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    await in_state(b.alice, b.project_id, "completed")
    active = await in_state(b.alice, b.project_id, "active")
    await make_sprint(b.alice, b.project_id)

    listed = await b.alice.ok(
        "list_sprints", msg.ListSprints(project_id=b.project_id, state=pb.SPRINT_STATE_ACTIVE)
    )

    assert_that([s.id for s in listed.sprints], contains_exactly(active.id))


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (msg.ListSprints(project_id=UNKNOWN_ID), env.ERROR_CODE_NOT_FOUND, "project_id"),
        (
            msg.ListSprints(state=UNKNOWN_STATE),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "state",
        ),
        (msg.ListSprints(page_token="!!"), env.ERROR_CODE_INVALID_ARGUMENT, "page_token"),
        # A token that decodes to {"s":"x"}: not a cursor this list wrote.
        (
            msg.ListSprints(page_token="eyJzIjoieCJ9"),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "page_token",
        ),
    ],
    ids=["unknown-project", "bad-state", "bad-token", "foreign-cursor"],
)
async def test_given_a_bad_list_when_sent_then_refused(
    connect: ClientFactory, command: msg.ListSprints, code: int, field: str
) -> None:
    b = await board(connect)
    command = _copy(command)  # the parametrized message is shared by every run
    if not command.project_id:
        command.project_id = b.project_id

    error = await b.alice.error("list_sprints", command)

    assert_that((error.code, error.field), equal_to((code, field)))


async def test_given_items_in_a_sprint_when_asking_stats_then_items_and_points_total_and_done(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    other = await make_sprint(b.alice, b.project_id, name="Other")
    await make_item(b.alice, b.project_id, status="done", points=3, sprint_id=sprint.id)
    await make_item(b.alice, b.project_id, points=5, sprint_id=sprint.id)
    await make_item(
        b.alice, b.project_id, kind=pb.WORK_ITEM_TYPE_BUG, status="done", sprint_id=sprint.id
    )
    await make_item(
        b.alice,
        b.project_id,
        kind=pb.WORK_ITEM_TYPE_STORY,
        status="in_review",
        points=8,
        sprint_id=sprint.id,
    )
    await make_item(b.alice, b.project_id, status="done", points=13, sprint_id=other.id)
    await make_item(b.alice, b.project_id, status="done", points=21)

    stats = await b.alice.ok("get_sprint_stats", msg.GetSprintStats(sprint_id=sprint.id))

    assert_that(
        (stats.items_total, stats.items_done, stats.points_total, stats.points_done),
        equal_to((4, 2, 16, 3)),
    )
    assert_that(stats.sprint, equal_to(sprint))


# AssignToSprint


async def test_given_items_when_assigning_to_a_sprint_then_one_event_with_the_items(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    story = await make_item(b.alice, b.project_id, kind=pb.WORK_ITEM_TYPE_STORY)
    task = await make_item(b.alice, b.project_id)
    already = await make_item(b.alice, b.project_id, sprint_id=sprint.id)
    await b.alice.events_until_quiet()

    assigned = await b.alice.ok(
        "assign_to_sprint",
        msg.AssignToSprint(sprint_id=sprint.id, work_item_ids=[story.id, task.id, already.id]),
        "assign-1",
    )

    assert_that(
        [(i.id, i.sprint_id, i.version) for i in assigned.work_items],
        contains_exactly(
            (story.id, sprint.id, 2), (task.id, sprint.id, 2), (already.id, sprint.id, 1)
        ),
    )
    events = await b.alice.events_until_quiet()
    assert_that(events, has_length(1))
    assert_that(events[0].work_items_assigned_to_sprint.sprint_id, equal_to(sprint.id))
    assert_that(events[0].work_items_assigned_to_sprint.work_items, equal_to(assigned.work_items))
    assert_that(
        activity_of(server, "assign-1"),
        contains_exactly(
            ("work_item", story.id, "updated", "sprint_id", '""', f'"{sprint.id}"'),
            ("work_item", task.id, "updated", "sprint_id", '""', f'"{sprint.id}"'),
        ),
    )


async def test_given_items_in_a_sprint_when_assigning_to_no_sprint_then_back_to_the_backlog(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, "active")
    item = await make_item(b.alice, b.project_id, status="in_progress", sprint_id=sprint.id)

    cleared = await b.alice.ok("assign_to_sprint", msg.AssignToSprint(work_item_ids=[item.id]))

    assert_that(
        [(i.sprint_id, i.status) for i in cleared.work_items],
        contains_exactly(("", "in_progress")),
    )


async def test_given_a_sprint_of_another_project_when_assigning_then_nothing_is_assigned(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    other = await create_project(b.alice, "OTHER")
    sprint = await make_sprint(b.alice, b.project_id)
    mine = await make_item(b.alice, b.project_id)
    foreign = await make_item(b.alice, other)
    command = msg.AssignToSprint(sprint_id=sprint.id, work_item_ids=[mine.id, foreign.id])

    await assert_refused(
        server,
        b.alice,
        "assign_to_sprint",
        command,
        env.ERROR_CODE_FAILED_PRECONDITION,
        "work_item_ids",
    )


async def test_given_an_epic_among_items_when_assigning_then_nothing_is_assigned(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    task = await make_item(b.alice, b.project_id)
    epic = await make_item(b.alice, b.project_id, kind=pb.WORK_ITEM_TYPE_EPIC)
    command = msg.AssignToSprint(sprint_id=sprint.id, work_item_ids=[task.id, epic.id])

    await assert_refused(
        server,
        b.alice,
        "assign_to_sprint",
        command,
        env.ERROR_CODE_FAILED_PRECONDITION,
        "work_item_ids",
    )


@pytest.mark.parametrize("state", ["completed", "cancelled"])
async def test_given_an_ended_sprint_when_assigning_then_failed_precondition(
    server: RunningServer, connect: ClientFactory, state: str
) -> None:
    b = await board(connect)
    sprint = await in_state(b.alice, b.project_id, state)
    task = await make_item(b.alice, b.project_id)
    command = msg.AssignToSprint(sprint_id=sprint.id, work_item_ids=[task.id])

    await assert_refused(
        server,
        b.alice,
        "assign_to_sprint",
        command,
        env.ERROR_CODE_FAILED_PRECONDITION,
        "sprint_id",
    )


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("no-items", env.ERROR_CODE_INVALID_ARGUMENT, "work_item_ids"),
        ("unknown-item", env.ERROR_CODE_NOT_FOUND, "work_item_ids"),
        ("bad-item-id", env.ERROR_CODE_INVALID_ARGUMENT, "work_item_ids"),
        ("unknown-sprint", env.ERROR_CODE_NOT_FOUND, "sprint_id"),
    ],
)
async def test_given_a_broken_assignment_when_sent_then_refused_and_nothing_changes(
    server: RunningServer, connect: ClientFactory, case: str, code: int, field: str
) -> None:
    b = await board(connect)
    sprint = await make_sprint(b.alice, b.project_id)
    task = await make_item(b.alice, b.project_id)
    items = {
        "no-items": [],
        "unknown-item": [task.id, UNKNOWN_ID],
        "bad-item-id": [task.id, "PM-1"],
        "unknown-sprint": [task.id],
    }[case]
    sprint_id = UNKNOWN_ID if case == "unknown-sprint" else sprint.id
    command = msg.AssignToSprint(sprint_id=sprint_id, work_item_ids=items)

    await assert_refused(server, b.alice, "assign_to_sprint", command, code, field)
