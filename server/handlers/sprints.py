"""Sprints: create, update, start, complete, cancel, delete, list, stats, assign items.

States move planned -> active -> completed, or planned|active -> cancelled, nothing else.
"The backlog" an unfinished item returns to is the product backlog: its sprint_id is
cleared; its status (lane) is left alone. Every item whose sprint changes gets a new
version and one activity row for sprint_id, under the sprint command's one event.
"""

from __future__ import annotations

from collections.abc import Iterable

from pm.v1 import sprints_pb2 as msg
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
from server.handlers.work_items import load_item
from server.paging import page_size
from server.validation import body, text
from server.wire.sprints import sprint_to_proto, state_filter
from server.wire.work_items import work_item_to_proto
from tenants import sprints, work_items
from tenants.errors import FailedPrecondition, InvalidArgument
from tenants.sprints import SprintRecord
from tenants.work_items import WorkItemRecord

commands = Commands()

MAX_ASSIGN = 500
_STATE_FIELDS = ["state", "started_at_ms", "completed_at_ms"]


def load_sprint(ctx: ReadContext, sprint_id: str, field: str = "sprint_id") -> SprintRecord:
    """A live sprint of this tenant, or NOT_FOUND."""
    return load(ctx, sprints.get, sprint_id, field, "sprint")


def check_version(sprint: SprintRecord, expected_version: int) -> None:
    expect_version(sprint, expected_version, "sprint", sprint_to_proto)


def require_state(sprint: SprintRecord, allowed: Iterable[str], doing: str) -> None:
    if sprint.state not in allowed:
        raise FailedPrecondition(f"a {sprint.state} sprint cannot be {doing}", field="sprint_id")


def check_dates(start_ms: int, end_ms: int, field: str) -> None:
    """Both dates set (> 0) and start strictly before end; `field` names the culprit."""
    if start_ms <= 0:
        raise InvalidArgument("start_date_ms is required", field="start_date_ms")
    if end_ms <= 0:
        raise InvalidArgument("end_date_ms is required", field="end_date_ms")
    if start_ms >= end_ms:
        raise InvalidArgument("start_date_ms must be before end_date_ms", field=field)


def move_items(ctx: WriteContext, item_ids: Iterable[str], sprint_id: str | None) -> None:
    """Puts items in a sprint (None: the backlog), one activity row per item."""
    for item_id in item_ids:
        before = work_items.get(ctx.conn, item_id)
        assert before is not None
        sprints.set_item_sprint(
            ctx.conn, item_id, sprint_id, actor_id=ctx.user_id, now_ms=ctx.now_ms
        )
        after = work_items.get(ctx.conn, item_id)
        assert after is not None
        changes = field_changes(
            work_item_to_proto(before), work_item_to_proto(after), ["sprint_id"]
        )
        log_changes(ctx, "work_item", item_id, before.project_id, changes)


def transition(
    ctx: WriteContext, sprint: SprintRecord, updates: dict[str, object], action: str
) -> SprintRecord:
    """Changes a sprint's state columns, one activity row per changed field."""
    after = sprints.update(ctx.conn, sprint.id, updates, actor_id=ctx.user_id, now_ms=ctx.now_ms)
    changes = field_changes(sprint_to_proto(sprint), sprint_to_proto(after), _STATE_FIELDS)
    log_changes(ctx, "sprint", sprint.id, sprint.project_id, changes, action=action)
    return after


