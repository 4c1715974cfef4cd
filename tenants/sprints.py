"""Sprints repository."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows


@dataclass(frozen=True)
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


def get(
    conn: sqlite3.Connection, sprint_id: str, *, include_deleted: bool = False
) -> SprintRecord | None:
    row = conn.execute(
        "SELECT * FROM sprints WHERE id = ? AND (? OR deleted_at IS NULL)",
        (sprint_id, include_deleted),
    ).fetchone()
    return rows.to_record(SprintRecord, row)
