"""GET /activity: what changed in a project after a seq, oldest first, a change at a time.

An agent asks "what changed since I last looked": the activity rows of one project with a
seq above `since_seq`, in the order they were written, paged by an opaque cursor over
(seq, row id). A change (one command: one seq) may write several rows, e.g. one per field
an update changed; a page never splits one. When `limit` would cut a change, the page stops
before it; only a change longer than `limit` on its own fills a page by itself, whole, so a
page always holds at least one whole change.

The cursor is signed with the tenant's page-token key (server/paging.py) for the project
and since_seq it was issued for, so a cursor the server did not issue, or one of another
project, since_seq or tenant, is INVALID_ARGUMENT on `cursor`.

The markdown form is one line per change, naming work items by number
(`seq 12 alice moved PM-3 status todo -> in_progress`); `change_lines` is shared with the
work item view's history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from pm.v1 import entities_pb2 as pb
from server.auth import Principal
from server.commands import ReadContext
from server.handlers.projects import load_project
from server.rest.api import (
    MAX_CURSOR_CHARS,
    View,
    invalid_cursor,
    list_scope,
    next_cursor,
    query_int,
    query_text,
    read_cursor,
    snapshot,
)
from server.rest.jsonview import enum_word, ref, to_json
from server.rest.routes import ApiRoute
from server.services import Services
from server.wire.activity import activity_to_proto
from tenants import (
    activity,
    comments,
    dependencies,
    projects,
    sprints,
    swim_lanes,
    time_entries,
    work_items,
)
from tenants.activity import ActivityRecord
from tenants.errors import InvalidArgument

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# GetActivity never names an entity and a project at once, so no WebSocket page token is
# scoped like this: a token of the one is never valid for the other.
_LAST_ID = 2**63 - 1
# Bookkeeping a reader of the markdown does not need (a move changes the rank too).
_QUIET_FIELDS = frozenset({"rank"})
_MAX_VALUE_CHARS = 60
_BARE = re.compile(r"[A-Za-z0-9_.:@/+-]{1,40}")
# Enum values as field_changes stores them (proto3 JSON names) -> their words.
_ENUM_WORDS = {
    value.name: enum_word(enum, value.number)
    for enum in pb.DESCRIPTOR.enum_types_by_name.values()
    for value in enum.values
}


# --- describing entries ----------------------------------------------------------------------


@dataclass
class Labels:
    """How the markdown names what rows touch: work items by number, others by what they
    are about. Read in the view's snapshot; rendering reads nothing."""

    item_keys: dict[str, str] = field(default_factory=dict)
    item_titles: dict[str, str] = field(default_factory=dict)
    entities: dict[tuple[str, str], str] = field(default_factory=dict)
    sprint_names: dict[str, str] = field(default_factory=dict)

    def entity(self, entity_type: str, entity_id: str) -> str:
        return self.entities.get((entity_type, entity_id), f"{entity_type} {entity_id}")

    def item(self, item_id: str) -> str:
        return self.item_keys.get(item_id, item_id)


def labels_for(conn: Any, records: Iterable[ActivityRecord]) -> Labels:
    """The labels of every entity the records touch (deleted ones too: history keeps them),
    and of the work items and sprints their parent_id and sprint_id values name."""
    labels = Labels()
    wanted: dict[tuple[str, str], None] = {}
    item_ids: dict[str, None] = {}
    sprint_ids: dict[str, None] = {}
    for record in records:
        wanted[(record.entity_type, record.entity_id)] = None
        if record.entity_type == "work_item":
            item_ids[record.entity_id] = None
        if record.field in ("parent_id", "sprint_id"):
            target = item_ids if record.field == "parent_id" else sprint_ids
            for raw in (record.old_json, record.new_json):
                value = _loads(raw)
                if isinstance(value, str) and value:
                    target[value] = None
    about: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for entity_type, entity_id in wanted:
        if entity_type == "comment":
            comment = comments.get(conn, entity_id, include_deleted=True)
            if comment is not None:
                about[(entity_type, entity_id)] = ("comment on {0}", [comment.work_item_id])
        elif entity_type == "time_entry":
            entry = time_entries.get(conn, entity_id, include_deleted=True)
            if entry is not None:
                about[(entity_type, entity_id)] = ("time entry on {0}", [entry.work_item_id])
        elif entity_type == "dependency":
            link = dependencies.get(conn, entity_id, include_deleted=True)
            if link is not None:
                about[(entity_type, entity_id)] = (
                    f"dependency {{0}} {link.type} {{1}}",
                    [link.from_item_id, link.to_item_id],
                )
        elif entity_type == "sprint":
            sprint_ids[entity_id] = None
        elif entity_type == "swim_lane":
            lane = swim_lanes.get(conn, entity_id, include_deleted=True)
            if lane is not None:
                labels.entities[(entity_type, entity_id)] = f"lane {lane.status_value}"
        elif entity_type == "project":
            project = projects.get(conn, entity_id, include_deleted=True)
            if project is not None:
                labels.entities[(entity_type, entity_id)] = f"project {project.key}"
    for _, ids in about.values():
        item_ids.update(dict.fromkeys(ids))
    for item_id in item_ids:
        item = work_items.get(conn, item_id, include_deleted=True)
        if item is not None:
            labels.item_keys[item.id] = item.key
            labels.item_titles[item.id] = item.title
    for sprint_id in sprint_ids:
        sprint = sprints.get(conn, sprint_id, include_deleted=True)
        if sprint is not None:
            labels.sprint_names[sprint.id] = sprint.name
            labels.entities[("sprint", sprint.id)] = f"sprint {json.dumps(sprint.name)}"
    for item_id in item_ids:
        if item_id in labels.item_keys:
            labels.entities[("work_item", item_id)] = labels.item_keys[item_id]
    for key, (template, ids) in about.items():
        labels.entities[key] = template.format(*(labels.item(i) for i in ids))
    return labels


