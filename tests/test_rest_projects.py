"""GET /api/v1/projects and /projects/{project_id}/context, end to end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    has_item,
    is_not,
)

from pm.v1 import dependencies_pb2 as deps_msg
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from pm.v1.entities_pb2 import DEPENDENCY_TYPE_BLOCKS, PRIORITY_HIGH
from server.tokens import mint_token
from tests.boards import EPIC, STORY, TASK, UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.rest import check_against_openapi, get, openapi
from tests.server_fixture import RunningServer
from tests.wire import WsClient, open_client

PROJECTS = "/api/v1/projects"
CONTEXT = "/api/v1/projects/{project_id}/context"
HOUR = 3_600_000
DAY = 24 * HOUR


@dataclass
class Plan:
    """Project PM of alice (Alice Liddell): epic PM-1 > story PM-2 > task PM-3, and task
    PM-4, which blocks PM-3; PM-3 is bob's, has 3 points, is in sprint "S1" and took an hour
    of alice's time; PM-1 is in progress."""

    alice: WsClient
    project_id: str
    ids: dict[str, str]  # PM-1 -> id
    sprint_id: str


@pytest.fixture
async def alice(server: RunningServer) -> AsyncIterator[WsClient]:
    token = mint_token(
        server.config.jwt_secret,
        tenant_id="acme",
        user_id="alice",
        extra={"name": "Alice Liddell", "email": "alice@example.com"},
    )
    client = await open_client(server.ws_url, token)
    yield client
    await client.close()


async def plan(alice: WsClient) -> Plan:
    project_id = await create_project(alice, "PM", "Platform")
    now = int(time.time() * 1000)
    sprint = await alice.ok(
        "create_sprint",
        sprints_msg.CreateSprint(
            project_id=project_id, name="S1", start_date_ms=now, end_date_ms=now + 14 * DAY
        ),
    )
    epic = await create_item(alice, project_id, EPIC, title="Checkout")
    story = await create_item(alice, project_id, STORY, title="Pay by card", parent_id=epic.id)
    task = await create_item(
        alice,
        project_id,
        TASK,
        title="Card form",
        parent_id=story.id,
        assignee_id="bob",
        story_points=3,
        priority=PRIORITY_HIGH,
        sprint_id=sprint.sprint.id,
    )
    blocker = await create_item(alice, project_id, TASK, title="Payment provider")
    await alice.ok(
        "create_dependency",
        deps_msg.CreateDependency(
            from_item_id=blocker.id, to_item_id=task.id, type=DEPENDENCY_TYPE_BLOCKS
        ),
    )
    await alice.ok(
        "create_time_entry",
        time_msg.CreateTimeEntry(
            work_item_id=task.id, started_at_ms=now - 2 * HOUR, ended_at_ms=now - HOUR
        ),
    )
    await alice.ok(
        "move_work_item",
        items_msg.MoveWorkItem(work_item_id=epic.id, expected_version=1, status="in_progress"),
    )
    ids = {"PM-1": epic.id, "PM-2": story.id, "PM-3": task.id, "PM-4": blocker.id}
    return Plan(alice, project_id, ids, sprint.sprint.id)


def viewer(server: RunningServer, tenant: str = "acme") -> str:
    return server.token(tenant, "victor", ["viewer"])


async def test_given_two_projects_when_a_viewer_lists_them_then_each_has_its_lane_counts(
    server: RunningServer, alice: WsClient
) -> None:
    given = await plan(alice)
    await create_project(alice, "WEB")

    response = await get(server, "/projects", viewer(server))

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), PROJECTS, response)
    found = response.json()["projects"]
    assert_that([p["project"]["key"] for p in found], contains_exactly("PM", "WEB"))
    assert_that(found[0]["project"]["id"], equal_to(given.project_id))
    assert_that(
        [(lane["lane"]["status_value"], lane["item_count"]) for lane in found[0]["lanes"]],
        contains_exactly(("backlog", 3), ("in_progress", 1), ("in_review", 0), ("done", 0)),
    )
    assert_that(found[0]["item_count"], equal_to(4))
    assert_that(found[1]["item_count"], equal_to(0))


