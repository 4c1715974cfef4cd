"""Time entries repository on a migrated tenant database, without the server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, equal_to, none, not_none

from scripts.bench_cycle_check import make_items
from tenants import rows, time_entries
from tenants.time_entries import TimeEntryRecord
from tests.tenant_state import memory_tenant

HOUR = 3_600_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = memory_tenant()
    yield connection
    connection.close()


def add(
    conn: sqlite3.Connection,
    item_id: str,
    *,
    user: str = "alice",
    started_at: int = HOUR,
    ended_at: int | None = 2 * HOUR,
) -> TimeEntryRecord:
    return time_entries.insert(
        conn,
        entry_id=str(uuid.uuid4()),
        work_item_id=item_id,
        user_id=user,
        started_at=started_at,
        ended_at=ended_at,
        note="",
        now_ms=3 * HOUR,
    )


def test_given_a_finished_entry_when_inserted_then_its_duration_is_derived(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)

    entry = add(conn, item, started_at=HOUR, ended_at=HOUR + 90_500)

    assert_that(entry.duration_seconds, equal_to(90))
    assert_that(entry.running, equal_to(False))
    assert_that(entry.version, equal_to(1))
    assert_that(time_entries.get(conn, entry.id), equal_to(entry))


def test_given_a_running_entry_when_stopped_then_it_ends_and_counts_its_seconds(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    running = add(conn, item, ended_at=None)

    stopped = time_entries.stop(
        conn, running, ended_at=HOUR + 5_000, actor_id="alice", now_ms=HOUR + 5_000
    )

    assert_that(stopped.ended_at, equal_to(HOUR + 5_000))
    assert_that(stopped.duration_seconds, equal_to(5))
    assert_that(stopped.version, equal_to(2))
    assert_that(time_entries.running_for_user(conn, "alice"), none())


def test_given_a_running_timer_when_a_second_one_is_inserted_then_the_index_refuses_it(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    add(conn, item, ended_at=None)

    with pytest.raises(
        sqlite3.IntegrityError, match=r"UNIQUE constraint failed: time_entries\.user_id"
    ):
        add(conn, item, ended_at=None)


def test_given_another_users_running_timer_when_inserting_mine_then_both_run(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    add(conn, item, user="bob", ended_at=None)

    mine = add(conn, item, ended_at=None)

    assert_that(time_entries.running_for_user(conn, "alice"), equal_to(mine))
    assert_that(time_entries.running_for_user(conn, "bob"), not_none())


def test_given_a_deleted_running_timer_when_starting_another_then_it_is_allowed(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    old = add(conn, item, ended_at=None)
    time_entries.soft_delete(conn, old.id, actor_id="alice", now_ms=2 * HOUR, batch="req-1")

    new = add(conn, item, ended_at=None)

    assert_that(time_entries.running_for_user(conn, "alice"), equal_to(new))


def test_given_a_deleted_entry_when_reading_then_it_is_hidden_but_kept(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    entry = add(conn, item)

    time_entries.soft_delete(conn, entry.id, actor_id="alice", now_ms=2 * HOUR, batch="req-1")

    assert_that(time_entries.get(conn, entry.id), none())
    kept = time_entries.get(conn, entry.id, include_deleted=True)
    assert kept is not None
    assert_that(kept.deleted_by, equal_to("alice"))
    found = time_entries.list_entries(conn, work_item_id=item, user_id=None, after=None, limit=10)
    assert_that(found, equal_to([]))
    assert_that(time_entries.totals_for_item(conn, item), equal_to([]))


def test_given_an_update_when_applied_then_columns_change_and_version_counts_up(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    entry = add(conn, item)

    updated = time_entries.update(
        conn, entry.id, {"note": "review"}, actor_id="alice", now_ms=4 * HOUR
    )

    assert_that(updated.note, equal_to("review"))
    assert_that(updated.version, equal_to(2))
    assert_that(updated.updated_at, equal_to(4 * HOUR))


def test_given_an_unknown_item_when_inserting_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        add(conn, str(uuid.uuid4()))


def test_given_an_end_before_the_start_when_inserting_then_the_check_refuses(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)

    with pytest.raises(
        sqlite3.IntegrityError,
        match="CHECK constraint failed: ended_at IS NULL OR started_at < ended_at",
    ):
        add(conn, item, started_at=2 * HOUR, ended_at=2 * HOUR)


def test_given_entries_when_listing_pages_then_newest_start_comes_first(
    conn: sqlite3.Connection,
) -> None:
    (item,) = make_items(conn, 1)
    entries = [add(conn, item, started_at=HOUR * n, ended_at=HOUR * n + 1000) for n in (1, 2, 3)]

    first = time_entries.list_entries(conn, work_item_id=item, user_id=None, after=None, limit=2)
    rest = time_entries.list_entries(
        conn,
        work_item_id=item,
        user_id=None,
        after=(first[-1].started_at, first[-1].id),
        limit=2,
    )

    assert_that([e.id for e in first + rest], contains_exactly(*[e.id for e in entries[::-1]]))


def test_given_entries_of_two_users_when_totalling_then_only_finished_ones_count(
    conn: sqlite3.Connection,
) -> None:
    first, second = make_items(conn, 2)
    add(conn, first, user="alice", started_at=HOUR, ended_at=HOUR + 60_000)
    add(conn, first, user="alice", started_at=2 * HOUR, ended_at=2 * HOUR + 30_000)
    add(conn, first, user="bob", started_at=HOUR, ended_at=HOUR + 10_000)
    add(conn, second, user="alice", started_at=3 * HOUR, ended_at=3 * HOUR + 5_000)
    add(conn, second, user="alice", started_at=4 * HOUR, ended_at=None)

    per_user = time_entries.totals_for_item(conn, first)
    per_item = time_entries.totals_for_user(conn, "alice")

    assert_that(
        [(t.user_id, t.duration_seconds, t.entries) for t in per_user],
        contains_exactly(("alice", 90, 2), ("bob", 10, 1)),
    )
    assert_that(
        [(t.work_item_id, t.duration_seconds, t.entries) for t in per_item],
        contains_exactly((first, 90, 2), (second, 5, 1)),
    )


def test_given_an_entry_on_a_deleted_item_when_listing_or_totalling_then_it_is_hidden(
    conn: sqlite3.Connection,
) -> None:
    kept, deleted = make_items(conn, 2)
    mine = add(conn, kept)
    add(conn, deleted)

    rows.soft_delete(conn, "work_items", deleted, actor_id="alice", now_ms=4 * HOUR, batch="b")

    listed = time_entries.list_entries(
        conn, work_item_id=None, user_id="alice", after=None, limit=9
    )
    assert_that([e.id for e in listed], contains_exactly(mine.id))
    totals = time_entries.totals_for_user(conn, "alice")
    assert_that([t.work_item_id for t in totals], contains_exactly(kept))
