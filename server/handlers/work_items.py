"""Work items: create, update, move, delete, restore, get, list, tree, ancestors."""

from __future__ import annotations

from pm.v1 import work_items_pb2 as msg
from server.commands import Change, ReadContext, WriteContext, mutation, new_id, parse_id, query
from server.handlers.projects import load_project
from server.validation import body, text
from server.wire.work_items import priority_name, type_name, work_item_to_proto
from tenants import projects, ranks, sprints, swim_lanes, work_items
from tenants.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from tenants.work_items import WorkItemRecord

# Which parent types each type accepts (an empty set: no parent at all).
ALLOWED_PARENTS = {
    "epic": frozenset[str](),
    "story": frozenset({"epic"}),
    "task": frozenset({"story", "epic"}),
    "bug": frozenset({"story", "epic"}),
}
MAX_ID_CHARS = 128


def load_item(ctx: ReadContext, item_id: str, field: str = "work_item_id") -> WorkItemRecord:
    """A live work item of this tenant, or NOT_FOUND."""
    item = work_items.get(ctx.conn, parse_id(item_id, field))
    if item is None:
        raise NotFound("work item not found", field=field)
    return item


def check_parent(
    ctx: ReadContext, item_type: str, project_id: str, parent_id: str, field: str = "parent_id"
) -> WorkItemRecord | None:
    """The parent (None for no parent) after checking the hierarchy rules."""
    if not parent_id:
        return None
    allowed = ALLOWED_PARENTS[item_type]
    if not allowed:
        raise FailedPrecondition(f"an {item_type} cannot have a parent", field=field)
    parent = load_item(ctx, parent_id, field)
    if parent.project_id != project_id:
        raise FailedPrecondition("parent and child must be in the same project", field=field)
    if parent.type not in allowed:
        raise FailedPrecondition(
            f"a {item_type}'s parent must be {' or '.join(sorted(allowed))}, not {parent.type}",
            field=field,
        )
    return parent


def check_status(ctx: ReadContext, project_id: str, status: str, field: str = "status") -> str:
    """A status value of one of the project's live lanes (empty: backlog)."""
    status = status or "backlog"
    if swim_lanes.find_by_status(ctx.conn, project_id, status) is None:
        raise FailedPrecondition(f"the project has no lane {status!r}", field=field)
    return status


def check_sprint(
    ctx: ReadContext, item_type: str, project_id: str, sprint_id: str, field: str = "sprint_id"
) -> str | None:
    """A planned or active sprint of the same project, for a story, task or bug."""
    if not sprint_id:
        return None
    sprint = sprints.get(ctx.conn, parse_id(sprint_id, field))
    if sprint is None:
        raise NotFound("sprint not found", field=field)
    if sprint.project_id != project_id:
        raise FailedPrecondition("the sprint belongs to another project", field=field)
    if item_type == "epic":
        raise FailedPrecondition("epics are not assigned to sprints", field=field)
    if sprint.state not in ("planned", "active"):
        raise FailedPrecondition(f"the sprint is {sprint.state}", field=field)
    return sprint.id


def check_points(points: int, field: str = "story_points") -> int:
    if not 0 <= points <= 100:
        raise InvalidArgument("story_points must be between 0 and 100", field=field)
    return points


def check_assignee(assignee_id: str, field: str = "assignee_id") -> str | None:
    if len(assignee_id) > MAX_ID_CHARS:
        raise InvalidArgument(f"{field} is too long", field=field)
    return assignee_id or None


@mutation("create_work_item")
def create_work_item(ctx: WriteContext, cmd: msg.CreateWorkItem) -> Change:
    """Creates an item at the end of its lane with the project's next number."""
    project = load_project(ctx, cmd.project_id)
    item_type = type_name(cmd.type)
    title = text(cmd.title, "title", max_chars=255)
    description = body(cmd.description, "description")
    item_id = new_id(cmd.id)
    if work_items.id_exists(ctx.conn, item_id):
        raise AlreadyExists("a work item with this id exists", field="id")
    parent = check_parent(ctx, item_type, project.id, cmd.parent_id)
    status = check_status(ctx, project.id, cmd.status)
    sprint_id = check_sprint(ctx, item_type, project.id, cmd.sprint_id)
    points = check_points(cmd.story_points) if cmd.HasField("story_points") else None
    item = work_items.insert(
        ctx.conn,
        item_id=item_id,
        project_id=project.id,
        number=projects.allocate_item_number(ctx.conn, project.id),
        type=item_type,
        parent_id=parent.id if parent else None,
        status=status,
        rank=ranks.between(work_items.last_rank(ctx.conn, project.id, status), None),
        title=title,
        description=description,
        priority=priority_name(cmd.priority),
        assignee_id=check_assignee(cmd.assignee_id),
        sprint_id=sprint_id,
        story_points=points,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    ctx.log("work_item", item.id, project.id, "created")
    wire = work_item_to_proto(item)
    return Change(
        result=msg.CreateWorkItemResult(work_item=wire),
        event=msg.WorkItemCreated(work_item=wire),
        project_ids=[project.id],
    )


@query("get_work_item")
def get_work_item(ctx: ReadContext, cmd: msg.GetWorkItem) -> msg.GetWorkItemResult:
    """One live work item."""
    return msg.GetWorkItemResult(work_item=work_item_to_proto(load_item(ctx, cmd.work_item_id)))
