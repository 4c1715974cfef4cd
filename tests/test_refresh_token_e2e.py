"""RefreshToken over real sockets: a session outlives its first token; bad refreshes change
nothing; roles follow the newest token."""

from __future__ import annotations

import time
from pathlib import Path

from hamcrest import assert_that, close_to, contains_exactly, equal_to

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import session_pb2
from pm.v1 import users_pb2 as users_msg
from server.protocol import CloseCode
from server.tokens import mint_token
from tests.boards import create_project
from tests.helpers_foundation import close_code
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client

ERR = env.ErrorCode


async def _refresh(client: WsClient, token: str) -> env.Response:
    return await client.request("refresh_token", session_pb2.RefreshToken(token=token))


async def _pong(client: WsClient) -> str:
    request_id = await client.send("ping", session_pb2.Ping())
    while True:
        message = await client.receive()
        if message.WhichOneof("payload") == "pong" and message.pong.request_id == request_id:
            return request_id


def _short_lived(tmp_path: Path) -> object:
    # No leeway, and the heartbeat looks at the expiry every 50 ms.
    return make_config(
        tmp_path, jwt_leeway_seconds=0, heartbeat_interval_ms=50, heartbeat_timeout_ms=60_000
    )


async def test_given_a_refreshed_connection_when_its_first_token_expires_then_it_stays_open(
    tmp_path: Path,
) -> None:
    async with run_server(_short_lived(tmp_path)) as running:  # type: ignore[arg-type]
        first_expiry = int(time.time()) + 2
        client = await open_client(running.ws_url, running.token(ttl=2))
        try:
            answer = await _refresh(client, running.token(ttl=3600))

            # Ping barriers until the first token is well past its end (no sleep).
            while time.time() < first_expiry + 1:
                await _pong(client)
            still_open = await _pong(client)

            assert_that(answer.HasField("error"), equal_to(False))
            assert_that(answer.refresh_token.expires_at_ms / 1000, close_to(time.time() + 3600, 10))
            assert_that(still_open.startswith("req-"), equal_to(True))
            assert_that(client.ws.close_code, equal_to(None))
        finally:
            await client.close()


def _bad_tokens(running: RunningServer, secret: str) -> dict[str, tuple[str, int, str]]:
    """name -> (token, the code it must get, the field at fault)."""
    current = running.config.jwt_secret
    return {
        "wrong signature": (
            mint_token("another-secret-0123456789-0123456789", tenant_id="acme", user_id="alice"),
            ERR.ERROR_CODE_UNAUTHENTICATED,
            "",
        ),
        "expired": (running.token(ttl=-60), ERR.ERROR_CODE_UNAUTHENTICATED, ""),
        "malformed": ("not.a-token", ERR.ERROR_CODE_UNAUTHENTICATED, ""),
        "empty": ("", ERR.ERROR_CODE_UNAUTHENTICATED, ""),
        "exp as a string": (
            mint_token(current, tenant_id="acme", user_id="alice", extra={"exp": "9999999999"}),
            ERR.ERROR_CODE_UNAUTHENTICATED,
            "",
        ),
        "roles as a string": (
            mint_token(current, tenant_id="acme", user_id="alice", extra={"roles": "admin"}),
            ERR.ERROR_CODE_UNAUTHENTICATED,
            "",
        ),
        "another user": (
            running.token(user="mallory", roles=["admin"]),
            ERR.ERROR_CODE_PERMISSION_DENIED,
            "",
        ),
        "another tenant": (
            running.token(tenant="globex", roles=["admin"]),
            ERR.ERROR_CODE_PERMISSION_DENIED,
            "",
        ),
        "not later": (
            running.token(ttl=1, roles=["admin"]),
            ERR.ERROR_CODE_INVALID_ARGUMENT,
            "token",
        ),
    }


async def test_given_bad_refreshes_when_sent_then_each_refused_and_the_token_still_expires(
    tmp_path: Path,
) -> None:
    async with run_server(_short_lived(tmp_path)) as running:  # type: ignore[arg-type]
        owner = await open_client(running.ws_url, running.token(user="owner"))
        client = await open_client(running.ws_url, running.token(ttl=3, roles=["member"]))
        try:
            project_id = await create_project(owner, "PM")
            project = await owner.ok("get_project", projects_msg.GetProject(project_id=project_id))
            await owner.close()  # unread Pings every 50 ms would stall its close handshake
            bad = _bad_tokens(running, running.config.jwt_secret)

            answers = {name: await _refresh(client, token) for name, (token, _, _) in bad.items()}
            # None of them granted admin: deleting a project still needs it.
            denied = await client.error(
                "delete_project",
                projects_msg.DeleteProject(
                    project_id=project_id, expected_version=project.project.version
                ),
            )
            code, _ = await close_code(client.ws, limit=10)

            assert_that(
                [(n, a.error.code, a.error.field) for n, a in answers.items()],
                contains_exactly(*[(n, c, f) for n, (_, c, f) in bad.items()]),
            )
            assert_that(denied.code, equal_to(ERR.ERROR_CODE_PERMISSION_DENIED))
            assert_that(code, equal_to(CloseCode.TOKEN_EXPIRED))
        finally:
            await owner.close()
            await client.close()


async def test_given_a_viewer_when_it_refreshes_with_a_member_token_then_the_next_command_may_write(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        client = await open_client(running.ws_url, running.token(roles=["viewer"], ttl=600))
        try:
            before = await client.error(
                "create_project", projects_msg.CreateProject(key="PM", name="P")
            )
            answer = await _refresh(client, running.token(roles=["member"], ttl=1200))
            after = await client.ok(
                "create_project", projects_msg.CreateProject(key="PM", name="P")
            )

            assert_that(before.code, equal_to(ERR.ERROR_CODE_PERMISSION_DENIED))
            assert_that(list(answer.refresh_token.roles), equal_to(["viewer", "member"]))
            assert_that(after.project.key, equal_to("PM"))
        finally:
            await client.close()


async def test_given_a_refresh_with_a_new_name_when_listing_users_then_the_new_name_shows(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        secret = running.config.jwt_secret
        first = mint_token(secret, tenant_id="acme", user_id="alice", extra={"name": "Alice"})
        renamed = mint_token(
            secret,
            tenant_id="acme",
            user_id="alice",
            ttl_seconds=7200,
            extra={"name": "Alice Liddell"},
        )
        client = await open_client(running.ws_url, first)
        try:
            before = await client.ok("list_users", users_msg.ListUsers(user_ids=["alice"]))
            await client.ok("refresh_token", session_pb2.RefreshToken(token=renamed))
            after = await client.ok("list_users", users_msg.ListUsers(user_ids=["alice"]))

            assert_that([u.name for u in before.users], equal_to(["Alice"]))
            assert_that([u.name for u in after.users], equal_to(["Alice Liddell"]))
        finally:
            await client.close()
