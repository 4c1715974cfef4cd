"""GET /api/v1/search against a real server, data written over the WebSocket."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    empty,
    equal_to,
    has_entries,
    has_length,
    starts_with,
)

from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.rest import check_against_openapi, get, openapi
from tests.server_fixture import RunningServer

ROUTE = "/api/v1/search"
HOSTILE = ['"', "*", "a OR", "NEAR(", "-x", "title:", '"unclosed', "a AND NOT", "(", "^x"]


async def search(server: RunningServer, **params: Any) -> httpx.Response:
    response = await get(server, "/search", **params)
    if response.status_code == 200:
        check_against_openapi(await openapi(server), ROUTE, response)
    return response


def hits_of(response: httpx.Response) -> list[tuple[str, str, str | None]]:
    assert response.status_code == 200, response.text
    return [
        (hit["kind"], hit["work_item"]["key"], hit["comment_id"]) for hit in response.json()["hits"]
    ]


async def test_given_an_item_when_searching_a_word_of_its_description_then_it_is_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    item = await create_item(
        alice, project_id, title="Checkout", description="The card form rejects numbers"
    )

    response = await search(server, q="rejects")

    assert_that(hits_of(response), equal_to([("work_item", "PM-1", None)]))
    hit = response.json()["hits"][0]
    assert_that(
        hit["work_item"],
        has_entries(id=item.id, key="PM-1", number=1, title="Checkout", status="backlog"),
    )
    assert_that(hit["snippet"], equal_to("The card form **rejects** numbers"))
    assert_that(response.json()["seq"], equal_to(int(response.headers["PM-Seq"])))


async def test_given_a_comment_when_searching_a_word_of_it_then_the_comment_is_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id, title="Checkout")
    created = await alice.ok(
        "create_comment",
        comments_msg.CreateComment(work_item_id=item.id, content="The provider times out"),
    )

    response = await search(server, q="provider", project_id=project_id)

    assert_that(hits_of(response), contains_exactly(("comment", "PM-1", created.comment.id)))
    assert_that(response.json()["hits"][0]["snippet"], contains_string("**provider**"))


async def test_given_a_deleted_item_and_a_deleted_comment_when_searching_then_neither_is_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    gone = await create_item(alice, project_id, title="Obsolete widget")
    kept = await create_item(alice, project_id, title="Kept")
    comment = await alice.ok(
        "create_comment",
        comments_msg.CreateComment(work_item_id=kept.id, content="obsolete remark"),
    )
    await alice.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=gone.id, expected_version=1)
    )
    await alice.ok(
        "delete_comment",
        comments_msg.DeleteComment(comment_id=comment.comment.id, expected_version=1),
    )

    response = await search(server, q="obsolete")

    assert_that(hits_of(response), empty())


async def test_given_an_updated_title_when_searching_then_the_new_title_is_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id, title="Draft")
    await alice.ok(
        "update_work_item",
        items_msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="Final wording"),
    )

    assert_that(hits_of(await search(server, q="draft")), empty())
    assert_that(hits_of(await search(server, q="wording")), equal_to([("work_item", "PM-1", None)]))


@pytest.mark.parametrize("q", HOSTILE)
async def test_given_fts5_syntax_in_q_when_searching_then_200_not_500(
    server: RunningServer, connect: ClientFactory, q: str
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    await create_item(alice, project_id, title="a x title near", description="not and or")

    response = await search(server, q=q)

    assert_that(response.status_code, equal_to(200))


async def test_given_more_hits_than_the_limit_when_paging_then_every_hit_comes_once(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    for n in range(5):
        await create_item(alice, project_id, title=f"Invoice {n}")

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        response = await search(server, q="invoice", limit=2, cursor=cursor)
        page = hits_of(response)
        assert_that(len(page) <= 2, equal_to(True))
        seen += [key for _, key, _ in page]
        cursor = response.json()["next_cursor"]
        if not cursor:
            break

    assert_that(sorted(seen), equal_to([f"PM-{n}" for n in range(1, 6)]))


async def test_given_a_crafted_or_foreign_cursor_when_searching_then_422_on_cursor(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    for n in range(3):
        await create_item(alice, project_id, title=f"Invoice {n}")
    first = await search(server, q="invoice", limit=1)
    issued = first.json()["next_cursor"]

    crafted = await search(server, q="invoice", cursor="eyJvIjoxfQ.AAAAAAAAAAAAAAAAAAAAAA")
    other_query = await search(server, q="other", cursor=issued)

    for response in (crafted, other_query):
        assert_that(response.status_code, equal_to(422))
        assert_that(response.json(), has_entries(code="INVALID_ARGUMENT", field="cursor"))


async def test_given_a_viewer_when_searching_then_200(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    await create_item(alice, project_id, title="Visible")

    response = await get(server, "/search", server.token(user="vic", roles=["viewer"]), q="visible")

    assert_that(hits_of(response), has_length(1))


async def test_given_no_token_when_searching_then_401(server: RunningServer) -> None:
    response = await get(server, "/search", "", q="anything")

    assert_that(response.status_code, equal_to(401))
    assert_that(response.json(), has_entries(code="UNAUTHENTICATED"))


async def test_given_another_tenants_project_when_searching_in_it_then_404(
    server: RunningServer, connect: ClientFactory
) -> None:
    other = await connect(tenant="globex", user="gus")
    foreign = await create_project(other, "GX")
    alice = await connect()
    await create_project(alice, "PM")

    foreign_response = await search(server, q="x", project_id=foreign)
    unknown_response = await search(server, q="x", project_id=UNKNOWN_ID)
    malformed_response = await search(server, q="x", project_id="not-a-uuid")

    assert_that(foreign_response.status_code, equal_to(404))
    assert_that(unknown_response.status_code, equal_to(404))
    assert_that(malformed_response.status_code, equal_to(422))
    assert_that(malformed_response.json(), has_entries(field="project_id"))


async def test_given_no_q_or_a_bad_limit_when_searching_then_422(server: RunningServer) -> None:
    for params in ({}, {"q": "   "}, {"q": "x", "limit": 0}, {"q": "x", "limit": "many"}):
        response = await search(server, **params)
        assert_that(response.status_code, equal_to(422))


async def test_given_hits_when_asked_for_markdown_then_one_line_per_hit(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id, title="Login error", description="on login")
    await alice.ok(
        "create_comment",
        comments_msg.CreateComment(work_item_id=item.id, content="login works\nagain"),
    )

    response = await search(server, q="login", format="markdown")

    assert_that(response.status_code, equal_to(200))
    assert_that(response.headers["content-type"], starts_with("text/markdown"))
    lines = [line for line in response.text.splitlines() if line.startswith("- ")]
    assert_that(lines, has_length(2))
    assert_that(lines[0], starts_with('- PM-1 [backlog] "Login error": '))
    assert_that(lines[1], contains_string("comment"))
    assert_that(lines[1], contains_string("**login** works again"))
