"""Work items: create, update, move, delete, restore, get, list, tree, ancestors."""

from __future__ import annotations

import functools
import json

from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as msg
from server.auth import Role
from server.commands import (
    Change,
    Commands,
    ReadContext,
    Unchanged,
    WriteContext,
    expect_version,
    fresh_id,
    load,
    parse_id,
)
from server.field_changes import field_changes, log_changes
from server.handlers.projects import load_project
from server.paging import page_size
from server.validation import body, text
from server.wire.dependencies import dependency_to_proto
from server.wire.work_items import priority_name, type_name, work_item_to_proto
from tenants import dependencies, projects, ranks, sprints, swim_lanes, work_items
from tenants.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from tenants.work_items import WorkItemRecord

commands = Commands()

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
    return load(ctx, work_items.get, item_id, field, "work item")


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
    sprint = load(ctx, sprints.get, sprint_id, field, "sprint")
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


@commands.mutation("create_work_item")
def create_work_item(ctx: WriteContext, cmd: msg.CreateWorkItem) -> Change:
    """Creates an item at the end of its lane with the project's next number."""
    project_id = parse_id(cmd.project_id, "project_id")
    # One statement finds the live project and takes its next number; a check below that
    # refuses the command gives the number back with the command's savepoint.
    taken = projects.take_item_number(ctx.conn, project_id)
    if taken is None:
        raise NotFound("project not found", field="project_id")
    number, project_key = taken
    item_type = type_name(cmd.type)
    title = text(cmd.title, "title", max_chars=255)
    description = body(cmd.description, "description")
    item_id = fresh_id(ctx, cmd.id, work_items.id_exists, "work item")
    parent = check_parent(ctx, item_type, project_id, cmd.parent_id)
    status = cmd.status or "backlog"
    has_lane, lane_end = work_items.lane_end(ctx.conn, project_id, status)
    if not has_lane:
        raise FailedPrecondition(f"the project has no lane {status!r}", field="status")
    sprint_id = check_sprint(ctx, item_type, project_id, cmd.sprint_id)
    points = check_points(cmd.story_points) if cmd.HasField("story_points") else None
    item = work_items.insert(
        ctx.conn,
        item_id=item_id,
        project_id=project_id,
        number=number,
        type=item_type,
        parent_id=parent.id if parent else None,
        status=status,
        rank=ranks.between(lane_end, None),
        title=title,
        description=description,
        priority=priority_name(cmd.priority),
        assignee_id=check_assignee(cmd.assignee_id),
        sprint_id=sprint_id,
        story_points=points,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
        project_key=project_key,
    )
    ctx.log("work_item", item.id, project_id, "created")
    wire = work_item_to_proto(item)
    return Change(
        result=msg.CreateWorkItemResult(work_item=wire),
        event=msg.WorkItemCreated(work_item=wire),
        project_ids=[project_id],
    )


def check_version(item: WorkItemRecord, expected_version: int) -> None:
    expect_version(item, expected_version, "work item", work_item_to_proto)


def check_clear(cmd: Message, name: str) -> bool:
    """Whether the update sets `name`; setting it and clear_<name> together is refused."""
    clear = bool(getattr(cmd, f"clear_{name}"))
    if clear and cmd.HasField(name):
        raise InvalidArgument(f"set {name} or clear_{name}, not both", field=name)
    return clear or cmd.HasField(name)


def check_children(ctx: ReadContext, item: WorkItemRecord, new_type: str) -> None:
    """The item's live children must accept new_type as their parent's type."""
    for child_type in sorted(work_items.child_types(ctx.conn, item.id)):
        if new_type not in ALLOWED_PARENTS[child_type]:
            raise FailedPrecondition(
                f"{item.key} has a {child_type} child, which cannot have a {new_type} parent",
                field="type",
            )


def check_type_change(ctx: ReadContext, item: WorkItemRecord, new_type: str) -> None:
    """A new type must fit the item's parent and its children."""
    if new_type == item.type:
        return
    if item.parent_id is not None:
        parent = load_item(ctx, item.parent_id, "type")
        if parent.type not in ALLOWED_PARENTS[new_type]:
            raise FailedPrecondition(
                f"a {new_type} cannot have the {parent.type} {parent.key} as its parent",
                field="type",
            )
    check_children(ctx, item, new_type)