def _loads(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def show_value(raw: str | None, field_name: str | None, labels: Labels) -> str:
    """One old or new value, short: enum words, items by number, long text cut."""
    value = _loads(raw)
    if value is None:
        return "null"
    if isinstance(value, str):
        if field_name == "parent_id":
            return labels.item(value) if value else "none"
        if field_name == "sprint_id":
            name = labels.sprint_names.get(value)
            return json.dumps(name) if name is not None else (value or "none")
        value = _ENUM_WORDS.get(value, value)
        return value if _BARE.fullmatch(value) else json.dumps(_cut(value))
    return _cut(json.dumps(value, separators=(",", ":")))


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "..."


def change_lines(
    records: Sequence[ActivityRecord], labels: Labels, *, subject: bool = True
) -> list[str]:
    """One line per change (the records in order, a change's rows together):
    `seq 12 alice moved PM-3 status todo -> in_progress`. Without `subject` the entity is
    left out (the history of one item)."""
    lines: list[str] = []
    start = 0
    while start < len(records):
        end = start
        while end < len(records) and records[end].seq == records[start].seq:
            end += 1
        lines.append(_change_line(records[start:end], labels, subject))
        start = end
    return lines


def _change_line(rows: Sequence[ActivityRecord], labels: Labels, subject: bool) -> str:
    # Actions in first-seen order, each with its entities in first-seen order.
    actions: dict[str, dict[tuple[str, str], list[str]]] = {}
    for row in rows:
        entities = actions.setdefault(row.action, {})
        changes = entities.setdefault((row.entity_type, row.entity_id), [])
        if row.field and row.field not in _QUIET_FIELDS:
            old = show_value(row.old_json, row.field, labels)
            new = show_value(row.new_json, row.field, labels)
            changes.append(f"{row.field} {old} -> {new}")
    parts = []
    for action, entities in actions.items():
        described = []
        for (entity_type, entity_id), changes in entities.items():
            words = [labels.entity(entity_type, entity_id)] if subject else []
            if action == "created" and entity_type == "work_item":
                title = labels.item_titles.get(entity_id)
                if title is not None:
                    words.append(json.dumps(title))
            if changes:
                words.append("; ".join(changes))
            described.append(" ".join(words))
        parts.append(" ".join([action, ", ".join(d for d in described if d)]).strip())
    first = rows[0]
    return f"seq {first.seq} {first.actor_id} {', '.join(parts)}"


def entry_to_proto(record: ActivityRecord, erased: set[str]) -> pb.ActivityEntry:
    entry = activity_to_proto(record)
    # A deleted comment is a tombstone without content; its history must not keep it.
    if entry.entity_id in erased and entry.field == "content":
        entry.old_json = entry.new_json = "null"
    return entry


def erased_comments(conn: Any, records: Iterable[ActivityRecord]) -> set[str]:
    return activity.deleted_comment_ids(
        conn, [r.entity_id for r in records if r.entity_type == "comment"]
    )


# --- the view --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityPage:
    project_id: str
    project_key: str
    entries: list[ActivityRecord]
    erased: set[str]
    next_cursor: str
    labels: Labels


def _start(ctx: ReadContext, scope: bytes, cursor: str, since_seq: int) -> tuple[int, int]:
    """The (seq, id) the page starts after."""
    found = read_cursor(ctx, scope, cursor, s=int, i=int)
    if found is None:
        return since_seq, _LAST_ID
    if found["s"] <= since_seq or found["i"] <= 0:
        raise invalid_cursor()
    return int(found["s"]), int(found["i"])


def whole_changes(
    conn: Any, project_id: str, found: list[ActivityRecord], limit: int
) -> tuple[list[ActivityRecord], bool]:
    """The page out of up to limit + 1 rows, ending at a change boundary, and whether more
    rows follow it. A change the limit would cut is left for the next page, unless it is the
    page's first: then it is the page, whole."""
    if len(found) <= limit:
        return found, False
    cut = found[limit].seq
    page = [row for row in found[:limit] if row.seq != cut]
    if page:
        return page, True
    page = activity.project_change(conn, project_id, cut)
    more = activity.project_activity_after(
        conn, project_id, after_seq=cut, after_id=page[-1].id, limit=1
    )
    return page, bool(more)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


async def activity_view(
    services: Services,
    principal: Principal,
    *,
    project_id: str,
    since_seq: int,
    limit: int,
    cursor: str,
) -> View:
    """A project's activity after since_seq, oldest first, paged by whole changes."""
    check_limit(limit)
    if since_seq < 0:
        raise InvalidArgument("since_seq must not be negative", field="since_seq")

    def read(ctx: ReadContext) -> ActivityPage:
        project = load_project(ctx, project_id)
        scope = list_scope("activity", project.id, since_seq)
        after_seq, after_id = _start(ctx, scope, cursor, since_seq)
        found = activity.project_activity_after(
            ctx.conn, project.id, after_seq=after_seq, after_id=after_id, limit=limit + 1
        )
        page, more = whole_changes(ctx.conn, project.id, found, limit)
        token = ""
        if more:
            token = next_cursor(ctx, scope, {"s": page[-1].seq, "i": page[-1].id})
        return ActivityPage(
            project.id,
            project.key,
            page,
            erased_comments(ctx.conn, page),
            token,
            labels_for(ctx.conn, page),
        )

    shot = await snapshot(services, principal, read)
    result = shot.value
    body = {
        "project_id": result.project_id,
        "since_seq": since_seq,
        "entries": [to_json(entry_to_proto(r, result.erased)) for r in result.entries],
        "next_cursor": result.next_cursor,
        "item_keys": result.labels.item_keys,
    }

    def markdown() -> str:
        lines = [f"# Activity of {result.project_key} after seq {since_seq}", ""]
        lines += change_lines(result.entries, result.labels) or ["(no changes)"]
        lines.append("")
        if result.next_cursor:
            lines.append(f"more: cursor={result.next_cursor}")
        else:
            lines.append(f"up to date at seq {shot.seq}")
        return "\n".join(lines) + "\n"

    return View(body, shot.seq, shot.epoch, markdown=markdown, cacheable=True)


async def get_activity(request: Request, services: Services, principal: Principal) -> View:
    return await activity_view(
        services,
        principal,
        project_id=query_text(request, "project_id", required=True, max_chars=64),
        since_seq=query_int(request, "since_seq", 0),
        limit=query_int(request, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT),
        cursor=query_text(request, "cursor", max_chars=MAX_CURSOR_CHARS),
    )


ROUTES: list[ApiRoute] = [
    ApiRoute(
        path="/activity",
        handler=get_activity,
        summary="A project's changes after a seq, oldest first, paged without splitting one",
        properties={
            "project_id": {"type": "string"},
            "since_seq": {"type": "integer", "description": "as asked"},
            "entries": {
                "type": "array",
                "items": ref(pb.ActivityEntry.DESCRIPTOR),
                "description": "activity rows with seq > since_seq, by (seq, id); the rows of "
                "one change (one seq) are never split across pages",
            },
            "next_cursor": {
                "type": "string",
                "description": "pass as cursor (same project_id and since_seq) for the next page;"
                ' "" on the last page',
            },
            "item_keys": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "work item id -> number (PM-7) for the items the entries name",
            },
        },
        messages=(pb.ActivityEntry.DESCRIPTOR,),
        query=(
            {
                "name": "project_id",
                "in": "query",
                "required": True,
                "schema": {"type": "string"},
                "description": "the project (UUID)",
            },
            {
                "name": "since_seq",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0, "default": 0},
                "description": "changes with a seq above this one (0: from the beginning)",
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT,
                },
                "description": "rows per page; a page stops before a change it would cut "
                "(a single longer change comes whole, on a page of its own)",
            },
            {
                "name": "cursor",
                "in": "query",
                "schema": {"type": "string"},
                "description": "next_cursor of the previous page",
            },
        ),
        markdown=True,
        cacheable=True,
    )
]
