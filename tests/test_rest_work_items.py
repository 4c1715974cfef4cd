"""GET /api/v1/work-items/{item_id} and /projects/{project_id}/items/{number}, end to end."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    greater_than,
    has_entries,
    is_not,
)

from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import dependencies_pb2 as deps_msg
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from pm.v1.entities_pb2 import DEPENDENCY_TYPE_BLOCKS, DEPENDENCY_TYPE_RELATES_TO, PRIORITY_HIGH
from tests.boards import EPIC, STORY, TASK, UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.rest import check_against_openapi, get, openapi
from tests.server_fixture import RunningServer
from tests.wire import WsClient

BY_ID = "/api/v1/work-items/{item_id}"
BY_NUMBER = "/api/v1/projects/{project_id}/items/{number}"
HOUR = 3_600_000
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Story:
    """Project PM: epic PM-1 > story PM-2 > task PM-3; PM-4 blocks PM-2, PM-2 relates to
    WEB-1; a comment thread and an hour of time on PM-2, whose title was changed."""

    alice: WsClient
    project_id: str
    epic_id: str
    story_id: str
    task_id: str
    blocker_id: str
    other_project_item_id: str


async def story(connect: ClientFactory) -> Story:
    alice = await connect(user="alice")
    project_id = await create_project(alice, "PM")
    epic = await create_item(alice, project_id, EPIC, title="Checkout")
    item = await create_item(alice, project_id, STORY, title="Pay by card", parent_id=epic.id)
    task = await create_item(alice, project_id, TASK, title="Card form", parent_id=item.id)
    blocker = await create_item(alice, project_id, TASK, title="Payment provider")
    web = await create_item(alice, await create_project(alice, "WEB"), TASK, title="Landing")
    await alice.ok(
        "create_dependency",
        deps_msg.CreateDependency(
            from_item_id=blocker.id, to_item_id=item.id, type=DEPENDENCY_TYPE_BLOCKS
        ),
    )
    await alice.ok(
        "create_dependency",
        deps_msg.CreateDependency(
            from_item_id=item.id, to_item_id=web.id, type=DEPENDENCY_TYPE_RELATES_TO
        ),
    )
    comment = await alice.ok(
        "create_comment", comments_msg.CreateComment(work_item_id=item.id, content="Which cards?")
    )
    await alice.ok(
        "create_comment",
        comments_msg.CreateComment(
            work_item_id=item.id, content="Visa first", parent_comment_id=comment.comment.id
        ),
    )
    now = int(time.time() * 1000)
    await alice.ok(
        "create_time_entry",
        time_msg.CreateTimeEntry(
            work_item_id=item.id, started_at_ms=now - 2 * HOUR, ended_at_ms=now - HOUR
        ),
    )
    await alice.ok(
        "update_work_item",
        items_msg.UpdateWorkItem(
            work_item_id=item.id, expected_version=1, title="Pay by card", priority=PRIORITY_HIGH
        ),
    )
    return Story(alice, project_id, epic.id, item.id, task.id, blocker.id, web.id)


def viewer(server: RunningServer, tenant: str = "acme") -> str:
    return server.token(tenant, "victor", ["viewer"])


async def test_given_a_story_when_a_viewer_gets_it_by_id_then_it_comes_with_its_surroundings(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)

    response = await get(server, f"/work-items/{given.story_id}", viewer(server))

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), BY_ID, response)
    body = response.json()
    assert_that(
        body["work_item"],
        has_entries(id=given.story_id, number=2, key="PM-2", priority="high", type="story"),
    )
    assert_that([i["key"] for i in body["ancestors"]], contains_exactly("PM-1"))
    assert_that([i["key"] for i in body["children"]], contains_exactly("PM-3"))
    assert_that(
        [
            (d["relation"], d["other_item"]["key"], d["other_item"]["title"])
            for d in body["dependencies"]
        ],
        contains_exactly(
            ("blocked_by", "PM-4", "Payment provider"), ("relates_to", "WEB-1", "Landing")
        ),
    )
    assert_that(body["is_blocked"], equal_to(True))
    assert_that(body["comments"][0]["comment"]["content"], equal_to("Which cards?"))
    assert_that(
        [r["content"] for r in body["comments"][0]["replies"]], contains_exactly("Visa first")
    )
    assert_that(body["time_total_seconds"], equal_to(3600))
    assert_that(len(body["time_entries"]), equal_to(1))
    assert_that(
        [(e["action"], e["field"]) for e in body["history"]],
        contains_exactly(("updated", "priority"), ("created", "")),
    )
    assert_that(body["seq"], greater_than(0))
    assert_that(response.headers["PM-Seq"], equal_to(str(body["seq"])))


async def test_given_a_story_when_got_by_number_then_it_equals_the_item_by_id(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)
    document = await openapi(server)

    by_id = await get(server, f"/work-items/{given.story_id}", viewer(server))
    by_key = await get(server, f"/projects/{given.project_id}/items/PM-2", viewer(server))
    by_number = await get(server, f"/projects/{given.project_id}/items/2", viewer(server))

    assert_that(by_key.status_code, equal_to(200), by_key.text)
    check_against_openapi(document, BY_NUMBER, by_key)
    assert_that(by_key.json(), equal_to(by_id.json()))
    assert_that(by_number.json(), equal_to(by_id.json()))


async def test_given_a_story_when_asked_for_markdown_then_it_names_items_by_number(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)

    response = await get(
        server, f"/projects/{given.project_id}/items/PM-2", viewer(server), format="markdown"
    )

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), BY_NUMBER, response)
    assert_that(response.headers["content-type"], contains_string("text/markdown"))
    text = response.text
    for part in (
        "# PM-2: Pay by card",
        "PM-1 Checkout",
        "- PM-3 task backlog: Card form",
        "- blocked by PM-4 (backlog): Payment provider",
        "- relates to WEB-1 (backlog): Landing",
        "Which cards?",
        "Visa first",
        "total 1h 0m",
        "alice updated priority medium -> high",
    ):
        assert_that(text, contains_string(part))
    assert_that(UUID.search(text), equal_to(None))


async def test_given_no_token_or_a_bad_one_when_getting_an_item_then_401(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)

    for token in ("", "not-a-jwt", server.token(ttl=-3600)):
        for path in (
            f"/work-items/{given.story_id}",
            f"/projects/{given.project_id}/items/PM-2",
        ):
            response = await get(server, path, token)

            assert_that(response.status_code, equal_to(401), path)
            assert_that(response.json()["code"], equal_to("UNAUTHENTICATED"))


async def test_given_an_item_of_another_tenant_when_asked_for_then_404(
    server: RunningServer, connect: ClientFactory
) -> None:
    globex = await connect(tenant="globex", user="gary")
    project_id = await create_project(globex, "PM")
    item = await create_item(globex, project_id, title="Secret")
    await story(connect)  # acme has its own PM-1 ...

    for path in (f"/work-items/{item.id}", f"/projects/{project_id}/items/PM-1"):
        response = await get(server, path, viewer(server, "acme"))

        assert_that(response.status_code, equal_to(404), path)
        assert_that(response.json()["code"], equal_to("NOT_FOUND"))
        check_against_openapi(await openapi(server), BY_ID, response)


async def test_given_malformed_ids_or_numbers_when_asked_for_then_422_naming_the_field(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)

    cases = {
        "/work-items/not-a-uuid": "item_id",
        "/projects/not-a-uuid/items/PM-1": "project_id",
        f"/projects/{given.project_id}/items/PM-": "number",
        f"/projects/{given.project_id}/items/PM-0": "number",
        f"/projects/{given.project_id}/items/seven": "number",
    }
    for path, field in cases.items():
        response = await get(server, path, viewer(server))

        assert_that(response.status_code, equal_to(422), path)
        assert_that(response.json(), has_entries(code="INVALID_ARGUMENT", field=field))


async def test_given_unknown_numbers_when_asked_for_then_404(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)

    for path in (
        f"/projects/{given.project_id}/items/PM-99",
        f"/projects/{given.project_id}/items/WEB-1",  # a number of another project
        f"/projects/{UNKNOWN_ID}/items/PM-1",
        f"/work-items/{UNKNOWN_ID}",
    ):
        response = await get(server, path, viewer(server))

        assert_that(response.status_code, equal_to(404), path)


async def test_given_a_deleted_item_when_asked_for_then_404_both_ways(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)
    await given.alice.ok(
        "delete_work_item",
        items_msg.DeleteWorkItem(work_item_id=given.task_id, expected_version=1),
    )

    by_id = await get(server, f"/work-items/{given.task_id}", viewer(server))
    by_number = await get(server, f"/projects/{given.project_id}/items/PM-3", viewer(server))
    parent = await get(server, f"/work-items/{given.story_id}", viewer(server))

    assert_that(by_id.status_code, equal_to(404))
    assert_that(by_number.status_code, equal_to(404))
    assert_that(parent.json()["children"], equal_to([]))


async def test_given_an_unchanged_tenant_when_the_etag_is_sent_back_then_304(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await story(connect)
    first = await get(server, f"/work-items/{given.story_id}", viewer(server))

    again = await get(
        server,
        f"/work-items/{given.story_id}",
        viewer(server),
        headers={"If-None-Match": first.headers["ETag"]},
    )
    await given.alice.ok(
        "update_work_item",
        items_msg.UpdateWorkItem(work_item_id=given.story_id, expected_version=2, title="Cards"),
    )
    changed = await get(
        server,
        f"/work-items/{given.story_id}",
        viewer(server),
        headers={"If-None-Match": first.headers["ETag"]},
    )

    assert_that(again.status_code, equal_to(304))
    assert_that(changed.status_code, equal_to(200))
    assert_that(changed.headers["ETag"], is_not(equal_to(first.headers["ETag"])))
