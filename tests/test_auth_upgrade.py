"""Authentication at the WebSocket upgrade, end to end against uvicorn.

Every refusal is an HTTP status before accept, and nothing is opened or written: no tenant
file appears under the data directory.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import jwt
import pytest
from hamcrest import assert_that, contains_inanyorder, empty, equal_to, has_item, is_not
from jwt.warnings import InsecureKeyLengthWarning
from websockets.asyncio.client import ClientConnection, connect

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from server import __version__ as SERVER_VERSION
from server.tokens import mint_token
from tests.helpers_foundation import (
    bearer,
    claims,
    create_project,
    parse_server,
    refused_status,
    tenant_files,
    unsigned_token,
)
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import TIMEOUT, WsClient, open_client

ORIGIN = "https://app.example.com"


def _signed(server: RunningServer, payload: dict[str, object]) -> str:
    return jwt.encode(payload, server.config.jwt_secret, algorithm="HS256")


def _without(payload: dict[str, object], name: str) -> dict[str, object]:
    return {k: v for k, v in payload.items() if k != name}


def _bad_tokens(server: RunningServer) -> dict[str, str]:
    return {
        "wrong signature": mint_token(
            "another-secret-0123456789-0123456789-xyz", tenant_id="acme", user_id="alice"
        ),
        "expired beyond the leeway": server.token(ttl=-120),
        "alg none": unsigned_token(claims()),
        "no tenant_id": _signed(server, _without(claims(), "tenant_id")),
        "tenant id with a path": _signed(server, claims(tenant="../x")),
        "upper-case tenant id": _signed(server, claims(tenant="UPPER")),
        "tenant id with a newline": _signed(server, claims(tenant="acme\n")),
        "no sub": _signed(server, _without(claims(), "sub")),
        "empty sub": _signed(server, {**claims(), "sub": ""}),
        "no exp": _signed(server, _without(claims(), "exp")),
        "not a JWT": "not-a-jwt",
        "signed with HS512 (not allowed)": _hs512(server),
        "roles as a string": _signed(server, {**claims(), "roles": "admin"}),
        "roles holding a number": _signed(server, {**claims(), "roles": ["admin", 3]}),
        "exp as a string": _signed(server, {**claims(), "exp": "9999999999"}),
        "exp as true": _signed(server, {**claims(), "exp": True}),
        "nbf as a string": _signed(server, {**claims(), "nbf": "0"}),
        "iat as a list": _signed(server, {**claims(), "iat": [1]}),
        "sub as a number": _signed(server, {**claims(), "sub": 42}),
    }


def _hs512(server: RunningServer) -> str:
    # The test secret is short for HS512; only the server's refusal matters here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims(), server.config.jwt_secret, algorithm="HS512")


BAD_TOKEN_CASES = [
    "wrong signature",
    "expired beyond the leeway",
    "alg none",
    "no tenant_id",
    "tenant id with a path",
    "upper-case tenant id",
    "tenant id with a newline",
    "no sub",
    "empty sub",
    "no exp",
    "not a JWT",
    "signed with HS512 (not allowed)",
    "roles as a string",
    "roles holding a number",
    "exp as a string",
    "exp as true",
    "nbf as a string",
    "iat as a list",
    "sub as a number",
]


async def test_given_no_token_when_upgrading_then_401_and_no_tenant_file(
    server: RunningServer,
) -> None:
    status = await refused_status(server.ws_url)

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
async def test_given_a_bad_token_when_upgrading_then_401_and_no_tenant_file(
    server: RunningServer, case: str
) -> None:
    token = _bad_tokens(server)[case]

    status = await refused_status(server.ws_url, additional_headers=bearer(token))

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())
    assert_that((server.config.data_dir / "x.sqlite3").exists(), equal_to(False))


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
async def test_given_a_bad_token_in_the_subprotocol_when_upgrading_then_401(
    server: RunningServer, case: str
) -> None:
    token = _bad_tokens(server)[case]

    status = await refused_status(server.ws_url, subprotocols=["pm.v1", f"bearer.{token}"])

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


async def test_given_a_valid_token_in_the_query_string_when_upgrading_then_401(
    server: RunningServer,
) -> None:
    status = await refused_status(f"{server.ws_url}?token={server.token()}")

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


async def test_given_a_query_token_beside_a_valid_header_when_upgrading_then_401(
    server: RunningServer,
) -> None:
    status = await refused_status(
        f"{server.ws_url}?access_token={server.token()}",
        additional_headers=bearer(server.token()),
    )

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


@pytest.mark.parametrize(
    "query",
    ["auth_token={jwt}", "id_token={jwt}", "x={jwt}", "{jwt}", "state=1&session={jwt}"],
)
async def test_given_a_jwt_shaped_query_value_beside_a_valid_header_when_upgrading_then_401(
    server: RunningServer, query: str
) -> None:
    token = server.token()

    status = await refused_status(
        f"{server.ws_url}?{query.format(jwt=token)}", additional_headers=bearer(token)
    )

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


async def test_given_a_harmless_query_string_beside_a_valid_header_when_upgrading_then_accepted(
    server: RunningServer,
) -> None:
    client = await open_client(f"{server.ws_url}?client=board&v=1.2.3", server.token())
    await client.close()

    assert_that(client.welcome.user_id, equal_to("alice"))


async def test_given_a_token_without_roles_when_connecting_then_member(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, _signed(server, claims()))
    await client.close()

    assert_that(list(client.welcome.roles), equal_to(["viewer", "member"]))


async def test_given_a_non_bearer_authorization_when_upgrading_then_401(
    server: RunningServer,
) -> None:
    status = await refused_status(
        server.ws_url, additional_headers={"Authorization": f"Basic {server.token()}"}
    )

    assert_that(status, equal_to(401))


async def test_given_a_bearer_subprotocol_without_pm_v1_when_upgrading_then_401(
    server: RunningServer,
) -> None:
    status = await refused_status(server.ws_url, subprotocols=[f"bearer.{server.token()}"])

    assert_that(status, equal_to(401))
    assert_that(tenant_files(server.config.data_dir), empty())


async def test_given_a_token_expired_within_the_leeway_when_upgrading_then_it_is_usable(
    server: RunningServer,
) -> None:
    # The default leeway is 30 s: a token 5 s past exp still opens a working session.
    client = await open_client(server.ws_url, server.token(ttl=-5))
    try:
        pong = await _ping(client, "within-leeway")
        assert_that(pong.pong.request_id, equal_to("within-leeway"))
    finally:
        await client.close()


async def test_given_an_origin_not_allowed_when_upgrading_then_403_and_no_tenant_file(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, allowed_origins=(ORIGIN,))) as running:
        status = await refused_status(
            running.ws_url,
            additional_headers=bearer(running.token()),
            origin="https://evil.example.com",
        )

        assert_that(status, equal_to(403))
        assert_that(tenant_files(tmp_path), empty())


async def test_given_an_allowed_origin_when_upgrading_then_accepted(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, allowed_origins=(ORIGIN,))) as running:
        client = await open_client(running.ws_url, running.token(), origin=ORIGIN)
        try:
            assert_that(client.welcome.tenant_id, equal_to("acme"))
        finally:
            await client.close()


async def test_given_allowed_origins_when_a_native_client_sends_no_origin_then_accepted(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, allowed_origins=(ORIGIN,))) as running:
        client = await open_client(running.ws_url, running.token())
        try:
            assert_that(client.welcome.user_id, equal_to("alice"))
        finally:
            await client.close()


async def test_given_a_browser_subprotocol_token_when_upgrading_then_pm_v1_is_selected(
    server: RunningServer,
) -> None:
    ws = await connect(
        server.ws_url,
        subprotocols=["pm.v1", f"bearer.{server.token()}"],  # type: ignore[list-item]
        compression=None,
        open_timeout=TIMEOUT,
    )
    try:
        first = parse_server(await _recv(ws))

        assert_that(ws.subprotocol, equal_to("pm.v1"))
        assert_that(first.WhichOneof("payload"), equal_to("welcome"))
        assert_that(first.welcome.user_id, equal_to("alice"))
    finally:
        await ws.close()


async def test_given_a_valid_token_when_connecting_then_welcome_comes_first_with_the_session(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token(user="bob"))
    try:
        welcome = client.welcome

        assert_that(welcome.session_id, is_not(equal_to("")))
        assert_that(welcome.user_id, equal_to("bob"))
        assert_that(welcome.tenant_id, equal_to("acme"))
        assert_that(welcome.roles, contains_inanyorder("viewer", "member"))
        assert_that(welcome.server_version, equal_to(SERVER_VERSION))
        assert_that(welcome.heartbeat_interval_ms, equal_to(server.config.heartbeat_interval_ms))
        assert_that(welcome.heartbeat_timeout_ms, equal_to(server.config.heartbeat_timeout_ms))
        assert_that(welcome.current_seq, equal_to(0))
    finally:
        await client.close()


async def test_given_an_admin_token_when_connecting_then_roles_include_admin(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token(roles=["admin"]))
    try:
        assert_that(client.welcome.roles, has_item("admin"))
    finally:
        await client.close()


async def test_given_unknown_roles_only_when_connecting_then_member(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token(roles=["owner", "root"]))
    try:
        assert_that(client.welcome.roles, contains_inanyorder("viewer", "member"))
    finally:
        await client.close()


async def test_given_committed_events_when_connecting_then_welcome_carries_current_seq(
    server: RunningServer,
) -> None:
    first = await open_client(server.ws_url, server.token())
    try:
        await create_project(first, "AB")
        await create_project(first, "CD")
        second = await open_client(server.ws_url, server.token(user="bob"))
        try:
            assert_that(second.welcome.current_seq, equal_to(2))
        finally:
            await second.close()
    finally:
        await first.close()


async def test_given_two_sessions_when_connecting_then_their_session_ids_differ(
    server: RunningServer,
) -> None:
    one = await open_client(server.ws_url, server.token())
    two = await open_client(server.ws_url, server.token())
    try:
        assert_that(one.welcome.session_id, is_not(equal_to(two.welcome.session_id)))
    finally:
        await one.close()
        await two.close()


async def _recv(ws: ClientConnection) -> bytes:
    async with asyncio.timeout(TIMEOUT):
        frame = await ws.recv()
    assert isinstance(frame, bytes)
    return frame


async def _ping(client: WsClient, request_id: str) -> env.ServerMessage:
    await client.send("ping", session_pb2.Ping(), request_id)
    while True:
        message = await client.receive()
        if message.WhichOneof("payload") == "pong":
            return message
