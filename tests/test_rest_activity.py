"""GET /api/v1/activity: a project's changes after a seq, oldest first, paged by change."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    greater_than,
    has_entries,
    has_length,
    is_not,
)

from pm.v1 import activity_pb2 as activity_msg
from pm.v1 import work_items_pb2 as items_msg
from pm.v1.entities_pb2 import PRIORITY_HIGH
from tests.boards import UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.rest import check_against_openapi, get, openapi
from tests.server_fixture import RunningServer
from tests.wire import WsClient

ROUTE = "/api/v1/activity"
MAX_PAGES = 50


@dataclass
class Changes:
    """Project PM with PM-1, then after `since`: an update of three fields of PM-1 (three
    rows under one seq), a move of PM-1 to another lane (one row), an update of two fields
    (two rows) and PM-2 created (one row)."""

    alice: WsClient
    project_id: str
    item_id: str
    since: int


def viewer(server: RunningServer, tenant: str = "acme") -> str:
    return server.token(tenant, "victor", ["viewer"])


async def current_seq(server: RunningServer, project_id: str) -> int:
    response = await get(server, "/activity", viewer(server), project_id=project_id)
    assert response.status_code == 200, response.text
    seq: int = response.json()["seq"]
    return seq


async def changes(server: RunningServer, connect: ClientFactory) -> Changes:
    alice = await connect(user="alice")
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id, title="Task")
    since = await current_seq(server, project_id)
    await alice.ok(
        "update_work_item",
        items_msg.UpdateWorkItem(
            work_item_id=item.id,
            expected_version=1,
            title="Renamed",
            priority=PRIORITY_HIGH,
            story_points=3,
        ),
    )
    await alice.ok(
        "move_work_item",
        items_msg.MoveWorkItem(work_item_id=item.id, expected_version=2, status="in_progress"),
    )
    await alice.ok(
        "update_work_item",
        items_msg.UpdateWorkItem(
            work_item_id=item.id, expected_version=3, description="Details", story_points=5
        ),
    )
    await create_item(alice, project_id, title="Second")
    return Changes(alice, project_id, item.id, since)


async def all_pages(
    server: RunningServer, project_id: str, since: int, limit: int
) -> list[list[dict[str, Any]]]:
    document = await openapi(server)
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        response = await get(
            server,
            "/activity",
            viewer(server),
            project_id=project_id,
            since_seq=since,
            limit=limit,
            cursor=cursor,
        )
        assert response.status_code == 200, response.text
        check_against_openapi(document, ROUTE, response)
        body = response.json()
        pages.append(body["entries"])
        cursor = body["next_cursor"]
        if not cursor:
            return pages
    raise AssertionError(f"still paging after {MAX_PAGES} pages")


def seqs(entries: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in entries]


async def test_given_changes_after_a_seq_when_asked_since_it_then_exactly_those_oldest_first(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)
    logged = await given.alice.ok(
        "get_activity", activity_msg.GetActivity(project_id=given.project_id, page_size=500)
    )
    later = [e.id for e in reversed(logged.entries) if e.seq > given.since]

    response = await get(
        server, "/activity", viewer(server), project_id=given.project_id, since_seq=given.since
    )

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), ROUTE, response)
    body = response.json()
    assert_that([e["id"] for e in body["entries"]], equal_to(later))
    assert_that(
        [(e["action"], e["field"]) for e in body["entries"]],
        contains_exactly(
            ("updated", "title"),
            ("updated", "priority"),
            ("updated", "story_points"),
            ("moved", "status"),
            ("updated", "description"),
            ("updated", "story_points"),
            ("created", ""),
        ),
    )
    assert_that(sorted(seqs(body["entries"])), equal_to(seqs(body["entries"])))
    assert_that(min(seqs(body["entries"])), greater_than(given.since))
    assert_that(body, has_entries(next_cursor="", since_seq=given.since))
    assert_that(body["item_keys"], has_entries({given.item_id: "PM-1"}))
    assert_that(body["seq"], equal_to(max(seqs(body["entries"]))))


async def test_given_nothing_new_when_asked_since_the_current_seq_then_no_entries(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)
    now = await current_seq(server, given.project_id)

    response = await get(
        server, "/activity", viewer(server), project_id=given.project_id, since_seq=now
    )

    assert_that(response.json(), has_entries(entries=[], next_cursor="", seq=now))


async def test_given_a_change_of_several_rows_when_paging_then_no_page_splits_a_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)

    by_limit = {
        limit: await all_pages(server, given.project_id, given.since, limit) for limit in (1, 2, 5)
    }

    # Changes of 3, 1, 2 and 1 rows. A change longer than the limit comes whole on a page of
    # its own; a page stops before a change the limit would cut.
    assert_that([len(page) for page in by_limit[1]], contains_exactly(3, 1, 2, 1))
    assert_that([len(page) for page in by_limit[2]], contains_exactly(3, 1, 2, 1))
    assert_that([len(page) for page in by_limit[5]], contains_exactly(4, 3))
    for pages in by_limit.values():
        on_pages = [set(seqs(page)) for page in pages]
        assert_that(sum(len(s) for s in on_pages), equal_to(len(set().union(*on_pages))))


async def test_given_many_changes_when_paging_to_the_end_then_every_entry_comes_once(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)
    everything = await get(
        server, "/activity", viewer(server), project_id=given.project_id, limit=500
    )
    expected = [e["id"] for e in everything.json()["entries"]]

    pages = await all_pages(server, given.project_id, 0, 2)

    paged = [e["id"] for page in pages for e in page]
    assert_that(paged, equal_to(expected))
    assert_that(Counter(paged).most_common(1)[0][1], equal_to(1))
    # Creating the project wrote five rows (the project and its four lanes) under one seq.
    assert_that(pages[0], has_length(5))


async def test_given_crafted_cursors_when_paging_then_422_on_cursor(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)
    other_project = await create_project(given.alice, "WEB")
    await create_item(given.alice, other_project)
    await create_item(given.alice, other_project)
    first = await get(
        server, "/activity", viewer(server), project_id=given.project_id, since_seq=0, limit=1
    )
    cursor = first.json()["next_cursor"]
    assert_that(cursor, is_not(equal_to("")))
    body, mac = cursor.split(".")
    unsigned = base64.urlsafe_b64encode(json.dumps({"i": 1, "s": 1}).encode()).decode()
    forged = base64.urlsafe_b64encode(json.dumps({"i": 1, "s": 99}).encode()).decode().rstrip("=")

    cases: list[tuple[str, int]] = [
        ("garbage", 0),
        (unsigned.rstrip("="), 0),
        (f"{forged}.{mac}", 0),
        (f"{body}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}", 0),
        (cursor, 1),  # issued for since_seq 0
        ("x" * 2000, 0),
    ]
    for crafted, since in cases:
        response = await get(
            server,
            "/activity",
            viewer(server),
            project_id=given.project_id,
            since_seq=since,
            cursor=crafted,
        )

        assert_that(response.status_code, equal_to(422), crafted[:40])
        assert_that(response.json(), has_entries(code="INVALID_ARGUMENT", field="cursor"))
    elsewhere = await get(
        server, "/activity", viewer(server), project_id=other_project, cursor=cursor
    )
    assert_that(elsewhere.status_code, equal_to(422))
    check_against_openapi(await openapi(server), ROUTE, elsewhere)


async def test_given_changes_when_asked_for_markdown_then_one_line_per_change_by_number(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)

    response = await get(
        server,
        "/activity",
        viewer(server),
        project_id=given.project_id,
        since_seq=given.since,
        format="markdown",
    )

    assert_that(response.status_code, equal_to(200), response.text)
    check_against_openapi(await openapi(server), ROUTE, response)
    lines = [line for line in response.text.splitlines() if line.startswith("seq ")]
    s = given.since
    assert_that(
        lines,
        contains_exactly(
            f"seq {s + 1} alice updated PM-1 title Task -> Renamed; priority medium -> high;"
            " story_points null -> 3",
            f"seq {s + 2} alice moved PM-1 status backlog -> in_progress",
            f'seq {s + 3} alice updated PM-1 description "" -> Details; story_points 3 -> 5',
            f'seq {s + 4} alice created PM-2 "Second"',
        ),
    )
    assert_that(response.text, contains_string(f"up to date at seq {s + 4}"))


async def test_given_bad_parameters_when_asking_for_activity_then_422_naming_them(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)

    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "project_id"),
        ({"project_id": "not-a-uuid"}, "project_id"),
        ({"project_id": given.project_id, "limit": 0}, "limit"),
        ({"project_id": given.project_id, "limit": 501}, "limit"),
        ({"project_id": given.project_id, "since_seq": -1}, "since_seq"),
        ({"project_id": given.project_id, "since_seq": "ten"}, "since_seq"),
    ]
    for params, field in cases:
        response = await get(server, "/activity", viewer(server), **params)

        assert_that(response.status_code, equal_to(422), str(params))
        assert_that(response.json(), has_entries(code="INVALID_ARGUMENT", field=field))


async def test_given_another_tenants_or_an_unknown_project_when_asked_then_404(
    server: RunningServer, connect: ClientFactory
) -> None:
    globex = await connect(tenant="globex", user="gary")
    theirs = await create_project(globex, "PM")
    await changes(server, connect)

    for project_id in (theirs, UNKNOWN_ID):
        response = await get(server, "/activity", viewer(server, "acme"), project_id=project_id)

        assert_that(response.status_code, equal_to(404), project_id)
        assert_that(response.json()["code"], equal_to("NOT_FOUND"))


async def test_given_no_token_or_a_bad_one_when_asking_for_activity_then_401(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await changes(server, connect)

    for token in ("", "not-a-jwt", server.token(ttl=-3600)):
        response = await get(server, "/activity", token, project_id=given.project_id)

        assert_that(response.status_code, equal_to(401))
        assert_that(response.headers["WWW-Authenticate"], equal_to("Bearer"))
