"""Dependencies repository on a migrated tenant database, without the server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, equal_to, none

from scripts.bench_cycle_check import make_items
from tenants import dependencies
from tenants.dependencies import BLOCKS, RELATES_TO, DependencyRecord
from tests.tenant_state import memory_tenant


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = memory_tenant()
    yield connection
    connection.close()


def add(conn: sqlite3.Connection, source: str, target: str, type: str = BLOCKS) -> DependencyRecord:
    return dependencies.insert(
        conn,
        dependency_id=str(uuid.uuid4()),
        from_item_id=source,
        to_item_id=target,
        type=type,
        actor_id="alice",
        now_ms=1,
    )


def test_given_a_new_dependency_when_inserted_then_it_reads_back(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)

    created = add(conn, a, b)

    assert_that(dependencies.get(conn, created.id), equal_to(created))
    assert_that(created.version, equal_to(1))
    assert_that(dependencies.find_pair(conn, b, a), equal_to(created))


def test_given_a_pair_with_a_dependency_when_adding_the_reverse_then_the_index_refuses(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)
    add(conn, a, b)

    with pytest.raises(
        sqlite3.IntegrityError, match="UNIQUE constraint failed: index 'dependencies_pair'"
    ):
        add(conn, b, a, RELATES_TO)


def test_given_a_deleted_dependency_when_adding_the_pair_again_then_it_is_allowed(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)
    old = add(conn, a, b)
    dependencies.soft_delete(conn, old.id, actor_id="alice", now_ms=2, batch="req-1")

    new = add(conn, b, a)

    assert_that(dependencies.find_pair(conn, a, b), equal_to(new))


def test_given_a_deleted_dependency_when_reading_then_it_is_hidden_but_kept(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)
    created = add(conn, a, b)

    dependencies.soft_delete(conn, created.id, actor_id="alice", now_ms=2, batch="req-1")

    assert_that(dependencies.get(conn, created.id), none())
    kept = dependencies.get(conn, created.id, include_deleted=True)
    assert kept is not None
    assert_that(kept.deleted_at, equal_to(2))
    assert_that(dependencies.edges_out_of(conn, a, BLOCKS), equal_to([]))
    assert_that(dependencies.is_blocked(conn, b), equal_to(False))


def test_given_a_self_dependency_when_inserting_then_the_check_refuses(
    conn: sqlite3.Connection,
) -> None:
    (a,) = make_items(conn, 1)

    with pytest.raises(
        sqlite3.IntegrityError, match="CHECK constraint failed: from_item_id <> to_item_id"
    ):
        add(conn, a, a)


def test_given_an_unknown_item_when_inserting_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    (a,) = make_items(conn, 1)

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        add(conn, a, str(uuid.uuid4()))


def test_given_an_unknown_type_when_inserting_then_the_check_refuses(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)

    with pytest.raises(
        sqlite3.IntegrityError, match=r"CHECK constraint failed: type IN \('blocks', 'relates_to'\)"
    ):
        add(conn, a, b, "duplicates")


def test_given_edges_around_an_item_when_listing_then_each_kind_comes_apart(
    conn: sqlite3.Connection,
) -> None:
    blocker, item, blocked, related = make_items(conn, 4)
    into = add(conn, blocker, item)
    out = add(conn, item, blocked)
    rel = add(conn, related, item, RELATES_TO)

    assert_that(dependencies.edges_into(conn, item, BLOCKS), contains_exactly(into))
    assert_that(dependencies.edges_out_of(conn, item, BLOCKS), contains_exactly(out))
    assert_that(dependencies.related(conn, item), contains_exactly(rel))


def test_given_a_blocker_when_it_is_done_then_the_item_is_no_longer_blocked(
    conn: sqlite3.Connection,
) -> None:
    blocker, item = make_items(conn, 2)
    add(conn, blocker, item)
    before = dependencies.is_blocked(conn, item)

    conn.execute("UPDATE work_items SET status = 'done' WHERE id = ?", (blocker,))

    assert_that(before, equal_to(True))
    assert_that(dependencies.is_blocked(conn, item), equal_to(False))


def test_given_items_when_asking_their_keys_then_project_key_and_number_name_them(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2, key="WEB")

    assert_that(dependencies.item_keys(conn, [b, a]), equal_to({a: "WEB-1", b: "WEB-2"}))
