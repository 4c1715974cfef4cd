"""server/limits.py without a server: the token bucket on a fake clock, the counters, and
the PM_* settings' validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    equal_to,
    has_properties,
    instance_of,
    is_,
    none,
)

from pm.v1 import session_pb2
from server.config import Config, ConfigError
from server.limits import (
    CONNECTION_RETRY_AFTER_S,
    REPLAY_RETRY_AFTER_MS,
    CommandLimiter,
    ConnectionCounts,
    RateLimited,
    Refusal,
    ReplayCounts,
    RequestLimiter,
    TokenBucket,
    check_subscribe,
    retry_after_headers,
)
from server.session import TENANT_FEED, Session
from tenants.errors import InvalidArgument, NotFound, ResourceExhausted

P1 = "00000000-0000-4000-8000-000000000001"
P2 = "00000000-0000-4000-8000-000000000002"
P3 = "00000000-0000-4000-8000-000000000003"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the token bucket -------------------------------------------------------------------------


def test_given_a_full_bucket_when_taking_its_burst_then_each_is_admitted_and_the_next_waits() -> (
    None
):
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)

    taken = [bucket.take() for _ in range(3)]
    refused = bucket.take()

    assert_that(taken, equal_to([0.0, 0.0, 0.0]))
    assert_that(refused, equal_to(pytest.approx(0.1)))


def test_given_an_empty_bucket_when_time_passes_then_it_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()

    clock.advance(0.05)
    half = bucket.take()
    clock.advance(0.05)
    whole = bucket.take()

    assert_that(half, equal_to(pytest.approx(0.05)))
    assert_that(whole, equal_to(0.0))


def test_given_a_long_idle_bucket_when_taking_then_it_holds_no_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=2, clock=clock)
    clock.advance(3600)

    results = [bucket.take() for _ in range(3)]

    assert_that(results[:2], equal_to([0.0, 0.0]))
    assert_that(results[2], equal_to(pytest.approx(0.01)))
    assert_that(bucket.full, is_(False))


def test_given_a_clock_going_back_when_taking_then_nothing_is_refilled() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    bucket.take()

    clock.advance(-100)
    refused = bucket.take()
    clock.advance(100.5)  # back to where it was, and half a second on
    still = bucket.take()

    assert_that(refused, equal_to(pytest.approx(1.0)))
    assert_that(still, equal_to(pytest.approx(0.5)))


def test_given_a_zero_rate_or_burst_when_building_a_bucket_then_it_is_refused() -> None:
    for rate, burst in ((0, 1), (-1, 1), (float("inf"), 1), (1, 0)):
        with pytest.raises(ValueError):
            TokenBucket(rate, burst)


# --- one connection's commands ------------------------------------------------------------


def test_given_a_connection_past_its_burst_when_commands_go_on_then_refused_then_closed() -> None:
    clock = FakeClock()
    limiter = CommandLimiter(rate=2, burst=2, max_refused=2, clock=clock)

    admitted = [limiter.admit() for _ in range(2)]
    refusals = [limiter.admit() for _ in range(3)]

    assert_that(admitted, equal_to([None, None]))
    assert_that([type(r) for r in refusals], equal_to([Refusal] * 3))
    assert_that([r is not None and r.close for r in refusals], equal_to([False, False, True]))
    first = refusals[0]
    assert first is not None
    assert_that(first.error, instance_of(ResourceExhausted))
    assert_that(first.error.retry_after_ms, equal_to(500))
    assert_that(first.error.message, contains_string("retry after 500 ms"))


def test_given_refusals_spread_over_the_window_when_counting_then_the_connection_stays() -> None:
    clock = FakeClock()
    limiter = CommandLimiter(rate=1, burst=1, max_refused=2, clock=clock)

    closes = []
    for _ in range(10):
        assert_that(limiter.admit(), none())
        refusal = limiter.admit()  # one refusal every 5 s: a strike comes back meanwhile
        assert refusal is not None
        closes.append(refusal.close)
        clock.advance(5)

    assert_that(closes, equal_to([False] * 10))


def test_given_a_client_that_waited_as_told_when_sending_again_then_it_is_admitted() -> None:
    clock = FakeClock()
    limiter = CommandLimiter(rate=4, burst=1, max_refused=5, clock=clock)
    limiter.admit()
    refusal = limiter.admit()
    assert refusal is not None

    clock.advance(refusal.error.retry_after_ms / 1000)

    assert_that(limiter.admit(), none())


# --- REST and MCP requests ---------------------------------------------------------------------


def test_given_a_user_past_its_rate_when_requesting_then_rate_limited_and_others_are_not() -> None:
    clock = FakeClock()
    limiter = RequestLimiter(rate=1, burst=2, clock=clock)
    alice, bob = ("acme", "alice"), ("acme", "bob")
    limiter.check(alice)
    limiter.check(alice)

    with pytest.raises(RateLimited, match="more than 1 requests a second; retry after 1000 ms"):
        limiter.check(alice)
    limiter.check(bob)
    limiter.check(("other", "alice"))  # another tenant's alice is another user


def test_given_buckets_that_refilled_when_a_minute_passes_then_they_are_forgotten() -> None:
    clock = FakeClock()
    limiter = RequestLimiter(rate=1, burst=2, clock=clock)
    for user in ("a", "b", "c"):
        limiter.check(("acme", user))
    assert_that(len(limiter), equal_to(3))

    clock.advance(61)
    limiter.check(("acme", "d"))

    assert_that(len(limiter), equal_to(1))


def test_given_a_rate_limited_error_when_answering_http_then_retry_after_is_whole_seconds() -> None:
    assert_that(retry_after_headers(RateLimited("x", 1)), equal_to({"Retry-After": "1"}))
    assert_that(retry_after_headers(RateLimited("x", 2_001)), equal_to({"Retry-After": "3"}))
    assert_that(retry_after_headers(NotFound("x")), equal_to({}))


# --- connections --------------------------------------------------------------------------------


def test_given_a_user_at_its_cap_when_opening_then_refused_and_counted_nothing() -> None:
    counts = ConnectionCounts(per_user=2, per_tenant=10)
    counts.open("acme", "alice")
    counts.open("acme", "alice")

    with pytest.raises(RateLimited, match="connections for the user"):
        counts.open("acme", "alice")
    counts.open("acme", "bob")
    counts.open("other", "alice")
    assert_that(counts.of_tenant("acme"), equal_to(3))


def test_given_a_tenant_at_its_cap_when_one_closes_then_another_may_open() -> None:
    counts = ConnectionCounts(per_user=10, per_tenant=2)
    first = counts.open("acme", "alice")
    counts.open("acme", "bob")
    try:
        counts.open("acme", "carol")
    except RateLimited as error:
        refused = error
    else:
        raise AssertionError("a third connection of the tenant was counted")

    first.release()
    first.release()  # once only
    counts.open("acme", "carol")

    assert_that(refused, has_properties(retry_after_ms=CONNECTION_RETRY_AFTER_S * 1000))
    assert_that(refused.message, contains_string("connections for the tenant"))
    assert_that(counts.of_tenant("acme"), equal_to(2))


# --- replays ------------------------------------------------------------------------------------


def test_given_the_tenants_replays_running_when_another_starts_then_refused_with_retry() -> None:
    replays = ReplayCounts(per_tenant=1)

    with replays.start("acme"):
        with pytest.raises(RateLimited, match=f"retry after {REPLAY_RETRY_AFTER_MS} ms"):
            replays.start("acme")
        other = replays.start("other")  # per tenant
        other.release()
    after = replays.start("acme")

    assert_that(replays.running("acme"), equal_to(1))
    after.release()
    assert_that(replays.running("acme"), equal_to(0))


def test_given_a_replay_waiting_for_its_client_when_another_starts_then_it_may() -> None:
    replays = ReplayCounts(per_tenant=1)
    slow = replays.start("acme")

    slow.pause()  # waiting for the socket, not reading the log
    fast = replays.start("acme")
    slow.resume()  # counted again, even past the limit
    running = replays.running("acme")
    fast.release()
    slow.release()

    assert_that(running, equal_to(2))
    assert_that(replays.running("acme"), equal_to(0))


# --- subscriptions ----------------------------------------------------------------------------


def _config(tmp_path: Path, **overrides: object) -> Config:
    return Config(data_dir=tmp_path).replace(**overrides)


def test_given_too_many_projects_in_one_subscribe_when_checking_then_invalid_argument(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, max_subscriptions=3, max_projects_per_subscribe=2)

    with pytest.raises(InvalidArgument, match="more than 2 projects in one Subscribe"):
        check_subscribe(config, Session(), session_pb2.Subscribe(project_ids=[P1, P2, P3]))


def test_given_a_connection_at_its_subscriptions_when_adding_then_only_held_ones_pass(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, max_subscriptions=2, max_projects_per_subscribe=2)
    session = Session()
    session.add([P1, P2, TENANT_FEED], since=0)

    check_subscribe(config, session, session_pb2.Subscribe(project_ids=[P2, P1]))
    check_subscribe(config, session, session_pb2.Subscribe(tenant_feed=True))

    with pytest.raises(ResourceExhausted, match="more than 2 projects subscribed"):
        check_subscribe(config, session, session_pb2.Subscribe(project_ids=[P1, P3]))
    assert_that(session.project_ids, contains_exactly(P1, P2))


# --- configuration -------------------------------------------------------------------------------


def test_given_the_defaults_when_building_the_config_then_the_limits_are_generous() -> None:
    config = Config()

    assert_that(
        config,
        has_properties(
            commands_per_second=500.0,
            command_burst=2_000,
            max_refused_commands=100,
            max_connections_per_user=100,
            max_connections_per_tenant=5_000,
            max_subscriptions=1_000,
            max_projects_per_subscribe=500,
            max_replays_per_tenant=4,
            rest_requests_per_second=50.0,
            rest_burst=200,
        ),
    )


@pytest.mark.parametrize(
    "name",
    [
        "PM_COMMANDS_PER_SECOND",
        "PM_COMMAND_BURST",
        "PM_MAX_REFUSED_COMMANDS",
        "PM_MAX_CONNECTIONS_PER_USER",
        "PM_MAX_CONNECTIONS_PER_TENANT",
        "PM_MAX_SUBSCRIPTIONS",
        "PM_MAX_PROJECTS_PER_SUBSCRIBE",
        "PM_MAX_REPLAYS_PER_TENANT",
        "PM_REST_REQUESTS_PER_SECOND",
        "PM_REST_BURST",
    ],
)
def test_given_a_limit_of_zero_when_reading_the_environment_then_it_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be"):
        Config.from_env({name: "0"})


def test_given_odd_limit_values_when_reading_the_environment_then_each_is_refused() -> None:
    for environ, message in (
        ({"PM_COMMANDS_PER_SECOND": "inf"}, "finite"),
        ({"PM_REST_REQUESTS_PER_SECOND": "nan"}, "finite"),
        ({"PM_COMMAND_BURST": "many"}, "PM_COMMAND_BURST"),
        (
            {"PM_MAX_SUBSCRIPTIONS": "10", "PM_MAX_PROJECTS_PER_SUBSCRIBE": "20"},
            "must not exceed",
        ),
    ):
        with pytest.raises(ConfigError, match=message):
            Config.from_env(environ)


def test_given_fractional_rates_when_reading_the_environment_then_they_are_kept() -> None:
    config = Config.from_env(
        {"PM_COMMANDS_PER_SECOND": "0.5", "PM_REST_REQUESTS_PER_SECOND": "2.5"}
    )

    assert_that((config.commands_per_second, config.rest_requests_per_second), equal_to((0.5, 2.5)))
