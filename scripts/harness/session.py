"""Harness subcommands of the session: ping, watch, presence, view, refresh-token."""

from __future__ import annotations

import argparse
import sys
import time

from google.protobuf.message import Message

from pm.v1 import session_pb2
from scripts.harness.client import Client
from scripts.harness.output import render


async def ping(client: Client, args: argparse.Namespace) -> Message | None:
    started = time.perf_counter()
    await client.call("ping", session_pb2.Ping())
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(
        f'{{"pong":true,"rtt_ms":{elapsed_ms:.3f}}}' if args.json else f"pong {elapsed_ms:.2f} ms"
    )
    return None


async def watch(client: Client, args: argparse.Namespace) -> Message | None:
    """Subscribe and print every event as one JSON line until interrupted."""
    command = session_pb2.Subscribe(project_ids=args.project or [], tenant_feed=args.tenant_feed)
    if args.since is not None:
        # Present, 0 included, means replay; absent means live events only. The seq belongs
        # to an epoch: the one given, or this connection's (its Welcome's).
        command.since_seq = args.since
        welcome = client.welcome.welcome if client.welcome is not None else None
        command.epoch = args.epoch or (welcome.epoch if welcome is not None else "")
    subscribed = await client.result("subscribe", command)
    assert isinstance(subscribed, session_pb2.SubscribeResult)
    # On stderr, so stdout stays one JSON line per event; a caller can wait for this line.
    status = f"subscribed (current seq {subscribed.current_seq}"
    if args.since is not None and subscribed.replay_to_seq > args.since:
        status += f", replaying seq {args.since + 1} to {subscribed.replay_to_seq}"
    elif args.since is not None:
        status += ", nothing to replay"
    print(f"{status}, epoch {subscribed.epoch})", file=sys.stderr, flush=True)
    async for event in client.stream():
        print(render(event, True), flush=True)
        if args.count and args.count > 0:
            args.count -= 1
            if args.count == 0:
                break
    return None


def _print_presence(update: session_pb2.PresenceUpdate, as_json: bool) -> None:
    if as_json:
        print(render(update, True), flush=True)
        return
    people = ", ".join(
        f"{e.user_id} x{e.connections}"
        + (f" viewing {e.viewing_work_item_id}" if e.viewing_work_item_id else "")
        for e in update.entries
    )
    print(f"{update.project_id}: {people or 'nobody'}", flush=True)


async def _follow_presence(client: Client, count: int, as_json: bool) -> None:
    """Print presence updates until interrupted, or until `count` of them (if above 0)."""
    async for update in client.presence_updates():
        _print_presence(update, as_json)
        count -= 1
        if count == 0:
            return


async def presence(client: Client, args: argparse.Namespace) -> Message | None:
    """Subscribe and print the projects' presence, then each update, one line each."""
    subscribed = await client.result("subscribe", session_pb2.Subscribe(project_ids=args.project))
    assert isinstance(subscribed, session_pb2.SubscribeResult)
    for update in subscribed.presence:
        _print_presence(update, args.json)
    print("watching presence", file=sys.stderr, flush=True)
    await _follow_presence(client, args.count, args.json)
    return None


async def view(client: Client, args: argparse.Namespace) -> Message | None:
    """Subscribe, say which item this user views, print the presence; then stay (and print
    updates) until interrupted, unless --once: the user leaves when the harness does."""
    await client.result("subscribe", session_pb2.Subscribe(project_ids=[args.project]))
    viewing = await client.result(
        "set_viewing", session_pb2.SetViewing(project_id=args.project, work_item_id=args.item)
    )
    assert isinstance(viewing, session_pb2.SetViewingResult)
    _print_presence(viewing.presence, args.json)
    if not args.once:
        print("viewing; interrupt to leave", file=sys.stderr, flush=True)
        await _follow_presence(client, args.count, args.json)
    return None


async def refresh_token(client: Client, args: argparse.Namespace) -> Message | None:
    """Refresh this connection with a newer token: prints the new expiry and roles."""
    return await client.result("refresh_token", session_pb2.RefreshToken(token=args.new_token))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ping", help="round trip a Ping")
    p.set_defaults(run=ping)
    p = sub.add_parser("watch", help="print a project's events as JSON lines")
    p.add_argument("--project", action="append", help="project id (repeatable)")
    p.add_argument("--tenant-feed", action="store_true", help="also project-level events")
    p.add_argument(
        "--since",
        type=int,
        default=None,
        metavar="SEQ",
        help="first replay the stored events after SEQ (0: from the first); default: live only",
    )
    p.add_argument(
        "--epoch",
        default="",
        help="the epoch SEQ belongs to (default: the tenant's current one, from Welcome)",
    )
    p.add_argument("--count", type=int, default=0, help="stop after this many events")
    p.set_defaults(run=watch)
    p = sub.add_parser("presence", help="print who is in projects, live, one line per update")
    p.add_argument("--project", action="append", required=True, help="project id (repeatable)")
    p.add_argument("--count", type=int, default=0, help="stop after this many updates")
    p.set_defaults(run=presence)
    p = sub.add_parser("view", help="say which work item you are viewing in a project")
    p.add_argument("--project", required=True, help="project id")
    p.add_argument("--item", default="", help="work item id (default: the board)")
    p.add_argument("--once", action="store_true", help="exit at once (and so leave)")
    p.add_argument("--count", type=int, default=0, help="stop after this many updates")
    p.set_defaults(run=view)
    p = sub.add_parser("refresh-token", help="move this connection's expiry with a newer token")
    p.add_argument("--new-token", required=True, help="a JWT of the same user and tenant")
    p.set_defaults(run=refresh_token)
