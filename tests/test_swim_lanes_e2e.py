"""Swim lanes over the WebSocket, end to end."""

from __future__ import annotations

import json
import uuid
from contextlib import closing
from typing import Any

import pytest
from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length, only_contains

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as msg
from pm.v1 import work_items_pb2 as wi
from scripts.harness.__main__ import build_parser
from scripts.harness.__main__ import run as run_harness
from tests.boards import make_project, watching
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import ENTITIES, activity_of, read_only, snapshot
from tests.wire import WsClient, new_request_id


async def admin_with_project(connect: ClientFactory) -> tuple[WsClient, Any]:
    admin = await connect(user="ada", roles=["admin"])
    return admin, await make_project(admin)


def statuses(lanes: Any) -> list[str]:
    return [lane.status_value for lane in lanes]


def positions(lanes: Any) -> list[int]:
    return [lane.position for lane in lanes]


async def add_lane(
    admin: WsClient, project_id: str, status_value: str = "qa", position: int | None = None
) -> Any:
    command = msg.CreateSwimLane(project_id=project_id, name="QA", status_value=status_value)
    if position is not None:
        command.position = position
    return await admin.ok("create_swim_lane", command)


# --- CreateSwimLane ------------------------------------------------------------------------


async def test_given_a_subscriber_when_a_lane_is_added_then_it_sees_it_at_the_end(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    project_id = created.project.id
    watcher = await watching(connect, project_id)

    request_id = new_request_id()
    result = await admin.ok(
        "create_swim_lane",
        msg.CreateSwimLane(project_id=project_id, name=" QA ", status_value="qa"),
        request_id,
    )

    events = await watcher.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("swim_lane_created"))
    assert_that(events[0].swim_lane_created.lane, equal_to(result.lane))
    assert_that(list(events[0].swim_lane_created.lanes), equal_to(list(result.lanes)))
    assert_that(list(events[0].project_ids), contains_exactly(project_id))
    assert_that(result.lane.name, equal_to("QA"))
    assert_that(result.lane.position, equal_to(4))
    assert_that(result.lane.is_default, equal_to(False))
    assert_that(result.lane.version, equal_to(1))
    assert_that(positions(result.lanes), contains_exactly(0, 1, 2, 3, 4))
    assert_that(
        [(r[0], r[1], r[2]) for r in activity_of(server, request_id, ENTITIES)],
        contains_exactly(("swim_lane", result.lane.id, "created")),
    )


async def test_given_a_position_when_adding_a_lane_then_it_goes_there_and_the_rest_move_down(
    connect: ClientFactory,
) -> None:
    admin, created = await admin_with_project(connect)

    result = await add_lane(admin, created.project.id, position=1)

    assert_that(
        statuses(result.lanes),
        contains_exactly("backlog", "qa", "in_progress", "in_review", "done"),
    )
    assert_that(positions(result.lanes), contains_exactly(0, 1, 2, 3, 4))
    assert_that(result.lane.position, equal_to(1))
    listed = await admin.ok("list_swim_lanes", msg.ListSwimLanes(project_id=created.project.id))
    assert_that(list(listed.lanes), equal_to(list(result.lanes)))


