"""`demo`: a second connection watches live while the first builds a small board.

Against `make run`'s server:
    python -m scripts.harness --token <token> demo
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as proj
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as msg
from scripts.harness.client import Client
from scripts.harness.output import render

Emit = Callable[[str], None]

# (name, type, title, parent name)
ITEMS = [
    ("epic", pb.WORK_ITEM_TYPE_EPIC, "Accounts", None),
    ("login", pb.WORK_ITEM_TYPE_STORY, "Log in", "epic"),
    ("signup", pb.WORK_ITEM_TYPE_STORY, "Sign up", "epic"),
    ("form", pb.WORK_ITEM_TYPE_TASK, "Login form", "login"),
    ("validation", pb.WORK_ITEM_TYPE_TASK, "Validate input", "login"),
    ("tests", pb.WORK_ITEM_TYPE_TASK, "Sign-up tests", "signup"),
]
# (name, target lane, "before"/"after"/None, neighbour name)
MOVES = [
    ("login", "in_progress", None, None),
    ("form", "in_progress", "after", "login"),
    ("validation", "in_progress", "before", "form"),
    ("signup", "in_review", None, None),
    ("tests", "done", None, None),
]
LANES = ["backlog", "in_progress", "in_review", "done"]
WATCH_TIMEOUT = 10.0


@dataclass
class DemoReport:
    project_id: str = ""
    project_key: str = ""
    items: dict[str, pb.WorkItem] = field(default_factory=dict)
    lanes: dict[str, list[str]] = field(default_factory=dict)
    events: list[env.Event] = field(default_factory=list)


def describe(event: env.Event) -> str:
    kind = event.WhichOneof("change") or "?"
    change = getattr(event, kind)
    item = getattr(change, "work_item", None)
    if isinstance(item, pb.WorkItem) and item.id:
        detail = f"{item.key} [{item.status}] {item.title}"
    elif kind == "project_created":
        detail = f"{change.project.key} {change.project.name}"
    else:
        detail = ""
    return f"[watcher] seq {event.seq:>4}  {kind:<18} {detail}".rstrip()


async def watch(
    watcher: Client, project_id: str, count: int, report: DemoReport, emit: Emit, as_json: bool
) -> None:
    """Print this project's events as they arrive until `count` of them were seen."""
    async for event in watcher.stream():
        if project_id not in event.project_ids:
            continue
        report.events.append(event)
        emit(render(event, True) if as_json else describe(event))
        if len(report.events) >= count:
            return


def say(emit: Emit, as_json: bool, text: str) -> None:
    if not as_json:
        emit(f"[main]    {text}")


async def build_items(client: Client, report: DemoReport, emit: Emit, as_json: bool) -> None:
    for name, item_type, title, parent in ITEMS:
        created = await client.result(
            "create_work_item",
            msg.CreateWorkItem(
                project_id=report.project_id,
                type=item_type,
                title=title,
                parent_id=report.items[parent].id if parent else "",
            ),
        )
        item = created.work_item  # type: ignore[attr-defined]
        report.items[name] = item
        say(emit, as_json, f"created {item.key} {title}")


async def move_items(client: Client, report: DemoReport, emit: Emit, as_json: bool) -> None:
    for name, lane, side, neighbour in MOVES:
        item = report.items[name]
        command = msg.MoveWorkItem(work_item_id=item.id, expected_version=item.version, status=lane)
        if side == "before" and neighbour:
            command.before_id = report.items[neighbour].id
        if side == "after" and neighbour:
            command.after_id = report.items[neighbour].id
        moved = await client.result("move_work_item", command)
        report.items[name] = moved.work_item  # type: ignore[attr-defined]
        where = f" {side} {report.items[neighbour].key}" if side and neighbour else ""
        say(emit, as_json, f"moved {item.key} to {lane}{where}")


async def read_lanes(client: Client, report: DemoReport) -> None:
    listed = await client.result(
        "list_work_items", msg.ListWorkItems(project_id=report.project_id, page_size=500)
    )
    report.lanes = {lane: [] for lane in LANES}
    for item in listed.work_items:  # type: ignore[attr-defined]
        report.lanes.setdefault(item.status, []).append(item.key)


async def demo(
    client: Client, watcher: Client, *, emit: Emit = print, as_json: bool = False
) -> DemoReport:
    """Create a project and a small hierarchy, move some items; the watcher prints it live."""
    report = DemoReport()
    await watcher.result("subscribe", session_pb2.Subscribe(tenant_feed=True))
    key = f"D{random.randrange(10**8):08d}"
    created = await client.result("create_project", proj.CreateProject(key=key, name="Demo"))
    project = created.project  # type: ignore[attr-defined]
    report.project_id, report.project_key = project.id, project.key
    say(emit, as_json, f"created project {key}")
    # Subscribed before any item exists, so the watcher misses nothing of the project.
    await watcher.result("subscribe", session_pb2.Subscribe(project_ids=[project.id]))
    expected = 1 + len(ITEMS) + len(MOVES)
    watching = asyncio.create_task(watch(watcher, project.id, expected, report, emit, as_json))
    try:
        await build_items(client, report, emit, as_json)
        await move_items(client, report, emit, as_json)
        async with asyncio.timeout(WATCH_TIMEOUT):
            await asyncio.shield(watching)
    finally:
        watching.cancel()
    await read_lanes(client, report)
    emit(summary(report, as_json))
    return report


def summary(report: DemoReport, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "project": report.project_key,
                "lanes": report.lanes,
                "events_seen": len(report.events),
            },
            separators=(",", ":"),
        )
    lines = [f"summary: project {report.project_key}, watcher saw {len(report.events)} events"]
    lines += [f"  {lane:<12} {' '.join(keys) or '-'}" for lane, keys in report.lanes.items()]
    return "\n".join(lines)


async def run_demo(client: Client, args: argparse.Namespace) -> Message | None:
    async with Client(args.url, args.token) as watcher:
        await demo(client, watcher, emit=lambda line: print(line, flush=True), as_json=args.json)
    return None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="build a small board while a second connection watches")
    p.set_defaults(run=run_demo)
