"""Harness subcommands for time tracking: timers, entries, totals."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from pm.v1 import time_entries_pb2 as msg
from scripts.harness.client import Client


async def start_timer(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "start_timer", msg.StartTimer(id=args.id, work_item_id=args.item, note=args.note)
    )


async def stop_timer(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("stop_timer", msg.StopTimer(time_entry_id=args.entry))


async def create_time_entry(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "create_time_entry",
        msg.CreateTimeEntry(
            id=args.id,
            work_item_id=args.item,
            started_at_ms=args.started_at,
            ended_at_ms=args.ended_at,
            note=args.note,
        ),
    )


async def update_time_entry(client: Client, args: argparse.Namespace) -> Message | None:
    command = msg.UpdateTimeEntry(time_entry_id=args.entry, expected_version=args.version)
    if args.started_at is not None:
        command.started_at_ms = args.started_at
    if args.ended_at is not None:
        command.ended_at_ms = args.ended_at
    if args.note is not None:
        command.note = args.note
    return await client.result("update_time_entry", command)


async def delete_time_entry(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "delete_time_entry",
        msg.DeleteTimeEntry(time_entry_id=args.entry, expected_version=args.version),
    )


async def list_time_entries(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "list_time_entries",
        msg.ListTimeEntries(
            work_item_id=args.item,
            user_id=args.user,
            page_size=args.page_size,
            page_token=args.page_token,
        ),
    )


async def running_timer(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result("get_running_timer", msg.GetRunningTimer())


async def time_totals(client: Client, args: argparse.Namespace) -> Message | None:
    return await client.result(
        "get_time_totals", msg.GetTimeTotals(work_item_id=args.item, user_id=args.user)
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("start-timer", help="start your timer (stops the running one)")
    p.add_argument("--item", required=True, help="work item id")
    p.add_argument("--note", default="")
    p.add_argument("--id", default="", help="optional client-generated UUID")
    p.set_defaults(run=start_timer)
    p = sub.add_parser("stop-timer", help="stop your running timer")
    p.add_argument("--entry", default="", help="time entry id (default: the running one)")
    p.set_defaults(run=stop_timer)
    p = sub.add_parser("create-time-entry", help="record a finished entry by hand")
    p.add_argument("--item", required=True, help="work item id")
    p.add_argument("--started-at", type=int, required=True, help="Unix ms")
    p.add_argument("--ended-at", type=int, required=True, help="Unix ms")
    p.add_argument("--note", default="")
    p.add_argument("--id", default="", help="optional client-generated UUID")
    p.set_defaults(run=create_time_entry)
    p = sub.add_parser("update-time-entry", help="change one of your entries")
    p.add_argument("--entry", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.add_argument("--started-at", type=int, help="Unix ms")
    p.add_argument("--ended-at", type=int, help="Unix ms")
    p.add_argument("--note")
    p.set_defaults(run=update_time_entry)
    p = sub.add_parser("delete-time-entry", help="delete one of your entries")
    p.add_argument("--entry", required=True)
    p.add_argument("--version", type=int, required=True, help="expected version")
    p.set_defaults(run=delete_time_entry)
    p = sub.add_parser("list-time-entries", help="an item's and/or a user's entries")
    p.add_argument("--item", default="", help="work item id")
    p.add_argument("--user", default="", help="user id")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.set_defaults(run=list_time_entries)
    p = sub.add_parser("running-timer", help="your running timer, if any")
    p.set_defaults(run=running_timer)
    p = sub.add_parser("time-totals", help="totals per user of an item, or per item of a user")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--item", default="", help="work item id")
    group.add_argument("--user", default="", help="user id")
    p.set_defaults(run=time_totals)
