"""Row plumbing shared by the entity repositories: record mapping and versioned updates.

Table and column names passed here always come from code, never from a client.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, cast

from tenants.readers import yield_gil

R = TypeVar("R")
V = TypeVar("V")
R_co = TypeVar("R_co", covariant=True)


class Getter(Protocol[R_co]):
    """A repository's `get`: the record with this id, live only unless include_deleted."""

    def __call__(
        self, conn: sqlite3.Connection, entity_id: str, /, *, include_deleted: bool = ...
    ) -> R_co | None: ...


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def to_record(cls: type[R], row: sqlite3.Row | None) -> R | None:
    if row is None:
        return None
    names = _field_names(cast(type, cls))
    return cls(**{k: row[k] for k in row.keys() if k in names})


def to_records(cls: type[R], rows: list[sqlite3.Row]) -> list[R]:
    """Records of rows, read on a read thread: every few, the GIL goes to whoever waits for
    it (the event loop running writes) instead of at the end of CPython's switch interval."""
    records: list[R] = []
    for index, row in enumerate(rows):
        yield_gil(index)
        record = to_record(cls, row)
        if record is not None:
            records.append(record)
    return records


def in_list(values: Sequence[V]) -> tuple[str, list[V]]:
    """The `?` marks of an `IN (...)` and the values to bind, padded to a power of two by
    repeating the last value (which changes nothing an IN matches).

    Every length of IN list is a statement of its own in each connection's statement cache,
    so unpadded lists fill those caches with near-copies and SQLite's memory climbs for as
    long as new lengths turn up (the soak saw it for ten minutes); padded, a query has a
    handful of lengths. `values` must not be empty."""
    size = 1 << (len(values) - 1).bit_length()
    padded = [*values, *([values[-1]] * (size - len(values)))]
    return ",".join("?" * size), padded


def insert(conn: sqlite3.Connection, table: str, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))


def insert_entity(
    conn: sqlite3.Connection,
    table: str,
    values: dict[str, Any],
    *,
    actor_id: str,
    now_ms: int,
    reread: Getter[R],
) -> R:
    """Insert a row with created/updated at/by stamped, and return it as `reread` reads it."""
    insert(conn, table, _stamped(values, actor_id, now_ms))
    record = reread(conn, values["id"])
    assert record is not None
    return record


def insert_returning(
    conn: sqlite3.Connection,
    table: str,
    values: dict[str, Any],
    *,
    actor_id: str,
    now_ms: int,
    record: type[R],
    extra: dict[str, Any],
) -> R:
    """`insert_entity` without reading the row again: the insert returns it, and `extra`
    adds what a record holds beside the table's columns (joined ones)."""
    stamped = _stamped(values, actor_id, now_ms)
    columns = ", ".join(stamped)
    marks = ", ".join("?" * len(stamped))
    row = conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING *", tuple(stamped.values())
    ).fetchone()
    return _record_with(record, row, extra)


def update_returning(
    conn: sqlite3.Connection,
    table: str,
    entity_id: str,
    changes: dict[str, Any],
    *,
    actor_id: str,
    now_ms: int,
    record: type[R],
    extra: dict[str, Any],
) -> R:
    """`update`, returning the row as it is after (no second read)."""
    sets = "".join(f"{column} = ?, " for column in changes)
    row = conn.execute(
        f"UPDATE {table} SET {sets}version = version + 1, updated_at = ?, updated_by = ?"
        " WHERE id = ? RETURNING *",
        (*changes.values(), now_ms, actor_id, entity_id),
    ).fetchone()
    return _record_with(record, row, extra)


def _stamped(values: dict[str, Any], actor_id: str, now_ms: int) -> dict[str, Any]:
    return {
        **values,
        "created_at": now_ms,
        "updated_at": now_ms,
        "created_by": actor_id,
        "updated_by": actor_id,
    }


def _record_with(cls: type[R], row: sqlite3.Row | None, extra: dict[str, Any]) -> R:
    assert row is not None
    names = _field_names(cast(type, cls))
    fields = {key: row[key] for key in row.keys() if key in names}
    fields.update(extra)
    return cls(**fields)


def fetch_by_id(
    conn: sqlite3.Connection,
    cls: type[R],
    table: str,
    entity_id: str,
    *,
    include_deleted: bool,
    select: str | None = None,
) -> R | None:
    """The row with this id as a `cls`; a soft-deleted one only when include_deleted.

    `select` replaces `SELECT * FROM <table>` when the record needs joined columns; `table`
    is then the entity table's alias in it.
    """
    select = select or f"SELECT * FROM {table}"
    row = conn.execute(
        f"{select} WHERE {table}.id = ? AND (? OR {table}.deleted_at IS NULL)",
        (entity_id, include_deleted),
    ).fetchone()
    return to_record(cls, row)


def id_exists(conn: sqlite3.Connection, table: str, entity_id: str) -> bool:
    """Whether any row, deleted or not, has this id."""
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (entity_id,)).fetchone() is not None


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


def update_entity(
    conn: sqlite3.Connection,
    table: str,
    entity_id: str,
    changes: dict[str, Any],
    *,
    actor_id: str,
    now_ms: int,
    reread: Getter[R],
) -> R:
    """`update`, then the row as `reread` reads it (deleted or not)."""
    update(conn, table, entity_id, changes, actor_id=actor_id, now_ms=now_ms)
    record = reread(conn, entity_id, include_deleted=True)
    assert record is not None
    return record


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


def ids_in_state(
    conn: sqlite3.Connection, table: str, entity_ids: list[str], *, deleted: bool
) -> set[str]:
    """Which of the ids are live (deleted=False) or soft-deleted (deleted=True) rows.

    Chunked, because SQLite caps the number of bound parameters.
    """
    state = "IS NOT NULL" if deleted else "IS NULL"
    found: set[str] = set()
    unique = list(dict.fromkeys(entity_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks, bound = in_list(chunk)
        found.update(
            str(row[0])
            for row in conn.execute(
                f"SELECT id FROM {table} WHERE deleted_at {state} AND id IN ({marks})", bound
            )
        )
    return found