async def test_given_projects_when_listed_as_markdown_then_each_is_one_line(
    server: RunningServer, alice: WsClient
) -> None:
    await plan(alice)

    response = await get(server, "/projects", viewer(server), format="markdown")

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), PROJECTS, response)
    assert_that(response.text, contains_string('- PM "Platform"'))
    assert_that(response.text, contains_string("4 items; Backlog 3, In Progress 1"))


async def test_given_a_plan_when_a_viewer_gets_its_context_then_everything_comes_in_one_body(
    server: RunningServer, alice: WsClient
) -> None:
    given = await plan(alice)

    response = await get(server, f"/projects/{given.project_id}/context", viewer(server))

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), CONTEXT, response)
    body = response.json()
    assert_that(body["project"], has_entries(id=given.project_id, key="PM", name="Platform"))
    assert_that(body["current_seq"], equal_to(body["seq"]))
    assert_that(response.headers["PM-Seq"], equal_to(str(body["seq"])))
    assert_that(body["epoch"], equal_to(alice.welcome.epoch))
    # Board order: lane order (backlog, in_progress, ...), then rank.
    assert_that(
        [(i["key"], i["status"]) for i in body["work_items"]],
        contains_exactly(
            ("PM-2", "backlog"), ("PM-3", "backlog"), ("PM-4", "backlog"), ("PM-1", "in_progress")
        ),
    )
    task = body["work_items"][1]
    assert_that(
        task,
        has_entries(
            type="task",
            title="Card form",
            priority="high",
            parent_id=given.ids["PM-2"],
            sprint_id=given.sprint_id,
            assignee_id="bob",
            story_points=3,
        ),
    )
    assert_that(
        [(lane["lane"]["status_value"], lane["item_count"]) for lane in body["lanes"]],
        contains_exactly(("backlog", 3), ("in_progress", 1), ("in_review", 0), ("done", 0)),
    )
    assert_that(
        [
            (s["sprint"]["name"], s["sprint"]["state"], s["items_total"], s["items_done"])
            + (s["points_total"], s["points_done"])
            for s in body["sprints"]
        ],
        contains_exactly(("S1", "planned", 1, 0, 3, 0)),
    )
    assert_that(
        [(d["from_key"], d["to_key"], d["blocking"]) for d in body["dependencies"]],
        contains_exactly(("PM-4", "PM-3", True)),
    )
    assert_that(body["blocked_item_ids"], contains_exactly(given.ids["PM-3"]))
    assert_that(body["time_total_seconds"], equal_to(3600))
    assert_that(
        [(t["work_item_id"], t["user_id"], t["duration_seconds"]) for t in body["time_totals"]],
        contains_exactly((given.ids["PM-3"], "alice", 3600)),
    )
    assert_that(
        [(u["id"], u["name"], u["email"]) for u in body["users"]],
        has_item(("alice", "Alice Liddell", "alice@example.com")),
    )
    assert_that(body["activity"][0], has_entries(action="moved", entity_id=given.ids["PM-1"]))


async def test_given_a_blocker_that_is_done_when_the_context_is_got_then_nothing_is_blocked(
    server: RunningServer, alice: WsClient
) -> None:
    given = await plan(alice)
    await alice.ok(
        "move_work_item",
        items_msg.MoveWorkItem(work_item_id=given.ids["PM-4"], expected_version=1, status="done"),
    )

    body = (await get(server, f"/projects/{given.project_id}/context", viewer(server))).json()

    assert_that(body["blocked_item_ids"], equal_to([]))
    assert_that([d["blocking"] for d in body["dependencies"]], contains_exactly(False))


async def test_given_a_plan_when_its_context_is_got_as_markdown_then_items_go_by_number(
    server: RunningServer, alice: WsClient
) -> None:
    given = await plan(alice)

    response = await get(
        server, f"/projects/{given.project_id}/context", viewer(server), format="markdown"
    )

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), CONTEXT, response)
    text = response.text
    assert_that(text, contains_string("# PM: Platform"))
    # The tree: epic > story > task, one line each.
    assert_that(
        text,
        contains_string(
            "- PM-1 epic [in_progress] Checkout\n"
            "  - PM-2 story [backlog] Pay by card\n"
            '    - PM-3 task [backlog] Card form · high · @bob · 3pt · sprint "S1"'
            " · blocked by PM-4\n"
        ),
    )
    assert_that(text, contains_string("- Backlog `backlog` (3): PM-2 PM-3 PM-4"))
    assert_that(text, contains_string("- PM-3 blocked by PM-4 (backlog)"))
    assert_that(text, contains_string("0/1 items, 0/3 points done"))
    assert_that(text, contains_string("- alice: Alice Liddell <alice@example.com>"))
    assert_that(text, contains_string("- PM-3 1h 0m: alice 1h 0m"))


