"""Work items repository: epics, stories, tasks and bugs, numbered per project."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows

_SELECT = (
    "SELECT w.*, p.key AS project_key FROM work_items w JOIN projects p ON p.id = w.project_id"
)


@dataclass(frozen=True)
class WorkItemRecord:
    id: str
    project_id: str
    project_key: str
    number: int
    type: str
    parent_id: str | None
    status: str
    rank: str
    title: str
    description: str
    priority: str
    assignee_id: str | None
    sprint_id: str | None
    story_points: int | None
    version: int
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    deleted_at: int | None
    deleted_by: str | None
    delete_batch: str | None

    @property
    def key(self) -> str:
        return f"{self.project_key}-{self.number}"


def insert(
    conn: sqlite3.Connection,
    *,
    item_id: str,
    project_id: str,
    number: int,
    type: str,
    parent_id: str | None,
    status: str,
    rank: str,
    title: str,
    description: str,
    priority: str,
    assignee_id: str | None,
    sprint_id: str | None,
    story_points: int | None,
    actor_id: str,
    now_ms: int,
) -> WorkItemRecord:
    rows.insert(
        conn,
        "work_items",
        {
            "id": item_id,
            "project_id": project_id,
            "number": number,
            "type": type,
            "parent_id": parent_id,
            "status": status,
            "rank": rank,
            "title": title,
            "description": description,
            "priority": priority,
            "assignee_id": assignee_id,
            "sprint_id": sprint_id,
            "story_points": story_points,
            "created_at": now_ms,
            "updated_at": now_ms,
            "created_by": actor_id,
            "updated_by": actor_id,
        },
    )
    item = get(conn, item_id)
    assert item is not None
    return item


def get(
    conn: sqlite3.Connection, item_id: str, *, include_deleted: bool = False
) -> WorkItemRecord | None:
    row = conn.execute(
        f"{_SELECT} WHERE w.id = ? AND (? OR w.deleted_at IS NULL)", (item_id, include_deleted)
    ).fetchone()
    return rows.to_record(WorkItemRecord, row)


def id_exists(conn: sqlite3.Connection, item_id: str) -> bool:
    return conn.execute("SELECT 1 FROM work_items WHERE id = ?", (item_id,)).fetchone() is not None


def last_rank(conn: sqlite3.Connection, project_id: str, status: str) -> str | None:
    """The highest rank in a lane (None when the lane is empty)."""
    row = conn.execute(
        "SELECT MAX(rank) FROM work_items WHERE project_id = ? AND status = ?"
        " AND deleted_at IS NULL",
        (project_id, status),
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def update(
    conn: sqlite3.Connection,
    item_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
) -> WorkItemRecord:
    rows.update(conn, "work_items", item_id, changes, actor_id=actor_id, now_ms=now_ms)
    item = get(conn, item_id, include_deleted=True)
    assert item is not None
    return item
