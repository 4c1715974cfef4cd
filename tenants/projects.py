"""Projects repository."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: str
    key: str
    name: str
    description: str
    next_item_number: int
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
    project_id: str,
    key: str,
    name: str,
    description: str,
    actor_id: str,
    now_ms: int,
) -> ProjectRecord:
    return rows.insert_entity(
        conn,
        "projects",
        {
            "id": project_id,
            "key": key,
            "name": name,
            "description": description,
        },
        actor_id=actor_id,
        now_ms=now_ms,
        reread=get,
    )


def get(
    conn: sqlite3.Connection, project_id: str, *, include_deleted: bool = False
) -> ProjectRecord | None:
    return rows.fetch_by_id(
        conn, ProjectRecord, "projects", project_id, include_deleted=include_deleted
    )


def key_exists(conn: sqlite3.Connection, key: str) -> bool:
    """Deleted projects count, and purged ones too: a key is never reused."""
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM projects WHERE key = ?)"
        " OR EXISTS (SELECT 1 FROM retired_project_keys WHERE key = ?)",
        (key, key),
    ).fetchone()
    return bool(found[0])


def id_exists(conn: sqlite3.Connection, project_id: str) -> bool:
    return rows.id_exists(conn, "projects", project_id)


def list_live(conn: sqlite3.Connection, *, after_key: str, limit: int) -> list[ProjectRecord]:
    """Live projects ordered by key, starting after after_key."""
    found = conn.execute(
        "SELECT * FROM projects WHERE deleted_at IS NULL AND key > ? ORDER BY key LIMIT ?",
        (after_key, limit),
    ).fetchall()
    return rows.to_records(ProjectRecord, found)


def live_ids(conn: sqlite3.Connection, project_ids: list[str]) -> set[str]:
    return rows.ids_in_state(conn, "projects", project_ids, deleted=False)


def update(
    conn: sqlite3.Connection,
    project_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
) -> ProjectRecord:
    return rows.update_entity(
        conn, "projects", project_id, changes, actor_id=actor_id, now_ms=now_ms, reread=get
    )


def take_item_number(conn: sqlite3.Connection, project_id: str) -> tuple[int, str] | None:
    """The next PM-n number of a live project and the project's key; None if there is no
    such project. Numbers are never reused, so this only ever counts up."""
    row = conn.execute(
        "UPDATE projects SET next_item_number = next_item_number + 1"
        " WHERE id = ? AND deleted_at IS NULL RETURNING next_item_number - 1, key",
        (project_id,),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def allocate_item_number(conn: sqlite3.Connection, project_id: str) -> int:
    """The next PM-n number; numbers are never reused, so this only ever counts up."""
    row = conn.execute(
        "UPDATE projects SET next_item_number = next_item_number + 1 WHERE id = ?"
        " RETURNING next_item_number - 1",
        (project_id,),
    ).fetchone()
    return int(row[0])
