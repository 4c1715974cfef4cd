"""How much of each workload a run does: the full profile (`make bench`) and the quick one
(`make bench-quick`, the same figures with fewer and shorter repetitions)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # Each round runs every server workload once and every baseline once, interleaved.
    rounds: int
    warmup_ms: int
    throughput_ms: int
    durable_ms: int
    writer_ms: int
    idle_hold_ms: int
    connections: int = 16
    in_flight: int = 32
    durable_connections: int = 64
    seed_items: int = 10_000
    writer_rate_hz: int = 200
    list_page_size: int = 500
    fanout_subscribers: int = 1_000
    fanout_events: int = 200
    fanout_in_flight: int = 64
    idle_connections: int = 5_000
    # Short enough that every idle connection is pinged (and answers) during the hold.
    idle_heartbeat_ms: int = 5_000


QUICK = Profile(
    name="quick",
    rounds=2,
    warmup_ms=1_000,
    throughput_ms=3_000,
    durable_ms=3_000,
    writer_ms=5_000,
    idle_hold_ms=6_000,
)

FULL = Profile(
    name="full",
    rounds=5,
    warmup_ms=2_000,
    throughput_ms=8_000,
    durable_ms=8_000,
    writer_ms=15_000,
    idle_hold_ms=12_000,
)
