"""The harness's `users` subcommand and scripts/token's --name / --email (issue 10)."""

from __future__ import annotations

import asyncio
import sys

from hamcrest import assert_that, equal_to

from server.auth import TokenVerifier
from tests.server_fixture import RunningServer
from tests.test_harness import REPO_ROOT, connection, finish, harness, harness_env


async def mint(server: RunningServer, *options: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.token",
        *options,
        cwd=REPO_ROOT,
        env={**harness_env(), "PM_JWT_SECRET": server.config.jwt_secret},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ran = await finish(process)
    assert_that((ran.returncode, ran.stderr), equal_to((0, "")))
    return ran.stdout.strip()


async def test_given_a_token_minted_with_name_and_email_when_verified_then_both_are_claims(
    server: RunningServer,
) -> None:
    token = await mint(
        server, "--tenant", "acme", "--user", "alice", "--name", "Alice L.", "--email", "a@x.io"
    )

    principal = TokenVerifier(server.config).verify(token)

    assert_that((principal.name, principal.email), equal_to(("Alice L.", "a@x.io")))


async def test_given_a_named_user_when_the_harness_lists_users_then_it_prints_them_as_json(
    server: RunningServer,
) -> None:
    token = await mint(server, "--tenant", "acme", "--user", "alice", "--name", "Alice L.")

    ran = await harness(*connection(server, token), "--json", "users", "--user", "alice")

    assert_that(ran.returncode, equal_to(0))
    listed = ran.json_lines()[0]["users"]
    assert_that([(user["id"], user["name"]) for user in listed], equal_to([("alice", "Alice L.")]))
