"""Users by name, end to end: tokens with name and email claims connect, and ListUsers
shows them (issue 10)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hamcrest import assert_that, empty, equal_to, greater_than_or_equal_to

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import users_pb2 as msg
from server.tokens import mint_token
from tests.server_fixture import RunningServer
from tests.tenant_state import snapshot
from tests.wire import WsClient, open_client

Connect = Callable[..., Awaitable[WsClient]]


@pytest.fixture
async def join(server: RunningServer) -> AsyncIterator[Connect]:
    """join(user, name=, email=, tenant=, roles=) connects with profile claims."""
    opened: list[WsClient] = []

    async def factory(
        user: str,
        *,
        name: str | None = None,
        email: str | None = None,
        tenant: str = "acme",
        roles: list[str] | None = None,
    ) -> WsClient:
        profile: dict[str, object] = {
            claim: value
            for claim, value in {"name": name, "email": email}.items()
            if value is not None
        }
        token = mint_token(
            server.config.jwt_secret, tenant_id=tenant, user_id=user, roles=roles, extra=profile
        )
        client = await open_client(server.ws_url, token)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.close()


def named(found: list[pb.User]) -> list[tuple[str, str, str]]:
    return [(user.id, user.name, user.email) for user in found]


async def list_users(client: WsClient, *user_ids: str) -> list[pb.User]:
    listed = await client.ok("list_users", msg.ListUsers(user_ids=list(user_ids)))
    assert_that(listed.next_page_token, equal_to(""))
    return list(listed.users)


async def test_given_two_named_users_when_a_viewer_lists_users_then_both_with_names(
    join: Connect,
) -> None:
    await join("alice", name="Alice Liddell", email="alice@example.com")
    await join("bob", name="Bob", roles=["admin"])
    viewer = await join("vic", roles=["viewer"])

    found = await list_users(viewer)

    assert_that(
        named(found),
        equal_to(
            [("alice", "Alice Liddell", "alice@example.com"), ("bob", "Bob", ""), ("vic", "", "")]
        ),
    )
    alice = found[0]
    assert_that(alice.updated_at_ms, equal_to(alice.first_seen_at_ms))
    assert_that(alice.first_seen_at_ms, greater_than_or_equal_to(1_700_000_000_000))


async def test_given_a_user_when_reconnecting_with_a_changed_name_then_listed_with_it(
    join: Connect,
) -> None:
    first = await join("alice", name="Alice", email="alice@example.com")
    await first.close()
    before = (await list_users(await join("vic", roles=["viewer"]), "alice"))[0]

    again = await join("alice", name="Alice Liddell", email="alice@example.com")
    after = (await list_users(again, "alice"))[0]

    assert_that(named([after]), equal_to([("alice", "Alice Liddell", "alice@example.com")]))
    assert_that(after.first_seen_at_ms, equal_to(before.first_seen_at_ms))
    assert_that(after.updated_at_ms, greater_than_or_equal_to(before.updated_at_ms))


async def test_given_an_unchanged_user_when_reconnecting_then_nothing_is_written(
    join: Connect, server: RunningServer
) -> None:
    first = await join("alice", name="Alice", email="alice@example.com")
    await first.close()
    before = snapshot(server)

    await join("alice", name="Alice", email="alice@example.com")

    assert_that(snapshot(server), equal_to(before))


async def test_given_a_new_user_when_connecting_then_no_event_reaches_the_tenant_feed(
    join: Connect,
) -> None:
    watcher = await join("vic", roles=["viewer"])
    await watcher.subscribe(tenant_feed=True)

    await join("alice", name="Alice")

    assert_that(await watcher.events_until_quiet(), empty())
    assert_that(named(await list_users(watcher, "alice")), equal_to([("alice", "Alice", "")]))


async def test_given_five_users_when_listing_by_pages_then_id_order_each_once(
    join: Connect,
) -> None:
    for user in ["erin", "bob", "dora", "alice", "carol"]:
        await join(user, name=user.title())
    viewer = await join("alice", name="Alice", roles=["viewer"])
    seen: list[str] = []
    token = ""

    for _ in range(3):
        page = await viewer.ok("list_users", msg.ListUsers(page_size=2, page_token=token))
        seen.extend(user.id for user in page.users)
        token = page.next_page_token

    assert_that(seen, equal_to(["alice", "bob", "carol", "dora", "erin"]))
    assert_that(token, equal_to(""))


async def test_given_user_ids_when_listing_by_pages_then_only_those_and_the_token_keeps_them(
    join: Connect,
) -> None:
    for user in ["alice", "bob", "carol", "dora"]:
        await join(user)
    viewer = await join("vic", roles=["viewer"])
    wanted = ["dora", "nobody", "alice", "carol"]

    first = await viewer.ok("list_users", msg.ListUsers(user_ids=wanted, page_size=2))
    second = await viewer.ok(
        "list_users", msg.ListUsers(user_ids=wanted, page_size=2, page_token=first.next_page_token)
    )
    other_filter = await viewer.error(
        "list_users", msg.ListUsers(user_ids=["bob"], page_token=first.next_page_token)
    )

    assert_that([u.id for u in first.users], equal_to(["alice", "carol"]))
    assert_that([u.id for u in second.users], equal_to(["dora"]))
    assert_that(second.next_page_token, equal_to(""))
    assert_that(
        (other_filter.code, other_filter.field),
        equal_to((env.ERROR_CODE_INVALID_ARGUMENT, "page_token")),
    )


async def test_given_users_of_two_tenants_when_listing_then_each_sees_only_its_own(
    join: Connect,
) -> None:
    await join("alice", name="Alice")
    await join("dora", name="Dora", tenant="globex")
    acme = await join("vic", roles=["viewer"])
    globex = await join("gil", tenant="globex", roles=["viewer"])

    assert_that([u.id for u in await list_users(acme)], equal_to(["alice", "vic"]))
    assert_that([u.id for u in await list_users(globex)], equal_to(["dora", "gil"]))
    assert_that(await list_users(acme, "dora", "gil"), empty())


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (msg.ListUsers(user_ids=[f"u{n}" for n in range(501)]), "user_ids"),
        (msg.ListUsers(user_ids=["alice", ""]), "user_ids"),
        (msg.ListUsers(user_ids=["u" * 201]), "user_ids"),
        (msg.ListUsers(page_size=-1), "page_size"),
        (msg.ListUsers(page_token="%%"), "page_token"),
    ],
    ids=["501-ids", "empty-id", "id-of-201-chars", "negative-size", "bad-token"],
)
async def test_given_a_bad_list_when_sent_then_invalid_argument_on_its_field(
    join: Connect, command: msg.ListUsers, field: str
) -> None:
    viewer = await join("vic", roles=["viewer"])

    error = await viewer.error("list_users", command)

    assert_that((error.code, error.field), equal_to((env.ERROR_CODE_INVALID_ARGUMENT, field)))


async def test_given_500_ids_of_up_to_200_characters_when_listing_then_the_known_one_found(
    join: Connect,
) -> None:
    viewer = await join("vic", roles=["viewer"])
    unknown = [f"{n:03d}".ljust(200, "u") for n in range(499)]

    assert_that([u.id for u in await list_users(viewer, *unknown, "vic")], equal_to(["vic"]))
