"""The comments repository against a migrated SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, equal_to, none

from tenants import comments, projects, work_items
from tenants.comments import CommentRecord
from tests.tenant_state import memory_tenant

T0 = 1_767_225_600_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = memory_tenant()
    projects.insert(
        db, project_id="p1", key="PM", name="PM", description="", actor_id="u", now_ms=T0
    )
    for number, item_id in enumerate(["i1", "i2"], start=1):
        work_items.insert(
            db,
            item_id=item_id,
            project_id="p1",
            number=number,
            type="task",
            parent_id=None,
            status="backlog",
            rank=item_id,
            title=item_id,
            description="",
            priority="medium",
            assignee_id=None,
            sprint_id=None,
            story_points=None,
            actor_id="u",
            now_ms=T0,
            project_key="PM",
        )
    yield db
    db.close()


def add(
    conn: sqlite3.Connection,
    comment_id: str,
    *,
    item: str = "i1",
    parent: str | None = None,
    at: int = T0,
) -> CommentRecord:
    return comments.insert(
        conn,
        comment_id=comment_id,
        work_item_id=item,
        parent_comment_id=parent,
        content=f"text of {comment_id}",
        actor_id="alice",
        now_ms=at,
    )


def shape(conn: sqlite3.Connection, item: str = "i1") -> list[tuple[str, bool, list[str]]]:
    found = comments.list_threads(conn, item, after=None, limit=50)
    return [
        (t.comment.id, t.comment.deleted_at is not None, [r.id for r in t.replies]) for t in found
    ]


def test_given_a_new_comment_when_read_back_then_author_and_version_one(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "c1")

    comment = comments.get(conn, "c1")

    assert comment is not None
    assert_that(
        (comment.author_id, comment.content, comment.version, comment.parent_comment_id),
        equal_to(("alice", "text of c1", 1, None)),
    )


def test_given_a_comment_when_updated_then_version_and_stamps_move(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "c1")

    after = comments.update(conn, "c1", {"content": "new"}, actor_id="alice", now_ms=T0 + 9)

    assert_that((after.content, after.version, after.updated_at), equal_to(("new", 2, T0 + 9)))


def test_given_a_soft_deleted_comment_when_reading_then_hidden_but_kept_with_content(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "c1")

    comments.soft_delete(conn, "c1", actor_id="bob", now_ms=T0 + 1, batch="req-1")

    assert_that(comments.get(conn, "c1"), none())
    kept = comments.get(conn, "c1", include_deleted=True)
    assert kept is not None
    assert_that((kept.deleted_by, kept.content), equal_to(("bob", "text of c1")))
    assert_that(shape(conn), equal_to([]))


def test_given_an_unknown_item_when_inserting_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        add(conn, "c1", item="nope")


def test_given_an_unknown_parent_when_inserting_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        add(conn, "c1", parent="nope")


def test_given_threads_when_listing_then_oldest_first_with_replies_in_order(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "late", at=T0 + 5)
    add(conn, "b-same-ms", at=T0)
    add(conn, "a-same-ms", at=T0)
    add(conn, "r2", parent="b-same-ms", at=T0 + 7)
    add(conn, "r1", parent="b-same-ms", at=T0 + 6)
    add(conn, "elsewhere", item="i2")

    assert_that(
        shape(conn),
        contains_exactly(
            ("b-same-ms", False, ["r1", "r2"]), ("a-same-ms", False, []), ("late", False, [])
        ),
    )


def test_given_a_deleted_parent_when_listing_then_a_tombstone_only_while_replies_live(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "top")
    add(conn, "reply", parent="top")
    comments.soft_delete(conn, "top", actor_id="a", now_ms=T0, batch="b1")

    with_reply = shape(conn)
    comments.soft_delete(conn, "reply", actor_id="a", now_ms=T0, batch="b2")

    assert_that(with_reply, equal_to([("top", True, ["reply"])]))
    assert_that(comments.has_live_replies(conn, "top"), equal_to(False))
    assert_that(shape(conn), equal_to([]))


def test_given_a_cursor_when_listing_then_threads_after_it(conn: sqlite3.Connection) -> None:
    for i in range(4):
        add(conn, f"c{i}", at=T0 + i)
    first = comments.list_threads(conn, "i1", after=None, limit=2)
    last = first[-1].comment

    rest = comments.list_threads(conn, "i1", after=(last.created_at, last.row_order), limit=5)

    assert_that([t.comment.id for t in first], contains_exactly("c0", "c1"))
    assert_that([t.comment.id for t in rest], contains_exactly("c2", "c3"))
