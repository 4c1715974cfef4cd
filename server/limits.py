"""Abuse limits: what one client may take, so that it cannot hurt the others.

    TokenBucket ─── CommandLimiter   one connection's commands (RESOURCE_EXHAUSTED, then 4029)
              └──── RequestLimiter   REST and MCP requests per user (HTTP 429, Retry-After)
    ConnectionCounts                 open WebSockets per user and per tenant (HTTP 429)
    ReplayCounts                     Subscribes with since_seq reading a tenant's log at once
    check_subscribe                  projects per Subscribe and per connection

Every number comes from `Config` (PM_*, see docs/protocol.md, Limits). The counters are per
process: with PM_WORKERS above 1 each process counts its own. `limits_for(services)` gives
the one `Limits` of a Services (one per lifespan run). No I/O here; the clock is injectable.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pm.v1 import session_pb2
from server.commands import parse_id
from server.config import Config
from server.session import Session
from tenants.errors import InvalidArgument, PmError, ResourceExhausted

if TYPE_CHECKING:
    from server.services import Services

Clock = Callable[[], float]

# Refusals of one connection are counted over this window (a bucket of
# PM_MAX_REFUSED_COMMANDS refilling over it); one more closes the connection with 4029.
REFUSAL_WINDOW_S = 10.0
# What a refused upgrade's Retry-After says: a slot frees only when a connection closes.
CONNECTION_RETRY_AFTER_S = 10
# What a Subscribe refused for the tenant's running replays is told to wait.
REPLAY_RETRY_AFTER_MS = 500
# The REST limiter forgets the buckets that have refilled, at most this often.
_SWEEP_INTERVAL_S = 60.0
# Refills are sums of float products: a token due now may be 1e-13 short.
_EPSILON = 1e-9


class RateLimited(ResourceExhausted):
    """RESOURCE_EXHAUSTED with how long to wait before trying again."""

    def __init__(self, message: str, retry_after_ms: int, *, field: str = "") -> None:
        super().__init__(f"{message}; retry after {retry_after_ms} ms", field=field)
        self.retry_after_ms = retry_after_ms


def retry_after_ms(seconds: float) -> int:
    """Whole milliseconds, at least 1: a client told 0 would retry at once."""
    return max(1, math.ceil(seconds * 1000))


def retry_after_headers(error: PmError) -> dict[str, str]:
    """HTTP's `Retry-After` (whole seconds, at least 1) for a RateLimited error."""
    if not isinstance(error, RateLimited):
        return {}
    return {"Retry-After": str(max(1, math.ceil(error.retry_after_ms / 1000)))}


class TokenBucket:
    """`burst` tokens, refilled at `rate` a second; each admitted unit takes one."""

    __slots__ = ("_rate", "_burst", "_tokens", "_stamp", "_clock")

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        if not (rate > 0 and math.isfinite(rate)) or burst < 1:
            raise ValueError("a token bucket needs a positive finite rate and a burst of 1 or more")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> float:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = max(self._stamp, now)  # a clock going back refills nothing
        return self._tokens

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until one is there (nothing
        taken)."""
        tokens = self._refill()
        if tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, tokens - 1)
            return 0.0
        return (1 - tokens) / self._rate

    @property
    def full(self) -> bool:
        return self._refill() >= self._burst - _EPSILON


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame past the bucket: answer `error` (nothing runs), or close with 4029."""

    error: RateLimited
    close: bool


class CommandLimiter:
    """One connection's commands: each takes a token (Ping and Pong do not: they run
    nothing, and answering one costs no more than refusing it would). A refused one is a
    strike; more than `max_refused` strikes within REFUSAL_WINDOW_S mean the client is not
    listening: close."""

    __slots__ = ("_commands", "_strikes", "_rate", "_max_refused", "_clock")

    def __init__(
        self, rate: float, burst: int, max_refused: int, clock: Clock = time.monotonic
    ) -> None:
        self._commands = TokenBucket(rate, burst, clock)
        self._strikes: TokenBucket | None = None  # made at the first refusal (idle memory)
        self._rate = rate
        self._max_refused = max_refused
        self._clock = clock

    def admit(self) -> Refusal | None:
        wait = self._commands.take()
        if not wait:
            return None
        if self._strikes is None:
            self._strikes = TokenBucket(
                self._max_refused / REFUSAL_WINDOW_S, self._max_refused, self._clock
            )
        error = RateLimited(f"more than {self._rate:g} commands a second", retry_after_ms(wait))
        return Refusal(error, close=bool(self._strikes.take()))


