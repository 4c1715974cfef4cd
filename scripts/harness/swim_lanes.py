"""Harness subcommands for swim lanes (all but list-lanes need the admin role)."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import projects_pb2 as msg
from scripts.harness.client import Client


async def create_lane(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.CreateSwimLane(
        project_id=args.project, name=args.name, status_value=args.status_value
    )
    if args.position is not None:
        command.position = args.position
    return await client.result("create_swim_lane", command)


async def update_lane(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.UpdateSwimLane(lane_id=args.lane, expected_version=args.version)
    if args.name is not None:
        command.name = args.name
    return await client.result("update_swim_lane", command)


async def reorder_lanes(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "reorder_swim_lanes",
        msg.ReorderSwimLanes(
            project_id=args.project, lane_ids=args.lane_ids, expected_version=args.version
        ),
    )


async def delete_lane(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_swim_lane", msg.DeleteSwimLane(lane_id=args.lane, expected_version=args.version)
    )


async def list_lanes(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("list_swim_lanes", msg.ListSwimLanes(project_id=args.project))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create-lane", help="add a lane to a project (admin only)")
    p.add_argument("--project", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--status-value", required=True, help="e.g. qa; never changes later")
    p.add_argument("--position", type=int, help="0-based; default: at the end")
    p.set_defaults(run=create_lane)
    p = sub.add_parser("update-lane", help="rename a lane (admin only)")
    p.add_argument("--lane", required=True)
    p.add_argument("--version", type=int, required=True, help="the lane's expected version")
    p.add_argument("--name")
    p.set_defaults(run=update_lane)
    p = sub.add_parser("reorder-lanes", help="put every lane in a new order (admin only)")
    p.add_argument("--project", required=True)
    p.add_argument("--version", type=int, required=True, help="the PROJECT's expected version")
    p.add_argument("lane_ids", nargs="+", help="every live lane id of the project, in order")
    p.set_defaults(run=reorder_lanes)
    p = sub.add_parser("delete-lane", help="delete an empty, non-default lane (admin only)")
    p.add_argument("--lane", required=True)
    p.add_argument("--version", type=int, required=True, help="the lane's expected version")
    p.set_defaults(run=delete_lane)
    p = sub.add_parser("list-lanes", help="a project's lanes in board order")
    p.add_argument("--project", required=True)
    p.set_defaults(run=list_lanes)
