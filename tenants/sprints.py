"""Sprints repository, and the sprint membership of work items (work_items.sprint_id).

At most one live active sprint per project: the handler checks it first, and the partial
unique index `sprints_one_active` makes the database refuse a second one whatever happens.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows

STATES = ("planned", "active", "completed", "cancelled")
# The states a work item may be assigned to.
OPEN_STATES = frozenset({"planned", "active"})
DONE_STATUS = "done"


@dataclass(frozen=True, slots=True)
class SprintRecord:
    id: str
    project_id: str
    name: str
    goal: str
    state: str
    start_date: int
    end_date: int
    started_at: int | None
    completed_at: int | None
    version: int
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    deleted_at: int | None
    deleted_by: str | None


@dataclass(frozen=True, slots=True)
class SprintStats:
    items_total: int
    items_done: int
    points_total: int
    points_done: int


def insert(
    conn: sqlite3.Connection,
    *,
    sprint_id: str,
    project_id: str,
    name: str,
    goal: str,
    start_date: int,
    end_date: int,
    actor_id: str,
    now_ms: int,
) -> SprintRecord:
    return rows.insert_entity(
        conn,
        "sprints",
        {
            "id": sprint_id,
            "project_id": project_id,
            "name": name,
            "goal": goal,
            "state": "planned",
            "start_date": start_date,
            "end_date": end_date,
        },
        actor_id=actor_id,
        now_ms=now_ms,
        reread=get,
    )


def get(
    conn: sqlite3.Connection, sprint_id: str, *, include_deleted: bool = False
) -> SprintRecord | None:
    return rows.fetch_by_id(
        conn, SprintRecord, "sprints", sprint_id, include_deleted=include_deleted
    )


def id_exists(conn: sqlite3.Connection, sprint_id: str) -> bool:
    """Deleted sprints count: an id names one sprint forever."""
    return rows.id_exists(conn, "sprints", sprint_id)


def find_active(conn: sqlite3.Connection, project_id: str) -> SprintRecord | None:
    row = conn.execute(
        "SELECT * FROM sprints WHERE project_id = ? AND state = 'active' AND deleted_at IS NULL",
        (project_id,),
    ).fetchone()
    return rows.to_record(SprintRecord, row)


def update(
    conn: sqlite3.Connection,
    sprint_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
) -> SprintRecord:
    return rows.update_entity(
        conn, "sprints", sprint_id, changes, actor_id=actor_id, now_ms=now_ms, reread=get
    )


def soft_delete(
    conn: sqlite3.Connection, sprint_id: str, *, actor_id: str, now_ms: int, batch: str
) -> None:
    rows.soft_delete(conn, "sprints", sprint_id, actor_id=actor_id, now_ms=now_ms, batch=batch)


def list_for_project(
    conn: sqlite3.Connection,
    project_id: str,
    *,
    state: str | None,
    after: tuple[int, str] | None,
    limit: int,
) -> list[SprintRecord]:
    """Live sprints by start date (then id), optionally of one state, after a cursor."""
    after_start, after_id = after if after is not None else (-(2**63), "")
    found = conn.execute(
        "SELECT * FROM sprints WHERE project_id = ? AND deleted_at IS NULL"
        " AND (? IS NULL OR state = ?) AND (start_date, id) > (?, ?)"
        " ORDER BY start_date, id LIMIT ?",
        (project_id, state, state, after_start, after_id, limit),
    ).fetchall()
    return rows.to_records(SprintRecord, found)


def item_ids(conn: sqlite3.Connection, sprint_id: str, *, unfinished_only: bool) -> list[str]:
    """Live work items in the sprint, by item number; unfinished: status is not done."""
    found = conn.execute(
        "SELECT id FROM work_items WHERE sprint_id = ? AND deleted_at IS NULL"
        " AND (NOT ? OR status <> ?) ORDER BY number",
        (sprint_id, unfinished_only, DONE_STATUS),
    ).fetchall()
    return [row[0] for row in found]


def set_item_sprint(
    conn: sqlite3.Connection,
    item_id: str,
    sprint_id: str | None,
    *,
    actor_id: str,
    now_ms: int,
) -> None:
    """Moves one work item into a sprint (None: out of any sprint); its version goes up."""
    rows.update(
        conn, "work_items", item_id, {"sprint_id": sprint_id}, actor_id=actor_id, now_ms=now_ms
    )


def stats(conn: sqlite3.Connection, sprint_id: str) -> SprintStats:
    """Figures over the live items now in the sprint; items without points count 0."""
    row = conn.execute(
        "SELECT COUNT(*),"
        " COALESCE(SUM(status = ?), 0),"
        " COALESCE(SUM(COALESCE(story_points, 0)), 0),"
        " COALESCE(SUM(CASE WHEN status = ? THEN COALESCE(story_points, 0) ELSE 0 END), 0)"
        " FROM work_items WHERE sprint_id = ? AND deleted_at IS NULL",
        (DONE_STATUS, DONE_STATUS, sprint_id),
    ).fetchone()
    return SprintStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
