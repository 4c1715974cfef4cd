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
    if len(projects) == 1:  # most events: execute is cheaper than executemany
        conn.execute(_PROJECT_INSERT, (projects[0], seq))
    elif projects:
        conn.executemany(_PROJECT_INSERT, [(p, seq) for p in projects])
    return StoredEvent(seq, projects, tenant_level, occurred_at, actor_id, request_id, payload)


_PROJECT_INSERT = "INSERT INTO event_projects(project_id, seq) VALUES (?, ?)"


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
    """Stored events in (since_seq, up_to_seq] touching one of the projects, in seq order.

    Linear in the events read: the matching seqs come from one range scan per project over
    event_projects' (project_id, seq) key (and the tenant-level ones by a range over
    events), then each event and its projects by their keys. A subquery correlated on seq
    alone would scan event_projects once per event, since its key starts with project_id.
    """
    return events_for(
        conn,
        matching_seqs(
            conn,
            since_seq=since_seq,
            up_to_seq=up_to_seq,
            project_ids=project_ids,
            tenant_feed=tenant_feed,
        ),
    )


def events_for(conn: sqlite3.Connection, seqs: list[int]) -> list[StoredEvent]:
    """The stored events of these seqs (ascending), each with its projects."""
    found: list[StoredEvent] = []
    for chunk in _chunks(seqs, 500):
        marks = ",".join("?" * len(chunk))
        projects: dict[int, list[str]] = {}
        for seq, project_id in conn.execute(
            f"SELECT seq, project_id FROM event_projects WHERE seq IN ({marks})",
            chunk,
        ):
            projects.setdefault(seq, []).append(project_id)
        rows = conn.execute(
            "SELECT seq, tenant_level, occurred_at, actor_id, request_id, payload FROM events"
            f" WHERE seq IN ({marks}) ORDER BY seq",
            chunk,
        ).fetchall()
        found.extend(
            StoredEvent(
                seq=row[0],
                project_ids=tuple(projects.get(row[0], ())),
                tenant_level=bool(row[1]),
                occurred_at=row[2],
                actor_id=row[3],
                request_id=row[4],
                payload=bytes(row[5]),
            )
            for row in rows
        )
    return found


def matching_seqs(
    conn: sqlite3.Connection,
    *,
    since_seq: int,
    up_to_seq: int,
    project_ids: Iterable[str],
    tenant_feed: bool,
) -> list[int]:
    """The seqs in (since_seq, up_to_seq] a subscription matches, ascending."""
    found: set[int] = set()
    for project_id in dict.fromkeys(project_ids):
        found.update(
            row[0]
            for row in conn.execute(
                "SELECT seq FROM event_projects WHERE project_id = ? AND seq > ? AND seq <= ?",
                (project_id, since_seq, up_to_seq),
            )
        )
    if tenant_feed:
        found.update(
            row[0]
            for row in conn.execute(
                "SELECT seq FROM events WHERE seq > ? AND seq <= ? AND tenant_level = 1",
                (since_seq, up_to_seq),
            )
        )
    return sorted(found)


def payload_bytes(conn: sqlite3.Connection, seqs: list[int]) -> int:
    """The stored payload bytes of these events (length() reads no blob content)."""
    total = 0
    for chunk in _chunks(seqs, 500):
        marks = ",".join("?" * len(chunk))
        row = conn.execute(
            f"SELECT COALESCE(SUM(length(payload)), 0) FROM events WHERE seq IN ({marks})", chunk
        ).fetchone()
        total += int(row[0])
    return total


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
