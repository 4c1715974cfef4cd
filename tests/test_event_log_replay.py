"""The replay query's cost grows linearly with the events it reads (counted, not timed)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from hamcrest import assert_that, contains_exactly, equal_to, less_than

from tenants import event_log
from tenants.migrator import load_migrations, migrate


@contextmanager
def _log_of(path: Path, events: int, projects: list[str]) -> Iterator[sqlite3.Connection]:
    """A migrated tenant file holding `events` events, round-robin over `projects`."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.row_factory = sqlite3.Row  # as the tenant databases open it
        migrate(conn, load_migrations())
        conn.execute("BEGIN")
        for n in range(events):
            event_log.append(
                conn,
                project_ids=[projects[n % len(projects)]],
                tenant_level=n % 10 == 0,
                occurred_at=n,
                actor_id="alice",
                request_id=f"r{n}",
                payload=b"x" * 40,
            )
        conn.execute("COMMIT")
        yield conn


def _vm_steps(conn: sqlite3.Connection, project_id: str) -> tuple[int, int]:
    """SQLite virtual-machine steps of one replay of a project, and the events it returned."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        found = event_log.events_after(
            conn, since_seq=0, up_to_seq=10**9, project_ids=[project_id], tenant_feed=False
        )
    finally:
        conn.set_progress_handler(None, 1)
    return steps, len(found)


def test_given_1000_and_4000_events_when_replaying_then_the_work_grows_linearly(
    tmp_path: Path,
) -> None:
    projects = [str(uuid.uuid4()) for _ in range(4)]
    with _log_of(tmp_path / "small.sqlite3", 1000, projects) as small:
        small_steps, small_found = _vm_steps(small, projects[0])
    with _log_of(tmp_path / "large.sqlite3", 4000, projects) as large:
        large_steps, large_found = _vm_steps(large, projects[0])

    assert_that((small_found, large_found), equal_to((250, 1000)))
    # Four times the events: about four times the steps (quadratic would be sixteen).
    assert_that(large_steps / small_steps, less_than(5.0))


def test_given_events_of_several_projects_when_replaying_one_then_each_carries_its_projects(
    tmp_path: Path,
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with closing(sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)) as conn:
        migrate(conn, load_migrations())
        for projects in ([first], [second], [first, second], [second]):
            event_log.append(
                conn,
                project_ids=projects,
                tenant_level=False,
                occurred_at=0,
                actor_id="a",
                request_id="r",
                payload=b"p",
            )

        found = event_log.events_after(
            conn, since_seq=0, up_to_seq=4, project_ids=[first], tenant_feed=False
        )

    assert_that([e.seq for e in found], contains_exactly(1, 3))
    assert_that([set(e.project_ids) for e in found], contains_exactly({first}, {first, second}))
