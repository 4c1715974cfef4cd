"""Work items repository: epics, stories, tasks and bugs, numbered per project."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import rows
from tenants.readers import fetch_all, yield_gil

_SELECT = (
    "SELECT w.*, p.key AS project_key FROM work_items w JOIN projects p ON p.id = w.project_id"
)


@dataclass(frozen=True, slots=True)
class WorkItemRecord:
    id: str
    project_id: str
    project_key: str
    number: int
    type: str
    parent_id: str | None
    status: str
    rank: str
    title: str
    description: str
    priority: str
    assignee_id: str | None
    sprint_id: str | None
    story_points: int | None
    version: int
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    deleted_at: int | None
    deleted_by: str | None
    delete_batch: str | None

    @property
    def key(self) -> str:
        return f"{self.project_key}-{self.number}"


def insert(
    conn: sqlite3.Connection,
    *,
    item_id: str,
    project_id: str,
    number: int,
    type: str,
    parent_id: str | None,
    status: str,
    rank: str,
    title: str,
    description: str,
    priority: str,
    assignee_id: str | None,
    sprint_id: str | None,
    story_points: int | None,
    actor_id: str,
    now_ms: int,
    project_key: str,
) -> WorkItemRecord:
    return rows.insert_returning(
        conn,
        "work_items",
        {
            "id": item_id,
            "project_id": project_id,
            "number": number,
            "type": type,
            "parent_id": parent_id,
            "status": status,
            "rank": rank,
            "title": title,
            "description": description,
            "priority": priority,
            "assignee_id": assignee_id,
            "sprint_id": sprint_id,
            "story_points": story_points,
        },
        actor_id=actor_id,
        now_ms=now_ms,
        record=WorkItemRecord,
        extra={"project_key": project_key},
    )


def get(
    conn: sqlite3.Connection, item_id: str, *, include_deleted: bool = False
) -> WorkItemRecord | None:
    return rows.fetch_by_id(
        conn, WorkItemRecord, "w", item_id, include_deleted=include_deleted, select=_SELECT
    )


def id_exists(conn: sqlite3.Connection, item_id: str) -> bool:
    return rows.id_exists(conn, "work_items", item_id)


def lane_end(conn: sqlite3.Connection, project_id: str, status: str) -> tuple[bool, str | None]:
    """Whether the project has a live lane of this status, and the highest rank in it."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM swim_lanes WHERE project_id = ? AND status_value = ?"
        " AND deleted_at IS NULL), (SELECT MAX(rank) FROM work_items WHERE project_id = ?"
        " AND status = ? AND deleted_at IS NULL)",
        (project_id, status, project_id, status),
    ).fetchone()
    return bool(row[0]), row[1]


