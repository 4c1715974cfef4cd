"""Every work-item rule broken: the error code and field, and nothing changed.

"Nothing changed" is checked in the tenant's database (no row, no activity row, no event)
and on the wire (a subscriber of the project receives nothing).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf.message import Message
from hamcrest import assert_that, contains_exactly, equal_to, has_length

from pm.v1 import dependencies_pb2 as dep
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as proj
from pm.v1 import sprints_pb2 as spr
from pm.v1 import work_items_pb2 as msg
from server.auth import Principal, Role
from server.commands import Change, WriteContext
from server.handlers import command_table
from server.paging import Paging
from tenants.changes import ChangeSet
from tenants.errors import FailedPrecondition, PermissionDenied
from tests.boards import EPIC, STORY, TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import Snapshot, memory_tenant, snapshot, snapshot_of
from tests.wire import WsClient

DAY_MS = 24 * 60 * 60 * 1000


@dataclass
class World:
    """A project P with epic > story > task, a second task in progress, a deleted task, a
    project Q with one task, and a sprint of Q plus a cancelled sprint of P."""

    project: str
    other_project: str
    epic: pb.WorkItem
    story: pb.WorkItem
    task: pb.WorkItem
    doing: pb.WorkItem
    deleted: pb.WorkItem
    foreign: pb.WorkItem
    foreign_sprint: str
    open_sprint: str
    cancelled_sprint: str


async def build_world(alice: WsClient) -> World:
    project = await create_project(alice, "PM")
    other = await create_project(alice, "QA")
    epic = await create_item(alice, project, EPIC)
    story = await create_item(alice, project, STORY, parent_id=epic.id)
    task = await create_item(alice, project, TASK, parent_id=story.id)
    doing = await create_item(alice, project, TASK, status="in_progress")
    deleted = await create_item(alice, project, TASK)
    await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=deleted.id, expected_version=1)
    )
    foreign = await create_item(alice, other, STORY)
    sprints = []
    for project_id in (other, project, project):
        created = await alice.ok(
            "create_sprint",
            spr.CreateSprint(
                project_id=project_id, name="Sprint", start_date_ms=1_000, end_date_ms=2_000
            ),
        )
        sprints.append(created.sprint)
    await alice.ok("cancel_sprint", spr.CancelSprint(sprint_id=sprints[2].id, expected_version=1))
    return World(
        project,
        other,
        epic,
        story,
        task,
        doing,
        deleted,
        foreign,
        sprints[0].id,
        sprints[1].id,
        sprints[2].id,
    )


@dataclass(frozen=True)
class Case:
    name: str
    command: str
    build: Callable[[World], Message]
    code: int
    field: str


INVALID, NOT_FOUND, FAILED, CONFLICT, EXISTS = (
    env.ERROR_CODE_INVALID_ARGUMENT,
    env.ERROR_CODE_NOT_FOUND,
    env.ERROR_CODE_FAILED_PRECONDITION,
    env.ERROR_CODE_CONFLICT,
    env.ERROR_CODE_ALREADY_EXISTS,
)
RANDOM_ID = str(uuid.uuid4())


def create(**fields: Any) -> Callable[[World], Message]:
    """A CreateWorkItem in P (a task titled "T") with fields computed from the world."""

    def build(w: World) -> Message:
        values: dict[str, Any] = {"project_id": w.project, "type": TASK, "title": "T"}
        values.update({k: v(w) if callable(v) else v for k, v in fields.items()})
        return msg.CreateWorkItem(**values)

    return build


def update(item: Callable[[World], pb.WorkItem], **fields: Any) -> Callable[[World], Message]:
    def build(w: World) -> Message:
        target = item(w)
        values: dict[str, Any] = {"work_item_id": target.id, "expected_version": target.version}
        values.update({k: v(w) if callable(v) else v for k, v in fields.items()})
        return msg.UpdateWorkItem(**values)

    return build


def move(item: Callable[[World], pb.WorkItem], **fields: Any) -> Callable[[World], Message]:
    def build(w: World) -> Message:
        target = item(w)
        values: dict[str, Any] = {"work_item_id": target.id, "expected_version": target.version}
        values.update({k: v(w) if callable(v) else v for k, v in fields.items()})
        return msg.MoveWorkItem(**values)

    return build


def task(w: World) -> pb.WorkItem:
    return w.task


def story(w: World) -> pb.WorkItem:
    return w.story


def epic(w: World) -> pb.WorkItem:
    return w.epic


def deleted(w: World) -> pb.WorkItem:
    return w.deleted


CASES = [
    Case(
        "create: unknown project",
        "create_work_item",
        create(project_id=RANDOM_ID),
        NOT_FOUND,
        "project_id",
    ),
    Case("create: no type", "create_work_item", create(type=0), INVALID, "type"),
    Case("create: empty title", "create_work_item", create(title="  "), INVALID, "title"),
    Case("create: title over 255", "create_work_item", create(title="x" * 256), INVALID, "title"),
    Case(
        "create: description over 64 KiB",
        "create_work_item",
        create(description="é" * 32769),
        INVALID,
        "description",
    ),
    Case(
        "create: epic with a parent",
        "create_work_item",
        create(type=EPIC, parent_id=lambda w: w.epic.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "create: story under a story",
        "create_work_item",
        create(type=STORY, parent_id=lambda w: w.story.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "create: task under a task",
        "create_work_item",
        create(parent_id=lambda w: w.task.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "create: parent in another project",
        "create_work_item",
        create(parent_id=lambda w: w.foreign.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "create: deleted parent",
        "create_work_item",
        create(parent_id=lambda w: w.deleted.id),
        NOT_FOUND,
        "parent_id",
    ),
    Case(
        "create: parent not a UUID",
        "create_work_item",
        create(parent_id="PM-1"),
        INVALID,
        "parent_id",
    ),
    Case("create: unknown lane", "create_work_item", create(status="nope"), FAILED, "status"),
    Case(
        "create: 101 story points",
        "create_work_item",
        create(story_points=101),
        INVALID,
        "story_points",
    ),
    Case(
        "create: negative story points",
        "create_work_item",
        create(story_points=-1),
        INVALID,
        "story_points",
    ),
    Case("create: unknown priority", "create_work_item", create(priority=99), INVALID, "priority"),
    Case("create: used id", "create_work_item", create(id=lambda w: w.deleted.id), EXISTS, "id"),
    Case(
        "create: unknown sprint",
        "create_work_item",
        create(sprint_id=RANDOM_ID),
        NOT_FOUND,
        "sprint_id",
    ),
    Case(
        "create: sprint of another project",
        "create_work_item",
        create(sprint_id=lambda w: w.foreign_sprint),
        FAILED,
        "sprint_id",
    ),
    Case(
        "create: epic in a sprint",
        "create_work_item",
        create(type=EPIC, sprint_id=lambda w: w.open_sprint),
        FAILED,
        "sprint_id",
    ),
    Case(
        "create: cancelled sprint",
        "create_work_item",
        create(sprint_id=lambda w: w.cancelled_sprint),
        FAILED,
        "sprint_id",
    ),
    Case(
        "update: no expected_version",
        "update_work_item",
        update(task, expected_version=0, title="x"),
        INVALID,
        "expected_version",
    ),
    Case(
        "update: deleted item",
        "update_work_item",
        update(deleted, title="x"),
        NOT_FOUND,
        "work_item_id",
    ),
    Case("update: nothing to change", "update_work_item", update(task), INVALID, "title"),
    Case(
        "update: title over 255",
        "update_work_item",
        update(task, title="x" * 256),
        INVALID,
        "title",
    ),
    Case(
        "update: description over 64 KiB",
        "update_work_item",
        update(task, description="x" * (64 * 1024 + 1)),
        INVALID,
        "description",
    ),
    Case(
        "update: assignee set and cleared",
        "update_work_item",
        update(task, assignee_id="bob", clear_assignee_id=True),
        INVALID,
        "assignee_id",
    ),
    Case(
        "update: 101 story points",
        "update_work_item",
        update(task, story_points=101),
        INVALID,
        "story_points",
    ),
    Case(
        "update: a child task becomes an epic",
        "update_work_item",
        update(task, type=EPIC),
        FAILED,
        "type",
    ),
    Case(
        "update: a story with tasks becomes a task",
        "update_work_item",
        update(story, type=TASK),
        FAILED,
        "type",
    ),
    Case(
        "update: an epic with stories becomes a story",
        "update_work_item",
        update(epic, type=STORY),
        FAILED,
        "type",
    ),
    Case(
        "update: epic into a sprint",
        "update_work_item",
        update(epic, sprint_id=lambda w: w.open_sprint),
        FAILED,
        "sprint_id",
    ),
    Case(
        "update: cancelled sprint",
        "update_work_item",
        update(task, sprint_id=lambda w: w.cancelled_sprint),
        FAILED,
        "sprint_id",
    ),
    Case(
        "update: sprint of another project",
        "update_work_item",
        update(task, sprint_id=lambda w: w.foreign_sprint),
        FAILED,
        "sprint_id",
    ),
    Case(
        "move: no expected_version",
        "move_work_item",
        move(task, expected_version=0),
        INVALID,
        "expected_version",
    ),
    Case("move: deleted item", "move_work_item", move(deleted), NOT_FOUND, "work_item_id"),
    Case("move: unknown lane", "move_work_item", move(task, status="nope"), FAILED, "status"),
    Case(
        "move: before and after",
        "move_work_item",
        move(task, before_id=lambda w: w.epic.id, after_id=lambda w: w.story.id),
        INVALID,
        "before_id",
    ),
    Case(
        "move: neighbour in another lane",
        "move_work_item",
        move(task, before_id=lambda w: w.doing.id),
        FAILED,
        "before_id",
    ),
    Case(
        "move: neighbour in another project",
        "move_work_item",
        move(task, after_id=lambda w: w.foreign.id),
        FAILED,
        "after_id",
    ),
    Case(
        "move: deleted neighbour",
        "move_work_item",
        move(task, after_id=lambda w: w.deleted.id),
        NOT_FOUND,
        "after_id",
    ),
    Case(
        "move: next to itself",
        "move_work_item",
        move(task, after_id=lambda w: w.task.id),
        INVALID,
        "after_id",
    ),
    Case(
        "move: parent set and cleared",
        "move_work_item",
        move(task, parent_id=lambda w: w.epic.id, clear_parent_id=True),
        INVALID,
        "parent_id",
    ),
    Case(
        "move: own parent",
        "move_work_item",
        move(story, parent_id=lambda w: w.story.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "move: under its own descendant",
        "move_work_item",
        move(epic, parent_id=lambda w: w.task.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "move: epic under another epic",
        "move_work_item",
        move(epic, parent_id=lambda w: w.doing.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "move: task under a task",
        "move_work_item",
        move(task, parent_id=lambda w: w.doing.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "move: parent in another project",
        "move_work_item",
        move(task, parent_id=lambda w: w.foreign.id),
        FAILED,
        "parent_id",
    ),
    Case(
        "move: deleted parent",
        "move_work_item",
        move(task, parent_id=lambda w: w.deleted.id),
        NOT_FOUND,
        "parent_id",
    ),
    Case(
        "delete: no expected_version",
        "delete_work_item",
        lambda w: msg.DeleteWorkItem(work_item_id=w.task.id),
        INVALID,
        "expected_version",
    ),
    Case(
        "delete: deleted item",
        "delete_work_item",
        lambda w: msg.DeleteWorkItem(work_item_id=w.deleted.id, expected_version=2),
        NOT_FOUND,
        "work_item_id",
    ),
    Case(
        "restore: a live item",
        "restore_work_item",
        lambda w: msg.RestoreWorkItem(work_item_id=w.task.id),
        FAILED,
        "work_item_id",
    ),
    Case(
        "restore: unknown item",
        "restore_work_item",
        lambda w: msg.RestoreWorkItem(work_item_id=RANDOM_ID),
        NOT_FOUND,
        "work_item_id",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_given_a_broken_rule_when_sending_the_command_then_error_and_nothing_changes(
    case: Case, connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    world = await build_world(alice)
    await bob.subscribe(world.project, world.other_project)

    await assert_refused(
        server, alice, case.command, case.build(world), case.code, case.field, watcher=bob
    )


async def test_given_a_stale_version_when_changing_then_conflict_carries_the_current_item(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    project = await create_project(alice)
    item = await create_item(alice, project)
    current = (
        await alice.ok(
            "update_work_item",
            msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="Now"),
        )
    ).work_item
    before = snapshot(server)
    stale: list[tuple[str, Message]] = [
        (
            "update_work_item",
            msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="x"),
        ),
        ("move_work_item", msg.MoveWorkItem(work_item_id=item.id, expected_version=1)),
        ("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)),
    ]

    errors = [await alice.error(name, command) for name, command in stale]

    assert_that(
        [(e.code, e.field, e.work_item) for e in errors],
        contains_exactly(*[(CONFLICT, "expected_version", current)] * 3),
    )
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_viewer_when_changing_items_then_permission_denied_and_nothing_changes(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    viewer = await connect(user="vera", roles=["viewer"])
    project = await create_project(alice)
    item = await create_item(alice, project)
    before = snapshot(server)
    commands: list[tuple[str, Message]] = [
        ("create_work_item", msg.CreateWorkItem(project_id=project, type=TASK, title="T")),
        (
            "update_work_item",
            msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="x"),
        ),
        ("move_work_item", msg.MoveWorkItem(work_item_id=item.id, expected_version=1)),
        ("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)),
    ]

    errors = [await viewer.error(name, command) for name, command in commands]

    assert_that({e.code for e in errors}, equal_to({env.ERROR_CODE_PERMISSION_DENIED}))
    assert_that(snapshot(server), equal_to(before))
    listed = await viewer.ok("get_work_item", msg.GetWorkItem(work_item_id=item.id))
    assert_that(listed.work_item, equal_to(item))


async def test_given_an_item_deleted_by_another_member_when_restoring_then_only_admins_may(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    bob = await connect(user="bob")
    admin = await connect(user="ada", roles=["admin"])
    project = await create_project(alice)
    item = await create_item(alice, project)
    await alice.ok("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1))
    before = snapshot(server)

    denied = await bob.error("restore_work_item", msg.RestoreWorkItem(work_item_id=item.id))
    unchanged = snapshot(server)
    restored = await admin.ok("restore_work_item", msg.RestoreWorkItem(work_item_id=item.id))

    assert_that(
        (denied.code, denied.field), equal_to((env.ERROR_CODE_PERMISSION_DENIED, "work_item_id"))
    )
    assert_that(unchanged, equal_to(before))
    assert_that([i.id for i in restored.work_items], contains_exactly(item.id))


async def test_given_a_child_deleted_with_its_parent_when_restoring_the_child_then_refused(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    project = await create_project(alice)
    story = await create_item(alice, project, STORY)
    child = await create_item(alice, project, TASK, parent_id=story.id)
    await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=story.id, expected_version=1)
    )
    before = snapshot(server)

    error = await alice.error("restore_work_item", msg.RestoreWorkItem(work_item_id=child.id))

    assert_that((error.code, error.field), equal_to((FAILED, "work_item_id")))
    assert_that(error.message, equal_to("PM-2 was deleted together with PM-1; restore that one"))
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_parent_deleted_later_when_restoring_the_child_then_refused(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    project = await create_project(alice)
    story = await create_item(alice, project, STORY)
    child = await create_item(alice, project, TASK, parent_id=story.id)
    await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=child.id, expected_version=1)
    )
    await alice.ok(
        "delete_work_item", msg.DeleteWorkItem(work_item_id=story.id, expected_version=1)
    )
    before = snapshot(server)

    error = await alice.error("restore_work_item", msg.RestoreWorkItem(work_item_id=child.id))

    assert_that((error.code, error.field), equal_to((FAILED, "work_item_id")))
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_blocks_edge_added_meanwhile_when_restoring_would_cycle_then_refused(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    project = await create_project(alice)
    x, a, y = [await create_item(alice, project) for _ in range(3)]
    for source, target in ((x, a), (a, y)):
        await alice.ok("create_dependency", blocks(source.id, target.id))
    await alice.ok("delete_work_item", msg.DeleteWorkItem(work_item_id=a.id, expected_version=1))
    await alice.ok("create_dependency", blocks(y.id, x.id))
    before = snapshot(server)

    error = await alice.error("restore_work_item", msg.RestoreWorkItem(work_item_id=a.id))

    assert_that((error.code, error.field), equal_to((FAILED, "work_item_id")))
    cycle = error.message.split(": ")[-1].split(" -> ")
    # The cycle may be named from any of its items; it is x -> a -> y -> x all the same.
    start = cycle.index("PM-1")
    assert_that(cycle[start:-1] + cycle[:start], equal_to(["PM-1", "PM-2", "PM-3"]))
    assert_that(cycle[0], equal_to(cycle[-1]))
    assert_that(snapshot(server), equal_to(before))


def blocks(from_id: str, to_id: str) -> dep.CreateDependency:
    return dep.CreateDependency(
        from_item_id=from_id, to_item_id=to_id, type=pb.DEPENDENCY_TYPE_BLOCKS
    )


# Below, states the wire cannot reach (or only after 30 days), so the handlers run against
# a migrated database directly, each command in a savepoint the way the runner runs it.


TABLE = command_table()


class Tenant:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.requests = 0

    def run(
        self,
        name: str,
        command: Message,
        *,
        user: str = "alice",
        now: int = 0,
        role: Role = Role.MEMBER,
    ) -> Any:
        self.requests += 1
        principal = Principal(user, "acme", role, expires_at=0)
        changes = ChangeSet(self.conn, actor_id=user, request_id=f"r{self.requests}", now_ms=now)
        paging = Paging(b"test-key", max_result_bytes=1_000_000)
        ctx = WriteContext(self.conn, principal, now, paging, f"r{self.requests}", changes)
        spec = TABLE[name]
        assert spec.mutation is not None
        self.conn.execute("SAVEPOINT command")
        try:
            change: Change = spec.mutation(ctx, command)
            changes.append_event(project_ids=change.project_ids, tenant_level=False, payload=b"")
        except BaseException:
            self.conn.execute("ROLLBACK TO command")
            raise
        finally:
            self.conn.execute("RELEASE command")
        return change.result

    def state(self) -> Snapshot:
        """Every row of every table: any write at all shows."""
        return snapshot_of(self.conn)


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    conn = memory_tenant()
    yield Tenant(conn)
    conn.close()


def make_items(tenant: Tenant, count: int) -> tuple[str, list[pb.WorkItem]]:
    project = tenant.run("create_project", proj.CreateProject(key="PM", name="P")).project.id
    items = [
        tenant.run(
            "create_work_item", msg.CreateWorkItem(project_id=project, type=TASK, title="T")
        ).work_item
        for _ in range(count)
    ]
    return project, items


@pytest.mark.parametrize(("age_days", "restored"), [(29, True), (30, True), (31, False)])
def test_given_a_deleted_item_when_restoring_after_some_days_then_only_within_thirty(
    tenant: Tenant, age_days: int, restored: bool
) -> None:
    _, (item,) = make_items(tenant, 1)
    tenant.run("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1))
    before = tenant.state()
    restore = msg.RestoreWorkItem(work_item_id=item.id)

    if restored:
        result = tenant.run("restore_work_item", restore, now=age_days * DAY_MS)
        assert_that([i.id for i in result.work_items], contains_exactly(item.id))
    else:
        with pytest.raises(FailedPrecondition) as refused:
            tenant.run("restore_work_item", restore, now=age_days * DAY_MS)
        assert_that(refused.value.field, equal_to("work_item_id"))
        assert_that(tenant.state(), equal_to(before))


def test_given_a_pair_linked_again_when_restoring_then_refused_and_nothing_changes(
    tenant: Tenant,
) -> None:
    _, (first, second) = make_items(tenant, 2)
    tenant.run("create_dependency", blocks(first.id, second.id))
    tenant.run("delete_work_item", msg.DeleteWorkItem(work_item_id=first.id, expected_version=1))
    # No command links a deleted item; only a concurrent writer or a repair could.
    tenant.conn.execute(
        "INSERT INTO dependencies (id, from_item_id, to_item_id, type, created_at, updated_at,"
        " created_by, updated_by) VALUES (?, ?, ?, 'relates_to', 0, 0, 'x', 'x')",
        (str(uuid.uuid4()), second.id, first.id),
    )
    before = tenant.state()

    with pytest.raises(FailedPrecondition) as refused:
        tenant.run("restore_work_item", msg.RestoreWorkItem(work_item_id=first.id))

    assert_that(refused.value.field, equal_to("work_item_id"))
    assert_that(tenant.state(), equal_to(before))


def test_given_the_lane_was_removed_when_restoring_then_refused_and_nothing_changes(
    tenant: Tenant,
) -> None:
    project, (item,) = make_items(tenant, 1)
    tenant.run("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1))
    tenant.conn.execute(
        "UPDATE swim_lanes SET deleted_at = 1 WHERE project_id = ? AND status_value = 'backlog'",
        (project,),
    )
    before = tenant.state()

    with pytest.raises(FailedPrecondition) as refused:
        tenant.run("restore_work_item", msg.RestoreWorkItem(work_item_id=item.id))

    assert_that(refused.value.field, equal_to("work_item_id"))
    assert_that(tenant.state(), equal_to(before))


def test_given_another_members_delete_when_a_member_restores_then_permission_denied(
    tenant: Tenant,
) -> None:
    _, (item,) = make_items(tenant, 1)
    tenant.run("delete_work_item", msg.DeleteWorkItem(work_item_id=item.id, expected_version=1))

    with pytest.raises(PermissionDenied):
        tenant.run("restore_work_item", msg.RestoreWorkItem(work_item_id=item.id), user="bob")
    result = tenant.run(
        "restore_work_item", msg.RestoreWorkItem(work_item_id=item.id), user="ada", role=Role.ADMIN
    )

    assert_that(result.work_items, has_length(1))