def update_values(
    ctx: ReadContext, item: WorkItemRecord, cmd: msg.UpdateWorkItem
) -> dict[str, object]:
    """The columns an UpdateWorkItem sets, each checked."""
    values: dict[str, object] = {}
    if cmd.HasField("title"):
        values["title"] = text(cmd.title, "title", max_chars=255)
    if cmd.HasField("description"):
        values["description"] = body(cmd.description, "description")
    new_type = type_name(cmd.type) if cmd.HasField("type") else item.type
    if cmd.HasField("type"):
        check_type_change(ctx, item, new_type)
        values["type"] = new_type
    if cmd.HasField("priority"):
        values["priority"] = priority_name(cmd.priority)
    if check_clear(cmd, "assignee_id"):
        values["assignee_id"] = None if cmd.clear_assignee_id else check_assignee(cmd.assignee_id)
    if check_clear(cmd, "sprint_id"):
        values["sprint_id"] = (
            None
            if cmd.clear_sprint_id
            else check_sprint(ctx, new_type, item.project_id, cmd.sprint_id)
        )
    if check_clear(cmd, "story_points"):
        values["story_points"] = None if cmd.clear_story_points else check_points(cmd.story_points)
    if new_type == "epic" and values.get("sprint_id", item.sprint_id) is not None:
        raise FailedPrecondition("an epic cannot stay in a sprint; clear sprint_id", field="type")
    return values


UPDATE_FIELDS = [
    "title",
    "description",
    "type",
    "priority",
    "assignee_id",
    "sprint_id",
    "story_points",
]


@commands.mutation("update_work_item")
def update_work_item(ctx: WriteContext, cmd: msg.UpdateWorkItem) -> Change:
    """Changes title, description, type, priority, assignee, sprint or story points."""
    item = load_item(ctx, cmd.work_item_id)
    check_version(item, cmd.expected_version)
    values = update_values(ctx, item, cmd)
    if not values:
        raise InvalidArgument("nothing to update: set at least one field", field="title")
    before = work_item_to_proto(item)
    after = work_item_to_proto(
        work_items.update(
            ctx.conn,
            item.id,
            values,
            actor_id=ctx.user_id,
            now_ms=ctx.now_ms,
            project_key=item.project_key,
        )
    )
    changes = field_changes(before, after, UPDATE_FIELDS)
    if not changes:
        raise Unchanged(msg.UpdateWorkItemResult(work_item=before))
    log_changes(ctx, "work_item", item.id, item.project_id, changes)
    return Change(
        result=msg.UpdateWorkItemResult(work_item=after, changes=changes),
        event=msg.WorkItemUpdated(work_item=after, changes=changes),
        project_ids=[item.project_id],
    )


def move_parent(ctx: ReadContext, item: WorkItemRecord, cmd: msg.MoveWorkItem) -> str | None:
    """The parent after the move: unchanged, cleared, or a new one that keeps a tree."""
    if cmd.clear_parent_id and cmd.HasField("parent_id"):
        raise InvalidArgument("set parent_id or clear_parent_id, not both", field="parent_id")
    if cmd.clear_parent_id:
        return None
    if not cmd.HasField("parent_id"):
        return item.parent_id
    parent_id = parse_id(cmd.parent_id, "parent_id")
    # Checked before the type rules so that the answer names the real problem.
    if work_items.is_in_subtree(ctx.conn, item.id, parent_id):
        raise FailedPrecondition(
            f"{item.key} cannot become a child of itself or of its own descendant",
            field="parent_id",
        )
    parent = check_parent(ctx, item.type, item.project_id, parent_id)
    return parent.id if parent else None


def load_neighbour(
    ctx: ReadContext, item: WorkItemRecord, status: str, neighbour_id: str, field: str
) -> WorkItemRecord:
    neighbour = load_item(ctx, neighbour_id, field)
    if neighbour.id == item.id:
        raise InvalidArgument("an item cannot be placed next to itself", field=field)
    if neighbour.project_id != item.project_id or neighbour.status != status:
        raise FailedPrecondition(
            f"{neighbour.key} is not in the {status!r} lane of this project", field=field
        )
    return neighbour


