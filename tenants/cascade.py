"""A project's delete: every live row in it soft-deleted as one batch (entities.KINDS says
which rows, and in which order)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import entities, rows

_STAMP = (
    "deleted_at = ?, deleted_by = ?, delete_batch = ?, version = version + 1,"
    " updated_at = ?, updated_by = ?"
)
_ITEMS_OF_PROJECT = "SELECT id FROM work_items WHERE project_id = ?"


@dataclass(frozen=True, slots=True)
class CascadeResult:
    """What a project delete removed, so the caller can log one activity row per entity."""

    # Entity kind -> ids deleted, in the order deleted.
    deleted: dict[str, list[str]]
    # Other projects whose items lost a dependency on this one's.
    touched_project_ids: list[str]


def _other_projects_linked(conn: sqlite3.Connection, project_id: str) -> list[str]:
    """Projects whose items have a live dependency with an item of this project."""
    found = conn.execute(
        "SELECT DISTINCT item.project_id FROM dependencies d"
        " JOIN work_items item ON item.id IN (d.from_item_id, d.to_item_id)"
        " WHERE d.deleted_at IS NULL AND item.project_id <> ?"
        f" AND (d.from_item_id IN ({_ITEMS_OF_PROJECT})"
        f" OR d.to_item_id IN ({_ITEMS_OF_PROJECT}))"
        " ORDER BY item.project_id",
        (project_id, project_id, project_id),
    ).fetchall()
    return [row[0] for row in found]


def soft_delete_project(
    conn: sqlite3.Connection, project_id: str, *, actor_id: str, now_ms: int, batch: str
) -> CascadeResult:
    """Soft-delete the project and every live row in it, as one batch."""
    touched = _other_projects_linked(conn, project_id)
    stamp = (now_ms, actor_id, batch, now_ms, actor_id)
    deleted: dict[str, list[str]] = {}
    for kind in entities.KINDS:
        if kind.cascade is None:
            continue
        found = conn.execute(
            f"UPDATE {kind.table} SET {_STAMP} WHERE deleted_at IS NULL AND {kind.cascade}"
            " RETURNING id",
            (*stamp, *([project_id] * kind.cascade_params)),
        ).fetchall()
        deleted[kind.name] = sorted(row[0] for row in found)
    rows.soft_delete(conn, "projects", project_id, actor_id=actor_id, now_ms=now_ms, batch=batch)
    deleted["project"] = [project_id]
    return CascadeResult(deleted=deleted, touched_project_ids=touched)