class RequestLimiter:
    """A token bucket per key (a tenant's user); buckets that have refilled are dropped."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._swept = clock()

    def check(self, key: tuple[str, str]) -> None:
        """Raises RateLimited when `key` is past its rate."""
        self._sweep()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._clock)
        wait = bucket.take()
        if wait:
            raise RateLimited(f"more than {self._rate:g} requests a second", retry_after_ms(wait))

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self) -> None:
        now = self._clock()
        if now - self._swept < _SWEEP_INTERVAL_S:
            return
        self._swept = now
        # A full bucket is the same as no bucket: forget it.
        for key in [k for k, bucket in self._buckets.items() if bucket.full]:
            del self._buckets[key]


class Slot:
    """One counted thing (a connection, a replay); `release` (or leaving the `with`) once."""

    __slots__ = ("_release",)

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


class ConnectionCounts:
    """Open WebSockets per user (tenant and sub) and per tenant, counted from the upgrade
    (before accept) until the connection ends."""

    def __init__(self, per_user: int, per_tenant: int) -> None:
        self._per_user = per_user
        self._per_tenant = per_tenant
        self._users: dict[str, int] = {}
        self._tenants: dict[str, int] = {}

    def open(self, tenant_id: str, user_id: str) -> Slot:
        """Count one more connection, or raise RateLimited (nothing counted)."""
        user = f"{tenant_id}\0{user_id}"
        if self._users.get(user, 0) >= self._per_user:
            raise RateLimited(
                f"more than {self._per_user} connections for the user",
                CONNECTION_RETRY_AFTER_S * 1000,
            )
        if self._tenants.get(tenant_id, 0) >= self._per_tenant:
            raise RateLimited(
                f"more than {self._per_tenant} connections for the tenant",
                CONNECTION_RETRY_AFTER_S * 1000,
            )
        self._users[user] = self._users.get(user, 0) + 1
        self._tenants[tenant_id] = self._tenants.get(tenant_id, 0) + 1

        def release() -> None:
            _decrement(self._users, user)
            _decrement(self._tenants, tenant_id)

        return Slot(release)

    def of_tenant(self, tenant_id: str) -> int:
        return self._tenants.get(tenant_id, 0)


class ReplayCounts:
    """Subscribes with since_seq of each tenant reading its log (not while they wait for
    their client to take what they sent: a slow reader holds no slot)."""

    def __init__(self, per_tenant: int) -> None:
        self._per_tenant = per_tenant
        self._running: dict[str, int] = {}

    def start(self, tenant_id: str) -> ReplaySlot:
        """Count one more replay, or raise RateLimited (nothing counted)."""
        if self._running.get(tenant_id, 0) >= self._per_tenant:
            raise RateLimited(
                f"more than {self._per_tenant} replays of the tenant running",
                REPLAY_RETRY_AFTER_MS,
                field="since_seq",
            )
        return ReplaySlot(self._running, tenant_id)

    def running(self, tenant_id: str) -> int:
        return self._running.get(tenant_id, 0)


class ReplaySlot(Slot):
    """A replay's count; `pause`/`resume` around waiting for the client (uncounted then)."""

    __slots__ = ("_counts", "_tenant_id", "_counted")

    def __init__(self, counts: dict[str, int], tenant_id: str) -> None:
        super().__init__(self.pause)
        self._counts = counts
        self._tenant_id = tenant_id
        self._counted = False
        self.resume()

    def pause(self) -> None:
        if self._counted:
            self._counted = False
            _decrement(self._counts, self._tenant_id)

    def resume(self) -> None:
        """Counted again, even past the limit: the limit is on starting a replay."""
        if not self._counted:
            self._counted = True
            self._counts[self._tenant_id] = self._counts.get(self._tenant_id, 0) + 1


def check_subscribe(config: Config, session: Session, command: session_pb2.Subscribe) -> None:
    """Before a Subscribe runs: too many projects in it is INVALID_ARGUMENT (it can never
    succeed as sent); past the connection's subscriptions RESOURCE_EXHAUSTED (unsubscribe
    first). Either way nothing changes."""
    named = command.project_ids
    if len(named) > config.max_projects_per_subscribe:
        raise InvalidArgument(
            f"more than {config.max_projects_per_subscribe} projects in one Subscribe",
            field="project_ids",
        )
    new = _count_new(session, (parse_id(p, "project_ids") for p in named))
    if session.project_count + new > config.max_subscriptions:
        raise ResourceExhausted(
            f"more than {config.max_subscriptions} projects subscribed by one connection;"
            " unsubscribe some first",
            field="project_ids",
        )


def _count_new(session: Session, project_ids: Iterable[str]) -> int:
    return sum(1 for p in dict.fromkeys(project_ids) if not session.has(p))


class Limits:
    """The limits shared by every connection and request of one Services."""

    def __init__(self, config: Config, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.connections = ConnectionCounts(
            config.max_connections_per_user, config.max_connections_per_tenant
        )
        self.replays = ReplayCounts(config.max_replays_per_tenant)
        self.requests = RequestLimiter(config.rest_requests_per_second, config.rest_burst, clock)

    def commands(self) -> CommandLimiter:
        """A new connection's own limiter."""
        config = self.config
        return CommandLimiter(
            config.commands_per_second,
            config.command_burst,
            config.max_refused_commands,
            self._clock,
        )


# Services is a mutable dataclass (not hashable): its Limits are found by id, and dropped
# with it.
_LIMITS: dict[int, Limits] = {}


def limits_for(services: Services) -> Limits:
    key = id(services)
    limits = _LIMITS.get(key)
    if limits is None:
        limits = _LIMITS[key] = Limits(services.config)
        weakref.finalize(services, _LIMITS.pop, key, None)
    return limits
