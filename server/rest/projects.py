"""GET /projects and GET /projects/{project_id}/context: the tenant's projects with their
lanes' item counts, and everything an agent needs about one project, in one read.

The context is the project, its lanes (with how many live items each holds), its live
sprints with their figures (GetSprintStats), every live work item in board order (lane
order, then rank), the dependencies touching them with whether each blocks now, the items
that are blocked (a live `blocks` dependency from a live item that is not done: the rule of
tenants/dependencies.is_blocked), the finished time per item and user (GetTimeTotals), the
users the project, its items, the time and the activity name (from the users table), and
the project's last 50 activity rows, newest first. All of it comes from one read
transaction, whose seq is the body's `current_seq`: subscribe with `since_seq =
current_seq` and `epoch` to keep the loaded state live without a gap.

The markdown form is compact, for a prompt: one line per item in the tree (epic > story >
task by parent, board order among siblings), the lanes with their items' numbers, the
blockers (`PM-3 blocked by PM-2`), the sprints' progress, the time and the recent activity.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request

from pm.v1 import entities_pb2 as pb
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import time_entries_pb2 as time_msg
from server.auth import Principal
from server.commands import ReadContext
from server.handlers.projects import load_project
from server.handlers.sprints import get_sprint_stats
from server.rest import jsonview
from server.rest.activity import Labels, change_lines, entry_to_proto, erased_comments, labels_for
from server.rest.api import View, snapshot, wants_markdown
from server.rest.jsonview import to_json
from server.rest.markdown import day, duration
from server.rest.routes import ApiRoute
from server.services import Services
from server.wire.dependencies import dependency_to_proto
from server.wire.projects import lane_to_proto, project_to_proto
from server.wire.time_entries import time_total_to_proto
from server.wire.users import user_to_proto
from server.wire.work_items import work_item_to_proto
from tenants import activity, projects, rows, sprints, swim_lanes, users, work_items
from tenants.activity import ActivityRecord
from tenants.dependencies import BLOCKS, DependencyRecord
from tenants.projects import ProjectRecord
from tenants.readers import fetch_all, yield_gil
from tenants.swim_lanes import SwimLaneRecord
from tenants.time_entries import TimeTotal
from tenants.users import UserRecord
from tenants.work_items import ItemFilter, WorkItemRecord

ACTIVITY_LIMIT = 50
DONE = "done"
# SQLite reads a negative LIMIT as no limit: a context holds all of a project's items.
_ALL = -1
# Ids per `IN (...)` lookup, well under SQLite's bound on a statement's variables.
_CHUNK = 500

# Live dependencies with an end among the project's live items, both ends live (deleting
# an item deletes its dependencies; this holds the view to that whatever happened). The
# repository answers per item (edges_into, edges_out_of, related); a context needs a whole
# project at once, and 10,000 items must not mean 30,000 statements.
_PROJECT_DEPENDENCIES = (
    "SELECT d.* FROM dependencies d"
    " JOIN work_items f ON f.id = d.from_item_id AND f.deleted_at IS NULL"
    " JOIN work_items t ON t.id = d.to_item_id AND t.deleted_at IS NULL"
    " WHERE d.deleted_at IS NULL AND (f.project_id = ?1 OR t.project_id = ?1)"
    " ORDER BY d.created_at, d.id"
)
# tenants/time_entries.totals_for_item over every item of a project at once: finished live
# entries on live items, per item and user, most time first within an item.
_PROJECT_TIME_TOTALS = (
    "SELECT t.work_item_id, t.user_id, SUM(t.duration_seconds), COUNT(*) FROM time_entries t"
    " JOIN work_items w ON w.id = t.work_item_id"
    " WHERE t.deleted_at IS NULL AND w.deleted_at IS NULL AND t.ended_at IS NOT NULL"
    " AND w.project_id = ? GROUP BY t.work_item_id, t.user_id"
    " ORDER BY t.work_item_id, 3 DESC, t.user_id"
)


# --- GET /projects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectSummary:
    project: ProjectRecord
    lanes: list[tuple[SwimLaneRecord, int]]  # in board order, with their live items


def read_projects(ctx: ReadContext) -> list[ProjectSummary]:
    found = projects.list_live(ctx.conn, after_key="", limit=_ALL)
    summaries = []
    for project in found:
        lanes = swim_lanes.list_for_project(ctx.conn, project.id)
        counted = [
            (lane, swim_lanes.live_item_count(ctx.conn, project.id, lane.status_value))
            for lane in lanes
        ]
        summaries.append(ProjectSummary(project, counted))
    return summaries


def _lanes_json(lanes: Iterable[tuple[SwimLaneRecord, int]]) -> list[dict[str, Any]]:
    return [{"lane": to_json(lane_to_proto(lane)), "item_count": n} for lane, n in lanes]


def projects_markdown(summaries: list[ProjectSummary], seq: int) -> str:
    lines = [f"# Projects ({len(summaries)}, seq {seq})", ""]
    for summary in summaries:
        project = summary.project
        total = sum(n for _, n in summary.lanes)
        line = f"- {project.key} {json.dumps(project.name)} ({project.id}): {total} items"
        counts = ", ".join(f"{lane.name} {n}" for lane, n in summary.lanes)
        lines.append(line + (f"; {counts}" if counts else ""))
    if not summaries:
        lines.append("(no projects)")
    return "\n".join(lines) + "\n"


async def projects_view(services: Services, principal: Principal) -> View:
    """The tenant's live projects by key, each with its lanes and their live item counts."""
    shot = await snapshot(services, principal, read_projects)
    summaries = shot.value
    body = {
        "projects": [
            {
                "project": to_json(project_to_proto(s.project)),
                "lanes": _lanes_json(s.lanes),
                "item_count": sum(n for _, n in s.lanes),
            }
            for s in summaries
        ]
    }
    return View(
        body,
        shot.seq,
        shot.epoch,
        markdown=lambda: projects_markdown(summaries, shot.seq),
        cacheable=True,
    )


