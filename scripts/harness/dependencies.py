"""Harness subcommands for dependencies between work items."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import dependencies_pb2 as msg
from pm.v1 import entities_pb2 as pb
from scripts.harness.client import Client

TYPES = {"blocks": pb.DEPENDENCY_TYPE_BLOCKS, "relates_to": pb.DEPENDENCY_TYPE_RELATES_TO}


async def create_dependency(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "create_dependency",
        msg.CreateDependency(
            id=args.id, from_item_id=args.from_item, to_item_id=args.to_item, type=TYPES[args.type]
        ),
    )


async def delete_dependency(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_dependency",
        msg.DeleteDependency(dependency_id=args.dependency, expected_version=args.version),
    )


async def list_dependencies(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("list_dependencies", msg.ListDependencies(work_item_id=args.item))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create-dependency", help="FROM blocks TO (TO waits), or relates_to")
    p.add_argument("--from", dest="from_item", required=True, help="work item id")
    p.add_argument("--to", dest="to_item", required=True, help="work item id")
    p.add_argument("--type", choices=sorted(TYPES), default="blocks")
    p.add_argument("--id", default="", help="optional client-generated UUID")
    p.set_defaults(run=create_dependency)
    p = sub.add_parser("delete-dependency", help="remove a dependency")
    p.add_argument("--dependency", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.set_defaults(run=delete_dependency)
    p = sub.add_parser("list-dependencies", help="blocked by, blocks, relates to, is blocked")
    p.add_argument("--item", required=True, help="work item id")
    p.set_defaults(run=list_dependencies)
