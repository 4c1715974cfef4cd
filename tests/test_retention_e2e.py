"""Retention and epochs end to end: old events leave the log, the seq counter does not go
back, a Subscribe older than what is kept answers RESYNC_REQUIRED, and since_seq is only
valid with the epoch it belongs to."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from hamcrest import assert_that, contains_exactly, equal_to, has_length, is_not

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from server.config import Config
from server.retention import policy_of
from tenants import retention
from tenants.migrator import load_migrations, migrate
from tests.boards import create_project
from tests.server_fixture import make_config, run_server
from tests.tenant_state import rows, tenant_file
from tests.wire import open_client

RESYNC = env.ERROR_CODE_RESYNC_REQUIRED


def _pruning(tmp_path: Path, keep: int, **overrides: object) -> Config:
    settings: dict[str, object] = {
        "event_retention_events": keep,
        "event_retention_days": 0,
        "event_retention_min_age_seconds": 0,
        "retention_interval_seconds": 0.05,
        **overrides,
    }
    return make_config(tmp_path, **settings)


async def test_given_more_events_than_kept_when_a_pass_runs_then_old_ones_are_pruned(
    tmp_path: Path,
) -> None:
    async with run_server(_pruning(tmp_path, keep=2)) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            for key in ("AA", "BB", "CC", "DD", "EE"):  # seqs 1..5
                await create_project(alice, key)
            await running.services.retention.next_pass()

            too_old = await alice.error(
                "subscribe",
                session_pb2.Subscribe(tenant_feed=True, since_seq=2, epoch=alice.welcome.epoch),
            )
            kept = await alice.subscribe(tenant_feed=True, since_seq=3)
            replayed = await alice.events_until_quiet()
            await create_project(alice, "FF")
            live = await alice.event()
            # Passes keep running every 50 ms: wait for one that saw seq 6, so what is left
            # does not depend on whether one ran before the server stopped.
            await running.services.retention.next_pass()
        finally:
            await alice.close()

    assert_that(too_old.code, equal_to(RESYNC))
    assert_that([e.seq for e in replayed], contains_exactly(4, 5))
    assert_that(kept.replay_to_seq, equal_to(5))
    # The counter survives pruning: the next change is 6, never a seq given before.
    assert_that(live.seq, equal_to(6))
    assert_that(rows(running, "SELECT seq FROM events ORDER BY seq"), equal_to([(5,), (6,)]))
    # The activity log is the audit trail: every change is still there.
    assert_that(rows(running, "SELECT DISTINCT seq FROM activity_log"), has_length(6))


async def test_given_young_events_when_a_pass_runs_then_none_is_pruned(tmp_path: Path) -> None:
    config = _pruning(tmp_path, keep=1, event_retention_min_age_seconds=600)
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            for key in ("AA", "BB", "CC"):
                await create_project(alice, key)
            await running.services.retention.next_pass()

            await alice.subscribe(tenant_feed=True, since_seq=0)
            replayed = await alice.events_until_quiet()
        finally:
            await alice.close()

    assert_that([e.seq for e in replayed], contains_exactly(1, 2, 3))


def test_given_old_idempotency_records_when_pruned_then_only_those_go(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    policy = policy_of(config)
    hour = 3_600_000
    now = 1_000 * hour
    with closing(sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)) as conn:
        migrate(conn, load_migrations())
        for name, age_hours in (("old", 49), ("recent", 47)):
            conn.execute(
                "INSERT INTO processed_requests(user_id, request_id, fingerprint, response,"
                " seq, created_at) VALUES ('u', ?, x'00', x'00', NULL, ?)",
                (name, now - age_hours * hour),
            )

        pruned = retention.prune(conn, policy, now, limit=100)
        left = [r[0] for r in conn.execute("SELECT request_id FROM processed_requests")]

    assert_that((pruned.requests, left), equal_to((1, ["recent"])))


async def test_given_a_welcome_when_subscribing_then_both_carry_the_tenant_epoch(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            result = await alice.subscribe(tenant_feed=True)
        finally:
            await alice.close()

    assert_that(alice.welcome.epoch, has_length(32))
    assert_that(result.epoch, equal_to(alice.welcome.epoch))


async def test_given_since_seq_without_or_with_another_epoch_when_subscribing_then_resync(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            await create_project(alice, "AA")
            answers = [
                await alice.error(
                    "subscribe", session_pb2.Subscribe(tenant_feed=True, since_seq=0, epoch=epoch)
                )
                for epoch in ("", "0" * 32)
            ]
            # Checked before every other since_seq rule: a seq above the current one too.
            ahead = await alice.error(
                "subscribe", session_pb2.Subscribe(tenant_feed=True, since_seq=99, epoch="x")
            )
        finally:
            await alice.close()

    assert_that([a.code for a in [*answers, ahead]], equal_to([RESYNC, RESYNC, RESYNC]))


async def test_given_a_restored_file_with_a_new_epoch_when_resuming_then_resync(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        await create_project(alice, "AA")
        before = alice.welcome.epoch
        await alice.close()
    with closing(sqlite3.connect(tenant_file(tmp_path))) as conn:
        # What a restore does to the file: a new history, a new epoch.
        conn.execute(
            "UPDATE tenant_meta SET value = lower(hex(randomblob(16))) WHERE name = 'epoch'"
        )
        conn.commit()

    async with run_server(config) as running:
        bob = await open_client(running.ws_url, running.token(user="bob"))
        try:
            refused = await bob.error(
                "subscribe", session_pb2.Subscribe(tenant_feed=True, since_seq=1, epoch=before)
            )
        finally:
            await bob.close()

    assert_that(bob.welcome.epoch, is_not(equal_to(before)))
    assert_that(refused.code, equal_to(RESYNC))
