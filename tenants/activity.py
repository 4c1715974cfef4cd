"""The append-only activity log: who changed what, field by field."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import entities, rows


@dataclass(frozen=True, slots=True)
class ActivityItem:
    """One row to write: a created/deleted entity, or one changed field."""

    entity_type: str
    entity_id: str
    project_id: str | None
    action: str
    field: str | None = None
    old_json: str | None = None
    new_json: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    id: int
    entity_type: str
    entity_id: str
    project_id: str | None
    action: str
    field: str | None
    old_json: str | None
    new_json: str | None
    actor_id: str
    occurred_at: int
    request_id: str
    seq: int


def insert(
    conn: sqlite3.Connection,
    items: list[ActivityItem],
    *,
    actor_id: str,
    occurred_at: int,
    request_id: str,
    seq: int,
) -> None:
    values = [
        (
            i.entity_type,
            i.entity_id,
            i.project_id,
            i.action,
            i.field,
            i.old_json,
            i.new_json,
            actor_id,
            occurred_at,
            request_id,
            seq,
        )
        for i in items
    ]
    # One row (most changes) is cheaper as execute than as executemany.
    if len(values) == 1:
        conn.execute(_INSERT, values[0])
    elif values:
        conn.executemany(_INSERT, values)


_INSERT = (
    "INSERT INTO activity_log(entity_type, entity_id, project_id, action, field, old_json,"
    " new_json, actor_id, occurred_at, request_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_COLUMNS = (
    "id, entity_type, entity_id, project_id, action, field, old_json, new_json, actor_id,"
    " occurred_at, request_id, seq"
)


def entity_history(
    conn: sqlite3.Connection, entity_type: str, entity_id: str, *, before_id: int, limit: int
) -> list[ActivityRecord]:
    """Newest first; before_id 0 starts at the newest."""
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM activity_log WHERE entity_type = ? AND entity_id = ?"
        " AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?",
        (entity_type, entity_id, before_id, before_id, limit),
    ).fetchall()
    return [ActivityRecord(*row) for row in found]


def project_activity(
    conn: sqlite3.Connection, project_id: str, *, before_id: int, limit: int
) -> list[ActivityRecord]:
    """Newest first; before_id 0 starts at the newest."""
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM activity_log WHERE project_id = ?"
        " AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?",
        (project_id, before_id, before_id, limit),
    ).fetchall()
    return [ActivityRecord(*row) for row in found]


def deleted_comment_ids(conn: sqlite3.Connection, comment_ids: list[str]) -> set[str]:
    """The comments among these that are deleted, or purged (their text is no longer
    shown): every one that is not a live row."""
    return set(comment_ids) - rows.ids_in_state(conn, "comments", comment_ids, deleted=False)


# The table behind each entity type the log names (from code, never from a client).


def entity_exists(conn: sqlite3.Connection, entity_type: str, entity_id: str) -> bool:
    """Whether the entity ever existed in this tenant; deleted ones keep their history,
    and so do purged ones (PurgeDeleted), whose rows only the log still names."""
    if rows.id_exists(conn, entities.BY_NAME[entity_type].table, entity_id):
        return True
    found = conn.execute(
        "SELECT 1 FROM activity_log WHERE entity_type = ? AND entity_id = ? LIMIT 1",
        (entity_type, entity_id),
    ).fetchone()
    return found is not None


def project_activity_after(
    conn: sqlite3.Connection, project_id: str, *, after_seq: int, after_id: int, limit: int
) -> list[ActivityRecord]:
    """A project's rows after (after_seq, after_id), oldest first by (seq, id)."""
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM activity_log WHERE project_id = ?"
        " AND (seq > ? OR (seq = ? AND id > ?)) ORDER BY seq, id LIMIT ?",
        (project_id, after_seq, after_seq, after_id, limit),
    ).fetchall()
    return [ActivityRecord(*row) for row in found]


def project_change(conn: sqlite3.Connection, project_id: str, seq: int) -> list[ActivityRecord]:
    """Every row one change (one seq) wrote for a project, in the order written."""
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM activity_log WHERE project_id = ? AND seq = ? ORDER BY id",
        (project_id, seq),
    ).fetchall()
    return [ActivityRecord(*row) for row in found]
