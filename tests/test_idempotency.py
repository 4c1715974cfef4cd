"""Idempotent mutations keyed by (tenant, user, request_id), and roles, end to end."""

from __future__ import annotations

from hamcrest import assert_that, equal_to, has_length

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as msg
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.tenant_state import count


def _create(key: str) -> msg.CreateProject:
    return msg.CreateProject(key=key, name=f"Project {key}")


def _counts(server: RunningServer) -> dict[str, int]:
    return {
        table: count(server, table)
        for table in ("projects", "swim_lanes", "events", "activity_log", "processed_requests")
    }


async def test_given_a_committed_mutation_when_retried_then_same_response_and_nothing_new(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    watcher = await connect(user="watcher")
    await watcher.subscribe(tenant_feed=True)
    first = await alice.request("create_project", _create("AB"), "create-ab")
    before = _counts(server)

    retried = await alice.request("create_project", _create("AB"), "create-ab")

    assert_that(first.HasField("create_project"), equal_to(True))
    assert_that(retried, equal_to(first))
    assert_that(_counts(server), equal_to(before))
    assert_that(before["projects"], equal_to(1))
    assert_that(before["events"], equal_to(1))
    assert_that(await watcher.events_until_quiet(), has_length(1))


async def test_given_a_committed_mutation_when_retried_on_a_new_connection_then_same_response(
    server: RunningServer, connect: ClientFactory
) -> None:
    first_session = await connect()
    first = await first_session.request("create_project", _create("AB"), "create-ab")
    await first_session.close()
    second_session = await connect()

    retried = await second_session.request("create_project", _create("AB"), "create-ab")

    assert_that(retried, equal_to(first))
    assert_that(count(server, "projects"), equal_to(1))


async def test_given_a_used_request_id_when_another_command_reuses_it_then_invalid_argument(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    await alice.ok("create_project", _create("AB"), "shared-id")
    before = _counts(server)

    error = await alice.error("create_project", _create("CD"), "shared-id")

    assert_that(error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(error.field, equal_to("request_id"))
    assert_that(_counts(server), equal_to(before))


async def test_given_a_refused_mutation_when_its_request_id_is_reused_then_it_runs_again(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    refused = await alice.error("create_project", msg.CreateProject(key="bad key", name="X"), "r1")

    accepted = await alice.ok("create_project", _create("AB"), "r1")

    assert_that(refused.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
    assert_that(accepted.project.key, equal_to("AB"))
    assert_that(count(server, "processed_requests"), equal_to(1))


async def test_given_a_conflict_when_the_same_command_is_retried_after_the_fix_then_it_applies(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project = (await alice.ok("create_project", _create("AB"))).project
    ahead = msg.UpdateProject(project_id=project.id, expected_version=2, name="Second")

    conflict = await alice.error("update_project", ahead, "rename-2")
    await alice.ok(
        "update_project", msg.UpdateProject(project_id=project.id, expected_version=1, name="One")
    )
    applied = await alice.ok("update_project", ahead, "rename-2")

    assert_that(conflict.code, equal_to(env.ERROR_CODE_CONFLICT))
    assert_that(applied.project.name, equal_to("Second"))
    assert_that(applied.project.version, equal_to(3))


async def test_given_one_request_id_when_two_users_use_it_then_each_runs_once(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect(user="alice")
    bob = await connect(user="bob")

    by_alice = await alice.ok("create_project", _create("AB"), "same-id")
    by_bob = await bob.ok("create_project", _create("CD"), "same-id")

    assert_that(by_alice.project.key, equal_to("AB"))
    assert_that(by_bob.project.key, equal_to("CD"))
    assert_that(count(server, "projects"), equal_to(2))


async def test_given_a_query_when_its_request_id_is_reused_then_it_reads_afresh(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    empty_list = await alice.ok("list_projects", msg.ListProjects(), "list-1")
    await alice.ok("create_project", _create("AB"))

    again = await alice.ok("list_projects", msg.ListProjects(), "list-1")

    assert_that(empty_list.projects, has_length(0))
    assert_that(again.projects, has_length(1))


async def test_given_a_viewer_when_creating_a_project_then_permission_denied_and_nothing_changes(
    server: RunningServer, connect: ClientFactory
) -> None:
    viewer = await connect(user="vera", roles=["viewer"])
    watcher = await connect(user="watcher")
    await watcher.subscribe(tenant_feed=True)

    error = await viewer.error("create_project", _create("AB"))

    assert_that(error.code, equal_to(env.ERROR_CODE_PERMISSION_DENIED))
    assert_that(
        _counts(server),
        equal_to(
            {
                "projects": 0,
                "swim_lanes": 0,
                "events": 0,
                "activity_log": 0,
                "processed_requests": 0,
            }
        ),
    )
    assert_that(await watcher.events_until_quiet(), has_length(0))


async def test_given_a_viewer_when_listing_projects_then_allowed(connect: ClientFactory) -> None:
    alice = await connect()
    await alice.ok("create_project", _create("AB"))
    viewer = await connect(user="vera", roles=["viewer"])

    listed = await viewer.ok("list_projects", msg.ListProjects())

    assert_that(listed.projects, has_length(1))
