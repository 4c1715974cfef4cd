"""Comments repository: comments on work items with one level of replies.

A thread is a top-level comment (parent_comment_id NULL) and its replies. A deleted
top-level comment that still has live replies stays in its thread as a tombstone; any other
deleted comment is hidden.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows

# rowid breaks ties between comments of the same millisecond in insertion order.
_SELECT = "SELECT c.rowid AS row_order, c.* FROM comments c"
# A top-level comment is listed while it is live or still holds live replies.
_VISIBLE_TOP_LEVEL = (
    "c.parent_comment_id IS NULL AND (c.deleted_at IS NULL OR EXISTS ("
    "SELECT 1 FROM comments r WHERE r.parent_comment_id = c.id AND r.deleted_at IS NULL))"
)


@dataclass(frozen=True, slots=True)
class CommentRecord:
    id: str
    work_item_id: str
    parent_comment_id: str | None
    author_id: str
    content: str
    version: int
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    deleted_at: int | None
    deleted_by: str | None
    row_order: int


@dataclass(frozen=True, slots=True)
class Thread:
    comment: CommentRecord
    replies: list[CommentRecord]


def insert(
    conn: sqlite3.Connection,
    *,
    comment_id: str,
    work_item_id: str,
    parent_comment_id: str | None,
    content: str,
    actor_id: str,
    now_ms: int,
) -> CommentRecord:
    return rows.insert_entity(
        conn,
        "comments",
        {
            "id": comment_id,
            "work_item_id": work_item_id,
            "parent_comment_id": parent_comment_id,
            "author_id": actor_id,
            "content": content,
        },
        actor_id=actor_id,
        now_ms=now_ms,
        reread=get,
    )


def get(
    conn: sqlite3.Connection, comment_id: str, *, include_deleted: bool = False
) -> CommentRecord | None:
    return rows.fetch_by_id(
        conn, CommentRecord, "c", comment_id, include_deleted=include_deleted, select=_SELECT
    )


def id_exists(conn: sqlite3.Connection, comment_id: str) -> bool:
    return rows.id_exists(conn, "comments", comment_id)


def has_live_replies(conn: sqlite3.Connection, comment_id: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM comments WHERE parent_comment_id = ? AND deleted_at IS NULL LIMIT 1",
        (comment_id,),
    ).fetchone()
    return found is not None


def update(
    conn: sqlite3.Connection,
    comment_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
) -> CommentRecord:
    return rows.update_entity(
        conn, "comments", comment_id, changes, actor_id=actor_id, now_ms=now_ms, reread=get
    )


def soft_delete(
    conn: sqlite3.Connection, comment_id: str, *, actor_id: str, now_ms: int, batch: str
) -> None:
    """The row keeps its content for audit; readers show a tombstone without it."""
    rows.soft_delete(conn, "comments", comment_id, actor_id=actor_id, now_ms=now_ms, batch=batch)


def list_threads(
    conn: sqlite3.Connection,
    work_item_id: str,
    *,
    after: tuple[int, int] | None,
    limit: int,
) -> list[Thread]:
    """Visible threads of an item, oldest first, after a (created_at, row_order) cursor."""
    after_created, after_row = after if after is not None else (-(2**63), -(2**63))
    tops = rows.to_records(
        CommentRecord,
        conn.execute(
            f"{_SELECT} WHERE c.work_item_id = ? AND {_VISIBLE_TOP_LEVEL}"
            " AND (c.created_at, c.rowid) > (?, ?) ORDER BY c.created_at, c.rowid LIMIT ?",
            (work_item_id, after_created, after_row, limit),
        ).fetchall(),
    )
    replies = _live_replies(conn, [top.id for top in tops])
    return [Thread(top, replies.get(top.id, [])) for top in tops]


def _live_replies(
    conn: sqlite3.Connection, parent_ids: list[str]
) -> dict[str, list[CommentRecord]]:
    if not parent_ids:
        return {}
    marks, bound = rows.in_list(parent_ids)
    found = rows.to_records(
        CommentRecord,
        conn.execute(
            f"{_SELECT} WHERE c.parent_comment_id IN ({marks})"
            " AND c.deleted_at IS NULL ORDER BY c.created_at, c.rowid",
            bound,
        ).fetchall(),
    )
    by_parent: dict[str, list[CommentRecord]] = {}
    for reply in found:
        assert reply.parent_comment_id is not None
        by_parent.setdefault(reply.parent_comment_id, []).append(reply)
    return by_parent
