"""A short soak (scripts/soak/) against a real server process: 40 clients over four
tenants for 30 s, connecting, resuming, writing, and leaving every way the soak knows
(clean closes, dropped and reset sockets, silences, stalls). Once they have left, the
server must be back to its baseline exactly: connections, subscriptions, event-loop tasks
and descriptors. Memory is not asserted here (a shared machine is too noisy for 30 s);
`make soak` judges it over ten minutes."""

from __future__ import annotations

import io
import sys

import pytest
from hamcrest import (
    assert_that,
    empty,
    equal_to,
    greater_than,
    less_than_or_equal_to,
)

from scripts.soak.clients import Behaviour
from scripts.soak.run import Options, run_soak

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's /proc"),
    # 30 s of load, the seed before it and the settling after it.
    pytest.mark.timeout(240),
]

OPTIONS = Options(
    clients=40,
    seconds=30.0,
    interval_s=5.0,
    tenants=4,
    projects=3,
    items=10,
    # Short lives and quick pauses: each client connects several times within the 30 s.
    behaviour=Behaviour(think_s=0.3, lifetime_s=5.0, reconnect_s=1.0, ramp_s=3.0),
    settle_timeout_s=60.0,
    seed=14,
)


async def test_given_a_30_s_soak_when_the_clients_left_then_the_server_is_back_to_baseline() -> (
    None
):
    out = io.StringIO()

    report = await run_soak(OPTIONS, out)

    log = out.getvalue()
    baseline, final = report.baseline, report.final
    assert_that(final.connections, equal_to(baseline.connections), log)
    assert_that(final.subscriptions, equal_to(baseline.subscriptions), log)
    assert_that(final.tasks, equal_to(baseline.tasks), log)
    assert_that(final.other_fds, equal_to(baseline.other_fds), log)
    assert_that(final.db_connections_max, less_than_or_equal_to(OPTIONS.max_db_connections), log)
    assert_that(report.tally.errors.get("INTERNAL", 0), equal_to(0), log)
    assert_that(dict(report.tally.unexpected_closes), empty(), log)
    # The soak's own verdict too (client anomalies, refused upgrades, load); memory is not
    # judged in a run this short.
    assert_that([check.name for check in report.verdict.failures], empty(), log)
    # It measured a real load: clients came back, and the gauges saw them subscribed.
    assert_that(baseline.connections, equal_to(0), log)
    assert_that(report.tally.connects, greater_than(OPTIONS.clients), log)
    assert_that(max(s.levels.subscriptions or 0 for s in report.samples), greater_than(0), log)
