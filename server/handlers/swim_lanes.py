"""Swim lanes: CreateSwimLane, UpdateSwimLane, ReorderSwimLanes, DeleteSwimLane, ListSwimLanes.

Lanes are managed by admins only. Their events go to the project's subscribers (not to the
tenant feed). The order of a project's lanes belongs to the project: positions are always
0..n-1, and only a reorder bumps the project's version.
"""

from __future__ import annotations

import json
import re

from pm.v1 import entities_pb2 as pb
from pm.v1 import projects_pb2 as msg
from server.auth import Role
from server.commands import (
    Change,
    Commands,
    ReadContext,
    Unchanged,
    WriteContext,
    expect_version,
    fresh_id,
    load,
    parse_id,
)
from server.field_changes import field_changes, log_changes
from server.handlers.projects import check_version, load_project
from server.validation import text
from server.wire.projects import lane_to_proto, project_to_proto
from tenants import projects, swim_lanes
from tenants.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from tenants.swim_lanes import SwimLaneRecord

commands = Commands()

STATUS_VALUE = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_NAME_CHARS = 60
# A board of more columns than this is unreadable; the bound also keeps GetProject and
# ListSwimLanes (unpaged) far inside one frame.
MAX_LANES_PER_PROJECT = 50


def load_lane(ctx: ReadContext, lane_id: str, field: str = "lane_id") -> SwimLaneRecord:
    """A live lane of a live project of this tenant, or NOT_FOUND."""
    return load(ctx, swim_lanes.get, lane_id, field, "swim lane")


def check_lane_version(lane: SwimLaneRecord, expected_version: int) -> None:
    expect_version(lane, expected_version, "swim lane", lane_to_proto)


def lanes_of(ctx: ReadContext, project_id: str) -> list[pb.SwimLane]:
    return [lane_to_proto(lane) for lane in swim_lanes.list_for_project(ctx.conn, project_id)]


def check_status_value(ctx: ReadContext, project_id: str, status_value: str) -> str:
    if not STATUS_VALUE.fullmatch(status_value):
        raise InvalidArgument(
            "status_value must be 1 to 40 lower-case letters, digits or '_',"
            " starting with a letter",
            field="status_value",
        )
    if swim_lanes.find_by_status(ctx.conn, project_id, status_value) is not None:
        raise AlreadyExists(
            f"the project already has a lane {status_value!r}", field="status_value"
        )
    return status_value


def insert_position(cmd: msg.CreateSwimLane, lane_count: int) -> int:
    """Where the new lane goes: 0..lane_count (lane_count, or absent: the end)."""
    if not cmd.HasField("position"):
        return lane_count
    if not 0 <= cmd.position <= lane_count:
        raise InvalidArgument(f"position must be between 0 and {lane_count}", field="position")
    return cmd.position


