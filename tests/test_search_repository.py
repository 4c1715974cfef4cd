"""The full-text index (migration 0008) against a migrated SQLite database: the triggers keep
it in step with every write, and user text never reaches FTS5's syntax."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length, none

from tenants import cascade, comments, projects, search, work_items
from tenants.migrator import load_migrations, migrate
from tests.tenant_state import memory_tenant

T0 = 1_767_225_600_000
HOSTILE = [
    '"',
    "*",
    "a OR",
    "NEAR(",
    "-x",
    "title:",
    "^",
    "(",
    ")",
    "AND",
    "NOT x",
    '"a" *',
    "\x00",
]


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


def add_item(
    conn: sqlite3.Connection,
    item_id: str,
    title: str,
    description: str = "",
    *,
    project: str = "p1",
    number: int = 1,
) -> None:
    work_items.insert(
        conn,
        item_id=item_id,
        project_id=project,
        number=number,
        type="task",
        parent_id=None,
        status="backlog",
        rank=item_id,
        title=title,
        description=description,
        priority="medium",
        assignee_id=None,
        sprint_id=None,
        story_points=None,
        actor_id="u",
        now_ms=T0,
        project_key="PM" if project == "p1" else "WEB",
    )


def add_comment(conn: sqlite3.Connection, comment_id: str, item: str, content: str) -> None:
    comments.insert(
        conn,
        comment_id=comment_id,
        work_item_id=item,
        parent_comment_id=None,
        content=content,
        actor_id="u",
        now_ms=T0,
    )


def found(
    conn: sqlite3.Connection, text: str, project_id: str | None = None
) -> list[tuple[str, str, str]]:
    hits = search.search(conn, text, project_id=project_id, limit=50)
    search.integrity_check(conn)  # the index holds exactly the live rows' words
    return [(hit.kind, hit.work_item_id, hit.comment_id or "") for hit in hits]


def test_given_a_new_item_when_searching_a_word_of_its_description_then_found_with_a_snippet(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Checkout page", "The card form rejects valid numbers")

    hits = search.search(conn, "rejects", project_id=None, limit=10)

    assert_that(hits, has_length(1))
    hit = hits[0]
    assert_that((hit.kind, hit.work_item_id, hit.key), equal_to(("work_item", "i1", "PM-1")))
    assert_that((hit.title, hit.status), equal_to(("Checkout page", "backlog")))
    assert_that(hit.comment_id, none())
    assert_that(hit.snippet, equal_to("The card form **rejects** valid numbers"))


def test_given_an_updated_title_when_searching_then_the_new_words_match_and_the_old_do_not(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Alpha release")

    work_items.update(conn, "i1", {"title": "Beta release"}, actor_id="u", now_ms=T0 + 1)

    assert_that(found(conn, "alpha"), empty())
    assert_that(found(conn, "beta"), contains_exactly(("work_item", "i1", "")))


def test_given_an_update_of_other_fields_when_searching_then_the_item_is_still_found_once(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Alpha release")

    work_items.update(conn, "i1", {"status": "done", "rank": "z"}, actor_id="u", now_ms=T0 + 1)

    assert_that(found(conn, "alpha"), contains_exactly(("work_item", "i1", "")))


def test_given_a_soft_deleted_item_when_searching_then_neither_it_nor_its_comments_are_found(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Alpha release")
    add_comment(conn, "c1", "i1", "alpha notes")

    work_items.soft_delete_many(conn, "work_items", ["i1"], actor_id="u", now_ms=T0, batch="b")

    assert_that(found(conn, "alpha"), empty())


def test_given_a_restored_item_when_searching_then_it_and_its_comments_are_found_again(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Alpha release")
    add_comment(conn, "c1", "i1", "alpha notes")
    work_items.soft_delete_many(conn, "work_items", ["i1"], actor_id="u", now_ms=T0, batch="b")

    work_items.restore_many(conn, "work_items", ["i1"], actor_id="u", now_ms=T0 + 1)

    assert_that(
        found(conn, "alpha"),
        contains_exactly(("work_item", "i1", ""), ("comment", "i1", "c1")),
    )


def test_given_a_comment_when_added_edited_and_deleted_then_the_index_follows_each_step(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Release")
    add_comment(conn, "c1", "i1", "the build is flaky")
    assert_that(found(conn, "flaky"), contains_exactly(("comment", "i1", "c1")))

    comments.update(conn, "c1", {"content": "the build is green"}, actor_id="u", now_ms=T0)
    assert_that(found(conn, "flaky"), empty())
    assert_that(found(conn, "green"), contains_exactly(("comment", "i1", "c1")))

    comments.soft_delete(conn, "c1", actor_id="u", now_ms=T0, batch="b")
    assert_that(found(conn, "green"), empty())


def test_given_a_deleted_project_when_searching_then_nothing_of_it_is_found(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Alpha release")
    add_comment(conn, "c1", "i1", "alpha notes")

    cascade.soft_delete_project(conn, "p1", actor_id="u", now_ms=T0, batch="b")

    assert_that(found(conn, "alpha"), empty())


def test_given_items_of_two_projects_when_searching_one_then_only_its_items_are_found(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Alpha in PM")
    add_item(conn, "i2", "Alpha in WEB", project="p2")

    assert_that(found(conn, "alpha", "p2"), contains_exactly(("work_item", "i2", "")))
    assert_that(found(conn, "alpha"), has_length(2))


def test_given_a_title_and_a_description_match_when_ranked_then_the_title_match_first(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Other", "mentions payments once among many other words here", number=1)
    add_item(conn, "i2", "Payments", "", number=2)

    assert_that([hit[1] for hit in found(conn, "payments")], equal_to(["i2", "i1"]))


def test_given_several_words_when_searching_then_every_word_is_required(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "login error", number=1)
    add_item(conn, "i2", "login page", number=2)

    assert_that(found(conn, "login error"), contains_exactly(("work_item", "i1", "")))


def test_given_a_word_ending_in_a_star_when_searching_then_it_is_a_prefix(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "Logins fail")

    assert_that(found(conn, "login*"), contains_exactly(("work_item", "i1", "")))
    assert_that(found(conn, "login"), empty())


@pytest.mark.parametrize("text", HOSTILE)
def test_given_fts5_syntax_in_the_text_when_searching_then_no_error(
    conn: sqlite3.Connection, text: str
) -> None:
    add_item(conn, "i1", "a x title near and not")

    search.search(conn, text, project_id=None, limit=10)


def test_given_operator_words_when_searching_then_they_are_plain_words(
    conn: sqlite3.Connection,
) -> None:
    add_item(conn, "i1", "cats or dogs", number=1)
    add_item(conn, "i2", "cats", number=2)

    assert_that(found(conn, "cats OR dogs"), contains_exactly(("work_item", "i1", "")))
    assert_that(search.match_expression('say "hi"'), equal_to('"say" """hi"""'))
    assert_that(search.match_expression('" * - :'), none())


def test_given_rows_before_the_migration_when_migrated_then_they_are_indexed() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.row_factory = sqlite3.Row
    migrations = load_migrations()
    migrate(db, tuple(m for m in migrations if m.version < 8))
    projects.insert(
        db, project_id="p1", key="PM", name="PM", description="", actor_id="u", now_ms=T0
    )
    add_item(db, "i1", "Old item", "written before search existed", number=1)
    add_item(db, "i2", "Old deleted item", "written before search existed", number=2)
    db.execute("UPDATE work_items SET deleted_at = 1 WHERE id = 'i2'")
    add_comment(db, "c1", "i1", "an old comment about search")

    migrate(db, migrations)

    assert_that(
        found(db, "search"),
        contains_exactly(("work_item", "i1", ""), ("comment", "i1", "c1")),
    )
