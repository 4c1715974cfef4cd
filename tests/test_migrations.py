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
    assert_that(indexes, has_item("activity_request"))
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
