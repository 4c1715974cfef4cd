"""Harness subcommands for work items."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as msg
from scripts.harness.client import Client

TYPES = {
    "epic": pb.WORK_ITEM_TYPE_EPIC,
    "story": pb.WORK_ITEM_TYPE_STORY,
    "task": pb.WORK_ITEM_TYPE_TASK,
    "bug": pb.WORK_ITEM_TYPE_BUG,
}
PRIORITIES = {
    "low": pb.PRIORITY_LOW,
    "medium": pb.PRIORITY_MEDIUM,
    "high": pb.PRIORITY_HIGH,
    "critical": pb.PRIORITY_CRITICAL,
}


async def create_item(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.CreateWorkItem(
        id=args.id,
        project_id=args.project,
        type=TYPES[args.type],
        title=args.title,
        description=args.description,
        parent_id=args.parent,
        status=args.status,
        priority=PRIORITIES[args.priority] if args.priority else pb.PRIORITY_UNSPECIFIED,
        assignee_id=args.assignee,
        sprint_id=args.sprint,
    )
    if args.points is not None:
        command.story_points = args.points
    return await client.result("create_work_item", command)


async def update_item(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.UpdateWorkItem(
        work_item_id=args.item,
        expected_version=args.version,
        clear_assignee_id=args.clear_assignee,
        clear_sprint_id=args.clear_sprint,
        clear_story_points=args.clear_points,
    )
    for name, value in (
        ("title", args.title),
        ("description", args.description),
        ("assignee_id", args.assignee),
        ("sprint_id", args.sprint),
        ("story_points", args.points),
    ):
        if value is not None:
            setattr(command, name, value)
    if args.type is not None:
        command.type = TYPES[args.type]
    if args.priority is not None:
        command.priority = PRIORITIES[args.priority]
    return await client.result("update_work_item", command)


async def move_item(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.MoveWorkItem(
        work_item_id=args.item,
        expected_version=args.version,
        status=args.status,
        clear_parent_id=args.clear_parent,
        before_id=args.before,
        after_id=args.after,
    )
    if args.parent is not None:
        command.parent_id = args.parent
    return await client.result("move_work_item", command)


async def delete_item(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_work_item",
        msg.DeleteWorkItem(work_item_id=args.item, expected_version=args.version),
    )


async def restore_item(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("restore_work_item", msg.RestoreWorkItem(work_item_id=args.item))


async def get_item(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("get_work_item", msg.GetWorkItem(work_item_id=args.item))


async def list_items(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "list_work_items",
        msg.ListWorkItems(
            project_id=args.project,
            status=args.status,
            sprint_id=args.sprint,
            assignee_id=args.assignee,
            type=TYPES[args.type] if args.type else pb.WORK_ITEM_TYPE_UNSPECIFIED,
            parent_id=args.parent,
            page_size=args.page_size,
            page_token=args.page_token,
        ),
    )


async def item_tree(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("get_work_item_tree", msg.GetWorkItemTree(work_item_id=args.item))


async def ancestors(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("get_ancestors", msg.GetAncestors(work_item_id=args.item))


def _item(p: argparse.ArgumentParser) -> None:
    p.add_argument("--item", required=True, help="work item id")


def _version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", type=int, required=True, help="expected version")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create-item", help="create an epic, story, task or bug")
    p.add_argument("--project", required=True)
    p.add_argument("--type", choices=TYPES, required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--parent", default="")
    p.add_argument("--status", default="", help="lane status value (default backlog)")
    p.add_argument("--priority", choices=PRIORITIES)
    p.add_argument("--assignee", default="")
    p.add_argument("--sprint", default="")
    p.add_argument("--points", type=int)
    p.add_argument("--id", default="", help="client-chosen UUID")
    p.set_defaults(run=create_item)

    p = sub.add_parser("update-item", help="change fields other than status, parent, rank")
    _item(p)
    _version(p)
    p.add_argument("--title")
    p.add_argument("--description")
    p.add_argument("--type", choices=TYPES)
    p.add_argument("--priority", choices=PRIORITIES)
    p.add_argument("--assignee")
    p.add_argument("--clear-assignee", action="store_true")
    p.add_argument("--sprint")
    p.add_argument("--clear-sprint", action="store_true")
    p.add_argument("--points", type=int)
    p.add_argument("--clear-points", action="store_true")
    p.set_defaults(run=update_item)

    p = sub.add_parser("move-item", help="change lane, position or parent")
    _item(p)
    _version(p)
    p.add_argument("--status", default="", help="target lane (default: the current one)")
    parent = p.add_mutually_exclusive_group()
    parent.add_argument("--parent")
    parent.add_argument("--clear-parent", action="store_true")
    place = p.add_mutually_exclusive_group()
    place.add_argument("--before", default="", help="place right before this item")
    place.add_argument("--after", default="", help="place right after this item")
    p.set_defaults(run=move_item)

    p = sub.add_parser("delete-item", help="delete an item with its descendants")
    _item(p)
    _version(p)
    p.set_defaults(run=delete_item)

    p = sub.add_parser("restore-item", help="restore a deleted item (within 30 days)")
    _item(p)
    p.set_defaults(run=restore_item)

    p = sub.add_parser("get-item", help="one work item")
    _item(p)
    p.set_defaults(run=get_item)

    p = sub.add_parser("list-items", help="a project's items in board order")
    p.add_argument("--project", required=True)
    p.add_argument("--status", default="")
    p.add_argument("--sprint", default="")
    p.add_argument("--assignee", default="")
    p.add_argument("--type", choices=TYPES)
    p.add_argument("--parent", default="")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=list_items)

    p = sub.add_parser("item-tree", help="an item and its descendants")
    _item(p)
    p.set_defaults(run=item_tree)

    p = sub.add_parser("ancestors", help="an item's path from the root")
    _item(p)
    p.set_defaults(run=ancestors)