def last_rank(conn: sqlite3.Connection, project_id: str, status: str) -> str | None:
    """The highest rank in a lane (None when the lane is empty)."""
    row = conn.execute(
        "SELECT MAX(rank) FROM work_items WHERE project_id = ? AND status = ?"
        " AND deleted_at IS NULL",
        (project_id, status),
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def update(
    conn: sqlite3.Connection,
    item_id: str,
    changes: dict[str, object],
    *,
    actor_id: str,
    now_ms: int,
    project_key: str | None = None,
) -> WorkItemRecord:
    """The item after the change; given the project's key, without reading it again."""
    if project_key is not None:
        return rows.update_returning(
            conn,
            "work_items",
            item_id,
            changes,
            actor_id=actor_id,
            now_ms=now_ms,
            record=WorkItemRecord,
            extra={"project_key": project_key},
        )
    return rows.update_entity(
        conn, "work_items", item_id, changes, actor_id=actor_id, now_ms=now_ms, reread=get
    )


def neighbour_rank(
    conn: sqlite3.Connection,
    project_id: str,
    status: str,
    rank: str,
    *,
    below: bool,
    exclude_id: str,
) -> str | None:
    """The rank of the item right below (or above) `rank` in a lane, skipping one item.

    One indexed step along (project_id, status, rank): a move reads only its neighbour and
    the item adjacent to it, never the whole lane.
    """
    comparison, order = ("<", "DESC") if below else (">", "ASC")
    row = conn.execute(
        "SELECT rank FROM work_items WHERE project_id = ? AND status = ? AND deleted_at IS NULL"
        f" AND rank {comparison} ? AND id <> ? ORDER BY rank {order} LIMIT 1",
        (project_id, status, rank, exclude_id),
    ).fetchone()
    return str(row[0]) if row else None


def lane_end_rank(
    conn: sqlite3.Connection, project_id: str, status: str, *, exclude_id: str
) -> str | None:
    """The highest rank in a lane other than the moved item's own (None: nothing else)."""
    row = conn.execute(
        "SELECT MAX(rank) FROM work_items WHERE project_id = ? AND status = ?"
        " AND deleted_at IS NULL AND id <> ?",
        (project_id, status, exclude_id),
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def lane_ranks(conn: sqlite3.Connection, project_id: str, status: str) -> list[tuple[str, str]]:
    """(id, rank) of a lane's live items in order."""
    found = conn.execute(
        "SELECT id, rank FROM work_items WHERE project_id = ? AND status = ?"
        " AND deleted_at IS NULL ORDER BY rank",
        (project_id, status),
    ).fetchall()
    return [(str(row[0]), str(row[1])) for row in found]


def rank_taken(
    conn: sqlite3.Connection, project_id: str, status: str, rank: str, *, exclude_id: str
) -> bool:
    """Whether another live item of the lane holds this rank (a restored item may collide:
    new items take ranks after the live ones only)."""
    row = conn.execute(
        "SELECT 1 FROM work_items WHERE project_id = ? AND status = ? AND rank = ?"
        " AND deleted_at IS NULL AND id <> ?",
        (project_id, status, rank, exclude_id),
    ).fetchone()
    return row is not None


# Live descendants of ?1 and ?1 itself; UNION (not UNION ALL) visits each item once, so a
# corrupt parent loop could not make the recursion run away.
_SUBTREE = (
    "WITH RECURSIVE sub(id) AS ("
    " SELECT ?1"
    " UNION"
    " SELECT w.id FROM work_items w JOIN sub ON w.parent_id = sub.id"
    " WHERE w.deleted_at IS NULL"
    ")"
)


def subtree(conn: sqlite3.Connection, root_id: str) -> list[WorkItemRecord]:
    """The live item and its live descendants: the root first, each item after its parent.

    Depth first, siblings by number (creation order), so a client can render it as it comes.
    """
    found = conn.execute(
        f"{_SUBTREE} {_SELECT} WHERE w.id IN (SELECT id FROM sub) AND w.deleted_at IS NULL",
        (root_id,),
    ).fetchall()
    return [item for item, _ in _depth_first(root_id, rows.to_records(WorkItemRecord, found))]


def subtree_paths(
    conn: sqlite3.Connection, root_id: str
) -> list[tuple[WorkItemRecord, tuple[int, ...]]]:
    """`subtree`, each item with its path of numbers from the root; depth first with
    siblings by number is exactly the order of these paths, so a page can resume after one."""
    found = conn.execute(
        f"{_SUBTREE} {_SELECT} WHERE w.id IN (SELECT id FROM sub) AND w.deleted_at IS NULL",
        (root_id,),
    ).fetchall()
    return _depth_first(root_id, rows.to_records(WorkItemRecord, found))


def _depth_first(
    root_id: str, items: list[WorkItemRecord]
) -> list[tuple[WorkItemRecord, tuple[int, ...]]]:
    by_id = {item.id: item for item in items}
    children: dict[str, list[WorkItemRecord]] = {}
    for item in sorted(items, key=lambda i: i.number):
        if item.parent_id is not None and item.id != root_id:
            children.setdefault(item.parent_id, []).append(item)
    ordered: list[tuple[WorkItemRecord, tuple[int, ...]]] = []
    root = by_id.get(root_id)
    stack: list[tuple[WorkItemRecord, tuple[int, ...]]] = (
        [(root, (root.number,))] if root is not None else []
    )
    seen: set[str] = set()
    while stack:
        item, path = stack.pop()
        if item.id in seen:
            continue
        seen.add(item.id)
        ordered.append((item, path))
        stack.extend(
            (child, (*path, child.number)) for child in reversed(children.get(item.id, []))
        )
    return ordered


def ancestors(conn: sqlite3.Connection, item_id: str) -> list[WorkItemRecord]:
    """The path from the root down to the item's parent (empty for a top-level item)."""
    found = conn.execute(
        "WITH RECURSIVE up(id, depth) AS ("
        " SELECT parent_id, 1 FROM work_items WHERE id = ? AND parent_id IS NOT NULL"
        " UNION ALL"
        " SELECT w.parent_id, up.depth + 1 FROM work_items w JOIN up ON w.id = up.id"
        # The depth cap only guards against a corrupt loop; the hierarchy is three deep.
        " WHERE w.parent_id IS NOT NULL AND up.depth < 64"
        f") {_SELECT} JOIN up ON up.id = w.id WHERE w.deleted_at IS NULL"
        " ORDER BY up.depth DESC",
        (item_id,),
    ).fetchall()
    return rows.to_records(WorkItemRecord, found)


def is_in_subtree(conn: sqlite3.Connection, root_id: str, item_id: str) -> bool:
    """Whether item_id is root_id or one of its descendants (walks up from item_id)."""
    row = conn.execute(
        "WITH RECURSIVE up(id) AS ("
        " SELECT ?1"
        " UNION"
        " SELECT w.parent_id FROM work_items w JOIN up ON w.id = up.id"
        " WHERE w.parent_id IS NOT NULL"
        ") SELECT EXISTS (SELECT 1 FROM up WHERE id = ?2)",
        (item_id, root_id),
    ).fetchone()
    return bool(row[0])


def child_types(conn: sqlite3.Connection, item_id: str) -> set[str]:
    """The types of the item's live children."""
    found = conn.execute(
        "SELECT DISTINCT type FROM work_items WHERE parent_id = ? AND deleted_at IS NULL",
        (item_id,),
    ).fetchall()
    return {str(row[0]) for row in found}


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """ListWorkItems filters; None means "any"."""

    status: str | None = None
    sprint_id: str | None = None
    assignee_id: str | None = None
    type: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class LanePosition:
    """Where an item sits in a project's board: lane order, then rank, then id."""

    lane: int
    rank: str
    id: str


# Items of a lane that no longer exists (possible only after unusual restores) sort last.
_LANE_ORDER = (
    "COALESCE((SELECT l.position FROM swim_lanes l WHERE l.project_id = w.project_id"
    " AND l.status_value = w.status AND l.deleted_at IS NULL), 1000000)"
)


def list_for_project(
    conn: sqlite3.Connection,
    project_id: str,
    filters: ItemFilter,
    *,
    after: LanePosition | None,
    limit: int,
) -> list[tuple[WorkItemRecord, LanePosition]]:
    """Live items of a project in board order (lane position, rank, id), keyset-paged."""
    clauses = ["w.project_id = ?", "w.deleted_at IS NULL"]
    params: list[object] = [project_id]
    for column, value in (
        ("status", filters.status),
        ("sprint_id", filters.sprint_id),
        ("assignee_id", filters.assignee_id),
        ("type", filters.type),
        ("parent_id", filters.parent_id),
    ):
        if value is not None:
            clauses.append(f"w.{column} = ?")
            params.append(value)
    if after is not None:
        clauses.append("(lane_position, w.rank, w.id) > (?, ?, ?)")
        params.extend((after.lane, after.rank, after.id))
    found = fetch_all(
        conn.execute(
            f"SELECT * FROM (SELECT w.*, p.key AS project_key, {_LANE_ORDER} AS lane_position"
            " FROM work_items w JOIN projects p ON p.id = w.project_id) w"
            f" WHERE {' AND '.join(clauses)}"
            " ORDER BY lane_position, w.rank, w.id LIMIT ?",
            (*params, limit),
        )
    )
    result = []
    for index, row in enumerate(found):
        yield_gil(index)  # a whole project's items, on a read thread
        record = rows.to_record(WorkItemRecord, row)
        assert record is not None
        result.append((record, LanePosition(int(row["lane_position"]), record.rank, record.id)))
    return result


@dataclass(frozen=True, slots=True)
class DeletedDependency:
    """A dependency row as delete and restore see it (the dependency commands own the rest)."""

    id: str
    from_item_id: str
    to_item_id: str
    type: str


_DELETE_STAMP = (
    "deleted_at = ?, deleted_by = ?, delete_batch = ?, version = version + 1,"
    " updated_at = ?, updated_by = ?"
)
_RESTORE_STAMP = (
    "deleted_at = NULL, deleted_by = NULL, delete_batch = NULL, version = version + 1,"
    " updated_at = ?, updated_by = ?"
)


def live_dependencies_of_subtree(conn: sqlite3.Connection, root_id: str) -> list[DeletedDependency]:
    """Live dependencies touching the item or any of its live descendants."""
    found = conn.execute(
        f"{_SUBTREE} SELECT id, from_item_id, to_item_id, type FROM dependencies"
        " WHERE deleted_at IS NULL"
        " AND (from_item_id IN (SELECT id FROM sub) OR to_item_id IN (SELECT id FROM sub))"
        " ORDER BY created_at, id",
        (root_id,),
    ).fetchall()
    return [DeletedDependency(*row) for row in found]


def soft_delete_many(
    conn: sqlite3.Connection,
    table: str,
    ids: list[str],
    *,
    actor_id: str,
    now_ms: int,
    batch: str,
) -> None:
    """Soft-delete the given rows of work_items or dependencies as one batch."""
    assert table in ("work_items", "dependencies")
    conn.executemany(
        f"UPDATE {table} SET {_DELETE_STAMP} WHERE id = ? AND deleted_at IS NULL",
        [(now_ms, actor_id, batch, now_ms, actor_id, entity_id) for entity_id in ids],
    )


def batch_items(conn: sqlite3.Connection, root: WorkItemRecord) -> list[WorkItemRecord]:
    """The deleted items of the root's delete batch, the root first, each after its parent.

    A batch is named by the delete's request id, which is unique per user only, so the
    deleting user and the time pin it down.
    """
    found = conn.execute(
        f"{_SELECT} WHERE w.delete_batch = ? AND w.deleted_by IS ? AND w.deleted_at = ?",
        (root.delete_batch, root.deleted_by, root.deleted_at),
    ).fetchall()
    return [item for item, _ in _depth_first(root.id, rows.to_records(WorkItemRecord, found))]


def batch_dependencies(conn: sqlite3.Connection, root: WorkItemRecord) -> list[DeletedDependency]:
    found = conn.execute(
        "SELECT id, from_item_id, to_item_id, type FROM dependencies"
        " WHERE delete_batch = ? AND deleted_by IS ? AND deleted_at = ? ORDER BY created_at, id",
        (root.delete_batch, root.deleted_by, root.deleted_at),
    ).fetchall()
    return [DeletedDependency(*row) for row in found]


def live_ids(conn: sqlite3.Connection, item_ids: list[str]) -> set[str]:
    """Which of the items are live."""
    return rows.ids_in_state(conn, "work_items", item_ids, deleted=False)


def project_ids_of(conn: sqlite3.Connection, item_ids: list[str]) -> list[str]:
    """The distinct projects of the items, deleted ones included, in first-seen order."""
    projects: dict[str, None] = {}
    unique = list(dict.fromkeys(item_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks, bound = rows.in_list(chunk)
        found = conn.execute(
            f"SELECT DISTINCT project_id FROM work_items WHERE id IN ({marks})", bound
        ).fetchall()
        projects.update((str(row[0]), None) for row in found)
    return list(projects)


def restore_many(
    conn: sqlite3.Connection, table: str, ids: list[str], *, actor_id: str, now_ms: int
) -> None:
    assert table in ("work_items", "dependencies")
    conn.executemany(
        f"UPDATE {table} SET {_RESTORE_STAMP} WHERE id = ? AND deleted_at IS NOT NULL",
        [(now_ms, actor_id, entity_id) for entity_id in ids],
    )


def get_by_number(conn: sqlite3.Connection, project_id: str, number: int) -> WorkItemRecord | None:
    """The live item numbered `number` in the project (PM-7 is project PM, number 7)."""
    row = conn.execute(
        f"{_SELECT} WHERE w.project_id = ? AND w.number = ? AND w.deleted_at IS NULL",
        (project_id, number),
    ).fetchone()
    return rows.to_record(WorkItemRecord, row)
