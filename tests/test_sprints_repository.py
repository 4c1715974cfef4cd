"""The sprints repository against a migrated SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, equal_to, none

from tenants import projects, sprints, work_items
from tenants.sprints import SprintStats
from tests.tenant_state import memory_tenant

T0 = 1_767_225_600_000
DAY = 86_400_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = memory_tenant()
    projects.insert(
        db, project_id="p1", key="PM", name="PM", description="", actor_id="u", now_ms=T0
    )
    projects.insert(
        db, project_id="p2", key="WEB", name="Web", description="", actor_id="u", now_ms=T0
    )
    yield db
    db.close()


def new_sprint(
    conn: sqlite3.Connection, sprint_id: str, project_id: str = "p1", start: int = T0
) -> sprints.SprintRecord:
    return sprints.insert(
        conn,
        sprint_id=sprint_id,
        project_id=project_id,
        name=sprint_id,
        goal="",
        start_date=start,
        end_date=start + DAY,
        actor_id="alice",
        now_ms=T0,
    )


def new_item(
    conn: sqlite3.Connection,
    item_id: str,
    *,
    sprint_id: str | None,
    status: str = "backlog",
    points: int | None = None,
) -> None:
    work_items.insert(
        conn,
        item_id=item_id,
        project_id="p1",
        number=projects.allocate_item_number(conn, "p1"),
        type="task",
        parent_id=None,
        status=status,
        rank=item_id,
        title=item_id,
        description="",
        priority="medium",
        assignee_id=None,
        sprint_id=sprint_id,
        story_points=points,
        actor_id="alice",
        now_ms=T0,
        project_key=_project_key(conn, "p1"),
    )


def test_given_a_new_sprint_when_read_back_then_planned_at_version_one(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")

    sprint = sprints.get(conn, "s1")

    assert sprint is not None
    assert_that(
        (sprint.state, sprint.version, sprint.started_at, sprint.created_by),
        equal_to(("planned", 1, None, "alice")),
    )


def test_given_a_sprint_when_updated_then_version_and_stamps_move(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")

    after = sprints.update(
        conn, "s1", {"state": "active", "started_at": T0 + 5}, actor_id="bob", now_ms=T0 + 5
    )

    assert_that(
        (after.state, after.started_at, after.version, after.updated_by, after.updated_at),
        equal_to(("active", T0 + 5, 2, "bob", T0 + 5)),
    )


def test_given_a_soft_deleted_sprint_when_reading_then_hidden_but_kept(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")

    sprints.soft_delete(conn, "s1", actor_id="bob", now_ms=T0 + 1, batch="req-1")

    assert_that(sprints.get(conn, "s1"), none())
    kept = sprints.get(conn, "s1", include_deleted=True)
    assert kept is not None
    assert_that((kept.deleted_by, kept.version), equal_to(("bob", 2)))
    assert_that(sprints.id_exists(conn, "s1"), equal_to(True))
    listed = sprints.list_for_project(conn, "p1", state=None, after=None, limit=10)
    assert_that(listed, equal_to([]))


def test_given_an_unknown_project_when_inserting_a_sprint_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        new_sprint(conn, "s1", "nope")


def test_given_reversed_dates_when_inserting_then_the_check_constraint_refuses(
    conn: sqlite3.Connection,
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        sprints.insert(
            conn,
            sprint_id="s1",
            project_id="p1",
            name="s1",
            goal="",
            start_date=T0,
            end_date=T0,
            actor_id="a",
            now_ms=T0,
        )


def test_given_an_active_sprint_when_activating_another_then_the_partial_index_refuses(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")
    new_sprint(conn, "s2")
    sprints.update(conn, "s1", {"state": "active"}, actor_id="a", now_ms=T0)

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        sprints.update(conn, "s2", {"state": "active"}, actor_id="a", now_ms=T0)


def test_given_a_deleted_active_sprint_when_activating_another_then_allowed(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")
    new_sprint(conn, "s2")
    new_sprint(conn, "s3", project_id="p2")
    sprints.update(conn, "s1", {"state": "active"}, actor_id="a", now_ms=T0)
    sprints.update(conn, "s3", {"state": "active"}, actor_id="a", now_ms=T0)
    sprints.soft_delete(conn, "s1", actor_id="a", now_ms=T0, batch="b")

    sprints.update(conn, "s2", {"state": "active"}, actor_id="a", now_ms=T0)

    active = sprints.find_active(conn, "p1")
    assert active is not None
    assert_that(active.id, equal_to("s2"))


def test_given_sprints_when_listing_then_by_start_date_filtered_and_after_the_cursor(
    conn: sqlite3.Connection,
) -> None:
    for i, name in enumerate(["a", "b", "c", "d"]):
        new_sprint(conn, name, start=T0 + (4 - i) * DAY)
    new_sprint(conn, "other", project_id="p2")
    sprints.update(conn, "b", {"state": "cancelled"}, actor_id="a", now_ms=T0)

    everything = sprints.list_for_project(conn, "p1", state=None, after=None, limit=10)
    after_d = sprints.list_for_project(conn, "p1", state=None, after=(T0 + DAY, "d"), limit=2)
    planned = sprints.list_for_project(conn, "p1", state="planned", after=None, limit=10)

    assert_that([s.id for s in everything], contains_exactly("d", "c", "b", "a"))
    assert_that([s.id for s in after_d], contains_exactly("c", "b"))
    assert_that([s.id for s in planned], contains_exactly("d", "c", "a"))


def test_given_items_when_asking_figures_then_live_items_of_the_sprint_count(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")
    new_sprint(conn, "s2")
    new_item(conn, "i1", sprint_id="s1", status="done", points=3)
    new_item(conn, "i2", sprint_id="s1", points=5)
    new_item(conn, "i3", sprint_id="s1", status="done")
    new_item(conn, "i4", sprint_id="s2", status="done", points=8)
    new_item(conn, "i5", sprint_id="s1", status="done", points=13)
    conn.execute("UPDATE work_items SET deleted_at = 1 WHERE id = 'i5'")

    figures = sprints.stats(conn, "s1")

    assert_that(figures, equal_to(SprintStats(3, 2, 8, 3)))
    assert_that(sprints.stats(conn, "s3"), equal_to(SprintStats(0, 0, 0, 0)))


def test_given_items_when_listing_a_sprints_items_then_unfinished_only_on_request(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")
    new_item(conn, "i1", sprint_id="s1", status="done")
    new_item(conn, "i2", sprint_id="s1", status="in_review")
    new_item(conn, "i3", sprint_id=None)

    assert_that(sprints.item_ids(conn, "s1", unfinished_only=False), contains_exactly("i1", "i2"))
    assert_that(sprints.item_ids(conn, "s1", unfinished_only=True), contains_exactly("i2"))


def test_given_an_item_when_moved_out_of_its_sprint_then_version_goes_up(
    conn: sqlite3.Connection,
) -> None:
    new_sprint(conn, "s1")
    new_item(conn, "i1", sprint_id="s1")

    sprints.set_item_sprint(conn, "i1", None, actor_id="bob", now_ms=T0 + 1)

    item = work_items.get(conn, "i1")
    assert item is not None
    assert_that((item.sprint_id, item.version, item.updated_by), equal_to((None, 2, "bob")))


def test_given_an_unknown_sprint_when_assigning_an_item_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    new_item(conn, "i1", sprint_id=None)

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        sprints.set_item_sprint(conn, "i1", "nope", actor_id="a", now_ms=T0)


def _project_key(conn: sqlite3.Connection, project_id: str) -> str:
    project = projects.get(conn, project_id)
    assert project is not None
    return project.key
