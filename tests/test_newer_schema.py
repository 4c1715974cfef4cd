"""A tenant file written by a newer pm-server is refused, untouched, and logged once; the
server goes on serving every other tenant."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from pathlib import Path

import pytest
from hamcrest import assert_that, contains_string, equal_to, has_length, is_not

from pm.v1 import projects_pb2 as projects_msg
from tenants.errors import SchemaTooNew
from tenants.manager import TenantDatabases
from tenants.migrator import check_known, load_migrations, migrate, schema_version
from tests.boards import create_project
from tests.helpers_foundation import bearer, refused_status
from tests.rest import get
from tests.server_fixture import make_config, run_server
from tests.wire import open_client

KNOWN = load_migrations()[-1].version
NEWER = KNOWN + 3
MESSAGE = (
    f"tenant database was written by a newer pm-server (schema {NEWER}, this server knows"
    f" {KNOWN}); upgrade this server"
)


def _set_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA user_version = {version:d}")
    finally:
        conn.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_given_a_file_of_a_newer_schema_when_migrating_then_refused_and_unchanged() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = load_migrations()
    migrate(conn, migrations)
    conn.execute(f"PRAGMA user_version = {NEWER:d}")

    with pytest.raises(SchemaTooNew) as refused:
        migrate(conn, migrations)

    assert_that(refused.value.message, equal_to(MESSAGE))
    assert_that((refused.value.found, refused.value.known), equal_to((NEWER, KNOWN)))
    assert_that(schema_version(conn), equal_to(NEWER))


def test_given_files_up_to_the_last_migration_when_checked_then_their_version() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations = load_migrations()

    empty_version = check_known(conn, migrations)
    migrate(conn, migrations[:2])
    older_version = check_known(conn, migrations)

    assert_that((empty_version, older_version), equal_to((0, 2)))


async def test_given_a_newer_file_when_a_tenant_is_leased_twice_then_refused_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tenants" / "acme.sqlite3"
    path.parent.mkdir()
    _set_version(path, NEWER)
    before = _digest(path)
    databases = TenantDatabases(tmp_path)
    try:
        for _ in range(2):
            with pytest.raises(SchemaTooNew):
                async with databases.lease("acme"):
                    pass
        async with databases.lease("globex") as other:
            globex_version = await other.read(schema_version)
        _set_version(path, 0)  # a file changed by hand: looked at again, and migrated
        # As if a second later: the file system's clock may tick coarser than this test.
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        async with databases.lease("acme") as fixed:
            acme_version = await fixed.read(schema_version)
    finally:
        await databases.close()

    refusals = [r for r in caplog.records if "newer pm-server" in r.getMessage()]
    assert_that(refusals, has_length(1))
    assert_that(refusals[0].levelno, equal_to(logging.ERROR))
    assert_that(refusals[0].getMessage(), contains_string("tenant acme"))
    assert_that((globex_version, acme_version), equal_to((KNOWN, KNOWN)))
    assert_that(before, is_not(equal_to(_digest(path))))  # migrated once it was old enough


async def test_given_a_tenant_written_by_a_newer_server_when_used_then_refused_and_file_unchanged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path)
    async with run_server(config) as first:
        for tenant in ("acme", "globex"):
            client = await open_client(first.ws_url, first.token(tenant=tenant))
            try:
                await create_project(client, "PM")
            finally:
                await client.close()
    path = tmp_path / "tenants" / "acme.sqlite3"
    _set_version(path, NEWER)
    before = _digest(path)
    caplog.clear()

    async with run_server(config) as running:
        listed = await get(running, "/projects")
        again = await get(running, "/projects")
        upgrade = await refused_status(running.ws_url, additional_headers=bearer(running.token()))
        other = await open_client(running.ws_url, running.token(tenant="globex"))
        try:
            others_projects = await other.ok("list_projects", projects_msg.ListProjects())
            created = await other.ok(
                "create_project", projects_msg.CreateProject(key="NEW", name="New")
            )
        finally:
            await other.close()

    assert_that(listed.status_code, equal_to(409))
    assert_that(listed.json(), equal_to({"code": "FAILED_PRECONDITION", "message": MESSAGE}))
    assert_that(again.json()["message"], equal_to(MESSAGE))
    assert_that(upgrade, equal_to(409))
    assert_that(_digest(path), equal_to(before))
    assert_that(
        sorted(p.name for p in path.parent.iterdir()), equal_to(["acme.sqlite3", "globex.sqlite3"])
    )
    refusals = [
        r for r in caplog.records if r.name == "tenants.manager" and r.levelno == logging.ERROR
    ]
    assert_that(refusals, has_length(1))
    assert_that(refusals[0].getMessage(), contains_string(MESSAGE))
    assert_that([p.key for p in others_projects.projects], equal_to(["PM"]))
    assert_that(created.project.key, equal_to("NEW"))