async def get_projects(request: Request, services: Services, principal: Principal) -> View:
    return await projects_view(services, principal)


# --- GET /projects/{project_id}/context ------------------------------------------------------


@dataclass(frozen=True)
class Link:
    dependency: DependencyRecord
    source: WorkItemRecord  # the from item: in a blocks dependency, the one that blocks
    target: WorkItemRecord

    @property
    def blocking(self) -> bool:
        """A blocks dependency whose blocker is not done: the target waits on it now."""
        return self.dependency.type == BLOCKS and self.source.status != DONE


@dataclass(frozen=True)
class Context:
    project: ProjectRecord
    lanes: list[tuple[SwimLaneRecord, int]]
    sprints: list[sprints_msg.GetSprintStatsResult]
    sprint_names: dict[str, str]
    items: list[WorkItemRecord]  # board order
    links: list[Link]
    time_totals: list[TimeTotal]
    users: list[UserRecord]
    activity: list[ActivityRecord]
    labels: Labels
    body: dict[str, Any]


def _dependencies(
    conn: sqlite3.Connection, project_id: str, items: dict[str, WorkItemRecord]
) -> list[Link]:
    found = fetch_all(conn.execute(_PROJECT_DEPENDENCIES, (project_id,)))
    links = []
    for dependency in rows.to_records(DependencyRecord, found):
        ends = []
        for item_id in (dependency.from_item_id, dependency.to_item_id):
            item = items.get(item_id) or work_items.get(conn, item_id)
            if item is not None:
                ends.append(item)
        if len(ends) == 2:
            links.append(Link(dependency, ends[0], ends[1]))
    return links


def _users(conn: sqlite3.Connection, user_ids: Iterable[str]) -> list[UserRecord]:
    wanted = sorted({u for u in user_ids if u})
    found: list[UserRecord] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found += users.list_page(conn, user_ids=chunk, after_id="", limit=len(chunk))
    return found


def _items_json(items: list[WorkItemRecord]) -> list[dict[str, Any]]:
    converted = []
    for index, item in enumerate(items):
        yield_gil(index)  # a project may hold many: let the loop's writes in meanwhile
        converted.append(to_json(work_item_to_proto(item)))
    return converted


