"""Harness subcommands for comments."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import comments_pb2 as msg
from scripts.harness.client import Client


async def create_comment(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "create_comment",
        msg.CreateComment(
            id=args.id,
            work_item_id=args.item,
            content=args.content,
            parent_comment_id=args.parent,
        ),
    )


async def update_comment(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "update_comment",
        msg.UpdateComment(
            comment_id=args.comment, expected_version=args.version, content=args.content
        ),
    )


async def delete_comment(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_comment", msg.DeleteComment(comment_id=args.comment, expected_version=args.version)
    )


async def list_comments(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "list_comments",
        msg.ListComments(
            work_item_id=args.item, page_size=args.page_size, page_token=args.page_token
        ),
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create-comment", help="comment on a work item, or reply with --parent")
    p.add_argument("--item", required=True)
    p.add_argument("--content", required=True)
    p.add_argument("--parent", default="", help="comment to reply to")
    p.add_argument("--id", default="", help="client-generated UUID")
    p.set_defaults(run=create_comment)
    p = sub.add_parser("update-comment", help="your own comments only")
    p.add_argument("--comment", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.add_argument("--content", required=True)
    p.set_defaults(run=update_comment)
    p = sub.add_parser("delete-comment", help="yours, or any as admin")
    p.add_argument("--comment", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.set_defaults(run=delete_comment)
    p = sub.add_parser("list-comments", help="threads, oldest first")
    p.add_argument("--item", required=True)
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=list_comments)
