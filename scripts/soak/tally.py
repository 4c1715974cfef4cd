"""What the simulated clients count: commands and their latency per interval, errors by
code, closes they did not ask for, anomalies (a deliberately invalid command accepted, a
command never answered). One Tally for every client: they share one event loop."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Interval:
    commands: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def p99_ms(self) -> float | None:
        return percentile(self.latencies_ms, 0.99)


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the smallest value with `fraction` of them at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Tally:
    interval: Interval = field(default_factory=Interval)
    commands: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    # Refusals of deliberately invalid commands, by code (also counted in `errors`).
    refusals: Counter[str] = field(default_factory=Counter)
    # Closes: by the server, as the client expected (4001 after going silent), and not.
    expected_closes: Counter[str] = field(default_factory=Counter)
    unexpected_closes: Counter[str] = field(default_factory=Counter)
    # How the clients ended their connections.
    endings: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    resumes: int = 0
    connect_failures: Counter[str] = field(default_factory=Counter)
    events: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)
    # The first few anomalies in words, for the report.
    anomaly_examples: list[str] = field(default_factory=list)
    open_links: int = 0

    def command(self, latency_ms: float, error: str | None) -> None:
        self.commands += 1
        self.interval.commands += 1
        self.interval.latencies_ms.append(latency_ms)
        if error is not None:
            self.errors[error] += 1
            self.interval.errors[error] += 1

    def anomaly(self, kind: str, detail: str) -> None:
        self.anomalies[kind] += 1
        if len(self.anomaly_examples) < 20:
            self.anomaly_examples.append(f"{kind}: {detail}")

    def take_interval(self) -> Interval:
        taken, self.interval = self.interval, Interval()
        return taken