def move_rank(ctx: ReadContext, item: WorkItemRecord, status: str, cmd: msg.MoveWorkItem) -> str:
    """One new rank from the neighbour and the item next to it; no other row is touched."""
    if cmd.before_id and cmd.after_id:
        raise InvalidArgument("set before_id or after_id, not both", field="before_id")
    if cmd.before_id:
        above = load_neighbour(ctx, item, status, cmd.before_id, "before_id")
        below = work_items.neighbour_rank(
            ctx.conn, item.project_id, status, above.rank, below=True, exclude_id=item.id
        )
        return ranks.between(below, above.rank)
    if cmd.after_id:
        under = load_neighbour(ctx, item, status, cmd.after_id, "after_id")
        over = work_items.neighbour_rank(
            ctx.conn, item.project_id, status, under.rank, below=False, exclude_id=item.id
        )
        return ranks.between(under.rank, over)
    end = work_items.lane_end_rank(ctx.conn, item.project_id, status, exclude_id=item.id)
    return ranks.between(end, None)


MOVE_FIELDS = ["status", "parent_id", "rank"]


@commands.mutation("move_work_item")
def move_work_item(ctx: WriteContext, cmd: msg.MoveWorkItem) -> Change:
    """Moves an item to a lane position and optionally a new parent: one row, one event."""
    item = load_item(ctx, cmd.work_item_id)
    check_version(item, cmd.expected_version)
    status = check_status(ctx, item.project_id, cmd.status or item.status)
    parent_id = move_parent(ctx, item, cmd)
    rank = move_rank(ctx, item, status, cmd)
    before = work_item_to_proto(item)
    moved = work_items.update(
        ctx.conn,
        item.id,
        {"status": status, "parent_id": parent_id, "rank": rank},
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
        project_key=item.project_key,
    )
    after = work_item_to_proto(moved)
    changes = field_changes(before, after, MOVE_FIELDS)
    if not changes:
        raise Unchanged(msg.MoveWorkItemResult(work_item=before))
    log_changes(ctx, "work_item", item.id, item.project_id, changes, action="moved")
    long_keys = len(rank) > ranks.REBALANCE_AT
    return Change(
        result=msg.MoveWorkItemResult(work_item=after, changes=changes),
        event=msg.WorkItemMoved(work_item=after, changes=changes),
        project_ids=[item.project_id],
        follow_up=functools.partial(rerank_lane, project_id=item.project_id, status=status)
        if long_keys
        else None,
    )


def rerank_lane(ctx: WriteContext, *, project_id: str, status: str) -> Change | None:
    """Rewrite a lane's rank keys evenly, in the same order: one row and one activity row
    per item whose key changes, under one WorkItemsReranked event. Runs after a move that
    made a long key, in a transaction of its own; None when another already did it."""
    lane = work_items.lane_ranks(ctx.conn, project_id, status)
    if all(len(rank) <= ranks.REBALANCE_AT for _, rank in lane):
        return None
    moved: list[msg.RankChange] = []
    for (item_id, old_rank), new_rank in zip(lane, ranks.evenly(len(lane)), strict=True):
        if new_rank == old_rank:
            continue
        record = work_items.update(
            ctx.conn, item_id, {"rank": new_rank}, actor_id=ctx.user_id, now_ms=ctx.now_ms
        )
        ctx.log(
            "work_item",
            item_id,
            project_id,
            "reranked",
            "rank",
            json.dumps(old_rank),
            json.dumps(new_rank),
        )
        moved.append(msg.RankChange(work_item_id=item_id, rank=new_rank, version=record.version))
    event = msg.WorkItemsReranked(project_id=project_id, status=status, ranks=moved)
    return Change(result=event, event=event, project_ids=[project_id])


def touched_projects(
    ctx: ReadContext, project_id: str, dependencies: list[work_items.DeletedDependency]
) -> list[str]:
    """The item's project first, then those of the far ends of its dependencies."""
    ends = [d.from_item_id for d in dependencies] + [d.to_item_id for d in dependencies]
    return list(dict.fromkeys([project_id, *work_items.project_ids_of(ctx.conn, ends)]))


