"""GET /api/v1/llm/context: the seeded entries of a fresh tenant, filtered, as JSON and as
markdown; and the seed file itself."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest
from hamcrest import (
    assert_that,
    contains_string,
    equal_to,
    greater_than_or_equal_to,
    has_entries,
    has_items,
    has_length,
    only_contains,
    starts_with,
)

from tenants import llm_context
from tenants.llm_context import SeedError, parse_seed
from tenants.migrator import load_migrations, migrate
from tests.rest import check_against_openapi, get, openapi
from tests.server_fixture import RunningServer

ROUTE = "/api/v1/llm/context"
CATEGORIES = ["schema", "business_rule", "query_pattern", "example"]


async def context(server: RunningServer, token: str | None = None, **params: Any) -> httpx.Response:
    response = await get(server, "/llm/context", token, **params)
    if response.status_code == 200:
        check_against_openapi(await openapi(server), ROUTE, response)
    return response


def body_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_given_a_fresh_tenant_when_asked_then_the_seed_file_rows_are_there(
    server: RunningServer,
) -> None:
    body = body_of(await context(server))

    seeded = llm_context.load_seed()
    assert_that(body["entries"], has_length(len(seeded)))
    assert_that(sorted(entry["id"] for entry in body["entries"]), equal_to([e.id for e in seeded]))
    assert_that(body["categories"], equal_to(CATEGORIES))
    assert_that(body["types"], has_items("work_item", "sprint", "dependency", "role", "websocket"))
    titles = " ".join(entry["title"] for entry in body["entries"])
    for topic in ("Hierarchy", "Sprints", "Dependencies", "Time tracking", "Roles"):
        assert_that(titles, contains_string(topic))


async def test_given_entries_when_listed_then_by_priority_highest_first_then_id(
    server: RunningServer,
) -> None:
    entries = body_of(await context(server))["entries"]

    order = [(-entry["priority"], entry["id"]) for entry in entries]
    assert_that(order, equal_to(sorted(order)))


async def test_given_filters_when_asked_then_only_matching_entries(server: RunningServer) -> None:
    rules = body_of(await context(server, category="business_rule"))["entries"]
    sprints = body_of(await context(server, category="business_rule", type="sprint"))["entries"]
    important = body_of(await context(server, min_priority=90))["entries"]
    nothing = body_of(await context(server, category="no_such_category"))["entries"]

    assert_that({entry["category"] for entry in rules}, equal_to({"business_rule"}))
    assert_that(len(rules), greater_than_or_equal_to(6))
    assert_that(sprints, has_length(1))
    assert_that(sprints[0], has_entries(type="sprint", title="Sprints"))
    assert_that(
        [entry["priority"] for entry in important], only_contains(greater_than_or_equal_to(90))
    )
    assert_that(
        important, has_length(len([e for e in llm_context.load_seed() if e.priority >= 90]))
    )
    assert_that(nothing, equal_to([]))


async def test_given_the_markdown_form_when_asked_then_one_section_per_category(
    server: RunningServer,
) -> None:
    response = await context(server, format="markdown")

    assert_that(response.status_code, equal_to(200))
    assert_that(response.headers["content-type"], starts_with("text/markdown"))
    sections = [line[3:] for line in response.text.splitlines() if line.startswith("## ")]
    assert_that(sorted(sections), equal_to(sorted(CATEGORIES)))
    assert_that(response.text, contains_string("### Hierarchy (work_item, priority 90)"))


async def test_given_a_viewer_when_asked_then_200_and_without_a_token_401(
    server: RunningServer,
) -> None:
    viewer = await context(server, server.token(user="vic", roles=["viewer"]))
    anonymous = await context(server, "")

    assert_that(viewer.status_code, equal_to(200))
    assert_that(anonymous.status_code, equal_to(401))


async def test_given_a_bad_min_priority_when_asked_then_422(server: RunningServer) -> None:
    for value in ("-1", "101", "high"):
        response = await context(server, min_priority=value)
        assert_that(response.status_code, equal_to(422))
        assert_that(response.json(), has_entries(field="min_priority"))


def test_given_the_seed_when_migrated_then_rows_equal_the_file_bodies_byte_for_byte() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    seeded = llm_context.load_seed()

    migrate(conn, llm_context.with_seed(load_migrations()))

    stored = sorted(llm_context.entries(conn), key=lambda entry: entry.id)
    assert_that(stored, equal_to(seeded))


def test_given_quotes_and_dashes_in_a_body_when_seeded_then_kept_exactly() -> None:
    text = "# schema\n\n## It's {type=general priority=5}\n\n-- not a comment\n'quoted'; \"x\"\n"
    conn = sqlite3.connect(":memory:", isolation_level=None)

    migrate(conn, llm_context.with_seed(load_migrations(), parse_seed(text)))

    assert_that(
        [(e.title, e.body) for e in llm_context.entries(conn)],
        equal_to([("It's", "-- not a comment\n'quoted'; \"x\"")]),
    )


@pytest.mark.parametrize(
    "text",
    [
        "text before any entry\n",
        "# schema\n## No attributes\nbody\n",
        "# schema\n## Too high {type=general priority=101}\nbody\n",
        "# schema\n## Unclosed {type=general priority=1}\n```\n# inside\n",
        "# schema\n## Empty {type=general priority=1}\n\n",
    ],
)
def test_given_a_malformed_seed_when_parsed_then_seed_error(text: str) -> None:
    with pytest.raises(SeedError):
        parse_seed(text)
