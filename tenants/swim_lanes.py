"""Swim lanes repository: a project's ordered lanes, status_value unique among live ones."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows

DEFAULT_LANES = (
    ("Backlog", "backlog"),
    ("In Progress", "in_progress"),
    ("In Review", "in_review"),
    ("Done", "done"),
)


@dataclass(frozen=True, slots=True)
class SwimLaneRecord:
    id: str
    project_id: str
    name: str
    status_value: str
    position: int
    is_default: int
    version: int
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    deleted_at: int | None
    deleted_by: str | None


def insert(
    conn: sqlite3.Connection,
    *,
    lane_id: str,
    project_id: str,
    name: str,
    status_value: str,
    position: int,
    is_default: bool,
    actor_id: str,
    now_ms: int,
) -> SwimLaneRecord:
    return rows.insert_entity(
        conn,
        "swim_lanes",
        {
            "id": lane_id,
            "project_id": project_id,
            "name": name,
            "status_value": status_value,
            "position": position,
            "is_default": int(is_default),
        },
        actor_id=actor_id,
        now_ms=now_ms,
        reread=get,
    )


def get(
    conn: sqlite3.Connection, lane_id: str, *, include_deleted: bool = False
) -> SwimLaneRecord | None:
    return rows.fetch_by_id(
        conn, SwimLaneRecord, "swim_lanes", lane_id, include_deleted=include_deleted
    )


def list_for_project(conn: sqlite3.Connection, project_id: str) -> list[SwimLaneRecord]:
    found = conn.execute(
        "SELECT * FROM swim_lanes WHERE project_id = ? AND deleted_at IS NULL"
        " ORDER BY position, created_at",
        (project_id,),
    ).fetchall()
    return rows.to_records(SwimLaneRecord, found)


def find_by_status(
    conn: sqlite3.Connection, project_id: str, status_value: str
) -> SwimLaneRecord | None:
    row = conn.execute(
        "SELECT * FROM swim_lanes WHERE project_id = ? AND status_value = ? AND deleted_at IS NULL",
        (project_id, status_value),
    ).fetchone()
    return rows.to_record(SwimLaneRecord, row)


def id_exists(conn: sqlite3.Connection, lane_id: str) -> bool:
    """Deleted lanes count: an id names one lane forever."""
    return rows.id_exists(conn, "swim_lanes", lane_id)


def update(
    conn: sqlite3.Connection,
    lane_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
) -> SwimLaneRecord:
    return rows.update_entity(
        conn, "swim_lanes", lane_id, changes, actor_id=actor_id, now_ms=now_ms, reread=get
    )


def soft_delete(
    conn: sqlite3.Connection, lane_id: str, *, actor_id: str, now_ms: int, batch: str
) -> None:
    rows.soft_delete(conn, "swim_lanes", lane_id, actor_id=actor_id, now_ms=now_ms, batch=batch)


def write_order(conn: sqlite3.Connection, lane_ids: list[str]) -> None:
    """Positions 0..n-1 in the given order.

    The order belongs to the project (a reorder bumps the project's version), so a lane whose
    position moves keeps its own version: a rename racing a reorder does not conflict.
    """
    conn.executemany(
        "UPDATE swim_lanes SET position = ? WHERE id = ? AND position <> ?",
        [(position, lane_id, position) for position, lane_id in enumerate(lane_ids)],
    )


def live_item_count(conn: sqlite3.Connection, project_id: str, status_value: str) -> int:
    """Live work items whose status is this lane's (the lane "holds" them)."""
    row = conn.execute(
        "SELECT COUNT(*) FROM work_items"
        " WHERE project_id = ? AND status = ? AND deleted_at IS NULL",
        (project_id, status_value),
    ).fetchone()
    return int(row[0])
