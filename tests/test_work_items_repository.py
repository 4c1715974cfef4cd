"""The work-items repository against a migrated sqlite3 database, no server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length, none, not_none

from tenants import dependencies, projects, ranks, swim_lanes, work_items
from tenants.work_items import ItemFilter, WorkItemRecord
from tests.tenant_state import memory_tenant

NOW = 1_700_000_000_000
ACTOR = "alice"


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = memory_tenant()
    yield connection
    connection.close()


def make_project(conn: sqlite3.Connection, key: str = "PM") -> str:
    project = projects.insert(
        conn,
        project_id=str(uuid.uuid4()),
        key=key,
        name=key,
        description="",
        actor_id=ACTOR,
        now_ms=NOW,
    )
    for position, (name, status) in enumerate(swim_lanes.DEFAULT_LANES):
        swim_lanes.insert(
            conn,
            lane_id=str(uuid.uuid4()),
            project_id=project.id,
            name=name,
            status_value=status,
            position=position,
            is_default=True,
            actor_id=ACTOR,
            now_ms=NOW,
        )
    return project.id


def make_item(
    conn: sqlite3.Connection,
    project_id: str,
    *,
    number: int | None = None,
    type: str = "task",
    parent_id: str | None = None,
    status: str = "backlog",
    assignee_id: str | None = None,
) -> WorkItemRecord:
    return work_items.insert(
        conn,
        item_id=str(uuid.uuid4()),
        project_id=project_id,
        number=number or projects.allocate_item_number(conn, project_id),
        type=type,
        parent_id=parent_id,
        status=status,
        rank=ranks.between(work_items.last_rank(conn, project_id, status), None),
        title="An item",
        description="",
        priority="medium",
        assignee_id=assignee_id,
        sprint_id=None,
        story_points=None,
        actor_id=ACTOR,
        now_ms=NOW,
        project_key=_project_key(conn, project_id),
    )


def link(conn: sqlite3.Connection, a: str, b: str) -> str:
    return dependencies.insert(
        conn,
        dependency_id=str(uuid.uuid4()),
        from_item_id=a,
        to_item_id=b,
        type="blocks",
        actor_id=ACTOR,
        now_ms=NOW,
    ).id


def test_given_an_inserted_item_when_reading_it_then_every_field_is_back(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)

    item = make_item(conn, project_id, assignee_id="bob")

    read = work_items.get(conn, item.id)
    assert_that(read, equal_to(item))
    assert read is not None
    assert_that(read.key, equal_to("PM-1"))
    assert_that((read.version, read.assignee_id, read.deleted_at), equal_to((1, "bob", None)))


def test_given_an_item_when_updating_then_the_version_goes_up(conn: sqlite3.Connection) -> None:
    item = make_item(conn, make_project(conn))

    updated = work_items.update(conn, item.id, {"title": "New"}, actor_id="bob", now_ms=NOW + 5)

    assert_that(
        (updated.title, updated.version, updated.updated_by, updated.updated_at),
        equal_to(("New", 2, "bob", NOW + 5)),
    )


def test_given_a_soft_deleted_item_when_reading_then_it_is_hidden_but_kept(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)
    item = make_item(conn, project_id)

    work_items.soft_delete_many(
        conn, "work_items", [item.id], actor_id=ACTOR, now_ms=NOW, batch="r1"
    )

    assert_that(work_items.get(conn, item.id), none())
    kept = work_items.get(conn, item.id, include_deleted=True)
    assert kept is not None
    assert_that((kept.deleted_by, kept.delete_batch), equal_to((ACTOR, "r1")))
    listed = work_items.list_for_project(conn, project_id, ItemFilter(), after=None, limit=10)
    assert_that(listed, empty())


def test_given_an_unknown_project_or_parent_when_inserting_then_the_foreign_key_refuses(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        make_item(conn, str(uuid.uuid4()), number=1)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        make_item(conn, project_id, parent_id=str(uuid.uuid4()))


def test_given_a_used_number_when_inserting_then_the_unique_index_refuses(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)
    item = make_item(conn, project_id)

    with pytest.raises(
        sqlite3.IntegrityError,
        match=r"UNIQUE constraint failed: work_items\.project_id, work_items\.number",
    ):
        conn.execute(
            "INSERT INTO work_items (id, project_id, number, type, status, rank, title,"
            " created_at, updated_at, created_by, updated_by)"
            " VALUES (?, ?, ?, 'task', 'backlog', 'V', 't', 0, 0, 'a', 'a')",
            (str(uuid.uuid4()), project_id, item.number),
        )


def test_given_a_lane_when_asking_for_neighbours_then_one_step_skipping_the_moved_item(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)
    a, b, c = (make_item(conn, project_id) for _ in range(3))

    below_c = work_items.neighbour_rank(
        conn, project_id, "backlog", c.rank, below=True, exclude_id=b.id
    )
    above_a = work_items.neighbour_rank(
        conn, project_id, "backlog", a.rank, below=False, exclude_id=c.id
    )
    end = work_items.lane_end_rank(conn, project_id, "backlog", exclude_id=c.id)

    assert_that((below_c, above_a, end), equal_to((a.rank, b.rank, b.rank)))


def test_given_a_hierarchy_when_reading_the_subtree_then_each_item_follows_its_parent(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)
    epic = make_item(conn, project_id, type="epic")
    story1 = make_item(conn, project_id, type="story", parent_id=epic.id)
    story2 = make_item(conn, project_id, type="story", parent_id=epic.id)
    task1 = make_item(conn, project_id, parent_id=story1.id)
    task2 = make_item(conn, project_id, parent_id=story2.id)
    make_item(conn, project_id, type="epic")

    tree = work_items.subtree(conn, epic.id)

    assert_that(
        [i.id for i in tree], contains_exactly(epic.id, story1.id, task1.id, story2.id, task2.id)
    )
    assert_that(
        [i.id for i in work_items.ancestors(conn, task2.id)], contains_exactly(epic.id, story2.id)
    )
    assert_that(work_items.ancestors(conn, epic.id), empty())
    assert_that(work_items.is_in_subtree(conn, epic.id, task1.id), equal_to(True))
    assert_that(work_items.is_in_subtree(conn, story2.id, task1.id), equal_to(False))
    assert_that(work_items.child_types(conn, epic.id), equal_to({"story"}))


def test_given_items_in_lanes_when_listing_then_board_order_filters_and_pages(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)
    done = make_item(conn, project_id, status="done")
    first = make_item(conn, project_id, assignee_id="bob")
    review = make_item(conn, project_id, status="in_review", assignee_id="bob")
    second = make_item(conn, project_id)

    page1 = work_items.list_for_project(conn, project_id, ItemFilter(), after=None, limit=2)
    page2 = work_items.list_for_project(
        conn, project_id, ItemFilter(), after=page1[-1][1], limit=10
    )
    bobs = work_items.list_for_project(
        conn, project_id, ItemFilter(assignee_id="bob"), after=None, limit=10
    )

    assert_that([i.id for i, _ in page1], contains_exactly(first.id, second.id))
    assert_that([i.id for i, _ in page2], contains_exactly(review.id, done.id))
    assert_that([i.id for i, _ in bobs], contains_exactly(first.id, review.id))


def test_given_a_deleted_subtree_when_restoring_its_batch_then_exactly_it_comes_back(
    conn: sqlite3.Connection,
) -> None:
    project_id = make_project(conn)
    story = make_item(conn, project_id, type="story")
    task = make_item(conn, project_id, parent_id=story.id)
    other = make_item(conn, project_id)
    deleted_before = make_item(conn, project_id)
    dependency = link(conn, task.id, other.id)
    work_items.soft_delete_many(
        conn, "work_items", [deleted_before.id], actor_id=ACTOR, now_ms=NOW, batch="r1"
    )
    ids = [i.id for i in work_items.subtree(conn, story.id)]
    deps = work_items.live_dependencies_of_subtree(conn, story.id)

    for table, entity_ids in (("work_items", ids), ("dependencies", [d.id for d in deps])):
        work_items.soft_delete_many(conn, table, entity_ids, actor_id=ACTOR, now_ms=NOW, batch="r1")
    root = work_items.get(conn, story.id, include_deleted=True)
    assert root is not None
    batch = work_items.batch_items(conn, root)
    batch_deps = work_items.batch_dependencies(conn, root)
    work_items.restore_many(conn, "work_items", [i.id for i in batch], actor_id=ACTOR, now_ms=NOW)

    assert_that([d.id for d in deps], contains_exactly(dependency))
    assert_that([i.id for i in batch], contains_exactly(story.id, task.id))
    assert_that([d.id for d in batch_deps], contains_exactly(dependency))
    assert_that(work_items.get(conn, task.id), not_none())
    assert_that(work_items.get(conn, deleted_before.id), none())
    assert_that(work_items.live_ids(conn, [story.id, task.id, deleted_before.id]), has_length(2))


def _project_key(conn: sqlite3.Connection, project_id: str) -> str:
    project = projects.get(conn, project_id)
    # No such project: the insert's foreign key refuses it, whatever the key.
    return project.key if project is not None else "NONE"
