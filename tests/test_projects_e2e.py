"""Projects over the WebSocket, end to end."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import closing
from typing import Any

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_inanyorder,
    empty,
    equal_to,
    has_length,
    only_contains,
)

from pm.v1 import dependencies_pb2 as dep
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as msg
from pm.v1 import work_items_pb2 as wi
from tests.boards import make_project, watching
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import ENTITIES, activity_of, read_only, snapshot
from tests.wire import new_request_id


async def test_given_a_tenant_feed_subscriber_when_a_project_is_created_then_it_sees_the_event(
    connect: ClientFactory,
) -> None:
    alice = await connect(user="alice")
    bob = await connect(user="bob")
    await bob.subscribe(tenant_feed=True)

    created = await alice.ok("create_project", msg.CreateProject(key="PM", name="Project"))

    event = await bob.event()
    assert_that(event.WhichOneof("change"), equal_to("project_created"))
    assert_that(event.project_created.project, equal_to(created.project))
    assert_that(
        [lane.status_value for lane in event.project_created.lanes],
        contains_exactly("backlog", "in_progress", "in_review", "done"),
    )
    assert_that(event.seq, equal_to(1))


async def test_given_another_tenant_when_a_project_is_created_then_it_sees_nothing(
    connect: ClientFactory,
) -> None:
    alice = await connect(tenant="acme")
    dora = await connect(tenant="globex", user="dora")
    await dora.subscribe(tenant_feed=True)

    await alice.ok("create_project", msg.CreateProject(key="PM", name="Project"))

    assert_that(await dora.events_until_quiet(), empty())


async def test_given_a_used_key_when_creating_again_then_already_exists_and_nothing_changes(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    await alice.ok("create_project", msg.CreateProject(key="PM", name="One"))
    await alice.subscribe(tenant_feed=True)

    await assert_refused(
        server,
        alice,
        "create_project",
        msg.CreateProject(key="PM", name="Two"),
        env.ERROR_CODE_ALREADY_EXISTS,
        "key",
    )

    listed = await alice.ok("list_projects", msg.ListProjects())
    assert_that([p.name for p in listed.projects], equal_to(["One"]))


# --- CreateProject -------------------------------------------------------------------------


async def test_given_a_new_project_when_created_then_one_activity_row_per_entity_under_its_event(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()

    request_id = new_request_id()
    created = await alice.ok(
        "create_project", msg.CreateProject(key="PM", name="Project"), request_id
    )

    entities = [(row[0], row[1], row[2]) for row in activity_of(server, request_id, ENTITIES)]
    expected = [("project", created.project.id, "created")] + [
        ("swim_lane", lane.id, "created") for lane in created.lanes
    ]
    assert_that(entities, contains_exactly(*expected))
    assert_that({row[3] for row in activity_of(server, request_id, ENTITIES)}, equal_to({1}))
    assert_that(created.project.version, equal_to(1))
    assert_that([lane.position for lane in created.lanes], contains_exactly(0, 1, 2, 3))
    assert_that(all(lane.is_default for lane in created.lanes), equal_to(True))


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (msg.CreateProject(key="", name="P"), "key"),
        (msg.CreateProject(key="P", name="P"), "key"),
        (msg.CreateProject(key="pm", name="P"), "key"),
        (msg.CreateProject(key="1PM", name="P"), "key"),
        (msg.CreateProject(key="P-M", name="P"), "key"),
        (msg.CreateProject(key="ABCDEFGHIJK", name="P"), "key"),
        (msg.CreateProject(key="PM", name=""), "name"),
        (msg.CreateProject(key="PM", name="   "), "name"),
        (msg.CreateProject(key="PM", name="x" * 121), "name"),
        (msg.CreateProject(key="PM", name="P", description="x" * (64 * 1024 + 1)), "description"),
        (msg.CreateProject(id="not-a-uuid", key="PM", name="P"), "id"),
    ],
)
async def test_given_an_invalid_create_when_sent_then_invalid_argument_and_nothing_changes(
    connect: ClientFactory, server: RunningServer, command: msg.CreateProject, field: str
) -> None:
    alice = await connect()
    watcher = await connect(user="wendy", roles=["viewer"])
    await watcher.subscribe(tenant_feed=True)

    await assert_refused(
        server,
        alice,
        "create_project",
        command,
        env.ERROR_CODE_INVALID_ARGUMENT,
        field,
        watcher=watcher,
    )


async def test_given_limits_when_creating_at_them_then_the_project_is_accepted(
    connect: ClientFactory,
) -> None:
    alice = await connect()

    created = await alice.ok("create_project", msg.CreateProject(key="ABCDEFGHIJ", name="é" * 120))
    short = await alice.ok("create_project", msg.CreateProject(key="W2", name="x"))

    assert_that(created.project.key, equal_to("ABCDEFGHIJ"))
    assert_that(short.project.key, equal_to("W2"))


async def test_given_a_deleted_project_when_its_key_is_used_again_then_already_exists(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin = await connect(roles=["admin"])
    created = await make_project(admin)
    await admin.ok(
        "delete_project", msg.DeleteProject(project_id=created.project.id, expected_version=1)
    )
    before = snapshot(server)

    error = await admin.error("create_project", msg.CreateProject(key="PM", name="Again"))

    assert_that(error.code, equal_to(env.ERROR_CODE_ALREADY_EXISTS))
    assert_that(error.field, equal_to("key"))
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_client_id_in_use_when_creating_with_it_then_already_exists(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    project_id = str(uuid.uuid4())
    created = await alice.ok("create_project", msg.CreateProject(id=project_id, key="A1", name="A"))
    before = snapshot(server)

    error = await alice.error(
        "create_project", msg.CreateProject(id=project_id, key="B1", name="B")
    )

    assert_that(created.project.id, equal_to(project_id))
    assert_that(error.code, equal_to(env.ERROR_CODE_ALREADY_EXISTS))
    assert_that(error.field, equal_to("id"))
    assert_that(snapshot(server), equal_to(before))


# --- UpdateProject -------------------------------------------------------------------------


async def test_given_a_subscriber_when_a_project_changes_then_it_sees_each_change_in_seq_order(
    connect: ClientFactory,
) -> None:
    admin = await connect(roles=["admin"])
    created = await make_project(admin)
    project_id = created.project.id
    watcher = await watching(connect, project_id)

    renamed = await admin.ok(
        "update_project",
        msg.UpdateProject(project_id=project_id, expected_version=1, name="Renamed"),
    )
    described = await admin.ok(
        "update_project",
        msg.UpdateProject(project_id=project_id, expected_version=2, description="About"),
    )
    await admin.ok("delete_project", msg.DeleteProject(project_id=project_id, expected_version=3))

    events = await watcher.events_until_quiet()
    assert_that(
        [e.WhichOneof("change") for e in events],
        contains_exactly("project_updated", "project_updated", "project_deleted"),
    )
    assert_that([e.seq for e in events], equal_to(sorted({e.seq for e in events})))
    assert_that(events[0].project_updated.project, equal_to(renamed.project))
    assert_that(events[1].project_updated.project, equal_to(described.project))
    assert_that(events[1].project_updated.project.version, equal_to(3))
    assert_that(events[2].project_deleted.project_id, equal_to(project_id))
    assert_that(
        [(c.field, c.old_json, c.new_json) for c in events[0].project_updated.changes],
        contains_exactly(("name", '"Project"', '"Renamed"')),
    )


async def test_given_an_update_of_two_fields_when_applied_then_one_activity_row_per_field(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    created = await make_project(alice)

    request_id = new_request_id()
    result = await alice.ok(
        "update_project",
        msg.UpdateProject(
            project_id=created.project.id, expected_version=1, name="New", description="D"
        ),
        request_id,
    )

    with closing(read_only(server)) as conn:
        rows = conn.execute(
            "SELECT entity_type, action, field, old_json, new_json FROM activity_log"
            " WHERE request_id = ? ORDER BY id",
            (request_id,),
        ).fetchall()
    assert_that(
        rows,
        contains_exactly(
            ("project", "updated", "name", '"Project"', '"New"'),
            ("project", "updated", "description", '""', '"D"'),
        ),
    )
    assert_that(result.project.key, equal_to("PM"))
    assert_that(result.project.version, equal_to(2))


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"expected_version": 0, "name": "X"}, env.ERROR_CODE_INVALID_ARGUMENT, "expected_version"),
        ({"expected_version": 1}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"expected_version": 1, "name": ""}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        ({"expected_version": 1, "name": "x" * 121}, env.ERROR_CODE_INVALID_ARGUMENT, "name"),
        (
            {"expected_version": 1, "description": "x" * (64 * 1024 + 1)},
            env.ERROR_CODE_INVALID_ARGUMENT,
            "description",
        ),
        (
            {"expected_version": 1, "project_id": "nope"},
            env.ERROR_CODE_INVALID_ARGUMENT,
            "project_id",
        ),
        (
            {"expected_version": 1, "project_id": str(uuid.uuid4()), "name": "X"},
            env.ERROR_CODE_NOT_FOUND,
            "project_id",
        ),
    ],
)
async def test_given_an_invalid_update_when_sent_then_refused_and_nothing_changes(
    connect: ClientFactory,
    server: RunningServer,
    fields: dict[str, Any],
    code: int,
    field: str,
) -> None:
    alice = await connect()
    created = await make_project(alice)
    watcher = await watching(connect, created.project.id)

    await assert_refused(
        server,
        alice,
        "update_project",
        msg.UpdateProject(**{"project_id": created.project.id, **fields}),
        code,
        field,
        watcher=watcher,
    )


async def test_given_a_stale_version_when_updating_then_conflict_carries_the_current_project(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    created = await make_project(alice)
    current = await alice.ok(
        "update_project",
        msg.UpdateProject(project_id=created.project.id, expected_version=1, name="Two"),
    )
    watcher = await watching(connect, created.project.id)
    before = snapshot(server)

    error = await alice.error(
        "update_project",
        msg.UpdateProject(project_id=created.project.id, expected_version=1, name="Three"),
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(error.field, equal_to("expected_version"))
    assert_that(error.project, equal_to(current.project))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


async def test_given_two_clients_on_one_version_when_both_update_then_exactly_one_wins(
    connect: ClientFactory,
) -> None:
    alice = await connect(user="alice")
    bob = await connect(user="bob")
    created = await make_project(alice)
    project_id = created.project.id

    sent = await asyncio.gather(
        alice.send(
            "update_project",
            msg.UpdateProject(project_id=project_id, expected_version=1, name="Alice's"),
        ),
        bob.send(
            "update_project",
            msg.UpdateProject(project_id=project_id, expected_version=1, name="Bob's"),
        ),
    )
    responses = [await alice.response(sent[0]), await bob.response(sent[1])]

    winners = [r for r in responses if not r.HasField("error")]
    losers = [r for r in responses if r.HasField("error")]
    assert_that(winners, has_length(1))
    assert_that(losers, has_length(1))
    assert_that(losers[0].error.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(losers[0].error.project, equal_to(winners[0].update_project.project))
    got = await alice.ok("get_project", msg.GetProject(project_id=project_id))
    assert_that(got.project, equal_to(winners[0].update_project.project))


# --- DeleteProject -------------------------------------------------------------------------


async def test_given_a_project_with_items_when_deleted_then_everything_goes_with_one_event(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin = await connect(roles=["admin"])
    created = await make_project(admin)
    project_id = created.project.id
    items = [
        (
            await admin.ok(
                "create_work_item",
                wi.CreateWorkItem(
                    project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=f"Item {n}"
                ),
            )
        ).work_item
        for n in range(3)
    ]
    watcher = await watching(connect, project_id)
    feed = await connect(user="fred", roles=["viewer"])
    await feed.subscribe(tenant_feed=True)

    request_id = new_request_id()
    await admin.ok(
        "delete_project", msg.DeleteProject(project_id=project_id, expected_version=1), request_id
    )

    events = await watcher.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("project_deleted"))
    assert_that(
        [e.WhichOneof("change") for e in await feed.events_until_quiet()],
        contains_exactly("project_deleted"),
    )
    rows = activity_of(server, request_id, ENTITIES)
    assert_that(
        [(r[0], r[1], r[2]) for r in rows],
        contains_inanyorder(
            *[("work_item", item.id, "deleted") for item in items],
            *[("swim_lane", lane.id, "deleted") for lane in created.lanes],
            ("project", project_id, "deleted"),
        ),
    )
    assert_that({r[3] for r in rows}, equal_to({events[0].seq}))
    deleted = events[0].project_deleted
    assert_that(deleted.work_item_ids, contains_inanyorder(*[item.id for item in items]))
    assert_that(deleted.swim_lane_ids, contains_inanyorder(*[lane.id for lane in created.lanes]))
    for item in items:
        gone = await admin.error("get_work_item", wi.GetWorkItem(work_item_id=item.id))
        assert_that(gone.code, equal_to(env.ERROR_CODE_NOT_FOUND))
    with closing(read_only(server)) as conn:
        live = conn.execute(
            "SELECT (SELECT COUNT(*) FROM work_items WHERE deleted_at IS NULL)"
            " + (SELECT COUNT(*) FROM swim_lanes WHERE deleted_at IS NULL)"
            " + (SELECT COUNT(*) FROM projects WHERE deleted_at IS NULL)"
        ).fetchone()[0]
        batches = conn.execute(
            "SELECT DISTINCT delete_batch FROM work_items UNION SELECT delete_batch FROM swim_lanes"
        ).fetchall()
    assert_that(live, equal_to(0))
    assert_that(batches, contains_exactly((request_id,)))


async def test_given_a_deleted_project_when_any_command_names_it_then_not_found(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin = await connect(roles=["admin"])
    created = await make_project(admin)
    project_id = created.project.id
    await admin.ok("delete_project", msg.DeleteProject(project_id=project_id, expected_version=1))
    before = snapshot(server)

    errors = [
        await admin.error("get_project", msg.GetProject(project_id=project_id)),
        await admin.error(
            "update_project",
            msg.UpdateProject(project_id=project_id, expected_version=2, name="X"),
        ),
        await admin.error(
            "delete_project", msg.DeleteProject(project_id=project_id, expected_version=2)
        ),
        await admin.error(
            "create_work_item",
            wi.CreateWorkItem(project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title="T"),
        ),
    ]

    assert_that([e.code for e in errors], only_contains(env.ERROR_CODE_NOT_FOUND))
    assert_that([e.field for e in errors], only_contains("project_id"))
    listed = await admin.ok("list_projects", msg.ListProjects())
    assert_that(listed.projects, empty())
    assert_that(snapshot(server), equal_to(before))


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_given_a_non_admin_when_deleting_a_project_then_permission_denied(
    connect: ClientFactory, server: RunningServer, role: str
) -> None:
    admin = await connect(roles=["admin"])
    created = await make_project(admin)
    watcher = await watching(connect, created.project.id)
    user = await connect(user="uma", roles=[role])
    before = snapshot(server)

    error = await user.error(
        "delete_project", msg.DeleteProject(project_id=created.project.id, expected_version=1)
    )

    assert_that(error.code, equal_to(env.ERROR_CODE_PERMISSION_DENIED))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_stale_version_when_deleting_then_conflict_and_nothing_is_deleted(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin = await connect(roles=["admin"])
    created = await make_project(admin)
    watcher = await watching(connect, created.project.id)
    before = snapshot(server)

    stale = await admin.error(
        "delete_project", msg.DeleteProject(project_id=created.project.id, expected_version=7)
    )
    missing = await admin.error("delete_project", msg.DeleteProject(project_id=created.project.id))

    assert_that(stale.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(stale.project, equal_to(created.project))
    assert_that(missing.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(missing.field, equal_to("expected_version"))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))


# --- roles and tenants ---------------------------------------------------------------------


async def test_given_a_viewer_when_mutating_projects_then_denied_but_reads_work(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect()
    created = await make_project(alice)
    viewer = await connect(user="vera", roles=["viewer"])
    before = snapshot(server)

    denied = [
        await viewer.error("create_project", msg.CreateProject(key="VV", name="V")),
        await viewer.error(
            "update_project",
            msg.UpdateProject(project_id=created.project.id, expected_version=1, name="V"),
        ),
    ]
    got = await viewer.ok("get_project", msg.GetProject(project_id=created.project.id))
    listed = await viewer.ok("list_projects", msg.ListProjects())

    assert_that([e.code for e in denied], only_contains(env.ERROR_CODE_PERMISSION_DENIED))
    assert_that(got.project, equal_to(created.project))
    assert_that(list(got.lanes), equal_to(list(created.lanes)))
    assert_that(list(listed.projects), contains_exactly(created.project))
    assert_that(snapshot(server), equal_to(before))


async def test_given_a_project_of_another_tenant_when_named_then_not_found(
    connect: ClientFactory, server: RunningServer
) -> None:
    alice = await connect(tenant="acme")
    created = await make_project(alice)
    project_id = created.project.id
    watcher = await watching(connect, project_id)
    dora = await connect(tenant="globex", user="dora", roles=["admin"])
    before = snapshot(server)

    errors = [
        await dora.error("get_project", msg.GetProject(project_id=project_id)),
        await dora.error(
            "update_project",
            msg.UpdateProject(project_id=project_id, expected_version=1, name="Mine"),
        ),
        await dora.error(
            "delete_project", msg.DeleteProject(project_id=project_id, expected_version=1)
        ),
    ]

    assert_that([e.code for e in errors], only_contains(env.ERROR_CODE_NOT_FOUND))
    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(snapshot(server), equal_to(before))
    assert_that((await dora.ok("list_projects", msg.ListProjects())).projects, empty())


# --- ListProjects --------------------------------------------------------------------------


async def test_given_projects_when_listing_in_pages_then_each_live_one_comes_once_by_key(
    connect: ClientFactory,
) -> None:
    admin = await connect(roles=["admin"])
    for key in ("DD", "BB", "AA", "CC", "EE"):
        await make_project(admin, key=key)
    gone = await make_project(admin, key="BC")
    await admin.ok(
        "delete_project", msg.DeleteProject(project_id=gone.project.id, expected_version=1)
    )

    keys: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await admin.ok("list_projects", msg.ListProjects(page_size=2, page_token=token))
        keys.extend(p.key for p in page.projects)
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert_that(keys, contains_exactly("AA", "BB", "CC", "DD", "EE"))
    assert_that(pages, equal_to(3))


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (msg.ListProjects(page_size=-1), "page_size"),
        (msg.ListProjects(page_token="%%%"), "page_token"),
        (msg.ListProjects(page_token="WzFd"), "page_token"),  # a JSON list, not a cursor
        (msg.ListProjects(page_token="eyJrZXkiOjF9"), "page_token"),  # {"key":1}
    ],
)
async def test_given_a_bad_page_request_when_listing_then_invalid_argument(
    connect: ClientFactory, command: msg.ListProjects, field: str
) -> None:
    alice = await connect()

    error = await alice.error("list_projects", command)

    assert_that(error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(error.field, equal_to(field))


async def test_given_more_than_50_projects_when_listing_without_a_size_then_50_come_back(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    sent = [
        await alice.send("create_project", msg.CreateProject(key=f"K{n:03d}", name="P"))
        for n in range(51)
    ]
    for request_id in sent:
        assert_that((await alice.response(request_id)).HasField("error"), equal_to(False))

    first = await alice.ok("list_projects", msg.ListProjects())
    rest = await alice.ok("list_projects", msg.ListProjects(page_token=first.next_page_token))

    assert_that(first.projects, has_length(50))
    assert_that([p.key for p in rest.projects], contains_exactly("K050"))
    assert_that(rest.next_page_token, equal_to(""))


async def test_given_a_dependency_across_projects_when_one_is_deleted_then_the_other_hears(
    connect: ClientFactory, server: RunningServer
) -> None:
    admin = await connect(roles=["admin"])
    doomed = await make_project(admin, key="GONE")
    kept = await make_project(admin, key="KEPT")
    item_ids = []
    for project in (doomed, kept):
        created = await admin.ok(
            "create_work_item",
            wi.CreateWorkItem(
                project_id=project.project.id, type=pb.WORK_ITEM_TYPE_TASK, title="T"
            ),
        )
        item_ids.append(created.work_item.id)
    link = await admin.ok(
        "create_dependency",
        dep.CreateDependency(
            from_item_id=item_ids[1], to_item_id=item_ids[0], type=pb.DEPENDENCY_TYPE_BLOCKS
        ),
    )
    neighbour = await connect(user="nina", roles=["viewer"])
    await neighbour.subscribe(kept.project.id)

    request_id = new_request_id()
    await admin.ok(
        "delete_project",
        msg.DeleteProject(project_id=doomed.project.id, expected_version=1),
        request_id,
    )

    events = await neighbour.events_until_quiet()
    assert_that([e.WhichOneof("change") for e in events], contains_exactly("project_deleted"))
    assert_that(list(events[0].project_ids), contains_exactly(doomed.project.id, kept.project.id))
    deleted = {(r[0], r[1]) for r in activity_of(server, request_id, ENTITIES)}
    assert_that(("dependency", link.dependency.id) in deleted, equal_to(True))
    assert_that(("work_item", item_ids[1]) in deleted, equal_to(False))
