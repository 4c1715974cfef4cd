"""Time entries repository: running timers and finished (manual or stopped) entries.

A running entry has `ended_at IS NULL`; the partial unique index `time_entries_one_running`
keeps it to one per user among live rows. `duration_seconds` is derived from the two times
whenever an entry gets an end, so readers never compute it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows

# The item's project travels with the entry: events go to that project's subscribers.
_SELECT = (
    "SELECT t.*, w.project_id AS project_id FROM time_entries t"
    " JOIN work_items w ON w.id = t.work_item_id"
)


@dataclass(frozen=True, slots=True)
class TimeEntryRecord:
    id: str
    work_item_id: str
    project_id: str
    user_id: str
    started_at: int
    ended_at: int | None
    duration_seconds: int | None
    note: str
    version: int
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    deleted_at: int | None
    deleted_by: str | None

    @property
    def running(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class TimeTotal:
    work_item_id: str
    user_id: str
    duration_seconds: int
    entries: int


def duration_seconds(started_at: int, ended_at: int) -> int:
    return (ended_at - started_at) // 1000


def insert(
    conn: sqlite3.Connection,
    *,
    entry_id: str,
    work_item_id: str,
    user_id: str,
    started_at: int,
    ended_at: int | None,
    note: str,
    now_ms: int,
) -> TimeEntryRecord:
    """A running entry when ended_at is None, a finished one otherwise."""
    return rows.insert_entity(
        conn,
        "time_entries",
        {
            "id": entry_id,
            "work_item_id": work_item_id,
            "user_id": user_id,
            "started_at": started_at,
            "ended_at": ended_at,
            "duration_seconds": (
                None if ended_at is None else duration_seconds(started_at, ended_at)
            ),
            "note": note,
        },
        actor_id=user_id,
        now_ms=now_ms,
        reread=get,
    )


def get(
    conn: sqlite3.Connection, entry_id: str, *, include_deleted: bool = False
) -> TimeEntryRecord | None:
    return rows.fetch_by_id(
        conn, TimeEntryRecord, "t", entry_id, include_deleted=include_deleted, select=_SELECT
    )


def id_exists(conn: sqlite3.Connection, entry_id: str) -> bool:
    return rows.id_exists(conn, "time_entries", entry_id)


def running_for_user(conn: sqlite3.Connection, user_id: str) -> TimeEntryRecord | None:
    row = conn.execute(
        f"{_SELECT} WHERE t.user_id = ? AND t.ended_at IS NULL AND t.deleted_at IS NULL",
        (user_id,),
    ).fetchone()
    return rows.to_record(TimeEntryRecord, row)


def stop(
    conn: sqlite3.Connection, entry: TimeEntryRecord, *, ended_at: int, actor_id: str, now_ms: int
) -> TimeEntryRecord:
    """Ends a running entry and derives its duration."""
    return update(
        conn,
        entry.id,
        {
            "ended_at": ended_at,
            "duration_seconds": duration_seconds(entry.started_at, ended_at),
        },
        actor_id=actor_id,
        now_ms=now_ms,
    )


def update(
    conn: sqlite3.Connection,
    entry_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
) -> TimeEntryRecord:
    return rows.update_entity(
        conn, "time_entries", entry_id, changes, actor_id=actor_id, now_ms=now_ms, reread=get
    )


def soft_delete(
    conn: sqlite3.Connection, entry_id: str, *, actor_id: str, now_ms: int, batch: str
) -> None:
    rows.soft_delete(conn, "time_entries", entry_id, actor_id=actor_id, now_ms=now_ms, batch=batch)


def list_entries(
    conn: sqlite3.Connection,
    *,
    work_item_id: str | None,
    user_id: str | None,
    after: tuple[int, str] | None,
    limit: int,
) -> list[TimeEntryRecord]:
    """Live entries on live items, newest start first; `after` is the last (started_at, id)."""
    where = ["t.deleted_at IS NULL", "w.deleted_at IS NULL"]
    params: list[object] = []
    if work_item_id is not None:
        where.append("t.work_item_id = ?")
        params.append(work_item_id)
    if user_id is not None:
        where.append("t.user_id = ?")
        params.append(user_id)
    if after is not None:
        where.append("(t.started_at < ? OR (t.started_at = ? AND t.id < ?))")
        params.extend([after[0], after[0], after[1]])
    found = conn.execute(
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY t.started_at DESC, t.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return rows.to_records(TimeEntryRecord, found)


_TOTALS = (
    "SELECT t.work_item_id, t.user_id, SUM(t.duration_seconds), COUNT(*) FROM time_entries t"
    " JOIN work_items w ON w.id = t.work_item_id"
    " WHERE t.deleted_at IS NULL AND w.deleted_at IS NULL AND t.ended_at IS NOT NULL"
)


def totals_for_item(conn: sqlite3.Connection, work_item_id: str) -> list[TimeTotal]:
    """Finished live entries of one item, summed per user (most time first)."""
    found = conn.execute(
        f"{_TOTALS} AND t.work_item_id = ? GROUP BY t.user_id ORDER BY 3 DESC, t.user_id",
        (work_item_id,),
    ).fetchall()
    return [TimeTotal(*row) for row in found]


def totals_for_user(conn: sqlite3.Connection, user_id: str) -> list[TimeTotal]:
    """Finished live entries of one user on live items, summed per item (most time first)."""
    found = conn.execute(
        f"{_TOTALS} AND t.user_id = ? GROUP BY t.work_item_id ORDER BY 3 DESC, t.work_item_id",
        (user_id,),
    ).fetchall()
    return [TimeTotal(*row) for row in found]
