"""The list_users query on a tenant database: pages stop early to fit one frame."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, equal_to, greater_than, is_not, less_than_or_equal_to

from pm.v1 import users_pb2 as msg
from server.commands import ReadContext
from server.handlers.users import list_users
from server.paging import Paging
from tenants import users
from tests.helpers_foundation import principal
from tests.tenant_state import memory_tenant

T0 = 1_767_225_600_000
BUDGET = 4_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = memory_tenant()
    for n in range(20):
        users.remember(db, f"user-{n:02d}", "n" * 200, "e" * 300, T0)
    yield db
    db.close()


def listed(conn: sqlite3.Connection, command: msg.ListUsers) -> msg.ListUsersResult:
    result = list_users(ReadContext(conn, principal(), T0, Paging(b"k" * 32, BUDGET)), command)
    assert isinstance(result, msg.ListUsersResult)
    return result


def test_given_users_larger_than_a_frame_when_listing_then_pages_fit_and_hold_everyone(
    conn: sqlite3.Connection,
) -> None:
    seen: list[str] = []
    sizes: list[int] = []
    token = ""

    while True:
        page = listed(conn, msg.ListUsers(page_size=500, page_token=token))
        seen.extend(user.id for user in page.users)
        sizes.append(page.ByteSize())
        token = page.next_page_token
        if not token:
            break

    assert_that(seen, equal_to([f"user-{n:02d}" for n in range(20)]))
    assert_that(len(sizes), greater_than(1))
    assert_that(max(sizes), less_than_or_equal_to(BUDGET + 1024))


def test_given_a_first_page_when_cut_by_the_frame_then_it_has_a_token(
    conn: sqlite3.Connection,
) -> None:
    page = listed(conn, msg.ListUsers(page_size=500))

    assert_that(len(page.users), less_than_or_equal_to(BUDGET // 500))
    assert_that(page.next_page_token, is_not(equal_to("")))
