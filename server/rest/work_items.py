"""GET /work-items/{item_id} and GET /projects/{project_id}/items/{number}: one work item
with everything around it, in one read.

The body is the item, its live children (board order), its ancestors (root first), its
comment threads (oldest first), its dependencies in both directions with the other item's
number and title, its time entries (newest start first) with the totals of the finished
ones, and its history: the item's own activity rows, newest first, the last 100. Everything
comes from one read transaction, so the parts agree with each other and with `seq`.

By number, `PM-7` (the project's key and the item's number, as `key` shows it) or just `7`
names an item of the project in the path; numbers are never reused, so one names one item
for good. A deleted item is not found, whichever way it is asked for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from pm.v1 import entities_pb2 as pb
from pm.v1 import time_entries_pb2 as time_msg
from server.auth import Principal
from server.commands import ReadContext
from server.handlers.projects import load_project
from server.handlers.work_items import load_item
from server.rest import jsonview
from server.rest.activity import Labels, change_lines, labels_for
from server.rest.api import View, snapshot
from server.rest.jsonview import to_json
from server.rest.markdown import duration, when
from server.rest.routes import ApiRoute
from server.services import Services
from server.wire.activity import activity_to_proto
from server.wire.comments import thread_to_proto
from server.wire.dependencies import dependency_to_proto
from server.wire.time_entries import time_entry_to_proto, time_total_to_proto
from server.wire.work_items import work_item_to_proto
from tenants import activity, dependencies, sprints, time_entries, work_items
from tenants.activity import ActivityRecord
from tenants.comments import CommentRecord, Thread, list_threads
from tenants.dependencies import BLOCKS, DependencyRecord
from tenants.errors import InvalidArgument, NotFound
from tenants.time_entries import TimeEntryRecord, TimeTotal
from tenants.work_items import WorkItemRecord

HISTORY_LIMIT = 100
# SQLite reads a negative LIMIT as no limit: the view holds all of an item's comments,
# children and time entries.
_ALL = -1
# `PM-7` or `7`: a project key (2 to 10 upper-case letters or digits, starting with a
# letter) and a number that fits an int64.
_NUMBER = re.compile(r"(?:([A-Z][A-Z0-9]{1,9})-)?([1-9][0-9]{0,17})")
RELATIONS = ("blocked_by", "blocks", "relates_to")


@dataclass(frozen=True)
class Link:
    """One dependency of the item, seen from the item: what the other end is to it."""

    relation: str  # blocked_by (the other blocks this one), blocks, relates_to
    dependency: DependencyRecord
    other: WorkItemRecord


@dataclass(frozen=True)
class ItemView:
    item: WorkItemRecord
    ancestors: list[WorkItemRecord]
    children: list[WorkItemRecord]
    threads: list[Thread]
    links: list[Link]
    is_blocked: bool
    time_entries: list[TimeEntryRecord]
    time_totals: list[TimeTotal]
    history: list[ActivityRecord]
    labels: Labels
    sprint_name: str | None


def parse_number(number: str, field: str = "number") -> tuple[str | None, int]:
    """(`PM`, 7) of `PM-7`, (None, 7) of `7`; anything else is INVALID_ARGUMENT."""
    match = _NUMBER.fullmatch(number.strip().upper())
    if match is None:
        raise InvalidArgument(
            f"{field} must be an item number like PM-7 (or 7), not {number[:40]!r}", field=field
        )
    return match.group(1), int(match.group(2))


def find_item(ctx: ReadContext, item_ref: str, project_id: str | None) -> WorkItemRecord:
    """The live item the id (project_id None) or the number in the project names."""
    if project_id is None:
        return load_item(ctx, item_ref, "item_id")
    project = load_project(ctx, project_id)
    key, number = parse_number(item_ref)
    if key is not None and key != project.key:
        raise NotFound(f"project {project.key} has no item {key}-{number}", field="number")
    item = work_items.get_by_number(ctx.conn, project.id, number)
    if item is None:
        raise NotFound(f"work item {project.key}-{number} not found", field="number")
    return item


def links_of(ctx: ReadContext, item_id: str) -> list[Link]:
    """blocked_by, then blocks, then relates_to; each oldest first."""
    conn = ctx.conn
    blocked_by = dependencies.edges_into(conn, item_id, BLOCKS)
    blocks = dependencies.edges_out_of(conn, item_id, BLOCKS)
    found = [
        *(("blocked_by", d, d.from_item_id) for d in blocked_by),
        *(("blocks", d, d.to_item_id) for d in blocks),
        *(
            ("relates_to", d, d.to_item_id if d.from_item_id == item_id else d.from_item_id)
            for d in dependencies.related(conn, item_id)
        ),
    ]
    links = []
    for relation, dependency, other_id in found:
        other = work_items.get(conn, other_id, include_deleted=True)
        if other is not None:
            links.append(Link(relation, dependency, other))
    return links


def read_item(ctx: ReadContext, item_ref: str, project_id: str | None) -> ItemView:
    item = find_item(ctx, item_ref, project_id)
    conn = ctx.conn
    children = work_items.list_for_project(
        conn, item.project_id, work_items.ItemFilter(parent_id=item.id), after=None, limit=_ALL
    )
    history = activity.entity_history(conn, "work_item", item.id, before_id=0, limit=HISTORY_LIMIT)
    sprint = sprints.get(conn, item.sprint_id) if item.sprint_id else None
    return ItemView(
        item=item,
        ancestors=work_items.ancestors(conn, item.id),
        children=[child for child, _ in children],
        threads=list_threads(conn, item.id, after=None, limit=_ALL),
        links=links_of(ctx, item.id),
        is_blocked=dependencies.is_blocked(conn, item.id),
        time_entries=time_entries.list_entries(
            conn, work_item_id=item.id, user_id=None, after=None, limit=_ALL
        ),
        time_totals=time_entries.totals_for_item(conn, item.id),
        history=history,
        labels=labels_for(conn, history),
        sprint_name=sprint.name if sprint is not None else None,
    )


def other_item_json(item: WorkItemRecord) -> dict[str, Any]:
    return {
        "id": item.id,
        "project_id": item.project_id,
        "key": item.key,
        "number": item.number,
        "title": item.title,
        "status": item.status,
        "type": item.type,
    }


def body_of(view: ItemView) -> dict[str, Any]:
    return {
        "work_item": to_json(work_item_to_proto(view.item)),
        "ancestors": [to_json(work_item_to_proto(i)) for i in view.ancestors],
        "children": [to_json(work_item_to_proto(i)) for i in view.children],
        "comments": [to_json(thread_to_proto(t)) for t in view.threads],
        "dependencies": [
            {
                "relation": link.relation,
                "dependency": to_json(dependency_to_proto(link.dependency)),
                "other_item": other_item_json(link.other),
            }
            for link in view.links
        ],
        "is_blocked": view.is_blocked,
        "time_entries": [to_json(time_entry_to_proto(e)) for e in view.time_entries],
        "time_total_seconds": sum(t.duration_seconds for t in view.time_totals),
        "time_totals": [to_json(time_total_to_proto(t)) for t in view.time_totals],
        "history": [to_json(activity_to_proto(r)) for r in view.history],
    }


# --- markdown --------------------------------------------------------------------------------


def _indented(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else prefix.rstrip() for line in text.splitlines()]


def _comment_lines(comment: CommentRecord, depth: int) -> list[str]:
    bullet = "  " * depth + "- "
    if comment.deleted_at is not None:
        return [f"{bullet}[deleted comment]"]
    head = f"{bullet}{comment.author_id} ({when(comment.created_at)}):"
    return [head, *_indented(comment.content, "  " * (depth + 1) + "  ")]


_RELATION_WORDS = {"blocked_by": "blocked by", "blocks": "blocks", "relates_to": "relates to"}


def markdown_of(view: ItemView) -> str:
    item = view.item
    facts = [item.type, f"status {item.status}", f"priority {item.priority}"]
    if item.story_points is not None:
        facts.append(f"{item.story_points} points")
    facts.append(f"assignee {item.assignee_id}" if item.assignee_id else "unassigned")
    if view.sprint_name is not None:
        facts.append(f"sprint {json.dumps(view.sprint_name)}")
    lines = [f"# {item.key}: {item.title}", "", "- " + " · ".join(facts)]
    if view.ancestors:
        path = " > ".join(f"{a.key} {a.title}" for a in view.ancestors)
        lines.append(f"- parents (root first): {path}")
    if view.is_blocked:
        lines.append("- blocked: by at least one item not done")
    lines.append(
        f"- created {when(item.created_at)} by {item.created_by}; updated"
        f" {when(item.updated_at)} by {item.updated_by}; version {item.version}"
    )
    if item.description:
        lines += ["", "## Description", "", item.description.rstrip()]
    if view.children:
        lines += ["", f"## Children ({len(view.children)})"]
        lines += [f"- {c.key} {c.type} {c.status}: {c.title}" for c in view.children]
    if view.links:
        lines += ["", "## Dependencies"]
        lines += [
            f"- {_RELATION_WORDS[link.relation]} {link.other.key} ({link.other.status}):"
            f" {link.other.title}"
            for link in view.links
        ]
    if view.threads:
        lines += ["", "## Comments (oldest first)"]
        for thread in view.threads:
            lines += _comment_lines(thread.comment, 0)
            for reply in thread.replies:
                lines += _comment_lines(reply, 1)
    if view.time_entries or view.time_totals:
        total = sum(t.duration_seconds for t in view.time_totals)
        per_user = ", ".join(
            f"{t.user_id} {duration(t.duration_seconds)}" for t in view.time_totals
        )
        summary = f"- total {duration(total)}" + (f": {per_user}" if per_user else "")
        lines += ["", "## Time", "", summary]
        lines += [
            f"- running: {e.user_id} since {when(e.started_at)}"
            for e in view.time_entries
            if e.running
        ]
    if view.history:
        lines += ["", f"## History (newest first, last {HISTORY_LIMIT})"]
        lines += [f"- {line}" for line in change_lines(view.history, view.labels, subject=False)]
    return "\n".join(lines) + "\n"


# --- the view --------------------------------------------------------------------------------


async def work_item_view(
    services: Services, principal: Principal, ref: str, project_id: str | None = None
) -> View:
    """One live work item with its surroundings: `ref` is its id, or with project_id its
    number in that project (`PM-7` or `7`)."""
    shot = await snapshot(services, principal, lambda ctx: read_item(ctx, ref, project_id))
    view = shot.value
    return View(
        body_of(view),
        shot.seq,
        shot.epoch,
        markdown=lambda: markdown_of(view),
        cacheable=True,
    )


async def get_by_id(request: Request, services: Services, principal: Principal) -> View:
    return await work_item_view(services, principal, request.path_params["item_id"])


async def get_by_number(request: Request, services: Services, principal: Principal) -> View:
    return await work_item_view(
        services,
        principal,
        request.path_params["number"],
        project_id=request.path_params["project_id"],
    )


_ITEMS = {"type": "array", "items": jsonview.ref(pb.WorkItem.DESCRIPTOR)}
_OTHER_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "project_id": {"type": "string"},
        "key": {"type": "string", "description": "its number with its project's key, PM-7"},
        "number": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"type": "string"},
        "type": {"type": "string", "enum": ["epic", "story", "task", "bug"]},
    },
    "required": ["id", "key", "number", "project_id", "status", "title", "type"],
}
_PROPERTIES: dict[str, Any] = {
    "work_item": jsonview.ref(pb.WorkItem.DESCRIPTOR),
    "ancestors": {**_ITEMS, "description": "root first, down to the parent"},
    "children": {**_ITEMS, "description": "live children in board order"},
    "comments": {
        "type": "array",
        "items": jsonview.ref(pb.CommentThread.DESCRIPTOR),
        "description": "threads oldest first, each with its replies oldest first",
    },
    "dependencies": {
        "type": "array",
        "description": "blocked_by, then blocks, then relates_to; each oldest first",
        "items": {
            "type": "object",
            "properties": {
                "relation": {
                    "type": "string",
                    "enum": list(RELATIONS),
                    "description": "what the other item is to this one: blocked_by (it "
                    "blocks this one), blocks (this one blocks it), relates_to",
                },
                "dependency": jsonview.ref(pb.Dependency.DESCRIPTOR),
                "other_item": _OTHER_ITEM,
            },
            "required": ["dependency", "other_item", "relation"],
        },
    },
    "is_blocked": {"type": "boolean", "description": "blocked by a live item that is not done"},
    "time_entries": {
        "type": "array",
        "items": jsonview.ref(pb.TimeEntry.DESCRIPTOR),
        "description": "live entries, newest start first, running ones too",
    },
    "time_total_seconds": {"type": "integer", "description": "finished entries only"},
    "time_totals": {
        "type": "array",
        "items": jsonview.ref(time_msg.TimeTotal.DESCRIPTOR),
        "description": "finished entries per user, most time first",
    },
    "history": {
        "type": "array",
        "items": jsonview.ref(pb.ActivityEntry.DESCRIPTOR),
        "description": f"the item's activity rows, newest first, the last {HISTORY_LIMIT}",
    },
}
_MESSAGES = (
    pb.WorkItem.DESCRIPTOR,
    pb.CommentThread.DESCRIPTOR,
    pb.Dependency.DESCRIPTOR,
    pb.TimeEntry.DESCRIPTOR,
    time_msg.TimeTotal.DESCRIPTOR,
    pb.ActivityEntry.DESCRIPTOR,
)

ROUTES: list[ApiRoute] = [
    ApiRoute(
        path="/work-items/{item_id}",
        handler=get_by_id,
        summary="A work item with its children, ancestors, comments, dependencies, time "
        "and history",
        properties=_PROPERTIES,
        messages=_MESSAGES,
        markdown=True,
        cacheable=True,
        path_descriptions={"item_id": "the work item's id (UUID)"},
    ),
    ApiRoute(
        path="/projects/{project_id}/items/{number}",
        handler=get_by_number,
        summary="The same view of a work item named by its number in the project (PM-7)",
        properties=_PROPERTIES,
        messages=_MESSAGES,
        markdown=True,
        cacheable=True,
        path_descriptions={
            "project_id": "the project's id (UUID)",
            "number": "the item's number with or without the project's key: PM-7 or 7",
        },
    ),
]