def source_project(ctx: ReadContext, dependency: work_items.DeletedDependency) -> str:
    """A dependency's activity is filed under its "from" item's project, as when created."""
    source = work_items.get(ctx.conn, dependency.from_item_id, include_deleted=True)
    assert source is not None
    return source.project_id


@commands.mutation("delete_work_item")
def delete_work_item(ctx: WriteContext, cmd: msg.DeleteWorkItem) -> Change:
    """Soft-deletes the item, its descendants and their dependencies as one batch."""
    item = load_item(ctx, cmd.work_item_id)
    check_version(item, cmd.expected_version)
    items = work_items.subtree(ctx.conn, item.id)
    dependencies = work_items.live_dependencies_of_subtree(ctx.conn, item.id)
    item_ids = [i.id for i in items]
    dependency_ids = [d.id for d in dependencies]
    for table, ids in (("work_items", item_ids), ("dependencies", dependency_ids)):
        work_items.soft_delete_many(
            ctx.conn, table, ids, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
        )
    for deleted in items:
        ctx.log("work_item", deleted.id, deleted.project_id, "deleted")
    for dependency in dependencies:
        ctx.log("dependency", dependency.id, source_project(ctx, dependency), "deleted")
    return Change(
        result=msg.DeleteWorkItemResult(work_item_ids=item_ids, dependency_ids=dependency_ids),
        event=msg.WorkItemDeleted(work_item_ids=item_ids, dependency_ids=dependency_ids),
        project_ids=touched_projects(ctx, item.project_id, dependencies),
    )


RESTORE_WINDOW_MS = 30 * 24 * 60 * 60 * 1000


def load_deleted_item(ctx: ReadContext, item_id: str) -> WorkItemRecord:
    item = work_items.get(ctx.conn, parse_id(item_id, "work_item_id"), include_deleted=True)
    if item is None:
        raise NotFound("work item not found", field="work_item_id")
    if item.deleted_at is None:
        raise FailedPrecondition(f"{item.key} is not deleted", field="work_item_id")
    return item


def check_may_restore(ctx: ReadContext, item: WorkItemRecord) -> None:
    if ctx.principal.role < Role.ADMIN and item.deleted_by != ctx.user_id:
        raise PermissionDenied(
            "only an admin or the user who deleted the item may restore it", field="work_item_id"
        )
    assert item.deleted_at is not None
    if ctx.now_ms - item.deleted_at > RESTORE_WINDOW_MS:
        raise FailedPrecondition(
            f"{item.key} was deleted more than 30 days ago", field="work_item_id"
        )


def same_batch(a: WorkItemRecord, b: WorkItemRecord) -> bool:
    return (a.delete_batch, a.deleted_by, a.deleted_at) == (
        b.delete_batch,
        b.deleted_by,
        b.deleted_at,
    )


def check_restorable_place(ctx: ReadContext, item: WorkItemRecord) -> None:
    """The item's project and parent must be live (restore the batch's root, not a child)."""
    if projects.get(ctx.conn, item.project_id) is None:
        raise FailedPrecondition(f"the project of {item.key} is deleted", field="work_item_id")
    if item.parent_id is None:
        return
    parent = work_items.get(ctx.conn, item.parent_id, include_deleted=True)
    assert parent is not None
    if parent.deleted_at is None:
        if parent.type not in ALLOWED_PARENTS[item.type]:
            # The parent's type changed while this item was away.
            raise FailedPrecondition(
                f"{item.key} cannot come back under {parent.key}, now a {parent.type}",
                field="work_item_id",
            )
        return
    if same_batch(parent, item):
        raise FailedPrecondition(
            f"{item.key} was deleted together with {parent.key}; restore that one",
            field="work_item_id",
        )
    raise FailedPrecondition(
        f"the parent {parent.key} is deleted; restore it first", field="work_item_id"
    )


def check_lanes(ctx: ReadContext, items: list[WorkItemRecord]) -> None:
    for status in sorted({(i.project_id, i.status) for i in items}):
        project_id, value = status
        if swim_lanes.find_by_status(ctx.conn, project_id, value) is None:
            raise FailedPrecondition(
                f"the lane {value!r} no longer exists; add it back first", field="work_item_id"
            )