def read_context(ctx: ReadContext, project_id: str, *, with_body: bool = True) -> Context:
    """The whole context of a live project. The JSON body is made here, on the read
    thread, so converting a large project does not hold the event loop; without
    `with_body` (a markdown answer) it is left out."""
    conn = ctx.conn
    project = load_project(ctx, project_id)
    lanes = swim_lanes.list_for_project(conn, project.id)
    listed = work_items.list_for_project(conn, project.id, ItemFilter(), after=None, limit=_ALL)
    items = [item for item, _ in listed]
    by_id = {item.id: item for item in items}
    per_lane: dict[str, int] = {}
    for item in items:
        per_lane[item.status] = per_lane.get(item.status, 0) + 1
    counted = [(lane, per_lane.get(lane.status_value, 0)) for lane in lanes]
    found_sprints = sprints.list_for_project(conn, project.id, state=None, after=None, limit=_ALL)
    stats = [
        cast(
            sprints_msg.GetSprintStatsResult,
            get_sprint_stats(ctx, sprints_msg.GetSprintStats(sprint_id=sprint.id)),
        )
        for sprint in found_sprints
    ]
    links = _dependencies(conn, project.id, by_id)
    waiting = {link.target.id for link in links if link.blocking}
    blocked_ids = [item.id for item in items if item.id in waiting]
    totals = [TimeTotal(*row) for row in conn.execute(_PROJECT_TIME_TOTALS, (project.id,))]
    recent = activity.project_activity(conn, project.id, before_id=0, limit=ACTIVITY_LIMIT)
    erased = erased_comments(conn, recent)
    mentioned = [project.created_by]
    for item in items:
        mentioned += [item.assignee_id or "", item.created_by, item.updated_by]
    mentioned += [t.user_id for t in totals]
    mentioned += [r.actor_id for r in recent]
    found_users = _users(conn, mentioned)
    body: dict[str, Any] = {}
    if with_body:
        body = _context_body(project, counted, stats, items, links, totals, found_users)
        body["blocked_item_ids"] = blocked_ids
        body["activity"] = [to_json(entry_to_proto(r, erased)) for r in recent]
    return Context(
        project=project,
        lanes=counted,
        sprints=stats,
        sprint_names={s.id: s.name for s in found_sprints},
        items=items,
        links=links,
        time_totals=totals,
        users=found_users,
        activity=recent,
        labels=labels_for(conn, recent),
        body=body,
    )


def _context_body(
    project: ProjectRecord,
    lanes: list[tuple[SwimLaneRecord, int]],
    stats: list[sprints_msg.GetSprintStatsResult],
    items: list[WorkItemRecord],
    links: list[Link],
    totals: list[TimeTotal],
    found_users: list[UserRecord],
) -> dict[str, Any]:
    return {
        "project": to_json(project_to_proto(project)),
        "lanes": _lanes_json(lanes),
        "sprints": [to_json(s) for s in stats],
        "work_items": _items_json(items),
        "dependencies": [
            {
                "dependency": to_json(dependency_to_proto(link.dependency)),
                "from_key": link.source.key,
                "to_key": link.target.key,
                "blocking": link.blocking,
            }
            for link in links
        ],
        "time_total_seconds": sum(t.duration_seconds for t in totals),
        "time_totals": [to_json(time_total_to_proto(t)) for t in totals],
        "users": [to_json(user_to_proto(u)) for u in found_users],
    }


# --- markdown --------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _item_line(item: WorkItemRecord, context: Context, blockers: dict[str, list[str]]) -> str:
    """`PM-3 task [in_progress] Card form · high · @bob · 3pt · sprint "S1" · blocked by PM-2`
    (priority only when not medium)."""
    facts = [f"{item.key} {item.type} [{item.status}] {_one_line(item.title)}"]
    if item.priority != "medium":
        facts.append(item.priority)
    if item.assignee_id:
        facts.append(f"@{item.assignee_id}")
    if item.story_points is not None:
        facts.append(f"{item.story_points}pt")
    if item.sprint_id:
        name = context.sprint_names.get(item.sprint_id, item.sprint_id)
        facts.append(f"sprint {json.dumps(name)}")
    if item.id in blockers:
        facts.append("blocked by " + ", ".join(blockers[item.id]))
    return " · ".join(facts)


def _tree_lines(context: Context, blockers: dict[str, list[str]]) -> list[str]:
    """Depth first from the roots, siblings in board order; an item whose parent is not
    among the project's live items is a root."""
    present = {item.id for item in context.items}
    children: dict[str | None, list[WorkItemRecord]] = {}
    for item in context.items:
        parent = item.parent_id if item.parent_id in present else None
        children.setdefault(parent, []).append(item)
    lines: list[str] = []
    stack = [(item, 0) for item in reversed(children.get(None, []))]
    while stack:
        item, depth = stack.pop()
        yield_gil(len(lines))  # rendered off the loop, thousands of lines: let writes in
        lines.append("  " * depth + "- " + _item_line(item, context, blockers))
        stack += [(child, depth + 1) for child in reversed(children.get(item.id, []))]
    return lines


