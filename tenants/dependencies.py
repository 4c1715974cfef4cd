"""Dependencies repository: `blocks` and `relates_to` edges between work items.

`from_item_id blocks to_item_id` means the "to" item waits for the "from" item. The blocks
edges form a graph that must stay acyclic; `find_cycle` checks that in the database itself:
first plain reachability (a recursive CTE with UNION over nodes, so each node is visited
once, never carrying paths), and only when a cycle exists, one path rebuilt for the message
by a breadth-first search with parent pointers over the reachable subgraph.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import dataclass

from tenants import rows

BLOCKS = "blocks"
RELATES_TO = "relates_to"


@dataclass(frozen=True, slots=True)
class DependencyRecord:
    id: str
    from_item_id: str
    to_item_id: str
    type: str
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
    dependency_id: str,
    from_item_id: str,
    to_item_id: str,
    type: str,
    actor_id: str,
    now_ms: int,
) -> DependencyRecord:
    return rows.insert_entity(
        conn,
        "dependencies",
        {
            "id": dependency_id,
            "from_item_id": from_item_id,
            "to_item_id": to_item_id,
            "type": type,
        },
        actor_id=actor_id,
        now_ms=now_ms,
        reread=get,
    )


def get(
    conn: sqlite3.Connection, dependency_id: str, *, include_deleted: bool = False
) -> DependencyRecord | None:
    return rows.fetch_by_id(
        conn, DependencyRecord, "dependencies", dependency_id, include_deleted=include_deleted
    )


def id_exists(conn: sqlite3.Connection, dependency_id: str) -> bool:
    return rows.id_exists(conn, "dependencies", dependency_id)


def find_pair(conn: sqlite3.Connection, item_a: str, item_b: str) -> DependencyRecord | None:
    """The live dependency between two items, in either direction, of any type."""
    row = conn.execute(
        "SELECT * FROM dependencies WHERE deleted_at IS NULL"
        " AND min(from_item_id, to_item_id) = min(?, ?)"
        " AND max(from_item_id, to_item_id) = max(?, ?)",
        (item_a, item_b, item_a, item_b),
    ).fetchone()
    return rows.to_record(DependencyRecord, row)


def soft_delete(
    conn: sqlite3.Connection, dependency_id: str, *, actor_id: str, now_ms: int, batch: str
) -> None:
    rows.soft_delete(
        conn, "dependencies", dependency_id, actor_id=actor_id, now_ms=now_ms, batch=batch
    )


def edges_into(conn: sqlite3.Connection, item_id: str, type: str) -> list[DependencyRecord]:
    found = conn.execute(
        "SELECT * FROM dependencies WHERE to_item_id = ? AND type = ? AND deleted_at IS NULL"
        " ORDER BY created_at, id",
        (item_id, type),
    ).fetchall()
    return rows.to_records(DependencyRecord, found)


def edges_out_of(conn: sqlite3.Connection, item_id: str, type: str) -> list[DependencyRecord]:
    found = conn.execute(
        "SELECT * FROM dependencies WHERE from_item_id = ? AND type = ? AND deleted_at IS NULL"
        " ORDER BY created_at, id",
        (item_id, type),
    ).fetchall()
    return rows.to_records(DependencyRecord, found)


def related(conn: sqlite3.Connection, item_id: str) -> list[DependencyRecord]:
    """relates_to edges touching the item, whichever end it is."""
    found = conn.execute(
        "SELECT * FROM dependencies WHERE type = 'relates_to' AND deleted_at IS NULL"
        " AND (from_item_id = ? OR to_item_id = ?) ORDER BY created_at, id",
        (item_id, item_id),
    ).fetchall()
    return rows.to_records(DependencyRecord, found)


def is_blocked(conn: sqlite3.Connection, item_id: str) -> bool:
    """Blocked by at least one live item whose status is not done."""
    found = conn.execute(
        "SELECT 1 FROM dependencies d JOIN work_items w ON w.id = d.from_item_id"
        " WHERE d.to_item_id = ? AND d.type = 'blocks' AND d.deleted_at IS NULL"
        " AND w.deleted_at IS NULL AND w.status <> 'done' LIMIT 1",
        (item_id,),
    ).fetchone()
    return found is not None


# Nodes reachable from ?1 along live blocks edges; UNION keeps one row per node, so the
# recursion visits each node once however many paths lead to it.
_REACHABLE = (
    "WITH RECURSIVE reach(node) AS ("
    " SELECT ?1"
    " UNION"
    " SELECT d.to_item_id FROM dependencies d JOIN reach r ON d.from_item_id = r.node"
    " WHERE d.deleted_at IS NULL AND d.type = 'blocks'"
    ")"
)


def reaches(conn: sqlite3.Connection, start_id: str, target_id: str) -> bool:
    """Whether target is reachable from start following live blocks edges."""
    row = conn.execute(
        f"{_REACHABLE} SELECT EXISTS (SELECT 1 FROM reach WHERE node = ?2)",
        (start_id, target_id),
    ).fetchone()
    return bool(row[0])


def blocks_path(conn: sqlite3.Connection, start_id: str, target_id: str) -> list[str] | None:
    """One shortest path start -> ... -> target along live blocks edges, or None.

    The second query fetches only the edges leaving reachable nodes; the search keeps one
    parent per node, so memory stays linear in the reachable subgraph.
    """
    edges = conn.execute(
        f"{_REACHABLE} SELECT d.from_item_id, d.to_item_id FROM dependencies d"
        " JOIN reach r ON d.from_item_id = r.node"
        " WHERE d.deleted_at IS NULL AND d.type = 'blocks'",
        (start_id,),
    ).fetchall()
    successors: dict[str, list[str]] = {}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
    parent: dict[str, str | None] = {start_id: None}
    queue = deque([start_id])
    while queue:
        node = queue.popleft()
        if node == target_id:
            return _walk_back(parent, target_id)
        for nxt in successors.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def _walk_back(parent: dict[str, str | None], node: str) -> list[str]:
    path = [node]
    step = parent[node]
    while step is not None:
        path.append(step)
        step = parent[step]
    path.reverse()
    return path


def find_cycle(conn: sqlite3.Connection, from_item_id: str, to_item_id: str) -> list[str] | None:
    """The cycle a new edge `from blocks to` would close, as item ids, or None.

    The cycle is from -> to -> ... -> from: it exists exactly when `from` is reachable from
    `to`. Reachability runs first; the path is rebuilt only for a refusal.
    """
    if not reaches(conn, to_item_id, from_item_id):
        return None
    path = blocks_path(conn, to_item_id, from_item_id)
    assert path is not None, "reachable but no path: the graph changed mid-transaction"
    return [from_item_id, *path]


def item_keys(conn: sqlite3.Connection, item_ids: list[str]) -> dict[str, str]:
    """Item id -> key like PM-3, for naming a cycle."""
    keys: dict[str, str] = {}
    unique = list(dict.fromkeys(item_ids))
    # Chunked: SQLite caps the number of bound parameters.
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks, bound = rows.in_list(chunk)
        found = conn.execute(
            "SELECT w.id, p.key || '-' || w.number FROM work_items w"
            f" JOIN projects p ON p.id = w.project_id WHERE w.id IN ({marks})",
            bound,
        ).fetchall()
        keys.update({row[0]: row[1] for row in found})
    return keys
