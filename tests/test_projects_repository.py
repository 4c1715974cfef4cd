"""Projects repository on a migrated tenant database, without the server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hamcrest import assert_that, contains_exactly, empty, equal_to, none

from tenants import cascade, projects, rows, swim_lanes
from tenants.projects import ProjectRecord
from tests.tenant_state import memory_tenant


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = memory_tenant()
    yield connection
    connection.close()


def add_project(conn: sqlite3.Connection, key: str = "PM", now_ms: int = 1) -> ProjectRecord:
    return projects.insert(
        conn,
        project_id=str(uuid.uuid4()),
        key=key,
        name=f"Project {key}",
        description="",
        actor_id="alice",
        now_ms=now_ms,
    )


def _stamps(now_ms: int = 1) -> dict[str, Any]:
    return {
        "created_at": now_ms,
        "updated_at": now_ms,
        "created_by": "alice",
        "updated_by": "alice",
    }


def add_item(conn: sqlite3.Connection, project: ProjectRecord, status: str = "backlog") -> str:
    item_id = str(uuid.uuid4())
    rows.insert(
        conn,
        "work_items",
        {
            "id": item_id,
            "project_id": project.id,
            "number": projects.allocate_item_number(conn, project.id),
            "type": "task",
            "status": status,
            "rank": "m",
            "title": "Item",
            **_stamps(),
        },
    )
    return item_id


def add_row(conn: sqlite3.Connection, table: str, **values: Any) -> str:
    row_id = str(uuid.uuid4())
    rows.insert(conn, table, {"id": row_id, **values, **_stamps()})
    return row_id


def live_count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL").fetchone()[0])


def test_given_a_new_project_when_inserted_then_it_reads_back_at_version_1(
    conn: sqlite3.Connection,
) -> None:
    created = add_project(conn, now_ms=42)

    assert_that(projects.get(conn, created.id), equal_to(created))
    assert_that(
        (created.key, created.version, created.next_item_number, created.created_at),
        equal_to(("PM", 1, 1, 42)),
    )
    assert_that((created.deleted_at, created.deleted_by), equal_to((None, None)))
    assert_that(projects.id_exists(conn, created.id), equal_to(True))
    assert_that(projects.key_exists(conn, "PM"), equal_to(True))
    assert_that(projects.key_exists(conn, "XX"), equal_to(False))


def test_given_a_project_when_updated_then_fields_change_and_version_bumps(
    conn: sqlite3.Connection,
) -> None:
    created = add_project(conn)

    updated = projects.update(conn, created.id, {"name": "New"}, actor_id="bob", now_ms=9)

    assert_that(
        (updated.name, updated.version, updated.updated_at, updated.updated_by),
        equal_to(("New", 2, 9, "bob")),
    )
    assert_that((updated.created_at, updated.created_by), equal_to((1, "alice")))


def test_given_no_changes_when_updated_then_only_the_version_bumps(
    conn: sqlite3.Connection,
) -> None:
    created = add_project(conn)

    updated = projects.update(conn, created.id, {}, actor_id="bob", now_ms=9)

    assert_that((updated.name, updated.version), equal_to((created.name, 2)))


def test_given_a_used_key_when_inserting_again_then_the_index_refuses_even_after_delete(
    conn: sqlite3.Connection,
) -> None:
    old = add_project(conn)
    cascade.soft_delete_project(conn, old.id, actor_id="alice", now_ms=2, batch="b")

    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: projects\.key"):
        add_project(conn)
    assert_that(projects.key_exists(conn, "PM"), equal_to(True))


def test_given_projects_when_listing_live_then_ordered_by_key_after_the_cursor(
    conn: sqlite3.Connection,
) -> None:
    for key in ("CC", "AA", "DD", "BB"):
        add_project(conn, key)
    gone = add_project(conn, "AB")
    cascade.soft_delete_project(conn, gone.id, actor_id="alice", now_ms=2, batch="b")

    first = projects.list_live(conn, after_key="", limit=2)
    rest = projects.list_live(conn, after_key=first[-1].key, limit=10)

    assert_that([p.key for p in first], contains_exactly("AA", "BB"))
    assert_that([p.key for p in rest], contains_exactly("CC", "DD"))


def test_given_a_deleted_project_when_read_then_hidden_unless_asked_for(
    conn: sqlite3.Connection,
) -> None:
    live = add_project(conn, "AA")
    gone = add_project(conn, "BB")

    cascade.soft_delete_project(conn, gone.id, actor_id="bob", now_ms=5, batch="b")

    assert_that(projects.get(conn, gone.id), none())
    deleted = projects.get(conn, gone.id, include_deleted=True)
    assert deleted is not None
    assert_that((deleted.deleted_at, deleted.deleted_by, deleted.version), equal_to((5, "bob", 2)))
    assert_that(projects.live_ids(conn, [live.id, gone.id]), equal_to({live.id}))
    assert_that(projects.live_ids(conn, []), equal_to(set()))
    assert_that(projects.id_exists(conn, gone.id), equal_to(True))


def test_given_a_project_when_numbers_are_allocated_then_they_count_up(
    conn: sqlite3.Connection,
) -> None:
    project = add_project(conn)

    numbers = [projects.allocate_item_number(conn, project.id) for _ in range(3)]

    assert_that(numbers, contains_exactly(1, 2, 3))


def test_given_a_full_project_when_cascade_deleted_then_each_live_entity_is_reported(
    conn: sqlite3.Connection,
) -> None:
    project = add_project(conn, "PM")
    other = add_project(conn, "OT")
    lane = swim_lanes.insert(
        conn,
        lane_id=str(uuid.uuid4()),
        project_id=project.id,
        name="Backlog",
        status_value="backlog",
        position=0,
        is_default=True,
        actor_id="alice",
        now_ms=1,
    )
    item, sibling, already_gone = (add_item(conn, project) for _ in range(3))
    rows.soft_delete(conn, "work_items", already_gone, actor_id="x", now_ms=1, batch="earlier")
    foreign = add_item(conn, other)
    sprint = add_row(
        conn, "sprints", project_id=project.id, name="S", state="planned", start_date=1, end_date=2
    )
    comment = add_row(conn, "comments", work_item_id=item, author_id="alice", content="hi")
    entry = add_row(conn, "time_entries", work_item_id=item, user_id="alice", started_at=1)
    inner = add_row(conn, "dependencies", from_item_id=item, to_item_id=sibling, type="blocks")
    cross = add_row(conn, "dependencies", from_item_id=foreign, to_item_id=item, type="blocks")

    result = cascade.soft_delete_project(conn, project.id, actor_id="bob", now_ms=7, batch="b1")

    assert_that(
        result.deleted,
        equal_to(
            {
                "comment": [comment],
                "time_entry": [entry],
                "dependency": sorted([inner, cross]),
                "work_item": sorted([item, sibling]),
                "sprint": [sprint],
                "swim_lane": [lane.id],
                "project": [project.id],
            }
        ),
    )
    assert_that(result.touched_project_ids, contains_exactly(other.id))
    batches = conn.execute(
        "SELECT delete_batch FROM work_items WHERE project_id = ? ORDER BY delete_batch",
        (project.id,),
    ).fetchall()
    assert_that([b[0] for b in batches], contains_exactly("b1", "b1", "earlier"))
    for table in ("comments", "time_entries", "dependencies", "sprints", "swim_lanes"):
        assert_that(live_count(conn, table), equal_to(0))
    assert_that(live_count(conn, "work_items"), equal_to(1))
    assert_that(projects.live_ids(conn, [other.id]), equal_to({other.id}))


def test_given_an_empty_project_when_cascade_deleted_then_only_the_project_is_reported(
    conn: sqlite3.Connection,
) -> None:
    project = add_project(conn)

    result = cascade.soft_delete_project(conn, project.id, actor_id="bob", now_ms=7, batch="b")

    assert_that(result.deleted["project"], contains_exactly(project.id))
    others = [
        entity_id for kind, ids in result.deleted.items() if kind != "project" for entity_id in ids
    ]
    assert_that(others, empty())
    assert_that(result.touched_project_ids, empty())


def test_given_an_unknown_project_when_a_lane_names_it_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        swim_lanes.insert(
            conn,
            lane_id=str(uuid.uuid4()),
            project_id=str(uuid.uuid4()),
            name="Backlog",
            status_value="backlog",
            position=0,
            is_default=True,
            actor_id="alice",
            now_ms=1,
        )
