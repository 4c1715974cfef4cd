"""Write-path benchmark: commits per second against a bare sqlite3 baseline, in one run.

    python -m scripts.bench_write_path [--writes 3000] [--concurrency 64]

Rows printed (each a ratio to the baseline measured in the same run on the same disk):
- baseline: plain sqlite3 on one thread, one INSERT and one COMMIT per write (WAL, NORMAL);
- TenantDatabase.write, one at a time: the same insert through our thread hop;
- TenantDatabase.write, N concurrent: group commit shares one COMMIT among waiting writes;
- create_work_item through CommandRunner, N concurrent: the whole command (rules, entity,
  activity row, event row, idempotency record) without the socket.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import server.handlers  # noqa: F401, I001  (registers the commands)
from pm.v1 import entities_pb2, projects_pb2, work_items_pb2
from server.auth import Principal, Role
from server.runner import CommandRunner
from tenants.database import TenantDatabase
from tenants.manager import TenantDatabases
from tenants.migrator import load_migrations


def baseline(path: Path, writes: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, payload BLOB)")
    started = time.perf_counter()
    for _ in range(writes):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (str(uuid.uuid4()), b"x" * 100))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return writes / elapsed


def _insert(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO t VALUES (?, ?)", (str(uuid.uuid4()), b"x" * 100))


async def tenant_writes(path: Path, writes: int, concurrency: int) -> tuple[float, float]:
    db = TenantDatabase("bench", path, migrations=load_migrations())
    await db.open()
    await db.write(lambda c: c.execute("CREATE TABLE t (id TEXT PRIMARY KEY, payload BLOB)"))
    started = time.perf_counter()
    for _ in range(writes):
        await db.write(_insert)
    sequential = writes / (time.perf_counter() - started)

    async def worker(count: int) -> None:
        for _ in range(count):
            await db.write(_insert)

    started = time.perf_counter()
    await asyncio.gather(*(worker(writes // concurrency) for _ in range(concurrency)))
    concurrent = (writes // concurrency * concurrency) / (time.perf_counter() - started)
    await db.close()
    return sequential, concurrent


async def command_writes(data_dir: Path, writes: int, concurrency: int) -> float:
    databases = TenantDatabases(data_dir)
    runner = CommandRunner(databases)
    principal = Principal("bench-user", "bench", Role.ADMIN, time.time() + 3600)
    created = await runner.run(
        principal, "p", "create_project", projects_pb2.CreateProject(key="BENCH", name="Bench")
    )
    from pm.v1 import envelope_pb2

    message = envelope_pb2.ServerMessage()
    message.ParseFromString(created.response)
    project_id = message.response.create_project.project.id
    per_worker = writes // concurrency

    async def worker(index: int) -> None:
        for n in range(per_worker):
            outcome = await runner.run(
                principal,
                f"w{index}-{n}",
                "create_work_item",
                work_items_pb2.CreateWorkItem(
                    project_id=project_id, type=entities_pb2.WORK_ITEM_TYPE_TASK, title=f"task {n}"
                ),
            )
            assert outcome.event is not None

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    rate = per_worker * concurrency / (time.perf_counter() - started)
    await databases.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = baseline(root / "baseline.sqlite3", args.writes)
        sequential, concurrent = asyncio.run(
            tenant_writes(root / "tenant.sqlite3", args.writes, args.concurrency)
        )
        commands = asyncio.run(command_writes(root / "data", args.writes, args.concurrency))
    print(f"{'write path':<58} {'writes/s':>10} {'x baseline':>11}")
    rows = [
        ("baseline: sqlite3, one commit per insert", base),
        ("TenantDatabase.write, sequential", sequential),
        (f"TenantDatabase.write, {args.concurrency} concurrent (group commit)", concurrent),
        (f"create_work_item via CommandRunner, {args.concurrency} concurrent", commands),
    ]
    for label, rate in rows:
        print(f"{label:<58} {rate:>10,.0f} {rate / base:>10.2f}x")


if __name__ == "__main__":
    main()
