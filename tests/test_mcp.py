"""/mcp end to end through the SDK's own client: initialize, tools/list, every tool, auth."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    has_entries,
    is_not,
    less_than,
    matches_regexp,
    starts_with,
)
from hamcrest.core.matcher import Matcher
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from pm.v1 import comments_pb2 as comments_msg
from tests.boards import EPIC, STORY, TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer

TIMEOUT = 10.0
SEQ_LINE = re.compile(r"^seq: (\d+) epoch: (\S+)$", re.MULTILINE)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@asynccontextmanager
async def mcp_session(
    server: RunningServer, token: str, path: str = "/mcp"
) -> AsyncIterator[ClientSession]:
    """An initialized SDK client session on /mcp with the bearer token; redirects are
    errors (a client following one may drop the Authorization header)."""
    async with (
        asyncio.timeout(TIMEOUT),
        httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT, follow_redirects=False
        ) as http,
        streamable_http_client(f"{server.http_url}{path}", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def lacks(part: str) -> Matcher[str]:
    matcher: Matcher[str] = is_not(contains_string(part))
    return matcher


def text_of(result: CallToolResult) -> str:
    assert_that(len(result.content), equal_to(1))
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call(session: ClientSession, name: str, **arguments: Any) -> str:
    """A tool call that must succeed; its text."""
    result = await session.call_tool(name, arguments)
    assert not result.isError, f"{name} failed: {text_of(result)}"
    return text_of(result)


async def fail(session: ClientSession, name: str, **arguments: Any) -> str:
    """A tool call that must be an error result; its text."""
    result = await session.call_tool(name, arguments)
    assert result.isError, f"{name} unexpectedly succeeded: {text_of(result)}"
    return text_of(result)


def seq_of(text: str) -> tuple[int, str]:
    found = SEQ_LINE.findall(text)
    assert len(found) == 1, f"no single seq line in:\n{text}"
    return int(found[0][0]), found[0][1]


@dataclass
class Setup:
    """Tenant acme: project PM with epic PM-1 > story PM-2 "Pay by card" (one comment),
    task PM-3; seq and epoch as a client connecting afterwards is told."""

    project_id: str
    story_id: str
    seq: int
    epoch: str


async def setup(server: RunningServer, connect: ClientFactory) -> Setup:
    alice = await connect(user="alice")
    project_id = await create_project(alice, "PM", name="Platform")
    epic = await create_item(alice, project_id, EPIC, title="Checkout")
    story = await create_item(alice, project_id, STORY, title="Pay by card", parent_id=epic.id)
    await create_item(alice, project_id, TASK, title="Card form", parent_id=story.id)
    await alice.ok(
        "create_comment",
        comments_msg.CreateComment(work_item_id=story.id, content="Visa first, then amex"),
    )
    later = await connect(user="alice")
    return Setup(project_id, story.id, later.welcome.current_seq, later.welcome.epoch)


async def test_given_a_token_when_an_agent_initializes_then_it_lists_read_only_tools_under_8_kib(
    server: RunningServer,
) -> None:
    async with mcp_session(server, server.token()) as session:
        listed = await session.list_tools()

    assert_that(
        [tool.name for tool in listed.tools],
        contains_exactly("projects", "project_context", "work_item", "search", "changes"),
    )
    for tool in listed.tools:
        assert tool.annotations is not None
        assert_that(tool.annotations.readOnlyHint, equal_to(True))
        assert tool.description is not None
        assert_that(tool.description, lacks("\n"))
    size = len(json.dumps(listed.model_dump(mode="json", exclude_none=True)))
    assert_that(size, less_than(8 * 1024))


async def test_given_a_project_when_calling_projects_then_it_names_the_project_with_its_id_and_seq(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token()) as session:
        text = await call(session, "projects")

    assert_that(text, contains_string("PM"))
    assert_that(text, contains_string("Platform"))
    assert_that(text, contains_string(given.project_id))
    assert_that(seq_of(text), equal_to((given.seq, given.epoch)))


async def test_given_a_project_when_calling_project_context_then_it_names_its_items_by_number(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token()) as session:
        text = await call(session, "project_context", project_id=given.project_id)

    for key, title in (("PM-1", "Checkout"), ("PM-2", "Pay by card"), ("PM-3", "Card form")):
        assert_that(text, matches_regexp(rf"{key}\b[^\n]*{title}"))  # on one line
    assert_that(seq_of(text), equal_to((given.seq, given.epoch)))


async def test_given_a_viewer_when_calling_work_item_by_number_or_by_id_then_both_answer_it(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)
    viewer = server.token(user="vera", roles=["viewer"])

    async with mcp_session(server, viewer) as session:
        by_number = await call(session, "work_item", ref="PM-2", project_id=given.project_id)
        by_id = await call(session, "work_item", ref=given.story_id)

    assert_that(by_number, starts_with("# PM-2: Pay by card"))
    assert_that(by_number, contains_string("PM-3"))  # its child
    assert_that(by_number, contains_string("Visa first"))  # its comment
    assert_that(by_id, equal_to(by_number))
    assert_that(seq_of(by_id), equal_to((given.seq, given.epoch)))


async def test_given_items_when_searching_then_the_matching_item_is_named_by_number(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token()) as session:
        anywhere = await call(session, "search", q="card")
        in_project = await call(session, "search", q="amex", project_id=given.project_id)

    assert_that(anywhere, contains_string("PM-2"))
    assert_that(anywhere, contains_string("PM-3"))
    assert_that(in_project, contains_string("PM-2"))
    assert_that(seq_of(in_project), equal_to((given.seq, given.epoch)))


async def test_given_changes_when_asking_since_0_and_since_the_answer_then_only_the_first_has_them(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token()) as session:
        everything = await call(session, "changes", project_id=given.project_id, since_seq=0)
        seq, _ = seq_of(everything)
        nothing = await call(session, "changes", project_id=given.project_id, since_seq=seq)

    for key in ("PM-1", "PM-2", "PM-3"):
        assert_that(everything, contains_string(key))
    assert_that(seq, equal_to(given.seq))
    assert_that(nothing, lacks("PM-1"))
    assert_that(seq_of(nothing), equal_to((given.seq, given.epoch)))


async def test_given_changes_when_asking_without_since_seq_then_it_starts_from_0(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token()) as session:
        everything = await call(session, "changes", project_id=given.project_id)
        explicit = await call(session, "changes", project_id=given.project_id, since_seq=0)

    assert_that(everything, equal_to(explicit))
    assert_that(everything, contains_string("PM-3"))


async def test_given_another_tenants_project_when_an_agent_asks_for_it_then_it_is_not_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)
    mallory = server.token(tenant="globex", user="mallory")

    async with mcp_session(server, mallory) as session:
        context = await fail(session, "project_context", project_id=given.project_id)
        item = await fail(session, "work_item", ref=given.story_id)
        numbered = await fail(session, "work_item", ref="PM-2", project_id=given.project_id)
        changes = await fail(session, "changes", project_id=given.project_id, since_seq=0)
        found = await call(session, "search", q="card")
        projects = await call(session, "projects")

    for text in (context, item, numbered, changes):
        assert_that(text, starts_with("NOT_FOUND: "))
    assert_that(found, lacks("PM-2"))
    assert_that(projects, lacks(given.project_id))


async def test_given_bad_arguments_when_calling_then_each_is_an_error_result_with_its_code(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token()) as session:
        negative = await fail(session, "changes", project_id=given.project_id, since_seq=-1)
        huge = await fail(session, "changes", project_id=given.project_id, since_seq=2**70)
        blank = await fail(session, "search", q="  ")
        cursor = await fail(session, "search", q="card", cursor="forged")
        missing = await fail(session, "project_context")
        unknown = await fail(session, "projects", extra=1)
        no_tool = await fail(session, "delete_everything")

    assert_that(negative, starts_with("INVALID_ARGUMENT: "))
    assert_that(huge, starts_with("INVALID_ARGUMENT: "))
    assert_that(blank, starts_with("INVALID_ARGUMENT: "))
    assert_that(cursor, starts_with("INVALID_ARGUMENT: "))
    for text in (missing, unknown):  # the SDK checks the schema
        assert_that(text, contains_string("validation error"))
    assert_that(no_tool, starts_with("NOT_FOUND: "))


async def post_initialize(server: RunningServer, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        return await client.post(
            f"{server.http_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers}
        )


async def test_given_no_token_or_a_bad_one_when_posting_to_mcp_then_it_is_401_with_bearer(
    server: RunningServer,
) -> None:
    expired = server.token(ttl=-60)
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Basic {server.token()}"},
        {"Authorization": f"Bearer {expired}"},
    ):
        response = await post_initialize(server, headers)

        assert_that(response.status_code, equal_to(401))
        assert_that(response.headers.get("www-authenticate"), equal_to("Bearer"))
        assert_that(response.json(), has_entries(code="UNAUTHENTICATED"))


async def test_given_a_token_when_posting_initialize_then_the_sdk_answers_json(
    server: RunningServer,
) -> None:
    response = await post_initialize(server, {"Authorization": f"Bearer {server.token()}"})

    assert_that(response.status_code, equal_to(200))
    assert_that(response.headers["content-type"], starts_with("application/json"))
    assert_that(
        response.json()["result"]["serverInfo"], has_entries(name="pm-server", version=is_not(""))
    )


async def test_given_a_trailing_slash_when_an_agent_connects_to_mcp_slash_then_no_redirect(
    server: RunningServer, connect: ClientFactory
) -> None:
    given = await setup(server, connect)

    async with mcp_session(server, server.token(), path="/mcp/") as session:
        text = await call(session, "work_item", ref="PM-1", project_id=given.project_id)

    assert_that(text, starts_with("# PM-1: Checkout"))


async def test_given_a_token_when_getting_or_deleting_mcp_then_405_as_it_is_stateless(
    server: RunningServer,
) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {server.token()}"}
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as client:
        get = await client.get("/mcp", headers=headers)
        delete = await client.delete("/mcp/", headers=headers)
        anonymous = await client.get("/mcp")

    for response in (get, delete):
        assert_that(response.status_code, equal_to(405))
        assert_that(response.headers.get("allow"), equal_to("POST"))
    assert_that(anonymous.status_code, equal_to(401))