async def test_given_a_tenant_feed_only_subscriber_when_a_lane_changes_then_it_sees_nothing(
    connect: ClientFactory,
) -> None:
    admin, created = await admin_with_project(connect)
    feed = await connect(user="fred", roles=["viewer"])
    await feed.subscribe(tenant_feed=True)

    await add_lane(admin, created.project.id)

    assert_that(await feed.events_until_quiet(), empty())


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"status_value": ""}, env.ERROR_CODE_INVALID_ARGUMENT, "status_value"),
        ({"status_value": "QA"}, env.ERROR_CODE_INVALID_ARGUMENT, "status_value"),
        ({"status_value": "1qa"}, env.ERROR_CODE_INVALID_ARGUMENT, "status_value"),
        ({"status_value": "_qa"}, env.ERROR_CODE_INVALID_ARGUMENT, "status_value"),
        ({"status_value": "q-a"}, env.ERROR_CODE_INVALID_ARGUMENT, "status_value"),
        ({"status_value": "q" * 41}, env.ERROR_CODE_INVALID_ARGUMENT, "status_value"),
        ({"status_value": "backlog"}, env.ERROR_CODE_ALREADY_EXISTS, "status_value"),
        ({"name": ""}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"name": "x" * 61}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"position": -1}, env.ERROR_CODE_INVALID_ARGUMENT, "position"),
        ({"position": 5}, env.ERROR_CODE_INVALID_ARGUMENT, "position"),
        ({"id": "nope"}, env.ERROR_CODE_INVALID_ARGUMENT, "id"),
        ({"project_id": "nope"}, env.ERROR_CODE_INVALID_ARGUMENT, "project_id"),
        ({"project_id": str(uuid.uuid4())}, env.ERROR_CODE_NOT_FOUND, "project_id"),
    ],
)
async def test_given_an_invalid_lane_when_creating_then_refused_and_nothing_changes(
    connect: ClientFactory,
    server: RunningServer,
    fields: dict[str, Any],
    code: int,
    field: str,
) -> None:
    admin, created = await admin_with_project(connect)
    watcher = await watching(connect, created.project.id)
    command = msg.CreateSwimLane(
        **{"project_id": created.project.id, "name": "QA", "status_value": "qa", **fields}
    )

    await assert_refused(server, admin, "create_swim_lane", command, code, field, watcher=watcher)


async def test_given_limits_when_creating_lanes_at_them_then_they_are_accepted(
    connect: ClientFactory,
) -> None:
    admin, created = await admin_with_project(connect)
    project_id = created.project.id

    long = await admin.ok(
        "create_swim_lane",
        msg.CreateSwimLane(project_id=project_id, name="é" * 60, status_value="q" * 40),
    )
    first = await add_lane(admin, project_id, status_value="a", position=0)
    last = await add_lane(admin, project_id, status_value="z9_", position=6)

    assert_that(long.lane.position, equal_to(4))
    assert_that(first.lane.position, equal_to(0))
    assert_that(last.lane.position, equal_to(6))
    assert_that(positions(last.lanes), contains_exactly(0, 1, 2, 3, 4, 5, 6))


async def test_given_a_lane_id_in_use_when_creating_with_it_then_already_exists(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    lane_id = created.lanes[0].id
    before = snapshot(server)

    error = await admin.error(
        "create_swim_lane",
        msg.CreateSwimLane(id=lane_id, project_id=created.project.id, name="X", status_value="x"),
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_ALREADY_EXISTS))
    assert_that(error.field, equal_to("id"))
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_deleted_lane_when_its_status_value_is_used_again_then_it_is_accepted(
    connect: ClientFactory,
) -> None:
    admin, created = await admin_with_project(connect)
    old = await add_lane(admin, created.project.id)
    await admin.ok("delete_swim_lane", msg.DeleteSwimLane(lane_id=old.lane.id, expected_version=1))

    again = await add_lane(admin, created.project.id)

    assert_that(again.lane.status_value, equal_to("qa"))
    assert_that(again.lane.id == old.lane.id, equal_to(False))


# --- UpdateSwimLane ------------------------------------------------------------------------