def restorable_dependencies(
    ctx: ReadContext, root: WorkItemRecord, items: list[WorkItemRecord]
) -> list[work_items.DeletedDependency]:
    """The batch's dependencies whose far end is back too; each pair must still be free.

    A dependency whose other item was deleted since (by another delete) stays deleted: it
    would otherwise point at a hidden item.
    """
    restored = {i.id for i in items}
    batch = work_items.batch_dependencies(ctx.conn, root)
    ends = [d.from_item_id for d in batch] + [d.to_item_id for d in batch]
    present = restored | work_items.live_ids(ctx.conn, ends)
    keep = [d for d in batch if d.from_item_id in present and d.to_item_id in present]
    for dependency in keep:
        if dependencies.find_pair(ctx.conn, dependency.from_item_id, dependency.to_item_id):
            keys = dependencies.item_keys(
                ctx.conn, [dependency.from_item_id, dependency.to_item_id]
            )
            raise FailedPrecondition(
                f"{keys[dependency.from_item_id]} and {keys[dependency.to_item_id]} are linked"
                " by another dependency now",
                field="work_item_id",
            )
    return keep


def refuse_restored_cycles(ctx: ReadContext, restored: list[work_items.DeletedDependency]) -> None:
    """Blocks edges added while the items were deleted may close a cycle with restored ones."""
    for dependency in restored:
        if dependency.type != dependencies.BLOCKS:
            continue
        cycle = dependencies.find_cycle(ctx.conn, dependency.from_item_id, dependency.to_item_id)
        if cycle is not None:
            keys = dependencies.item_keys(ctx.conn, cycle)
            raise FailedPrecondition(
                "restoring would close a blocks cycle: "
                + " -> ".join(keys.get(node, node) for node in cycle),
                field="work_item_id",
            )


@commands.mutation("restore_work_item")
def restore_work_item(ctx: WriteContext, cmd: msg.RestoreWorkItem) -> Change:
    """Brings back an item with the descendants and dependencies deleted with it."""
    root = load_deleted_item(ctx, cmd.work_item_id)
    check_may_restore(ctx, root)
    check_restorable_place(ctx, root)
    items = work_items.batch_items(ctx.conn, root)
    check_lanes(ctx, items)
    links = restorable_dependencies(ctx, root, items)
    work_items.restore_many(
        ctx.conn, "work_items", [i.id for i in items], actor_id=ctx.user_id, now_ms=ctx.now_ms
    )
    work_items.restore_many(
        ctx.conn, "dependencies", [d.id for d in links], actor_id=ctx.user_id, now_ms=ctx.now_ms
    )
    # Raising here is safe: the command's savepoint rolls the restore back.
    refuse_restored_cycles(ctx, links)
    for item in items:
        ctx.log("work_item", item.id, item.project_id, "restored")
    for link in links:
        ctx.log("dependency", link.id, source_project(ctx, link), "restored")
    for item in items:
        settle_restored(ctx, item)
    wire_items = [work_item_to_proto(load_item(ctx, i.id)) for i in items]
    wire_links = [load_dependency_proto(ctx, d.id) for d in links]
    return Change(
        result=msg.RestoreWorkItemResult(work_items=wire_items, dependencies=wire_links),
        event=msg.WorkItemRestored(work_items=wire_items, dependencies=wire_links),
        project_ids=touched_projects(ctx, root.project_id, links),
    )


def settle_restored(ctx: WriteContext, item: WorkItemRecord) -> None:
    """What changed while the item was away: its sprint may have closed and its rank may have
    been given to a newer item. Fix both, with activity rows, under the restore's event."""
    fixes: dict[str, object] = {}
    if item.sprint_id is not None:
        sprint = sprints.get(ctx.conn, item.sprint_id)
        # Do what the sprint's end did to its other items: unfinished ones went to the product
        # backlog, done ones stayed as its history. A deleted sprint let go of all of them.
        ended = sprint is not None and sprint.state in ("completed", "cancelled")
        if sprint is None or (ended and item.status != "done"):
            fixes["sprint_id"] = None
    if work_items.rank_taken(ctx.conn, item.project_id, item.status, item.rank, exclude_id=item.id):
        end = work_items.lane_end_rank(ctx.conn, item.project_id, item.status, exclude_id=item.id)
        fixes["rank"] = ranks.between(end, None)
    if not fixes:
        return
    before = work_item_to_proto(load_item(ctx, item.id))
    after = work_item_to_proto(
        work_items.update(
            ctx.conn,
            item.id,
            fixes,
            actor_id=ctx.user_id,
            now_ms=ctx.now_ms,
            project_key=item.project_key,
        )
    )
    log_changes(
        ctx,
        "work_item",
        item.id,
        item.project_id,
        field_changes(before, after, list(fixes)),
    )


