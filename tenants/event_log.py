"""The tenant's durable event log: one row per committed change, keyed by seq.

The payload is opaque here (server/ encodes it). An event exists if and only if its change
committed, because it is inserted in the same transaction. seq comes from AUTOINCREMENT, so
SQLite's sqlite_sequence row is a counter that survives pruning: the current seq is never
lowered by deleting old events, and a seq is never given twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from tenants import rows


@dataclass(frozen=True, slots=True)
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
    """The highest seq ever committed (0 for a new tenant), pruned or not."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row is not None else 0


def first_retained_seq(conn: sqlite3.Connection) -> int:
    """The smallest seq a replay can still send: the oldest stored event's, or the next seq
    to be given when every event so far has been pruned (or there was none)."""
    row = conn.execute("SELECT MIN(seq) FROM events").fetchone()
    return int(row[0]) if row[0] is not None else current_seq(conn) + 1


def replayable(conn: sqlite3.Connection, since_seq: int) -> bool:
    """Whether every event after since_seq is still stored."""
    return since_seq >= current_seq(conn) or since_seq + 1 >= first_retained_seq(conn)


@dataclass(frozen=True, slots=True)
class Extent:
    """What a replay would send: how many events, the last one's seq, their payload bytes."""

    count: int
    last_seq: int
    payload_bytes: int


def extent(
    conn: sqlite3.Connection,
    *,
    since_seq: int,
    up_to_seq: int,
    project_ids: Iterable[str],
    tenant_feed: bool,
) -> Extent:
    # In SQL alone: a replay of many events must not cost a Python loop over them (a read
    # holding the GIL holds every write on the event loop too).
    projects = list(dict.fromkeys(project_ids))
    parts: list[str] = []
    params: list[object] = []
    if projects:
        marks, bound = rows.in_list(projects)
        parts.append(
            f"SELECT seq FROM event_projects WHERE project_id IN ({marks}) AND seq > ? AND seq <= ?"
        )
        params += [*bound, since_seq, up_to_seq]
    if tenant_feed:
        parts.append("SELECT seq FROM events WHERE tenant_level = 1 AND seq > ? AND seq <= ?")
        params += [since_seq, up_to_seq]
    if not parts:
        return Extent(0, since_seq, 0)
    row = conn.execute(
        "SELECT COUNT(*), MAX(seq), COALESCE(SUM(length(payload)), 0) FROM events"
        f" WHERE seq IN ({' UNION '.join(parts)})",
        params,
    ).fetchone()
    return Extent(int(row[0]), int(row[1]) if row[1] is not None else since_seq, int(row[2]))


def page(
    conn: sqlite3.Connection,
    *,
    after_seq: int,
    up_to_seq: int,
    project_ids: Iterable[str] | None,
    tenant_feed: bool,
    limit: int,
) -> list[StoredEvent]:
    """At most `limit` stored events in (after_seq, up_to_seq], ascending, that touch one
    of the projects or (tenant_feed) are project-level; project_ids None means every event.

    Each project's events come from a range of event_projects' key, limited, and the lists
    are merged here: an ORDER BY over several projects would sort the whole range per page.
    """
    if project_ids is None:
        seqs = [
            row[0]
            for row in conn.execute(
                "SELECT seq FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after_seq, up_to_seq, limit),
            )
        ]
        return events_for(conn, seqs)
    found: set[int] = set()
    for project_id in dict.fromkeys(project_ids):
        found.update(
            row[0]
            for row in conn.execute(
                "SELECT seq FROM event_projects WHERE project_id = ? AND seq > ? AND seq <= ?"
                " ORDER BY seq LIMIT ?",
                (project_id, after_seq, up_to_seq, limit),
            )
        )
    if tenant_feed:
        found.update(
            row[0]
            for row in conn.execute(
                "SELECT seq FROM events WHERE seq > ? AND seq <= ? AND tenant_level = 1"
                " ORDER BY seq LIMIT ?",
                (after_seq, up_to_seq, limit),
            )
        )
    return events_for(conn, sorted(found)[:limit])


def prune(conn: sqlite3.Connection, *, keep_events: int, cutoff_ms: int, limit: int) -> list[int]:
    """Delete (at most `limit` of) the events that are not among the newest `keep_events`
    and occurred before cutoff_ms, oldest first; returns the seqs deleted."""
    newest_pruned = current_seq(conn) - keep_events
    seqs = [
        row[0]
        for row in conn.execute(
            "SELECT seq FROM events WHERE seq <= ? AND occurred_at < ? ORDER BY seq LIMIT ?",
            (newest_pruned, cutoff_ms, limit),
        )
    ]
    for chunk in _chunks(seqs, 500):
        marks, bound = rows.in_list(chunk)
        conn.execute(f"DELETE FROM event_projects WHERE seq IN ({marks})", bound)
        conn.execute(f"DELETE FROM events WHERE seq IN ({marks})", bound)
    return seqs


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
        marks, bound = rows.in_list(chunk)
        projects: dict[int, list[str]] = {}
        for seq, project_id in conn.execute(
            f"SELECT seq, project_id FROM event_projects WHERE seq IN ({marks})",
            bound,
        ):
            projects.setdefault(seq, []).append(project_id)
        stored = conn.execute(
            "SELECT seq, tenant_level, occurred_at, actor_id, request_id, payload FROM events"
            f" WHERE seq IN ({marks}) ORDER BY seq",
            bound,
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
            for row in stored
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
        marks, bound = rows.in_list(chunk)
        row = conn.execute(
            f"SELECT COALESCE(SUM(length(payload)), 0) FROM events WHERE seq IN ({marks})", bound
        ).fetchone()
        total += int(row[0])
    return total


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
