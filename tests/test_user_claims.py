"""The optional `name` and `email` claims: kept on the Principal, refused (401 at the
upgrade, Unauthenticated from TokenVerifier.verify) when wrongly typed, too long or holding
control characters, like `roles`."""

from __future__ import annotations

import json

import jwt
import pytest
from hamcrest import assert_that, contains_string, empty, equal_to
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.auth import Principal, Role, TokenVerifier
from server.config import Config
from tenants.errors import Unauthenticated
from tests.helpers_foundation import bearer, claims, tenant_files
from tests.server_fixture import RunningServer
from tests.wire import TIMEOUT

CONFIG = Config()


def token(**profile: object) -> str:
    return jwt.encode({**claims(), **profile}, CONFIG.jwt_secret, algorithm="HS256")


def verify(**profile: object) -> Principal:
    return TokenVerifier(CONFIG).verify(token(**profile))


# Each refused case: its claims, and what the refusal's message says.
REFUSED: dict[str, tuple[dict[str, object], str]] = {
    "name as a number": ({"name": 42}, "token claim name must be a string"),
    "name as null": ({"name": None}, "token claim name must be a string"),
    "name as a list": ({"name": ["Alice"]}, "token claim name must be a string"),
    "email as an object": ({"email": {"a": 1}}, "token claim email must be a string"),
    "email as true": ({"email": True}, "token claim email must be a string"),
    "name of 201 characters": ({"name": "n" * 201}, "name is longer than 200 characters"),
    "email of 321 characters": (
        {"email": "e" * 309 + "@example.com"},
        "email is longer than 320 characters",
    ),
    "name with a newline": ({"name": "Alice\nAdmin"}, "name must not contain control characters"),
    "name with NUL": ({"name": "Ali\x00ce"}, "name must not contain control characters"),
    "name with a C1 control": ({"name": "Ali\x9bce"}, "name must not contain control characters"),
    "email with a tab": ({"email": "a\t@example.com"}, "email must not contain control"),
    "email with DEL": ({"email": "a\x7f@example.com"}, "email must not contain control"),
}


def test_given_name_and_email_claims_when_verified_then_the_principal_carries_them() -> None:
    principal = verify(name="Alice Liddell", email="alice@example.com", roles=["viewer"])

    assert_that(
        (principal.user_id, principal.role, principal.name, principal.email),
        equal_to(("alice", Role.VIEWER, "Alice Liddell", "alice@example.com")),
    )


def test_given_no_profile_claims_when_verified_then_name_and_email_are_empty() -> None:
    principal = verify()

    assert_that((principal.name, principal.email), equal_to(("", "")))


def test_given_blanks_around_a_name_when_verified_then_they_are_dropped() -> None:
    principal = verify(name="  Alice  ", email=" alice@example.com ")

    assert_that((principal.name, principal.email), equal_to(("Alice", "alice@example.com")))


def test_given_the_longest_allowed_claims_when_verified_then_kept_whole() -> None:
    name, email = "é" * 200, "e" * 308 + "@example.com"

    principal = verify(name=name, email=email)

    assert_that((principal.name, principal.email), equal_to((name, email)))


@pytest.mark.parametrize("case", REFUSED)
def test_given_a_bad_profile_claim_when_verified_then_unauthenticated(case: str) -> None:
    profile, message = REFUSED[case]

    with pytest.raises(Unauthenticated) as refused:
        verify(**profile)

    assert_that(refused.value.message, contains_string(message))


async def _refusal(server: RunningServer, signed: str) -> tuple[int, dict[str, object]]:
    try:
        ws = await connect(
            server.ws_url, additional_headers=bearer(signed), compression=None, open_timeout=TIMEOUT
        )
    except InvalidStatus as refused:
        body = json.loads(refused.response.body or b"{}")
        return refused.response.status_code, body
    await ws.close()
    raise AssertionError("the upgrade was accepted")


@pytest.mark.parametrize("case", REFUSED)
async def test_given_a_bad_profile_claim_when_upgrading_then_401_with_the_reason_and_no_file(
    server: RunningServer, case: str
) -> None:
    profile, message = REFUSED[case]
    signed = jwt.encode({**claims(), **profile}, server.config.jwt_secret, algorithm="HS256")

    status, body = await _refusal(server, signed)

    assert_that(status, equal_to(401))
    assert_that(str(body.get("message")), contains_string(message))
    assert_that(tenant_files(server.config.data_dir), empty())
