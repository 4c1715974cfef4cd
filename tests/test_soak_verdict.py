"""The soak's own parts without a server: the Prometheus text format, /proc readings and the
verdict's rules (memory after warm-up, exact leak counts, client findings)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    greater_than,
    has_properties,
    is_,
    none,
)

from scripts.soak import prometheus, verdict
from scripts.soak.probes import Gauges, metrics_url, read_process
from scripts.soak.sampler import Levels
from scripts.soak.tally import Tally, percentile

EXPOSITION = """\
# HELP pm_connections Open authenticated WebSocket sessions
# TYPE pm_connections gauge
pm_connections 12.0
# TYPE pm_subscriptions gauge
pm_subscriptions 30
pm_open_tenants 8.0 1712345678000
pm_event_loop_tasks 57.0
pm_commands_total{command="create_work_item",code="OK"} 10.0
pm_commands_total{command="create_work_item",code="CONFLICT"} 2.0
pm_http_requests_total{route="/a,\\"b\\"}",method="GET",status="200",} 3.0
pm_command_duration_seconds_bucket{command="ping",le="+Inf"} 4.0
"""

RULE = verdict.MemoryRule(warmup_share=0.2, warmup_min_s=30.0, limit=0.05, window=3)


def _points(values: list[int], every_s: float = 10.0) -> list[tuple[float, int]]:
    return [((n + 1) * every_s, value) for n, value in enumerate(values)]


def _levels(**changes: int | None) -> Levels:
    base: dict[str, int | None] = dict(
        connections=0, subscriptions=0, tasks=40, other_fds=20, db_connections_max=3
    )
    base.update(changes)
    return Levels(**base)  # type: ignore[arg-type]


def test_given_the_servers_exposition_when_parsed_then_gauges_and_labelled_sums_are_read() -> None:
    metrics = prometheus.parse(EXPOSITION)

    assert_that(
        Gauges.of(metrics),
        equal_to(Gauges(connections=12, subscriptions=30, open_tenants=8, tasks=57)),
    )
    assert_that(metrics.value("pm_commands_total"), equal_to(12.0))
    assert_that(metrics.value("pm_command_duration_seconds_bucket"), equal_to(4.0))
    http = [s for s in metrics.samples if s.name == "pm_http_requests_total"][0]
    assert_that(
        http.labels,
        contains_exactly(("route", '/a,"b"}'), ("method", "GET"), ("status", "200")),
    )


def test_given_an_exposition_without_the_gauges_when_read_then_they_are_named_missing() -> None:
    gauges = Gauges.of(prometheus.parse("pm_connections 1\n"))

    assert_that(gauges.tasks, is_(none()))
    assert_that(
        gauges.missing(),
        contains_exactly("pm_subscriptions", "pm_open_tenants", "pm_event_loop_tasks"),
    )


@pytest.mark.parametrize("line", ["pm_x", 'pm_x{a="1} 2', "pm_x one", "{} 1", "pm_x{a=1} 2"])
def test_given_a_broken_line_when_parsed_then_a_parse_error_names_it(line: str) -> None:
    with pytest.raises(prometheus.ParseError, match="line 1"):
        prometheus.parse(line)


def test_given_a_websocket_url_when_asking_for_metrics_then_same_host_over_http() -> None:
    assert_that(metrics_url("ws://127.0.0.1:8123/ws"), equal_to("http://127.0.0.1:8123/metrics"))
    assert_that(metrics_url("wss://pm.example/t/acme/ws"), equal_to("https://pm.example/metrics"))


def test_given_latencies_when_taking_the_p99_then_the_nearest_rank_value() -> None:
    assert_that(percentile([float(n) for n in range(1, 201)], 0.99), equal_to(198.0))
    assert_that(percentile([5.0], 0.99), equal_to(5.0))
    assert_that(percentile([], 0.99), is_(none()))


def test_given_this_process_with_a_database_open_twice_when_read_then_fds_are_classified(
    tmp_path: Path,
) -> None:
    path = tmp_path / "acme.sqlite3"
    first, second = sqlite3.connect(path), sqlite3.connect(path)
    try:
        for conn in (first, second):
            conn.execute("create table if not exists t (x)")
        reading = read_process(os.getpid())
    finally:
        first.close()
        second.close()

    assert_that(reading.rss_kib, greater_than(0))
    assert_that(reading.db_connections_max, equal_to(2))
    assert_that(reading.fds, greater_than(reading.other_fds))


def test_given_rss_level_after_warmup_when_judged_then_memory_passes() -> None:
    # Growth during the warm-up (the first 30 s here) does not count.
    points = _points([50_000, 80_000, 99_000] + [100_000] * 5 + [103_000] * 4)

    check = verdict.memory(points, run_s=120, rule=RULE)

    assert_that(check, has_properties(ok=True, judged=True))
    assert_that(check.detail, contains_string("+3.0%"))


def test_given_rss_growing_steadily_after_warmup_when_judged_then_memory_fails() -> None:
    points = _points([100_000 + 2_000 * n for n in range(12)])

    check = verdict.memory(points, run_s=120, rule=RULE)

    assert_that(check, has_properties(ok=False, judged=True))


def test_given_one_rss_spike_among_the_last_samples_when_judged_then_the_median_ignores_it() -> (
    None
):
    points = _points([100_000] * 10 + [160_000, 100_500])

    check = verdict.memory(points, run_s=120, rule=RULE)

    assert_that(check.ok, equal_to(True))


def test_given_a_short_run_when_judged_then_memory_is_not_judged() -> None:
    check = verdict.memory(_points([100_000, 200_000, 300_000]), run_s=30, rule=RULE)

    assert_that(check, has_properties(ok=True, judged=False))


def test_given_the_levels_back_to_baseline_when_judged_then_no_leak() -> None:
    checks = verdict.leaks(_levels(), _levels(), max_db_connections=4)

    assert_that([c.ok for c in checks], contains_exactly(True, True, True, True, True))


def test_given_one_task_more_than_the_baseline_when_judged_then_it_is_a_leak() -> None:
    checks = {c.name: c for c in verdict.leaks(_levels(), _levels(tasks=41), 4)}

    assert_that(checks["tasks"].ok, equal_to(False))
    assert_that(checks["tasks"].detail, contains_string("baseline 40, after the clients left 41"))
    assert_that(checks["connections"].ok, equal_to(True))


def test_given_no_pid_when_judged_then_descriptors_are_not_judged_but_gauges_are() -> None:
    without = _levels(other_fds=None, db_connections_max=None)

    checks = {c.name: c for c in verdict.leaks(without, without, 4)}

    assert_that(checks["other_fds"], has_properties(ok=True, judged=False))
    assert_that(checks["subscriptions"], has_properties(ok=True, judged=True))
    assert_that("database_connections" in checks, equal_to(False))


def test_given_a_tenant_file_with_too_many_connections_when_judged_then_it_fails() -> None:
    checks = {c.name: c for c in verdict.leaks(_levels(), _levels(db_connections_max=9), 4)}

    assert_that(checks["database_connections"].ok, equal_to(False))


def test_given_no_gauges_when_judged_then_the_leak_checks_fail() -> None:
    missing = Levels(problem="GET /metrics: HTTP/1.1 404 Not Found")

    checks = {c.name: c for c in verdict.leaks(missing, missing, 4)}

    assert_that(checks["connections"].ok, equal_to(False))
    assert_that(checks["connections"].detail, contains_string("404"))


def test_given_an_internal_error_or_an_unexpected_close_when_judged_then_the_run_fails() -> None:
    tally = Tally()
    tally.command(1.0, "CONFLICT")
    tally.command(1.0, "INTERNAL")
    tally.unexpected_closes["1011"] += 1
    tally.expected_closes["4001"] += 1

    checks = {c.name: c for c in verdict.clients(tally)}

    assert_that(checks["internal_errors"].ok, equal_to(False))
    assert_that(checks["close_codes"].ok, equal_to(False))
    assert_that(checks["close_codes"].detail, contains_string("1011 x1"))
    assert_that(checks["anomalies"].ok, equal_to(True))


def test_given_only_expected_refusals_and_closes_when_judged_then_the_clients_pass() -> None:
    tally = Tally()
    tally.command(2.0, None)
    tally.command(3.0, "NOT_FOUND")
    tally.expected_closes["4001"] += 2
    tally.anomaly("refused_otherwise", "reported, not failing")

    assert_that([c.ok for c in verdict.clients(tally)], contains_exactly(True, True, True, True))
