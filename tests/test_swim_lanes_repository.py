"""Swim lanes repository on a migrated tenant database, without the server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, equal_to, none

from tenants import projects, rows, swim_lanes
from tenants.projects import ProjectRecord
from tenants.swim_lanes import SwimLaneRecord
from tests.tenant_state import memory_tenant


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = memory_tenant()
    yield connection
    connection.close()


@pytest.fixture
def project(conn: sqlite3.Connection) -> ProjectRecord:
    return projects.insert(
        conn,
        project_id=str(uuid.uuid4()),
        key="PM",
        name="Project",
        description="",
        actor_id="alice",
        now_ms=1,
    )


def add_lane(
    conn: sqlite3.Connection,
    project_id: str,
    status_value: str,
    position: int,
    *,
    is_default: bool = False,
) -> SwimLaneRecord:
    return swim_lanes.insert(
        conn,
        lane_id=str(uuid.uuid4()),
        project_id=project_id,
        name=status_value.title(),
        status_value=status_value,
        position=position,
        is_default=is_default,
        actor_id="alice",
        now_ms=1,
    )


def add_item(conn: sqlite3.Connection, project_id: str, status: str) -> str:
    item_id = str(uuid.uuid4())
    rows.insert(
        conn,
        "work_items",
        {
            "id": item_id,
            "project_id": project_id,
            "number": projects.allocate_item_number(conn, project_id),
            "type": "task",
            "status": status,
            "rank": "m",
            "title": "Item",
            "created_at": 1,
            "updated_at": 1,
            "created_by": "alice",
            "updated_by": "alice",
        },
    )
    return item_id


def test_given_a_new_lane_when_inserted_then_it_reads_back(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    lane = add_lane(conn, project.id, "backlog", 0, is_default=True)

    assert_that(swim_lanes.get(conn, lane.id), equal_to(lane))
    assert_that(
        (lane.project_id, lane.status_value, lane.position, lane.is_default, lane.version),
        equal_to((project.id, "backlog", 0, 1, 1)),
    )
    assert_that(swim_lanes.find_by_status(conn, project.id, "backlog"), equal_to(lane))
    assert_that(swim_lanes.find_by_status(conn, project.id, "done"), none())
    assert_that(swim_lanes.id_exists(conn, lane.id), equal_to(True))


def test_given_lanes_when_listing_then_live_ones_come_in_position_order(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    done = add_lane(conn, project.id, "done", 2)
    backlog = add_lane(conn, project.id, "backlog", 0)
    gone = add_lane(conn, project.id, "gone", 1)
    swim_lanes.soft_delete(conn, gone.id, actor_id="bob", now_ms=3, batch="b")

    listed = swim_lanes.list_for_project(conn, project.id)

    assert_that([lane.id for lane in listed], contains_exactly(backlog.id, done.id))


def test_given_a_deleted_lane_when_read_then_hidden_unless_asked_for(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    lane = add_lane(conn, project.id, "qa", 0)

    swim_lanes.soft_delete(conn, lane.id, actor_id="bob", now_ms=3, batch="b1")

    assert_that(swim_lanes.get(conn, lane.id), none())
    assert_that(swim_lanes.find_by_status(conn, project.id, "qa"), none())
    deleted = swim_lanes.get(conn, lane.id, include_deleted=True)
    assert deleted is not None
    assert_that((deleted.deleted_at, deleted.deleted_by, deleted.version), equal_to((3, "bob", 2)))
    batch = conn.execute("SELECT delete_batch FROM swim_lanes WHERE id = ?", (lane.id,)).fetchone()
    assert_that(batch[0], equal_to("b1"))
    assert_that(swim_lanes.id_exists(conn, lane.id), equal_to(True))


def test_given_a_live_status_value_when_inserting_it_again_then_the_index_refuses(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    add_lane(conn, project.id, "qa", 0)

    with pytest.raises(
        sqlite3.IntegrityError,
        match=r"UNIQUE constraint failed: swim_lanes\.project_id, swim_lanes\.status_value",
    ):
        add_lane(conn, project.id, "qa", 1)


def test_given_a_deleted_lanes_status_value_when_inserting_it_again_then_it_is_accepted(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    old = add_lane(conn, project.id, "qa", 0)
    swim_lanes.soft_delete(conn, old.id, actor_id="bob", now_ms=3, batch="b")

    again = add_lane(conn, project.id, "qa", 0)

    assert_that(swim_lanes.find_by_status(conn, project.id, "qa"), equal_to(again))


def test_given_two_projects_when_both_have_a_status_value_then_each_keeps_its_own(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    other = projects.insert(
        conn,
        project_id=str(uuid.uuid4()),
        key="OT",
        name="Other",
        description="",
        actor_id="alice",
        now_ms=1,
    )
    mine = add_lane(conn, project.id, "qa", 0)
    theirs = add_lane(conn, other.id, "qa", 0)

    assert_that(swim_lanes.find_by_status(conn, project.id, "qa"), equal_to(mine))
    assert_that(swim_lanes.find_by_status(conn, other.id, "qa"), equal_to(theirs))


def test_given_a_lane_when_renamed_then_the_name_and_version_change(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    lane = add_lane(conn, project.id, "qa", 0)

    renamed = swim_lanes.update(conn, lane.id, {"name": "Check"}, actor_id="bob", now_ms=5)

    assert_that(
        (renamed.name, renamed.status_value, renamed.version, renamed.updated_by),
        equal_to(("Check", "qa", 2, "bob")),
    )


def test_given_an_order_when_written_then_positions_are_0_to_n_and_versions_stay(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    a = add_lane(conn, project.id, "a", 0)
    b = add_lane(conn, project.id, "b", 1)
    c = add_lane(conn, project.id, "c", 7)

    swim_lanes.write_order(conn, [c.id, a.id, b.id])

    listed = swim_lanes.list_for_project(conn, project.id)
    assert_that([lane.id for lane in listed], contains_exactly(c.id, a.id, b.id))
    assert_that([lane.position for lane in listed], contains_exactly(0, 1, 2))
    assert_that([lane.version for lane in listed], contains_exactly(1, 1, 1))


def test_given_items_when_counting_a_lanes_items_then_only_live_ones_of_that_project_count(
    conn: sqlite3.Connection, project: ProjectRecord
) -> None:
    other = projects.insert(
        conn,
        project_id=str(uuid.uuid4()),
        key="OT",
        name="Other",
        description="",
        actor_id="alice",
        now_ms=1,
    )
    add_item(conn, project.id, "qa")
    gone = add_item(conn, project.id, "qa")
    rows.soft_delete(conn, "work_items", gone, actor_id="bob", now_ms=2, batch="b")
    add_item(conn, project.id, "backlog")
    add_item(conn, other.id, "qa")

    assert_that(swim_lanes.live_item_count(conn, project.id, "qa"), equal_to(1))
    assert_that(swim_lanes.live_item_count(conn, project.id, "done"), equal_to(0))


def test_given_an_unknown_project_when_inserting_a_lane_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        add_lane(conn, str(uuid.uuid4()), "qa", 0)
