"""Projects over the WebSocket, end to end."""

from __future__ import annotations

from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as msg
from tests.conftest import ClientFactory


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
    connect: ClientFactory,
) -> None:
    alice = await connect()
    await alice.ok("create_project", msg.CreateProject(key="PM", name="One"))

    error = await alice.error("create_project", msg.CreateProject(key="PM", name="Two"))

    assert_that(error.code, equal_to(env.ERROR_CODE_ALREADY_EXISTS))
    assert_that(error.field, equal_to("key"))
    listed = await alice.ok("list_projects", msg.ListProjects())
    assert_that(listed.projects, has_length(1))