async def test_given_a_subscriber_when_a_lane_is_renamed_then_it_sees_the_lane_after(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    lane = created.lanes[1]
    watcher = await watching(connect, created.project.id)

    request_id = new_request_id()
    result = await admin.ok(
        "update_swim_lane",
        msg.UpdateSwimLane(lane_id=lane.id, expected_version=1, name="Doing"),
        request_id,
    )

    events = await watcher.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("swim_lane_updated"))
    assert_that(events[0].swim_lane_updated.lane, equal_to(result.lane))
    assert_that(result.lane.name, equal_to("Doing"))
    assert_that(result.lane.status_value, equal_to("in_progress"))
    assert_that(result.lane.version, equal_to(2))
    assert_that(
        [(c.field, c.old_json, c.new_json) for c in result.changes],
        contains_exactly(("name", '"In Progress"', '"Doing"')),
    )
    assert_that(
        [(r[0], r[1], r[2]) for r in activity_of(server, request_id, ENTITIES)],
        contains_exactly(("swim_lane", lane.id, "updated")),
    )


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"expected_version": 0, "name": "X"}, env.ERROR_CODE_INVALID_ARGUMENT, "expected_version"),
        ({}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"name": " "}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"name": "x" * 61}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"lane_id": "nope", "name": "X"}, env.ERROR_CODE_INVALID_ARGUMENT, "lane_id"),
        ({"lane_id": str(uuid.uuid4()), "name": "X"}, env.ERROR_CODE_NOT_FOUND, "lane_id"),
    ],
)
async def test_given_an_invalid_rename_when_sent_then_refused_and_nothing_changes(
    connect: ClientFactory,
    server: RunningServer,
    fields: dict[str, Any],
    code: int,
    field: str,
) -> None:
    admin, created = await admin_with_project(connect)
    watcher = await watching(connect, created.project.id)
    command = msg.UpdateSwimLane(
        **{"lane_id": created.lanes[0].id, "expected_version": 1, **fields}
    )

    await assert_refused(server, admin, "update_swim_lane", command, code, field, watcher=watcher)