async def test_given_no_token_or_a_bad_one_when_a_context_is_asked_then_401(
    server: RunningServer, alice: WsClient
) -> None:
    given = await plan(alice)
    document = await openapi(server)

    for token in (
        "",
        "not-a-jwt",
        mint_token("another-secret-0123456789-abcdefghij", tenant_id="acme", user_id="x"),
    ):
        for path in ("/projects", f"/projects/{given.project_id}/context"):
            response = await get(server, path, token)

            assert_that(response.status_code, equal_to(401), f"{path} {response.text}")
            assert_that(response.json()["code"], equal_to("UNAUTHENTICATED"))
            check_against_openapi(document, PROJECTS if path == "/projects" else CONTEXT, response)


async def test_given_a_project_of_another_tenant_when_its_context_is_asked_then_404(
    server: RunningServer, connect: ClientFactory
) -> None:
    globex = await connect(tenant="globex", user="gina")
    foreign = await create_project(globex, "PM")
    await create_project(await connect(tenant="acme", user="alice"), "PM")

    response = await get(server, f"/projects/{foreign}/context", viewer(server, "acme"))

    assert_that(response.status_code, equal_to(404), response.text)
    assert_that(response.json()["code"], equal_to("NOT_FOUND"))
    check_against_openapi(await openapi(server), CONTEXT, response)
    own = await get(server, f"/projects/{foreign}/context", viewer(server, "globex"))
    assert_that(own.status_code, equal_to(200), own.text)


async def test_given_an_unknown_or_malformed_id_when_its_context_is_asked_then_404_or_422(
    server: RunningServer,
) -> None:
    unknown = await get(server, f"/projects/{UNKNOWN_ID}/context", viewer(server))
    malformed = await get(server, "/projects/not-a-uuid/context", viewer(server))

    assert_that(unknown.status_code, equal_to(404), unknown.text)
    assert_that(malformed.status_code, equal_to(422), malformed.text)
    assert_that(malformed.json(), has_entries(code="INVALID_ARGUMENT", field="project_id"))
    check_against_openapi(await openapi(server), CONTEXT, malformed)


async def test_given_a_deleted_project_when_its_context_is_asked_then_404(
    server: RunningServer, connect: ClientFactory
) -> None:
    admin = await connect(user="ada", roles=["admin"])
    project_id = await create_project(admin, "OLD")
    await admin.ok(
        "delete_project", projects_msg.DeleteProject(project_id=project_id, expected_version=1)
    )

    response = await get(server, f"/projects/{project_id}/context", viewer(server))

    assert_that(response.status_code, equal_to(404), response.text)
    listed = (await get(server, "/projects", viewer(server))).json()["projects"]
    assert_that(listed, equal_to([]))


async def test_given_a_context_when_got_again_with_its_etag_then_304_until_a_write(
    server: RunningServer, alice: WsClient
) -> None:
    given = await plan(alice)
    path = f"/projects/{given.project_id}/context"
    first = await get(server, path, viewer(server))
    etag = first.headers["ETag"]

    again = await get(server, path, viewer(server), headers={"If-None-Match": etag})
    await create_item(alice, given.project_id, TASK, title="Later")
    after = await get(server, path, viewer(server), headers={"If-None-Match": etag})

    assert_that(etag, equal_to(f'"{first.json()["epoch"]}:{first.json()["seq"]}"'))
    assert_that(again.status_code, equal_to(304))
    assert_that(again.headers["ETag"], equal_to(etag))
    check_against_openapi(await openapi(server), CONTEXT, again)
    assert_that(after.status_code, equal_to(200), after.text)
    assert_that(after.headers["ETag"], is_not(equal_to(etag)))
    assert_that([i["title"] for i in after.json()["work_items"]], has_item("Later"))
