"""Reading a tenant's SQLite file directly: read-only openers, counts, and full snapshots.

A snapshot holds every row of every table (entities, activity log, events, idempotency
records, ...), so comparing two proves that nothing at all was written in between.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from tenants.migrator import load_migrations, migrate
from tests.server_fixture import RunningServer

Snapshot = dict[str, list[tuple[Any, ...]]]
Where = RunningServer | Path

# The columns of activity rows that tests compare.
CHANGES = "entity_type, entity_id, action, field, old_json, new_json"
ENTITIES = "entity_type, entity_id, action, seq"


def tenant_file(where: Where, tenant: str = "acme") -> Path:
    data_dir = where.config.data_dir if isinstance(where, RunningServer) else where
    return Path(data_dir) / "tenants" / f"{tenant}.sqlite3"


def read_only(where: Where, tenant: str = "acme") -> sqlite3.Connection:
    """The tenant's file opened read-only; close it (contextlib.closing)."""
    return sqlite3.connect(f"file:{tenant_file(where, tenant)}?mode=ro", uri=True)


def rows(where: Where, sql: str, *params: object, tenant: str = "acme") -> list[tuple[Any, ...]]:
    """Every row one query returns, on a read-only connection of its own."""
    with closing(read_only(where, tenant)) as conn:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]


def count(where: Where, table: str, tenant: str = "acme") -> int:
    return int(rows(where, f"SELECT COUNT(*) FROM {table}", tenant=tenant)[0][0])


def activity_of(where: Where, request_id: str, columns: str = CHANGES) -> list[tuple[Any, ...]]:
    """The chosen columns of one request's activity rows, in the order they were written."""
    return rows(
        where, f"SELECT {columns} FROM activity_log WHERE request_id = ? ORDER BY id", request_id
    )


def snapshot_of(conn: sqlite3.Connection) -> Snapshot:
    """Every row of every table of an open tenant database, in a stable order."""
    tables = [
        str(name)
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    state: Snapshot = {}
    for table in tables:
        width = len(conn.execute(f"PRAGMA table_info({table})").fetchall())
        order = ", ".join(str(i) for i in range(1, width + 1))
        found = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        state[table] = [tuple(row) for row in found]
    return state


def snapshot(where: Where, tenant: str = "acme") -> Snapshot:
    """Every row of every table in the tenant's file: any write at all shows as a difference."""
    with closing(read_only(where, tenant)) as conn:
        return snapshot_of(conn)


def memory_tenant() -> sqlite3.Connection:
    """A migrated in-memory tenant database in autocommit mode, foreign keys on."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, load_migrations())
    return conn