def load_dependency_proto(ctx: ReadContext, dependency_id: str) -> pb.Dependency:
    record = dependencies.get(ctx.conn, dependency_id)
    assert record is not None
    return dependency_to_proto(record)


@commands.query("get_work_item")
def get_work_item(ctx: ReadContext, cmd: msg.GetWorkItem) -> msg.GetWorkItemResult:
    """One live work item."""
    return msg.GetWorkItemResult(work_item=work_item_to_proto(load_item(ctx, cmd.work_item_id)))


def list_filters(ctx: ReadContext, cmd: msg.ListWorkItems) -> work_items.ItemFilter:
    return work_items.ItemFilter(
        status=cmd.status or None,
        sprint_id=parse_id(cmd.sprint_id, "sprint_id", required=False) or None,
        assignee_id=check_assignee(cmd.assignee_id),
        type=type_name(cmd.type) if cmd.type != pb.WORK_ITEM_TYPE_UNSPECIFIED else None,
        parent_id=parse_id(cmd.parent_id, "parent_id", required=False) or None,
    )


def decode_position(ctx: ReadContext, cmd: msg.ListWorkItems) -> work_items.LanePosition | None:
    cursor = ctx.paging.cursor(cmd, l=int, r=str, i=str)
    return work_items.LanePosition(cursor["l"], cursor["r"], cursor["i"]) if cursor else None


@commands.query("list_work_items")
def list_work_items(ctx: ReadContext, cmd: msg.ListWorkItems) -> msg.ListWorkItemsResult:
    """A project's live items in board order (lane order, then rank), filtered, paged."""
    project = load_project(ctx, cmd.project_id)
    size = page_size(cmd.page_size)
    found = work_items.list_for_project(
        ctx.conn,
        project.id,
        list_filters(ctx, cmd),
        after=decode_position(ctx, cmd),
        limit=size + 1,
    )
    page, token = ctx.paging.page(
        cmd,
        found,
        size,
        lambda pair: work_item_to_proto(pair[0]),
        lambda pair: {"l": pair[1].lane, "r": pair[1].rank, "i": pair[1].id},
    )
    return msg.ListWorkItemsResult(work_items=page, next_page_token=token)


@commands.query("get_work_item_tree")
def get_work_item_tree(ctx: ReadContext, cmd: msg.GetWorkItemTree) -> msg.GetWorkItemTreeResult:
    """The item and its live descendants, depth first, each after its parent; paged by the
    path of numbers from the root, so items added between pages do not shift them."""
    root = load_item(ctx, cmd.work_item_id)
    size = page_size(cmd.page_size)
    cursor = ctx.paging.cursor(cmd, p=list)
    ordered = work_items.subtree_paths(ctx.conn, root.id)
    after = tuple(cursor["p"]) if cursor else ()
    found = [(item, path) for item, path in ordered if path > after][: size + 1]
    page, token = ctx.paging.page(
        cmd, found, size, lambda pair: work_item_to_proto(pair[0]), lambda pair: {"p": pair[1]}
    )
    return msg.GetWorkItemTreeResult(work_items=page, next_page_token=token)


@commands.query("get_ancestors")
def get_ancestors(ctx: ReadContext, cmd: msg.GetAncestors) -> msg.GetAncestorsResult:
    """The path from the root down to the item's parent."""
    item = load_item(ctx, cmd.work_item_id)
    return msg.GetAncestorsResult(
        ancestors=[work_item_to_proto(i) for i in work_items.ancestors(ctx.conn, item.id)]
    )