async def test_given_a_stale_lane_version_when_renaming_then_conflict_carries_the_lane(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    lane_id = created.lanes[0].id
    renamed = await admin.ok(
        "update_swim_lane", msg.UpdateSwimLane(lane_id=lane_id, expected_version=1, name="Ideas")
    )
    watcher = await watching(connect, created.project.id)
    before = snapshot(server)

    error = await admin.error(
        "update_swim_lane", msg.UpdateSwimLane(lane_id=lane_id, expected_version=1, name="Later")
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(error.field, equal_to("expected_version"))
    assert_that(error.swim_lane, equal_to(renamed.lane))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


# --- ReorderSwimLanes ----------------------------------------------------------------------


async def test_given_a_subscriber_when_lanes_are_reordered_then_positions_and_project_change(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    project_id = created.project.id
    watcher = await watching(connect, project_id)
    order = [lane.id for lane in reversed(created.lanes)]

    request_id = new_request_id()
    result = await admin.ok(
        "reorder_swim_lanes",
        msg.ReorderSwimLanes(project_id=project_id, lane_ids=order, expected_version=1),
        request_id,
    )

    events = await watcher.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("swim_lanes_reordered"))
    assert_that(list(events[0].swim_lanes_reordered.lanes), equal_to(list(result.lanes)))
    assert_that(events[0].swim_lanes_reordered.project_id, equal_to(project_id))
    assert_that([lane.id for lane in result.lanes], equal_to(order))
    assert_that(positions(result.lanes), contains_exactly(0, 1, 2, 3))
    assert_that([lane.version for lane in result.lanes], only_contains(1))
    assert_that(result.project.version, equal_to(2))
    got = await admin.ok("get_project", msg.GetProject(project_id=project_id))
    assert_that(got.project, equal_to(result.project))
    assert_that(list(got.lanes), equal_to(list(result.lanes)))
    rows = activity_of(server, request_id, ENTITIES)
    assert_that(
        [(r[0], r[1], r[2]) for r in rows], contains_exactly(("project", project_id, "updated"))
    )


async def test_given_a_reorder_when_logged_then_the_row_holds_the_old_and_new_order(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    before = [lane.id for lane in created.lanes]
    after = [before[1], before[0], before[2], before[3]]

    request_id = new_request_id()
    await admin.ok(
        "reorder_swim_lanes",
        msg.ReorderSwimLanes(project_id=created.project.id, lane_ids=after, expected_version=1),
        request_id,
    )

    with closing(read_only(server)) as conn:
        field, old_json, new_json = conn.execute(
            "SELECT field, old_json, new_json FROM activity_log WHERE request_id = ?",
            (request_id,),
        ).fetchone()
    assert_that(field, equal_to("lane_order"))
    assert_that(json.loads(old_json), equal_to(before))
    assert_that(json.loads(new_json), equal_to(after))


def _bad_orders(lanes: list[pb.SwimLane], other_lane: str) -> dict[str, list[str]]:
    ids = [lane.id for lane in lanes]
    return {
        "missing": ids[:-1],
        "twice": [*ids, ids[0]],
        "twice_instead": [*ids[:-1], ids[0]],
        "unknown": [*ids, str(uuid.uuid4())],
        "other_project": [*ids[:-1], other_lane],
        "not_a_uuid": [*ids[:-1], "nope"],
        "empty": [],
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "twice", "twice_instead", "unknown", "other_project", "not_a_uuid", "empty"],
)
async def test_given_a_wrong_lane_list_when_reordering_then_invalid_argument_and_nothing_changes(
    connect: ClientFactory, server: RunningServer, case: str
) -> None:
    admin, created = await admin_with_project(connect)
    other = await make_project(admin, key="OTHER")
    watcher = await watching(connect, created.project.id)
    lane_ids = _bad_orders(list(created.lanes), other.lanes[0].id)[case]

    await assert_refused(
        server,
        admin,
        "reorder_swim_lanes",
        msg.ReorderSwimLanes(project_id=created.project.id, lane_ids=lane_ids, expected_version=1),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "lane_ids",
        watcher=watcher,
    )


async def test_given_a_stale_project_version_when_reordering_then_conflict_carries_the_project(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    project_id = created.project.id
    updated = await admin.ok(
        "update_project", msg.UpdateProject(project_id=project_id, expected_version=1, name="N")
    )
    watcher = await watching(connect, project_id)
    order = [lane.id for lane in reversed(created.lanes)]
    before = snapshot(server)

    stale = await admin.error(
        "reorder_swim_lanes",
        msg.ReorderSwimLanes(project_id=project_id, lane_ids=order, expected_version=1),
    )
    missing = await admin.error(
        "reorder_swim_lanes", msg.ReorderSwimLanes(project_id=project_id, lane_ids=order)
    )

    assert_that(stale.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(stale.field, equal_to("expected_version"))
    assert_that(stale.project, equal_to(updated.project))
    assert_that(missing.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(missing.field, equal_to("expected_version"))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_reorder_when_a_lane_is_then_renamed_with_its_own_version_then_it_works(
    connect: ClientFactory,
) -> None:
    admin, created = await admin_with_project(connect)
    order = [lane.id for lane in reversed(created.lanes)]
    await admin.ok(
        "reorder_swim_lanes",
        msg.ReorderSwimLanes(project_id=created.project.id, lane_ids=order, expected_version=1),
    )

    renamed = await admin.ok(
        "update_swim_lane",
        msg.UpdateSwimLane(lane_id=created.lanes[0].id, expected_version=1, name="Ideas"),
    )

    assert_that(renamed.lane.position, equal_to(3))
    assert_that(renamed.lane.version, equal_to(2))


# --- DeleteSwimLane ------------------------------------------------------------------------


async def test_given_an_empty_lane_when_deleted_then_the_rest_close_up_and_b_sees_it(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    project_id = created.project.id
    added = await add_lane(admin, project_id, position=1)
    watcher = await watching(connect, project_id)

    request_id = new_request_id()
    result = await admin.ok(
        "delete_swim_lane",
        msg.DeleteSwimLane(lane_id=added.lane.id, expected_version=1),
        request_id,
    )

    events = await watcher.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("swim_lane_deleted"))
    deleted = events[0].swim_lane_deleted
    assert_that((deleted.lane_id, deleted.project_id), equal_to((added.lane.id, project_id)))
    assert_that(list(deleted.lanes), equal_to(list(result.lanes)))
    assert_that(
        statuses(result.lanes), contains_exactly("backlog", "in_progress", "in_review", "done")
    )
    assert_that(positions(result.lanes), contains_exactly(0, 1, 2, 3))
    assert_that(
        [(r[0], r[1], r[2]) for r in activity_of(server, request_id, ENTITIES)],
        contains_exactly(("swim_lane", added.lane.id, "deleted")),
    )
    gone = await admin.error(
        "update_swim_lane",
        msg.UpdateSwimLane(lane_id=added.lane.id, expected_version=2, name="Back"),
    )
    assert_that(gone.code, equal_to(env.ERROR_CODE_NOT_FOUND))


async def test_given_a_default_lane_when_deleting_it_then_failed_precondition(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    watcher = await watching(connect, created.project.id)
    before = snapshot(server)

    errors = [
        await admin.error(
            "delete_swim_lane", msg.DeleteSwimLane(lane_id=lane.id, expected_version=1)
        )
        for lane in created.lanes
    ]

    assert_that([e.code for e in errors], only_contains(env.ERROR_CODE_FAILED_PRECONDITION))
    assert_that([e.field for e in errors], only_contains("lane_id"))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_lane_holding_an_item_when_deleting_it_then_failed_precondition(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    added = await add_lane(admin, created.project.id)
    await admin.ok(
        "create_work_item",
        wi.CreateWorkItem(
            project_id=created.project.id, type=pb.WORK_ITEM_TYPE_BUG, title="B", status="qa"
        ),
    )
    watcher = await watching(connect, created.project.id)

    await assert_refused(
        server,
        admin,
        "delete_swim_lane",
        msg.DeleteSwimLane(lane_id=added.lane.id, expected_version=1),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "lane_id",
        watcher=watcher,
    )


async def test_given_a_stale_lane_version_when_deleting_then_conflict_carries_the_lane(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    added = await add_lane(admin, created.project.id)
    watcher = await watching(connect, created.project.id)
    before = snapshot(server)

    stale = await admin.error(
        "delete_swim_lane", msg.DeleteSwimLane(lane_id=added.lane.id, expected_version=2)
    )
    missing = await admin.error("delete_swim_lane", msg.DeleteSwimLane(lane_id=added.lane.id))

    assert_that(stale.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(stale.swim_lane, equal_to(added.lane))
    assert_that(missing.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(missing.field, equal_to("expected_version"))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


# --- roles, tenants, deleted projects ------------------------------------------------------


def _lane_mutations(project_id: str, lanes: list[pb.SwimLane]) -> list[tuple[str, Any]]:
    custom = lanes[-1]
    return [
        (
            "create_swim_lane",
            msg.CreateSwimLane(project_id=project_id, name="X", status_value="x"),
        ),
        ("update_swim_lane", msg.UpdateSwimLane(lane_id=custom.id, expected_version=1, name="Y")),
        (
            "reorder_swim_lanes",
            msg.ReorderSwimLanes(
                project_id=project_id,
                lane_ids=[lane.id for lane in reversed(lanes)],
                expected_version=1,
            ),
        ),
        ("delete_swim_lane", msg.DeleteSwimLane(lane_id=custom.id, expected_version=1)),
    ]


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_given_a_non_admin_when_managing_lanes_then_permission_denied(
    connect: ClientFactory, server: RunningServer, role: str
) -> None:
    admin, created = await admin_with_project(connect)
    added = await add_lane(admin, created.project.id)
    watcher = await watching(connect, created.project.id)
    user = await connect(user="uma", roles=[role])
    before = snapshot(server)

    errors = [
        await user.error(name, command)
        for name, command in _lane_mutations(created.project.id, list(added.lanes))
    ]
    listed = await user.ok("list_swim_lanes", msg.ListSwimLanes(project_id=created.project.id))

    assert_that(errors, has_length(4))
    assert_that([e.code for e in errors], only_contains(env.ERROR_CODE_PERMISSION_DENIED))
    assert_that(list(listed.lanes), equal_to(list(added.lanes)))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


async def test_given_lanes_of_another_tenant_when_named_then_not_found(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    added = await add_lane(admin, created.project.id)
    watcher = await watching(connect, created.project.id)
    dora = await connect(tenant="globex", user="dora", roles=["admin"])
    before = snapshot(server)

    errors = [
        await dora.error(name, command)
        for name, command in _lane_mutations(created.project.id, list(added.lanes))
    ]
    errors.append(
        await dora.error("list_swim_lanes", msg.ListSwimLanes(project_id=created.project.id))
    )

    assert_that([e.code for e in errors], only_contains(env.ERROR_CODE_NOT_FOUND))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_deleted_project_when_its_lanes_are_named_then_not_found(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin, created = await admin_with_project(connect)
    added = await add_lane(admin, created.project.id)
    await admin.ok(
        "delete_project", msg.DeleteProject(project_id=created.project.id, expected_version=1)
    )
    before = snapshot(server)

    errors = [
        await admin.error(name, command)
        for name, command in _lane_mutations(created.project.id, list(added.lanes))
    ]
    errors.append(
        await admin.error("list_swim_lanes", msg.ListSwimLanes(project_id=created.project.id))
    )

    assert_that([e.code for e in errors], only_contains(env.ERROR_CODE_NOT_FOUND))
    assert_that(snapshot(server), equal_to(before))


# --- harness -------------------------------------------------------------------------------


async def harness(
    server: RunningServer, capsys: pytest.CaptureFixture[str], *argv: str
) -> dict[str, Any]:
    # A fresh user per run: every harness process numbers its request ids from h-1, and the
    # server's idempotency key is (user, request_id), so one user's second run would collide.
    token = server.token(user=f"ada-{uuid.uuid4()}", roles=["admin"])
    args = build_parser().parse_args(["--url", server.ws_url, "--token", token, "--json", *argv])
    assert_that(await run_harness(args), equal_to(0))
    out = capsys.readouterr().out.strip().splitlines()
    assert_that(out, has_length(1))
    parsed: dict[str, Any] = json.loads(out[0])
    return parsed


async def test_given_the_harness_when_managing_projects_and_lanes_then_each_prints_json(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    created = await harness(server, capsys, "create-project", "--key", "HX", "--name", "H")
    project_id = created["project"]["id"]
    updated = await harness(
        server, capsys, "update-project", "--project", project_id, "--version", "1", "--name", "H2"
    )
    lane = await harness(
        server,
        capsys,
        "create-lane",
        "--project",
        project_id,
        "--name",
        "QA",
        "--status-value",
        "qa",
        "--position",
        "0",
    )
    lane_id = lane["lane"]["id"]
    renamed = await harness(
        server, capsys, "update-lane", "--lane", lane_id, "--version", "1", "--name", "Check"
    )
    order = [entry["id"] for entry in reversed(lane["lanes"])]
    reordered = await harness(
        server, capsys, "reorder-lanes", "--project", project_id, "--version", "2", *order
    )
    listed = await harness(server, capsys, "list-lanes", "--project", project_id)
    deleted = await harness(server, capsys, "delete-lane", "--lane", lane_id, "--version", "2")
    got = await harness(server, capsys, "get-project", "--project", project_id)
    projects = await harness(server, capsys, "list-projects", "--page-size", "10")
    gone = await harness(
        server, capsys, "delete-project", "--project", project_id, "--version", "3"
    )

    assert_that(updated["project"]["name"], equal_to("H2"))
    assert_that(lane["lane"].get("position", 0), equal_to(0))
    assert_that(renamed["lane"]["name"], equal_to("Check"))
    assert_that([entry["id"] for entry in reordered["lanes"]], equal_to(order))
    assert_that([entry["id"] for entry in listed["lanes"]], equal_to(order))
    assert_that(deleted["lane_id"], equal_to(lane_id))
    assert_that(got["lanes"], has_length(4))
    assert_that([p["key"] for p in projects["projects"]], contains_exactly("HX"))
    assert_that(gone["project_id"], equal_to(project_id))
