"""Harness subcommands for users."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import users_pb2 as msg
from scripts.harness.client import Client


async def list_users(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "list_users",
        msg.ListUsers(user_ids=args.user, page_size=args.page_size, page_token=args.page_token),
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("users", help="the tenant's users with their names, in id order")
    p.add_argument("--user", action="append", default=[], help="only this user id (repeatable)")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=list_users)