def _sprint_line(stats: sprints_msg.GetSprintStatsResult) -> str:
    sprint = stats.sprint
    state = jsonview.enum_word(pb.SprintState.DESCRIPTOR, sprint.state)
    goal = f"; goal: {_one_line(sprint.goal)}" if sprint.goal else ""
    return (
        f"- {json.dumps(sprint.name)} {state} {day(sprint.start_date_ms)}..."
        f"{day(sprint.end_date_ms)}: {stats.items_done}/{stats.items_total} items,"
        f" {stats.points_done}/{stats.points_total} points done{goal}"
    )


def _time_lines(context: Context) -> list[str]:
    numbers = {item.id: item.key for item in context.items}
    per_item: dict[str, list[TimeTotal]] = {}
    for total in context.time_totals:
        per_item.setdefault(total.work_item_id, []).append(total)
    overall = sum(t.duration_seconds for t in context.time_totals)
    lines = ["", f"## Time (finished entries, total {duration(overall)})"]
    for item_id, totals in per_item.items():
        spent = duration(sum(t.duration_seconds for t in totals))
        who = ", ".join(f"{t.user_id} {duration(t.duration_seconds)}" for t in totals)
        lines.append(f"- {numbers.get(item_id, item_id)} {spent}: {who}")
    return lines


def context_markdown(context: Context, seq: int, epoch: str) -> str:
    project = context.project
    lines = [f"# {project.key}: {_one_line(project.name)}", ""]
    if project.description:
        lines += [project.description.rstrip(), ""]
    lines.append(
        f"project {project.id} · {len(context.items)} live items · seq {seq} · epoch {epoch}"
    )
    by_status: dict[str, list[str]] = {}
    for item in context.items:
        by_status.setdefault(item.status, []).append(item.key)
    lines += ["", "## Lanes (board order)"]
    for lane, count in context.lanes:
        keys = " ".join(by_status.get(lane.status_value, []))
        head = f"- {lane.name} `{lane.status_value}` ({count})"
        lines.append(head + (f": {keys}" if keys else ""))
    if context.sprints:
        lines += ["", "## Sprints"] + [_sprint_line(s) for s in context.sprints]
    blocking = [link for link in context.links if link.blocking]
    blockers: dict[str, list[str]] = {}
    for link in blocking:
        blockers.setdefault(link.target.id, []).append(link.source.key)
    lines += ["", "## Items (epic > story > task)"]
    lines += _tree_lines(context, blockers) or ["(no items)"]
    if blocking:
        lines += ["", "## Blockers"]
        lines += [
            f"- {link.target.key} blocked by {link.source.key} ({link.source.status})"
            for link in blocking
        ]
    related = [link for link in context.links if link.dependency.type != BLOCKS]
    if related:
        lines += ["", "## Related"]
        lines += [f"- {link.source.key} relates to {link.target.key}" for link in related]
    if context.users:
        lines += ["", "## People"]
        for user in context.users:
            who = " ".join(p for p in (user.name, f"<{user.email}>" if user.email else "") if p)
            lines.append(f"- {user.id}" + (f": {who}" if who else ""))
    if context.time_totals:
        lines += _time_lines(context)
    if context.activity:
        lines += ["", f"## Recent activity (newest first, last {ACTIVITY_LIMIT} rows)"]
        lines += [f"- {line}" for line in change_lines(context.activity, context.labels)]
    return "\n".join(lines) + "\n"


# --- the view --------------------------------------------------------------------------------


async def project_context_view(
    services: Services, principal: Principal, project_id: str, *, with_body: bool = True
) -> View:
    """Everything about one live project in one read (see the module's docstring). A caller
    that answers only the markdown may pass with_body=False: the body then holds only
    current_seq and epoch, and 10,000 items are not converted for nothing."""
    shot = await snapshot(
        services, principal, lambda ctx: read_context(ctx, project_id, with_body=with_body)
    )
    context = shot.value
    body = {**context.body, "current_seq": shot.seq, "epoch": shot.epoch}
    return View(
        body,
        shot.seq,
        shot.epoch,
        markdown=lambda: context_markdown(context, shot.seq, shot.epoch),
        cacheable=True,
    )


