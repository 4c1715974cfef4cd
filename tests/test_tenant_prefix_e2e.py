"""Every route under /t/{tenant} too: the token's tenant there behaves as the unprefixed
route; another tenant is a 401 at the WebSocket upgrade and a 404 over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
    has_key,
)

from tests.boards import TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.helpers_foundation import bearer, refused_status, tenant_files
from tests.server_fixture import RunningServer
from tests.test_mcp import INITIALIZE, MCP_HEADERS, call, mcp_session
from tests.wire import WsClient, open_client

TIMEOUT = 10.0

PrefixedFactory = Callable[..., Awaitable[WsClient]]


def ws_url(server: RunningServer, tenant: str) -> str:
    return f"ws://127.0.0.1:{server.port}/t/{tenant}/ws"


async def http_get(server: RunningServer, path: str, token: str | None) -> httpx.Response:
    """GET `path` as written (prefix included), with a bearer token unless None."""
    headers = bearer(token) if token is not None else {}
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as client:
        return await client.get(path, headers=headers)


async def post_initialize(server: RunningServer, path: str, token: str | None) -> httpx.Response:
    headers = {**MCP_HEADERS, **(bearer(token) if token is not None else {})}
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as client:
        return await client.post(path, json=INITIALIZE, headers=headers)


@pytest.fixture
async def connect_prefixed(server: RunningServer) -> AsyncIterator[PrefixedFactory]:
    """connect_prefixed(path_tenant, tenant=, user=, roles=): a client on /t/<path_tenant>/ws
    with a token of `tenant` (acme by default); all close at the end."""
    opened: list[WsClient] = []

    async def factory(
        path_tenant: str = "acme",
        tenant: str = "acme",
        user: str = "alice",
        roles: list[str] | None = None,
    ) -> WsClient:
        client = await open_client(ws_url(server, path_tenant), server.token(tenant, user, roles))
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.close()


# --- the WebSocket ------------------------------------------------------------------------------


async def test_given_the_tokens_tenant_in_the_path_when_subscribing_then_events_arrive(
    connect_prefixed: PrefixedFactory,
) -> None:
    alice = await connect_prefixed("acme")
    watcher = await connect_prefixed("acme", user="wendy", roles=["viewer"])
    await watcher.subscribe(tenant_feed=True)

    project_id = await create_project(alice, "PM")
    event = await watcher.event()

    assert_that(alice.welcome.tenant_id, equal_to("acme"))
    assert_that(event.WhichOneof("change"), equal_to("project_created"))
    assert_that(list(event.project_ids), contains_exactly(project_id))
    assert_that(event.actor_id, equal_to("alice"))


async def test_given_a_prefixed_and_an_unprefixed_client_when_one_creates_then_the_other_sees_it(
    connect_prefixed: PrefixedFactory, connect: ClientFactory
) -> None:
    alice = await connect_prefixed("acme")
    project_id = await create_project(alice, "PM")
    watcher = await connect(user="wendy", roles=["viewer"])
    await watcher.subscribe(project_id)

    item = await create_item(alice, project_id, TASK, title="Routed")
    event = await watcher.event()

    assert_that(event.WhichOneof("change"), equal_to("work_item_created"))
    assert_that(event.work_item_created.work_item, equal_to(item))


async def test_given_another_tenant_in_the_path_when_upgrading_then_401_and_nothing_is_opened(
    server: RunningServer,
) -> None:
    token = server.token("acme")

    by_header = await refused_status(ws_url(server, "other"), additional_headers=bearer(token))
    by_subprotocol = await refused_status(
        ws_url(server, "other"), subprotocols=["pm.v1", f"bearer.{token}"]
    )

    assert_that(by_header, equal_to(401))
    assert_that(by_subprotocol, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


async def test_given_no_token_when_upgrading_under_the_prefix_then_401(
    server: RunningServer,
) -> None:
    status = await refused_status(ws_url(server, "acme"))

    assert_that(status, equal_to(401))


# --- REST ----------------------------------------------------------------------------------------


async def test_given_the_tokens_tenant_in_the_path_when_listing_projects_then_the_same_body(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    await create_project(alice, "PM")
    token = server.token()

    prefixed = await http_get(server, "/t/acme/api/v1/projects", token)
    plain = await http_get(server, "/api/v1/projects", token)

    assert_that(prefixed.status_code, equal_to(200))
    assert_that(prefixed.json(), equal_to(plain.json()))
    assert_that(prefixed.headers["pm-seq"], equal_to(plain.headers["pm-seq"]))
    assert_that(prefixed.headers["etag"], equal_to(plain.headers["etag"]))


@pytest.mark.parametrize("path_tenant", ["globex", "nosuch"])
async def test_given_another_tenant_in_the_path_when_listing_projects_then_404_alike(
    server: RunningServer, connect: ClientFactory, path_tenant: str
) -> None:
    # globex exists (it has a project), nosuch does not: the answers must not tell them apart.
    await create_project(await connect(tenant="globex", user="dora"), "PM")

    response = await http_get(server, f"/t/{path_tenant}/api/v1/projects", server.token("acme"))

    assert_that(response.status_code, equal_to(404))
    assert_that(response.json(), equal_to({"code": "NOT_FOUND", "message": "not found"}))


async def test_given_the_tokens_tenant_in_the_path_when_getting_a_work_item_then_the_same_body(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id, TASK, title="Routed")
    token = server.token()

    by_id = await http_get(server, f"/t/acme/api/v1/work-items/{item.id}", token)
    by_number = await http_get(server, f"/t/acme/api/v1/projects/{project_id}/items/1", token)
    plain = await http_get(server, f"/api/v1/work-items/{item.id}", token)
    markdown = await http_get(server, f"/t/acme/api/v1/work-items/{item.id}?format=markdown", token)
    elsewhere = await http_get(server, f"/t/globex/api/v1/work-items/{item.id}", token)

    assert_that(by_id.status_code, equal_to(200))
    assert_that(by_id.json(), equal_to(plain.json()))
    assert_that(by_number.json(), equal_to(plain.json()))
    assert_that(markdown.text, contains_string("Routed"))
    assert_that(elsewhere.status_code, equal_to(404))
    assert_that(elsewhere.json(), has_entries(code="NOT_FOUND"))


async def test_given_the_prefix_when_fetching_the_openapi_document_then_it_is_the_same(
    server: RunningServer,
) -> None:
    prefixed = await http_get(server, "/t/acme/api/v1/openapi.json", None)
    plain = await http_get(server, "/api/v1/openapi.json", None)

    assert_that(prefixed.status_code, equal_to(200))
    assert_that(prefixed.json(), equal_to(plain.json()))
    assert_that(prefixed.json()["paths"], has_key("/api/v1/projects"))
    assert_that(prefixed.json()["info"]["description"], contains_string("/t/{tenant}"))


async def test_given_no_token_when_getting_under_the_prefix_then_401_with_bearer(
    server: RunningServer,
) -> None:
    for path_tenant in ("acme", "other"):
        response = await http_get(server, f"/t/{path_tenant}/api/v1/projects", None)

        assert_that(response.status_code, equal_to(401))
        assert_that(response.headers.get("www-authenticate"), equal_to("Bearer"))
        assert_that(response.json(), has_entries(code="UNAUTHENTICATED"))


# --- MCP -----------------------------------------------------------------------------------------


async def test_given_the_tokens_tenant_in_the_path_when_an_agent_connects_then_it_lists_tools(
    server: RunningServer, connect: ClientFactory
) -> None:
    await create_project(await connect(), "PM", name="Platform")

    async with mcp_session(server, server.token(), path="/t/acme/mcp") as session:
        listed = await session.list_tools()
    async with mcp_session(server, server.token(), path="/t/acme/mcp/") as session:
        projects = await call(session, "projects")

    assert_that(
        [tool.name for tool in listed.tools],
        contains_exactly("projects", "project_context", "work_item", "search", "changes"),
    )
    assert_that(projects, contains_string("Platform"))


@pytest.mark.parametrize("path", ["/t/other/mcp", "/t/other/mcp/"])
async def test_given_another_tenant_in_the_path_when_posting_to_mcp_then_404(
    server: RunningServer, path: str
) -> None:
    response = await post_initialize(server, path, server.token("acme"))

    assert_that(response.status_code, equal_to(404))
    assert_that(response.json(), equal_to({"code": "NOT_FOUND", "message": "not found"}))


async def test_given_no_token_when_posting_to_mcp_under_the_prefix_then_401_with_bearer(
    server: RunningServer,
) -> None:
    response = await post_initialize(server, "/t/acme/mcp", None)

    assert_that(response.status_code, equal_to(401))
    assert_that(response.headers.get("www-authenticate"), equal_to("Bearer"))
    assert_that(response.json(), has_entries(code="UNAUTHENTICATED"))


# --- health --------------------------------------------------------------------------------------


async def test_given_the_prefix_when_checking_health_then_it_answers_as_healthz(
    server: RunningServer,
) -> None:
    prefixed = await http_get(server, "/t/acme/healthz", None)
    plain = await http_get(server, "/healthz", None)
    body: dict[str, Any] = prefixed.json()

    assert_that(prefixed.status_code, equal_to(200))
    assert_that(body, has_entries(status="ok", broker="none"))
    assert_that(sorted(body), equal_to(sorted(plain.json())))
