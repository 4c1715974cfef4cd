"""Harness subcommands of the session: ping, watch."""

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