async def get_context(request: Request, services: Services, principal: Principal) -> View:
    return await project_context_view(
        services,
        principal,
        request.path_params["project_id"],
        with_body=not wants_markdown(request),
    )


def _array(descriptor: Any, description: str) -> dict[str, Any]:
    return {"type": "array", "items": jsonview.ref(descriptor), "description": description}


_LANES = {
    "type": "array",
    "description": "the project's lanes in board order, each with its live items' count",
    "items": {
        "type": "object",
        "properties": {
            "lane": jsonview.ref(pb.SwimLane.DESCRIPTOR),
            "item_count": {"type": "integer", "description": "live items with the lane's status"},
        },
        "required": ["item_count", "lane"],
    },
}
_CONTEXT_PROPERTIES: dict[str, Any] = {
    "project": jsonview.ref(pb.Project.DESCRIPTOR),
    "lanes": _LANES,
    "sprints": _array(
        sprints_msg.GetSprintStatsResult.DESCRIPTOR,
        "live sprints by start date, each with its figures (as GetSprintStats): items and "
        "points, total and done",
    ),
    "work_items": _array(
        pb.WorkItem.DESCRIPTOR, "every live item of the project in board order: lane, then rank"
    ),
    "dependencies": {
        "type": "array",
        "description": "live dependencies with an end among the project's items (the other end "
        "may be in another project), oldest first",
        "items": {
            "type": "object",
            "properties": {
                "dependency": jsonview.ref(pb.Dependency.DESCRIPTOR),
                "from_key": {"type": "string", "description": "the from item's number, PM-7"},
                "to_key": {"type": "string", "description": "the to item's number"},
                "blocking": {
                    "type": "boolean",
                    "description": "a blocks dependency whose from item is not done: the to "
                    "item is blocked by it now",
                },
            },
            "required": ["blocking", "dependency", "from_key", "to_key"],
        },
    },
    "blocked_item_ids": {
        "type": "array",
        "items": {"type": "string"},
        "description": "the project's items blocked by a live item that is not done, in board "
        "order",
    },
    "time_total_seconds": {"type": "integer", "description": "finished entries only"},
    "time_totals": _array(
        time_msg.TimeTotal.DESCRIPTOR,
        "finished live entries per item and user (by item id, then most time first)",
    ),
    "users": _array(
        pb.User.DESCRIPTOR,
        "the users the project, its items (assignee, creator, last editor), the time totals "
        "and the activity name, as the users table knows them, by id",
    ),
    "activity": _array(
        pb.ActivityEntry.DESCRIPTOR,
        f"the project's activity rows, newest first, the last {ACTIVITY_LIMIT}",
    ),
    "current_seq": {
        "type": "integer",
        "description": "the seq of the read this body comes from (= seq): subscribe with "
        "since_seq = current_seq and epoch to go live without a gap",
    },
}

ROUTES: list[ApiRoute] = [
    ApiRoute(
        path="/projects",
        handler=get_projects,
        summary="The tenant's live projects by key, with their lanes' live item counts",
        properties={
            "projects": {
                "type": "array",
                "description": "live projects ordered by key",
                "items": {
                    "type": "object",
                    "properties": {
                        "project": jsonview.ref(pb.Project.DESCRIPTOR),
                        "lanes": _LANES,
                        "item_count": {"type": "integer", "description": "live items in lanes"},
                    },
                    "required": ["item_count", "lanes", "project"],
                },
            }
        },
        messages=(pb.Project.DESCRIPTOR, pb.SwimLane.DESCRIPTOR),
        markdown=True,
        cacheable=True,
    ),
    ApiRoute(
        path="/projects/{project_id}/context",
        handler=get_context,
        summary="Everything about one project in one read: lanes, sprints with figures, every "
        "live item in board order, dependencies and blockers, time, users, recent activity",
        properties=_CONTEXT_PROPERTIES,
        messages=(
            pb.Project.DESCRIPTOR,
            pb.SwimLane.DESCRIPTOR,
            sprints_msg.GetSprintStatsResult.DESCRIPTOR,
            pb.WorkItem.DESCRIPTOR,
            pb.Dependency.DESCRIPTOR,
            time_msg.TimeTotal.DESCRIPTOR,
            pb.User.DESCRIPTOR,
            pb.ActivityEntry.DESCRIPTOR,
        ),
        markdown=True,
        cacheable=True,
        path_descriptions={"project_id": "the project's id (UUID)"},
    ),
]
