"""Numbered SQL migrations, tracked by `PRAGMA user_version`.

Files are `migrations/NNNN_name.sql`, applied in order, each in its own transaction together
with the bump of user_version. The version is read again after BEGIN IMMEDIATE, so two
processes (or two connections) opening the same new tenant file apply each migration once.
A file whose version is above the last migration was written by a newer server: it is
refused (SchemaTooNew) before anything is written to it.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources

from tenants.errors import SchemaTooNew

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> tuple[Migration, ...]:
    found: list[Migration] = []
    for entry in resources.files("tenants.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration numbers must be 1..n without gaps: {migration.name}")
    return tuple(found)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def check_known(conn: sqlite3.Connection, migrations: tuple[Migration, ...]) -> int:
    """The file's schema version; SchemaTooNew when no migration here reaches it. Only reads."""
    version = schema_version(conn)
    known = migrations[-1].version if migrations else 0
    if version > known:
        raise SchemaTooNew(version, known)
    return version


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...]) -> list[int]:
    """Bring the database up to the last migration; returns the versions this call applied."""
    applied: list[int] = []
    check_known(conn, migrations)
    for migration in migrations:
        if schema_version(conn) >= migration.version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # A newer server may have migrated the file past us while we waited for the lock.
            check_known(conn, migrations)
            # Another process may have applied it while we waited for the write lock.
            if schema_version(conn) >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)",
                (migration.version, int(time.time() * 1000)),
            )
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied


def _statements(sql: str) -> list[str]:
    # executescript would COMMIT on its own; splitting keeps the migration in our transaction.
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RuntimeError("migration ends inside a statement")
    return statements
