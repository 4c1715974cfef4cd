"""The tenant's durable event log: one row per committed change, keyed by seq.

The payload is opaque here (server/ encodes it). An event exists if and only if its change
committed, because it is inserted in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    project_ids: tuple[str, ...]
    tenant_level: bool
    occurred_at: int
    actor_id: str
    request_id: str
    payload: bytes


def append(
    conn: sqlite3.Connection,
    *,
    project_ids: Iterable[str],
    tenant_level: bool,
    occurred_at: int,
    actor_id: str,
    request_id: str,
    payload: bytes,
) -> StoredEvent:
    cursor = conn.execute(
        "INSERT INTO events(occurred_at, actor_id, request_id, tenant_level, payload)"
        " VALUES (?, ?, ?, ?, ?)",
        (occurred_at, actor_id, request_id, int(tenant_level), payload),
    )
    seq = cursor.lastrowid
    assert seq is not None
    projects = tuple(dict.fromkeys(p for p in project_ids if p))
    conn.executemany(
        "INSERT INTO event_projects(project_id, seq) VALUES (?, ?)",
        [(p, seq) for p in projects],
    )
    return StoredEvent(seq, projects, tenant_level, occurred_at, actor_id, request_id, payload)


def current_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
    return int(row[0])


def oldest_retained_seq(conn: sqlite3.Connection) -> int:
    """The smallest seq still stored (0 when the log is empty)."""
    row = conn.execute("SELECT COALESCE(MIN(seq), 0) FROM events").fetchone()
    return int(row[0])


def events_after(
    conn: sqlite3.Connection,
    *,
    since_seq: int,
    up_to_seq: int,
    project_ids: Iterable[str],
    tenant_feed: bool,
) -> list[StoredEvent]:
    """Stored events in (since_seq, up_to_seq] touching one of the projects, in seq order."""
    projects = list(project_ids)
    clauses = []
    params: list[object] = [since_seq, up_to_seq]
    if projects:
        marks = ",".join("?" * len(projects))
        clauses.append(
            f"e.seq IN (SELECT seq FROM event_projects WHERE project_id IN ({marks})"
            " AND seq > ? AND seq <= ?)"
        )
        params.extend(projects)
        params.extend([since_seq, up_to_seq])
    if tenant_feed:
        clauses.append("e.tenant_level = 1")
    if not clauses:
        return []
    rows = conn.execute(
        "SELECT e.seq, e.tenant_level, e.occurred_at, e.actor_id, e.request_id, e.payload,"
        " (SELECT group_concat(project_id, char(31)) FROM event_projects p"
        "  WHERE p.seq = e.seq) AS projects"
        f" FROM events e WHERE e.seq > ? AND e.seq <= ? AND ({' OR '.join(clauses)})"
        " ORDER BY e.seq",
        params,
    ).fetchall()
    return [
        StoredEvent(
            seq=row["seq"],
            project_ids=tuple(row["projects"].split("\x1f")) if row["projects"] else (),
            tenant_level=bool(row["tenant_level"]),
            occurred_at=row["occurred_at"],
            actor_id=row["actor_id"],
            request_id=row["request_id"],
            payload=bytes(row["payload"]),
        )
        for row in rows
    ]
