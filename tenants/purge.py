"""Removing soft-deleted rows for good (PurgeDeleted), once they are past restoring.

A row goes when it was deleted before the cutoff, together with what hangs only on it:
an item's comments, time entries and dependencies (an item's delete leaves its comments and
time entries as they were, hidden with it). A row another remaining row still points to
stays, whatever its age, so no foreign key ever dangles:
- an item stays while one of its children stays (a child deleted later, say);
- a deleted comment stays while a reply to it stays: a tombstone with live replies keeps
  its thread, and one whose replies were deleted more recently waits for them;
- a sprint stays while an item (live or deleted, not purged) names it;
- a project stays while any of its lanes, sprints or items stays. A purged project's key
  moves to retired_project_keys: keys are never reused.

The search indexes follow by themselves: their triggers remove a live row's words when it
is deleted (the comments of a purged item), and deleted rows were never indexed. The
activity log, the event log and the idempotency records are not touched. Nothing here
VACUUMs, so rowids (which the search indexes are keyed by) stay as they are.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_PURGED_ITEMS = "SELECT id FROM temp.purge_items"


@dataclass(frozen=True, slots=True)
class Purged:
    projects: int = 0
    swim_lanes: int = 0
    sprints: int = 0
    work_items: int = 0
    comments: int = 0
    time_entries: int = 0
    dependencies: int = 0

    @property
    def total(self) -> int:
        return (
            self.projects
            + self.swim_lanes
            + self.sprints
            + self.work_items
            + self.comments
            + self.time_entries
            + self.dependencies
        )


def purge_deleted(conn: sqlite3.Connection, *, cutoff_ms: int, now_ms: int) -> Purged:
    """Remove the rows deleted before cutoff_ms (see the module's rules); inside the
    caller's transaction, so it is all or nothing."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS purge_items (id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("DELETE FROM temp.purge_items")
    try:
        return _purge(conn, cutoff_ms, now_ms)
    finally:
        conn.execute("DELETE FROM temp.purge_items")


def _purge(conn: sqlite3.Connection, cutoff: int, now_ms: int) -> Purged:
    conn.execute(
        "INSERT INTO temp.purge_items SELECT id FROM work_items WHERE deleted_at < ?", (cutoff,)
    )
    # Each round spares the parents of a spared item: as many rounds as the tree is deep.
    while (
        conn.execute(
            "DELETE FROM temp.purge_items WHERE id IN (SELECT w.parent_id FROM work_items w"
            f" WHERE w.parent_id IS NOT NULL AND w.id NOT IN ({_PURGED_ITEMS}))"
        ).rowcount
        > 0
    ):
        pass
    dependencies = _deleted(
        conn,
        "DELETE FROM dependencies WHERE deleted_at < ?"
        f" OR from_item_id IN ({_PURGED_ITEMS}) OR to_item_id IN ({_PURGED_ITEMS})",
        cutoff,
    )
    time_entries = _deleted(
        conn,
        f"DELETE FROM time_entries WHERE deleted_at < ? OR work_item_id IN ({_PURGED_ITEMS})",
        cutoff,
    )
    # Replies first (one level), then the comments no remaining reply points to.
    replies = _deleted(
        conn,
        "DELETE FROM comments WHERE parent_comment_id IS NOT NULL"
        f" AND (deleted_at < ? OR work_item_id IN ({_PURGED_ITEMS}))",
        cutoff,
    )
    threads = _deleted(
        conn,
        "DELETE FROM comments WHERE parent_comment_id IS NULL"
        f" AND (deleted_at < ? OR work_item_id IN ({_PURGED_ITEMS}))"
        " AND NOT EXISTS (SELECT 1 FROM comments r WHERE r.parent_comment_id = comments.id)",
        cutoff,
    )
    work_items = conn.execute(f"DELETE FROM work_items WHERE id IN ({_PURGED_ITEMS})").rowcount
    sprints = _deleted(
        conn,
        "DELETE FROM sprints WHERE deleted_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.sprint_id = sprints.id)",
        cutoff,
    )
    swim_lanes = _deleted(conn, "DELETE FROM swim_lanes WHERE deleted_at < ?", cutoff)
    projects = _purge_projects(conn, cutoff, now_ms)
    return Purged(
        projects=projects,
        swim_lanes=swim_lanes,
        sprints=sprints,
        work_items=work_items,
        comments=replies + threads,
        time_entries=time_entries,
        dependencies=dependencies,
    )


def _purge_projects(conn: sqlite3.Connection, cutoff: int, now_ms: int) -> int:
    gone = conn.execute(
        "SELECT id, key FROM projects p WHERE deleted_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM swim_lanes WHERE project_id = p.id)"
        " AND NOT EXISTS (SELECT 1 FROM sprints WHERE project_id = p.id)"
        " AND NOT EXISTS (SELECT 1 FROM work_items WHERE project_id = p.id)",
        (cutoff,),
    ).fetchall()
    if not gone:
        return 0
    conn.executemany(
        "INSERT OR IGNORE INTO retired_project_keys(key, project_id, retired_at) VALUES (?, ?, ?)",
        [(row[1], row[0], now_ms) for row in gone],
    )
    conn.executemany("DELETE FROM projects WHERE id = ?", [(row[0],) for row in gone])
    return len(gone)


def _deleted(conn: sqlite3.Connection, sql: str, cutoff: int) -> int:
    return int(conn.execute(sql, (cutoff,)).rowcount)
