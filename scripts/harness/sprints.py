"""Harness subcommands for sprints."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from pm.v1 import sprints_pb2 as msg
from scripts.harness.client import Client

STATES = {
    "planned": pb.SPRINT_STATE_PLANNED,
    "active": pb.SPRINT_STATE_ACTIVE,
    "completed": pb.SPRINT_STATE_COMPLETED,
    "cancelled": pb.SPRINT_STATE_CANCELLED,
}


async def create_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "create_sprint",
        msg.CreateSprint(
            id=args.id,
            project_id=args.project,
            name=args.name,
            goal=args.goal,
            start_date_ms=args.start,
            end_date_ms=args.end,
        ),
    )


async def update_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.UpdateSprint(sprint_id=args.sprint, expected_version=args.version)
    if args.name is not None:
        command.name = args.name
    if args.goal is not None:
        command.goal = args.goal
    if args.start is not None:
        command.start_date_ms = args.start
    if args.end is not None:
        command.end_date_ms = args.end
    return await client.result("update_sprint", command)


async def start_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "start_sprint", msg.StartSprint(sprint_id=args.sprint, expected_version=args.version)
    )


async def complete_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "complete_sprint",
        msg.CompleteSprint(
            sprint_id=args.sprint,
            expected_version=args.version,
            carry_over_sprint_id=args.carry_over,
        ),
    )


async def cancel_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "cancel_sprint", msg.CancelSprint(sprint_id=args.sprint, expected_version=args.version)
    )


async def delete_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_sprint", msg.DeleteSprint(sprint_id=args.sprint, expected_version=args.version)
    )


async def list_sprints(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "list_sprints",
        msg.ListSprints(
            project_id=args.project,
            state=STATES[args.state] if args.state else pb.SPRINT_STATE_UNSPECIFIED,
            page_size=args.page_size,
            page_token=args.page_token,
        ),
    )


async def sprint_stats(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("get_sprint_stats", msg.GetSprintStats(sprint_id=args.sprint))


async def assign_to_sprint(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "assign_to_sprint", msg.AssignToSprint(sprint_id=args.sprint, work_item_ids=args.items)
    )


def _versioned(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p: argparse.ArgumentParser = sub.add_parser(name, help=help)
    p.add_argument("--sprint", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    return p


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create-sprint", help="plan a sprint (times in Unix ms)")
    p.add_argument("--project", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--goal", default="")
    p.add_argument("--start", type=int, required=True, help="start date, Unix ms")
    p.add_argument("--end", type=int, required=True, help="end date, Unix ms")
    p.add_argument("--id", default="", help="client-generated UUID")
    p.set_defaults(run=create_sprint)
    p = _versioned(sub, "update-sprint", "change name, goal or dates")
    p.add_argument("--name")
    p.add_argument("--goal")
    p.add_argument("--start", type=int)
    p.add_argument("--end", type=int)
    p.set_defaults(run=update_sprint)
    _versioned(sub, "start-sprint", "planned -> active").set_defaults(run=start_sprint)
    p = _versioned(sub, "complete-sprint", "active -> completed")
    p.add_argument("--carry-over", default="", help="planned sprint for unfinished items")
    p.set_defaults(run=complete_sprint)
    _versioned(sub, "cancel-sprint", "planned|active -> cancelled").set_defaults(run=cancel_sprint)
    _versioned(sub, "delete-sprint", "soft delete").set_defaults(run=delete_sprint)
    p = sub.add_parser("list-sprints", help="a project's sprints, optionally by --state")
    p.add_argument("--project", required=True)
    p.add_argument("--state", choices=sorted(STATES))
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=list_sprints)
    p = sub.add_parser("sprint-stats", help="items and points, total and done")
    p.add_argument("--sprint", required=True)
    p.set_defaults(run=sprint_stats)
    p = sub.add_parser("assign-to-sprint", help="no --sprint: back to the backlog")
    p.add_argument("--sprint", default="")
    p.add_argument("items", nargs="+", metavar="WORK_ITEM_ID")
    p.set_defaults(run=assign_to_sprint)
