"""Numbered migrations: an old tenant file is brought up to date on open, data intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hamcrest import assert_that, equal_to, has_item

from tenants import projects
from tenants.manager import TenantDatabases
from tenants.migrator import Migration, load_migrations, migrate, schema_version

PROJECT_ID = "00000000-0000-4000-8000-000000000001"


def _version_1_file(data_dir: Path) -> None:
    (data_dir / "tenants").mkdir(parents=True)
    conn = sqlite3.connect(data_dir / "tenants" / "acme.sqlite3", isolation_level=None)
    try:
        migrate(conn, load_migrations()[:1])
        conn.execute(
            "INSERT INTO projects(id, key, name, created_at, updated_at, created_by, updated_by)"
            " VALUES (?, 'OLD', 'Old project', 1, 1, 'alice', 'alice')",
            (PROJECT_ID,),
        )
    finally:
        conn.close()


def _indexes(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return [str(r[0]) for r in rows]


async def test_given_a_version_1_tenant_file_when_opened_then_migrated_and_its_rows_intact(
    tmp_path: Path,
) -> None:
    _version_1_file(tmp_path)
    latest = load_migrations()[-1].version
    databases = TenantDatabases(tmp_path)
    try:
        async with databases.lease("acme") as db:
            version = await db.read(schema_version)
            project = await db.read(lambda conn: projects.get(conn, PROJECT_ID))
            indexes = await db.read(_indexes)
            applied = await db.read(
                lambda conn: [
                    int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")
                ]
            )
    finally:
        await databases.close()

    assert_that(version, equal_to(latest))
    assert project is not None
    assert_that(project.key, equal_to("OLD"))
    assert_that(project.name, equal_to("Old project"))
    # Each later migration's work is there: 0004's index, 0006's rebuilt activity log
    # without the indexes that served no query.
    assert_that(indexes, has_item("event_projects_seq"))
    assert_that("activity_request" in indexes, equal_to(False))
    assert_that(sorted(applied), equal_to(list(range(1, latest + 1))))


def test_given_an_up_to_date_file_when_migrating_again_then_nothing_is_applied() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = load_migrations()
    first = migrate(conn, migrations)

    second = migrate(conn, migrations)

    assert_that(first, equal_to([m.version for m in migrations]))
    assert_that(second, equal_to([]))


def test_given_a_failing_migration_when_applied_then_it_leaves_nothing_behind() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = load_migrations()
    broken = Migration(
        len(migrations) + 1, "9999_broken.sql", "CREATE TABLE half(x);\nNOT SQL AT ALL;\n"
    )

    with pytest.raises(sqlite3.Error):
        migrate(conn, (*migrations, broken))

    assert_that(schema_version(conn), equal_to(len(migrations)))
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert_that("half" in tables, equal_to(False))


def test_given_the_migration_files_when_loaded_then_numbered_from_1_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]

    assert_that(versions, equal_to(list(range(1, len(versions) + 1))))


def test_given_events_with_activity_when_migrated_to_retention_then_rows_kept_and_events_prunable(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    migrations = load_migrations()
    before_retention = tuple(m for m in migrations if m.version < 6)
    migrate(conn, before_retention)
    conn.execute(
        "INSERT INTO events(occurred_at, actor_id, request_id, tenant_level, payload)"
        " VALUES (1, 'u', 'r1', 0, x'00')"
    )
    conn.execute("INSERT INTO event_projects(project_id, seq) VALUES ('p', 1)")
    conn.execute(
        "INSERT INTO activity_log(entity_type, entity_id, project_id, action, actor_id,"
        " occurred_at, request_id, seq) VALUES ('project', 'p', 'p', 'created', 'u', 1, 'r1', 1)"
    )
    conn.execute(
        "INSERT INTO processed_requests(user_id, request_id, fingerprint, response, seq,"
        " created_at) VALUES ('u', 'r1', x'01', x'02', 1, 1)"
    )

    migrate(conn, migrations)
    conn.execute("DELETE FROM event_projects WHERE seq = 1")
    conn.execute("DELETE FROM events WHERE seq = 1")

    activity = conn.execute("SELECT entity_id, seq FROM activity_log").fetchall()
    requests = conn.execute("SELECT request_id, seq FROM processed_requests").fetchall()
    next_seq = conn.execute(
        "INSERT INTO events(occurred_at, actor_id, request_id, tenant_level, payload)"
        " VALUES (2, 'u', 'r2', 0, x'00') RETURNING seq"
    ).fetchone()
    conn.close()
    assert_that(activity, equal_to([("p", 1)]))
    assert_that(requests, equal_to([("r1", 1)]))
    assert_that(next_seq[0], equal_to(2))  # a pruned seq is never given again