@commands.mutation("create_sprint")
def create_sprint(ctx: WriteContext, cmd: msg.CreateSprint) -> Change:
    """Plans a sprint in a project."""
    project = load_project(ctx, cmd.project_id)
    name = text(cmd.name, "name", max_chars=120)
    goal = body(cmd.goal, "goal")
    check_dates(cmd.start_date_ms, cmd.end_date_ms, "end_date_ms")
    sprint_id = fresh_id(ctx, cmd.id, sprints.id_exists, "sprint")
    sprint = sprints.insert(
        ctx.conn,
        sprint_id=sprint_id,
        project_id=project.id,
        name=name,
        goal=goal,
        start_date=cmd.start_date_ms,
        end_date=cmd.end_date_ms,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    ctx.log("sprint", sprint.id, project.id, "created")
    wire = sprint_to_proto(sprint)
    return Change(
        result=msg.CreateSprintResult(sprint=wire),
        event=msg.SprintCreated(sprint=wire),
        project_ids=[project.id],
    )


def _sprint_updates(sprint: SprintRecord, cmd: msg.UpdateSprint) -> dict[str, object]:
    updates: dict[str, object] = {}
    if cmd.HasField("name"):
        updates["name"] = text(cmd.name, "name", max_chars=120)
    if cmd.HasField("goal"):
        updates["goal"] = body(cmd.goal, "goal")
    if cmd.HasField("start_date_ms") or cmd.HasField("end_date_ms"):
        start = cmd.start_date_ms if cmd.HasField("start_date_ms") else sprint.start_date
        end = cmd.end_date_ms if cmd.HasField("end_date_ms") else sprint.end_date
        check_dates(start, end, "end_date_ms" if cmd.HasField("end_date_ms") else "start_date_ms")
        updates["start_date"] = start
        updates["end_date"] = end
    if not updates:
        raise InvalidArgument("nothing to update: set name, goal or dates", field="name")
    return updates


@commands.mutation("update_sprint")
def update_sprint(ctx: WriteContext, cmd: msg.UpdateSprint) -> Change:
    """Renames a planned or active sprint, or changes its goal or dates."""
    sprint = load_sprint(ctx, cmd.sprint_id)
    check_version(sprint, cmd.expected_version)
    require_state(sprint, sprints.OPEN_STATES, "changed")
    updates = _sprint_updates(sprint, cmd)
    before = sprint_to_proto(sprint)
    after_record = sprints.update(
        ctx.conn, sprint.id, updates, actor_id=ctx.user_id, now_ms=ctx.now_ms
    )
    after = sprint_to_proto(after_record)
    changes = field_changes(before, after, ["name", "goal", "start_date_ms", "end_date_ms"])
    if not changes:
        raise Unchanged(msg.UpdateSprintResult(sprint=before))
    log_changes(ctx, "sprint", sprint.id, sprint.project_id, changes)
    return Change(
        result=msg.UpdateSprintResult(sprint=after, changes=changes),
        event=msg.SprintUpdated(sprint=after, changes=changes),
        project_ids=[sprint.project_id],
    )


@commands.mutation("start_sprint")
def start_sprint(ctx: WriteContext, cmd: msg.StartSprint) -> Change:
    """planned -> active, while no other sprint of the project is active."""
    sprint = load_sprint(ctx, cmd.sprint_id)
    check_version(sprint, cmd.expected_version)
    require_state(sprint, ["planned"], "started")
    active = sprints.find_active(ctx.conn, sprint.project_id)
    if active is not None:
        raise FailedPrecondition(
            f"sprint {active.name!r} is already active in this project", field="sprint_id"
        )
    after = transition(ctx, sprint, {"state": "active", "started_at": ctx.now_ms}, "started")
    wire = sprint_to_proto(after)
    return Change(
        result=msg.StartSprintResult(sprint=wire),
        event=msg.SprintStarted(sprint=wire),
        project_ids=[sprint.project_id],
    )


def carry_over_target(ctx: ReadContext, sprint: SprintRecord, carry_over_id: str) -> str | None:
    """The planned sprint of the same project that takes the unfinished items, if named."""
    field = "carry_over_sprint_id"
    if not carry_over_id:
        return None
    target = load_sprint(ctx, carry_over_id, field)
    if target.project_id != sprint.project_id:
        raise FailedPrecondition("the carry-over sprint belongs to another project", field=field)
    if target.state != "planned":
        raise FailedPrecondition(
            f"the carry-over sprint must be planned, not {target.state}", field=field
        )
    return target.id


@commands.mutation("complete_sprint")
def complete_sprint(ctx: WriteContext, cmd: msg.CompleteSprint) -> Change:
    """active -> completed; unfinished items go to the backlog or the carry-over sprint."""
    sprint = load_sprint(ctx, cmd.sprint_id)
    check_version(sprint, cmd.expected_version)
    require_state(sprint, ["active"], "completed")
    target = carry_over_target(ctx, sprint, cmd.carry_over_sprint_id)
    moved = sprints.item_ids(ctx.conn, sprint.id, unfinished_only=True)
    move_items(ctx, moved, target)
    after = transition(ctx, sprint, {"state": "completed", "completed_at": ctx.now_ms}, "completed")
    wire = sprint_to_proto(after)
    return Change(
        result=msg.CompleteSprintResult(
            sprint=wire, moved_work_item_ids=moved, carry_over_sprint_id=target or ""
        ),
        event=msg.SprintCompleted(
            sprint=wire, moved_work_item_ids=moved, carry_over_sprint_id=target or ""
        ),
        project_ids=[sprint.project_id],
    )


@commands.mutation("cancel_sprint")
def cancel_sprint(ctx: WriteContext, cmd: msg.CancelSprint) -> Change:
    """planned|active -> cancelled; its unfinished items return to the backlog."""
    sprint = load_sprint(ctx, cmd.sprint_id)
    check_version(sprint, cmd.expected_version)
    require_state(sprint, sprints.OPEN_STATES, "cancelled")
    moved = sprints.item_ids(ctx.conn, sprint.id, unfinished_only=True)
    move_items(ctx, moved, None)
    after = transition(ctx, sprint, {"state": "cancelled"}, "cancelled")
    wire = sprint_to_proto(after)
    return Change(
        result=msg.CancelSprintResult(sprint=wire, moved_work_item_ids=moved),
        event=msg.SprintCancelled(sprint=wire, moved_work_item_ids=moved),
        project_ids=[sprint.project_id],
    )


@commands.mutation("delete_sprint")
def delete_sprint(ctx: WriteContext, cmd: msg.DeleteSprint) -> Change:
    """Soft-deletes a sprint in any state; every item in it returns to the backlog."""
    sprint = load_sprint(ctx, cmd.sprint_id)
    check_version(sprint, cmd.expected_version)
    moved = sprints.item_ids(ctx.conn, sprint.id, unfinished_only=False)
    move_items(ctx, moved, None)
    sprints.soft_delete(
        ctx.conn, sprint.id, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
    )
    ctx.log("sprint", sprint.id, sprint.project_id, "deleted")
    return Change(
        result=msg.DeleteSprintResult(sprint_id=sprint.id, moved_work_item_ids=moved),
        event=msg.SprintDeleted(
            sprint_id=sprint.id, project_id=sprint.project_id, moved_work_item_ids=moved
        ),
        project_ids=[sprint.project_id],
    )


def _list_cursor(ctx: ReadContext, cmd: msg.ListSprints) -> tuple[int, str] | None:
    cursor = ctx.paging.cursor(cmd, s=int, i=str)
    return (cursor["s"], cursor["i"]) if cursor else None


@commands.query("list_sprints")
def list_sprints(ctx: ReadContext, cmd: msg.ListSprints) -> msg.ListSprintsResult:
    """A project's live sprints by start date, optionally of one state, paged."""
    project = load_project(ctx, cmd.project_id)
    state = state_filter(cmd.state)
    size = page_size(cmd.page_size)
    found = sprints.list_for_project(
        ctx.conn, project.id, state=state, after=_list_cursor(ctx, cmd), limit=size + 1
    )
    page, token = ctx.paging.page(
        cmd, found, size, sprint_to_proto, lambda s: {"s": s.start_date, "i": s.id}
    )
    return msg.ListSprintsResult(sprints=page, next_page_token=token)


@commands.query("get_sprint_stats")
def get_sprint_stats(ctx: ReadContext, cmd: msg.GetSprintStats) -> msg.GetSprintStatsResult:
    """Items and points in the sprint, total and done (status `done`)."""
    sprint = load_sprint(ctx, cmd.sprint_id)
    figures = sprints.stats(ctx.conn, sprint.id)
    return msg.GetSprintStatsResult(
        sprint=sprint_to_proto(sprint),
        items_total=figures.items_total,
        items_done=figures.items_done,
        points_total=figures.points_total,
        points_done=figures.points_done,
    )


def _assign_target(ctx: ReadContext, sprint_id: str) -> SprintRecord | None:
    if not sprint_id:
        return None
    target = load_sprint(ctx, sprint_id)
    if target.state not in sprints.OPEN_STATES:
        raise FailedPrecondition(
            f"items go to a planned or active sprint, not a {target.state} one",
            field="sprint_id",
        )
    return target


def _assignable_items(
    ctx: ReadContext, item_ids: list[str], target: SprintRecord | None
) -> list[WorkItemRecord]:
    field = "work_item_ids"
    if not item_ids:
        raise InvalidArgument("work_item_ids must not be empty", field=field)
    if len(item_ids) > MAX_ASSIGN:
        raise InvalidArgument(f"at most {MAX_ASSIGN} work items at once", field=field)
    unique = list(dict.fromkeys(parse_id(item_id, field) for item_id in item_ids))
    items = [load_item(ctx, item_id, field) for item_id in unique]
    for item in items:
        if item.type == "epic":
            raise FailedPrecondition(f"{item.key} is an epic; epics have no sprint", field=field)
        if target is not None and item.project_id != target.project_id:
            raise FailedPrecondition(f"{item.key} belongs to another project", field=field)
    return items


@commands.mutation("assign_to_sprint")
def assign_to_sprint(ctx: WriteContext, cmd: msg.AssignToSprint) -> Change:
    """Puts stories, tasks and bugs in a sprint, or back in the backlog; all or nothing."""
    target = _assign_target(ctx, cmd.sprint_id)
    items = _assignable_items(ctx, list(cmd.work_item_ids), target)
    target_id = target.id if target is not None else None
    moving = [item.id for item in items if item.sprint_id != target_id]
    if not moving:
        raise Unchanged(msg.AssignToSprintResult(work_items=[work_item_to_proto(i) for i in items]))
    move_items(ctx, moving, target_id)
    after = []
    for item in items:
        record = work_items.get(ctx.conn, item.id)
        assert record is not None
        after.append(work_item_to_proto(record))
    return Change(
        result=msg.AssignToSprintResult(work_items=after),
        event=msg.WorkItemsAssignedToSprint(sprint_id=target_id or "", work_items=after),
        project_ids=[item.project_id for item in items],
    )
