"""The users repository against a migrated SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, equal_to, none

from tenants import users
from tenants.users import UserRecord
from tests.tenant_state import memory_tenant

T0 = 1_767_225_600_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = memory_tenant()
    yield db
    db.close()


def ids(found: list[UserRecord]) -> list[str]:
    return [user.id for user in found]


def test_given_a_new_user_when_remembered_then_inserted_with_both_times_now(
    conn: sqlite3.Connection,
) -> None:
    changed = users.remember(conn, "alice", "Alice", "alice@example.com", T0)

    assert_that(changed, equal_to(True))
    assert_that(
        users.get(conn, "alice"),
        equal_to(UserRecord("alice", "Alice", "alice@example.com", T0, T0)),
    )


def test_given_a_known_user_when_remembered_unchanged_then_false_and_the_row_kept(
    conn: sqlite3.Connection,
) -> None:
    users.remember(conn, "alice", "Alice", "alice@example.com", T0)
    before = conn.total_changes

    changed = users.remember(conn, "alice", "Alice", "alice@example.com", T0 + 5)

    assert_that(changed, equal_to(False))
    assert_that(conn.total_changes, equal_to(before))
    assert_that(
        users.get(conn, "alice"),
        equal_to(UserRecord("alice", "Alice", "alice@example.com", T0, T0)),
    )


@pytest.mark.parametrize(
    ("name", "email"),
    [("Alice L.", "alice@example.com"), ("Alice", "al@example.org"), ("", "")],
    ids=["name", "email", "both-cleared"],
)
def test_given_a_known_user_when_remembered_changed_then_updated_and_first_seen_kept(
    conn: sqlite3.Connection, name: str, email: str
) -> None:
    users.remember(conn, "alice", "Alice", "alice@example.com", T0)

    changed = users.remember(conn, "alice", name, email, T0 + 5)

    assert_that(changed, equal_to(True))
    assert_that(users.get(conn, "alice"), equal_to(UserRecord("alice", name, email, T0, T0 + 5)))


def test_given_an_unknown_id_when_read_then_none(conn: sqlite3.Connection) -> None:
    assert_that(users.get(conn, "nobody"), none())


def test_given_users_when_listing_by_pages_then_id_order_each_once(
    conn: sqlite3.Connection,
) -> None:
    for user_id in ["dora", "alice", "carol", "bob", "erin"]:
        users.remember(conn, user_id, user_id.title(), "", T0)
    seen: list[str] = []
    after = ""

    for _ in range(3):
        page = users.list_page(conn, user_ids=None, after_id=after, limit=2)
        seen.extend(ids(page))
        after = page[-1].id if page else after

    assert_that(seen, equal_to(["alice", "bob", "carol", "dora", "erin"]))
    assert_that(users.list_page(conn, user_ids=None, after_id=after, limit=2), equal_to([]))


def test_given_an_id_filter_when_listing_then_only_known_ones_in_id_order(
    conn: sqlite3.Connection,
) -> None:
    for user_id in ["alice", "bob", "carol", "dora"]:
        users.remember(conn, user_id, "", "", T0)

    found = users.list_page(
        conn, user_ids=["dora", "nobody", "alice", "carol"], after_id="", limit=10
    )
    after_alice = users.list_page(
        conn, user_ids=["dora", "nobody", "alice", "carol"], after_id="alice", limit=1
    )

    assert_that(ids(found), equal_to(["alice", "carol", "dora"]))
    assert_that(ids(after_alice), equal_to(["carol"]))


def test_given_an_empty_filter_when_listing_then_nobody(conn: sqlite3.Connection) -> None:
    users.remember(conn, "alice", "", "", T0)

    assert_that(users.list_page(conn, user_ids=[], after_id="", limit=10), equal_to([]))
