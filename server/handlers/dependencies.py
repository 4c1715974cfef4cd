"""Dependencies: create, delete and list `blocks` / `relates_to` edges between work items.

Items may sit in different projects of the tenant; the event then names both projects.
A blocks edge that would close a cycle is refused, naming the cycle by item keys; the check
runs on the database's own graph inside the command's transaction (see
tenants.dependencies.find_cycle), so two concurrent opposite edges cannot both pass.
"""

from __future__ import annotations

from pm.v1 import dependencies_pb2 as msg
from server.commands import (
    Change,
    Commands,
    ReadContext,
    WriteContext,
    expect_version,
    fresh_id,
    load,
    parse_id,
)
from server.handlers.work_items import load_item
from server.paging import page_size
from server.wire.dependencies import dependency_to_proto, dependency_type_name
from tenants import dependencies, work_items
from tenants.dependencies import BLOCKS, DependencyRecord
from tenants.errors import AlreadyExists, FailedPrecondition, InvalidArgument

commands = Commands()

# Longer cycles are named by their first and last keys, so the message stays readable.
MAX_CYCLE_KEYS = 50


def load_dependency(
    ctx: ReadContext, dependency_id: str, field: str = "dependency_id"
) -> DependencyRecord:
    """A live dependency of this tenant, or NOT_FOUND."""
    return load(ctx, dependencies.get, dependency_id, field, "dependency")


def describe_cycle(keys: list[str]) -> str:
    """`PM-3 -> PM-7 -> PM-3`, eliding the middle of very long cycles."""
    if len(keys) <= MAX_CYCLE_KEYS:
        return " -> ".join(keys)
    half = MAX_CYCLE_KEYS // 2
    hidden = len(keys) - 2 * half
    return " -> ".join([*keys[:half], f"... ({hidden} more) ...", *keys[-half:]])


def refuse_cycle(ctx: ReadContext, from_item_id: str, to_item_id: str) -> None:
    cycle = dependencies.find_cycle(ctx.conn, from_item_id, to_item_id)
    if cycle is None:
        return
    keys = dependencies.item_keys(ctx.conn, cycle)
    raise FailedPrecondition(
        f"this dependency would close a cycle: {describe_cycle([keys[i] for i in cycle])}",
        field="to_item_id",
    )


def refuse_existing_pair(ctx: ReadContext, from_item_id: str, to_item_id: str) -> None:
    existing = dependencies.find_pair(ctx.conn, from_item_id, to_item_id)
    if existing is not None:
        raise AlreadyExists(
            "these items already have a dependency (at most one per pair, of any type)",
            field="to_item_id",
            current=dependency_to_proto(existing),
        )


@commands.mutation("create_dependency")
def create_dependency(ctx: WriteContext, cmd: msg.CreateDependency) -> Change:
    """Adds `from blocks to` or `from relates_to to` between two live items."""
    dependency_type = dependency_type_name(cmd.type)
    from_id = parse_id(cmd.from_item_id, "from_item_id")
    to_id = parse_id(cmd.to_item_id, "to_item_id")
    if from_id == to_id:
        raise InvalidArgument("an item cannot depend on itself", field="to_item_id")
    dependency_id = fresh_id(ctx, cmd.id, dependencies.id_exists, "dependency")
    source = load_item(ctx, from_id, "from_item_id")
    target = load_item(ctx, to_id, "to_item_id")
    refuse_existing_pair(ctx, source.id, target.id)
    if dependency_type == BLOCKS:
        refuse_cycle(ctx, source.id, target.id)
    created = dependencies.insert(
        ctx.conn,
        dependency_id=dependency_id,
        from_item_id=source.id,
        to_item_id=target.id,
        type=dependency_type,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    # One activity row per entity: it is filed under the "from" item's project.
    ctx.log("dependency", created.id, source.project_id, "created")
    wire = dependency_to_proto(created)
    return Change(
        result=msg.CreateDependencyResult(dependency=wire),
        event=msg.DependencyCreated(dependency=wire),
        project_ids=[source.project_id, target.project_id],
    )


def touched_projects(ctx: ReadContext, dependency: DependencyRecord) -> list[str]:
    ends = [
        work_items.get(ctx.conn, item_id, include_deleted=True)
        for item_id in (dependency.from_item_id, dependency.to_item_id)
    ]
    return [item.project_id for item in ends if item is not None]


@commands.mutation("delete_dependency")
def delete_dependency(ctx: WriteContext, cmd: msg.DeleteDependency) -> Change:
    """Soft-deletes a dependency."""
    dependency = load_dependency(ctx, cmd.dependency_id)
    expect_version(dependency, cmd.expected_version, "dependency", dependency_to_proto)
    projects = touched_projects(ctx, dependency)
    dependencies.soft_delete(
        ctx.conn, dependency.id, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
    )
    ctx.log("dependency", dependency.id, projects[0] if projects else None, "deleted")
    return Change(
        result=msg.DeleteDependencyResult(dependency_id=dependency.id),
        event=msg.DependencyDeleted(
            dependency_id=dependency.id,
            from_item_id=dependency.from_item_id,
            to_item_id=dependency.to_item_id,
        ),
        project_ids=projects,
    )


@commands.query("list_dependencies")
def list_dependencies(ctx: ReadContext, cmd: msg.ListDependencies) -> msg.ListDependenciesResult:
    """What blocks an item, what it blocks, what it relates to, and whether it is blocked;
    paged over the three lists in that order."""
    item = load_item(ctx, cmd.work_item_id)
    size = page_size(cmd.page_size)
    cursor = ctx.paging.cursor(cmd, g=int, c=int, i=str)
    groups = [
        dependencies.edges_into(ctx.conn, item.id, BLOCKS),
        dependencies.edges_out_of(ctx.conn, item.id, BLOCKS),
        dependencies.related(ctx.conn, item.id),
    ]
    # Each group is ordered by (created_at, id), so (group, created_at, id) orders them all.
    listed = [((g, d.created_at, d.id), d) for g, group in enumerate(groups) for d in group]
    after = (cursor["g"], cursor["c"], cursor["i"]) if cursor else (-1, 0, "")
    found = [entry for entry in listed if entry[0] > after][: size + 1]
    page, token = ctx.paging.page(
        cmd,
        found,
        size,
        lambda entry: dependency_to_proto(entry[1]),
        lambda entry: {"g": entry[0][0], "c": entry[0][1], "i": entry[0][2]},
    )
    result = msg.ListDependenciesResult(
        is_blocked=dependencies.is_blocked(ctx.conn, item.id), next_page_token=token
    )
    targets = [result.blocked_by, result.blocks, result.relates_to]
    for ((group, _, _), _), message in zip(found, page, strict=False):
        targets[group].append(message)
    return result
