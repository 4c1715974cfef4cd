"""Harness subcommand for the activity log."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import activity_pb2 as msg
from scripts.harness.client import Client

ENTITY_TYPES = [
    "project",
    "swim_lane",
    "work_item",
    "sprint",
    "comment",
    "time_entry",
    "dependency",
]


async def activity(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "get_activity",
        msg.GetActivity(
            entity_type=args.entity_type,
            entity_id=args.entity_id,
            project_id=args.project,
            page_size=args.page_size,
            page_token=args.page_token,
        ),
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "activity", help="an entity's history (--entity-type, --entity-id) or a project's"
    )
    p.add_argument("--entity-type", default="", choices=["", *ENTITY_TYPES])
    p.add_argument("--entity-id", default="")
    p.add_argument("--project", default="", help="project id")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=activity)