@commands.mutation("create_swim_lane", role=Role.ADMIN)
def create_swim_lane(ctx: WriteContext, cmd: msg.CreateSwimLane) -> Change:
    """Adds a lane to a project, at the given position or at the end."""
    project = load_project(ctx, cmd.project_id)
    name = text(cmd.name, "name", max_chars=MAX_NAME_CHARS)
    status_value = check_status_value(ctx, project.id, cmd.status_value)
    lane_id = fresh_id(ctx, cmd.id, swim_lanes.id_exists, "swim lane")
    order = [lane.id for lane in swim_lanes.list_for_project(ctx.conn, project.id)]
    if len(order) >= MAX_LANES_PER_PROJECT:
        raise FailedPrecondition(
            f"a project has at most {MAX_LANES_PER_PROJECT} lanes", field="project_id"
        )
    position = insert_position(cmd, len(order))
    order.insert(position, lane_id)
    swim_lanes.insert(
        ctx.conn,
        lane_id=lane_id,
        project_id=project.id,
        name=name,
        status_value=status_value,
        position=position,
        is_default=False,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    swim_lanes.write_order(ctx.conn, order)
    ctx.log("swim_lane", lane_id, project.id, "created")
    lanes = lanes_of(ctx, project.id)
    lane = lanes[position]
    return Change(
        result=msg.CreateSwimLaneResult(lane=lane, lanes=lanes),
        event=msg.SwimLaneCreated(lane=lane, lanes=lanes),
        project_ids=[project.id],
    )


@commands.mutation("update_swim_lane", role=Role.ADMIN)
def update_swim_lane(ctx: WriteContext, cmd: msg.UpdateSwimLane) -> Change:
    """Renames a lane; its status_value never changes."""
    lane = load_lane(ctx, cmd.lane_id)
    check_lane_version(lane, cmd.expected_version)
    if not cmd.HasField("name"):
        raise InvalidArgument("nothing to update: set name", field="name")
    name = text(cmd.name, "name", max_chars=MAX_NAME_CHARS)
    before = lane_to_proto(lane)
    after = lane_to_proto(
        swim_lanes.update(
            ctx.conn, lane.id, {"name": name}, actor_id=ctx.user_id, now_ms=ctx.now_ms
        )
    )
    changes = field_changes(before, after, ["name"])
    if not changes:
        raise Unchanged(msg.UpdateSwimLaneResult(lane=before))
    log_changes(ctx, "swim_lane", lane.id, lane.project_id, changes)
    return Change(
        result=msg.UpdateSwimLaneResult(lane=after, changes=changes),
        event=msg.SwimLaneUpdated(lane=after, changes=changes),
        project_ids=[lane.project_id],
    )


def check_new_order(current: list[str], lane_ids: list[str]) -> list[str]:
    """The requested order, which must name every live lane of the project exactly once."""
    wanted = [parse_id(lane_id, "lane_ids") for lane_id in lane_ids]
    if len(set(wanted)) != len(wanted):
        raise InvalidArgument("lane_ids names a lane twice", field="lane_ids")
    if set(wanted) != set(current):
        raise InvalidArgument(
            "lane_ids must name every live lane of the project exactly once", field="lane_ids"
        )
    return wanted


@commands.mutation("reorder_swim_lanes", role=Role.ADMIN)
def reorder_swim_lanes(ctx: WriteContext, cmd: msg.ReorderSwimLanes) -> Change:
    """Puts a project's lanes in a new order; the project's version counts the change."""
    project = load_project(ctx, cmd.project_id)
    check_version(project, cmd.expected_version)
    current = [lane.id for lane in swim_lanes.list_for_project(ctx.conn, project.id)]
    order = check_new_order(current, list(cmd.lane_ids))
    if order == current:
        raise Unchanged(
            msg.ReorderSwimLanesResult(
                lanes=lanes_of(ctx, project.id), project=project_to_proto(project)
            )
        )
    swim_lanes.write_order(ctx.conn, order)
    after = projects.update(ctx.conn, project.id, {}, actor_id=ctx.user_id, now_ms=ctx.now_ms)
    ctx.log(
        "project",
        project.id,
        project.id,
        "updated",
        "lane_order",
        json.dumps(current),
        json.dumps(order),
    )
    lanes = lanes_of(ctx, project.id)
    return Change(
        result=msg.ReorderSwimLanesResult(lanes=lanes, project=project_to_proto(after)),
        event=msg.SwimLanesReordered(project_id=project.id, lanes=lanes),
        project_ids=[project.id],
    )


@commands.mutation("delete_swim_lane", role=Role.ADMIN)
def delete_swim_lane(ctx: WriteContext, cmd: msg.DeleteSwimLane) -> Change:
    """Soft-deletes an empty, non-default lane; the others close up to 0..n-1."""
    lane = load_lane(ctx, cmd.lane_id)
    check_lane_version(lane, cmd.expected_version)
    if lane.is_default:
        raise FailedPrecondition(
            f"{lane.status_value!r} is a default lane and cannot be deleted", field="lane_id"
        )
    held = swim_lanes.live_item_count(ctx.conn, lane.project_id, lane.status_value)
    if held:
        raise FailedPrecondition(
            f"the lane still holds {held} work item(s); move them first", field="lane_id"
        )
    swim_lanes.soft_delete(
        ctx.conn, lane.id, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
    )
    remaining = swim_lanes.list_for_project(ctx.conn, lane.project_id)
    swim_lanes.write_order(ctx.conn, [other.id for other in remaining])
    ctx.log("swim_lane", lane.id, lane.project_id, "deleted")
    lanes = lanes_of(ctx, lane.project_id)
    return Change(
        result=msg.DeleteSwimLaneResult(lane_id=lane.id, lanes=lanes),
        event=msg.SwimLaneDeleted(lane_id=lane.id, project_id=lane.project_id, lanes=lanes),
        project_ids=[lane.project_id],
    )


@commands.query("list_swim_lanes")
def list_swim_lanes(ctx: ReadContext, cmd: msg.ListSwimLanes) -> msg.ListSwimLanesResult:
    """A live project's lanes in order."""
    project = load_project(ctx, cmd.project_id)
    return msg.ListSwimLanesResult(lanes=lanes_of(ctx, project.id))
