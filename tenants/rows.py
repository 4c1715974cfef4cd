"""Row plumbing shared by the entity repositories: record mapping and versioned updates.

Table and column names passed here always come from code, never from a client.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from typing import Any, TypeVar, cast

R = TypeVar("R")


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def to_record(cls: type[R], row: sqlite3.Row | None) -> R | None:
    if row is None:
        return None
    names = _field_names(cast(type, cls))
    return cls(**{k: row[k] for k in row.keys() if k in names})


def to_records(cls: type[R], rows: list[sqlite3.Row]) -> list[R]:
    return [r for r in (to_record(cls, row) for row in rows) if r is not None]


def insert(conn: sqlite3.Connection, table: str, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))


def update(
    conn: sqlite3.Connection,
    table: str,
    entity_id: str,
    changes: dict[str, Any],
    *,
    actor_id: str,
    now_ms: int,
) -> None:
    """Set the columns, bump version and stamp updated_at/updated_by, in one statement."""
    sets = "".join(f"{column} = ?, " for column in changes)
    conn.execute(
        f"UPDATE {table} SET {sets}version = version + 1, updated_at = ?, updated_by = ?"
        " WHERE id = ?",
        (*changes.values(), now_ms, actor_id, entity_id),
    )


def soft_delete(
    conn: sqlite3.Connection,
    table: str,
    entity_id: str,
    *,
    actor_id: str,
    now_ms: int,
    batch: str,
) -> None:
    conn.execute(
        f"UPDATE {table} SET deleted_at = ?, deleted_by = ?, delete_batch = ?,"
        " version = version + 1, updated_at = ?, updated_by = ? WHERE id = ?",
        (now_ms, actor_id, batch, now_ms, actor_id, entity_id),
    )
