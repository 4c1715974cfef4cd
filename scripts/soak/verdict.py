"""Pass or fail, from the samples, the baseline, the levels after the clients left and the
clients' tally. Pure functions: the unit tests feed them made-up figures.

Memory: the server's RSS may climb while caches fill (SQLite pages, the allocator's
arenas), so growth counts only after a warm-up (a share of the run, at least a minimum).
One sample is noise (a collection, a burst); the median of the first few samples after
the warm-up is compared with the median of the last few under load, and the run fails
when the second exceeds the first by more than the limit. Too few samples after the
warm-up (a short run): not judged.

Leaks: connections, subscriptions, event-loop tasks and descriptors other than the
tenants' database files must be back to their baseline exactly. Database descriptors are
opened lazily and kept while a tenant stays open, so instead no tenant file may hold more
SQLite connections than a tenant uses at most.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from scripts.soak.sampler import Levels
from scripts.soak.tally import Tally

# Anomalies that are findings (the rest are reported only).
FAILING_ANOMALIES = (
    "invalid_accepted",
    "unanswered",
    "event_out_of_order",
    "unmatched_response",
    "bad_frame",
    "silent_not_closed",
    "client_crashed",
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    judged: bool = True


@dataclass(frozen=True)
class MemoryRule:
    warmup_share: float = 0.2
    warmup_min_s: float = 30.0
    limit: float = 0.05
    # Samples each median takes at least (and a tenth of those after the warm-up).
    window: int = 3

    def warmup_s(self, run_s: float) -> float:
        return max(self.warmup_min_s, self.warmup_share * run_s)


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(check) for check in self.checks]}


def memory(points: Sequence[tuple[float, int]], run_s: float, rule: MemoryRule) -> Check:
    """`points`: (elapsed seconds, RSS KiB) of the samples under load, in order."""
    warmup_s = rule.warmup_s(run_s)
    after = [(t, rss) for t, rss in points if t >= warmup_s]
    window = max(rule.window, len(after) // 10)
    if len(after) < 2 * window:
        return Check(
            "memory",
            True,
            f"not judged: {len(after)} samples after the {warmup_s:.0f} s warm-up,"
            f" {2 * window} needed",
            judged=False,
        )
    first, last = after[:window], after[-window:]
    start = statistics.median(rss for _, rss in first)
    end = statistics.median(rss for _, rss in last)
    growth = end / start - 1 if start else 0.0
    slope = _slope_kib_per_min(after)
    detail = (
        f"RSS median {start / 1024:.1f} MiB at {first[0][0]:.0f}-{first[-1][0]:.0f} s"
        f" -> {end / 1024:.1f} MiB at {last[0][0]:.0f}-{last[-1][0]:.0f} s:"
        f" {growth:+.1%} (limit +{rule.limit:.0%}); trend {slope / 1024:+.2f} MiB/min"
    )
    return Check("memory", growth <= rule.limit, detail)


def _slope_kib_per_min(points: Sequence[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    slope, _ = statistics.linear_regression([t for t, _ in points], [rss for _, rss in points])
    return slope * 60


_LEVELS = {
    "connections": "connections",
    "subscriptions": "subscriptions",
    "tasks": "event-loop tasks",
    "other_fds": "descriptors (not database files)",
}


def leaks(baseline: Levels, final: Levels, max_db_connections: int) -> list[Check]:
    checks = []
    for name, words in _LEVELS.items():
        before, after = getattr(baseline, name), getattr(final, name)
        if before is None or after is None:
            process = name == "other_fds"
            checks.append(
                Check(
                    name,
                    process,  # without a pid there are no descriptors to compare
                    f"{words}: not measured"
                    + (" (no server pid)" if process else f" ({final.problem or 'no gauge'})"),
                    judged=False,
                )
            )
            continue
        same = before == after
        detail = f"{words}: baseline {before}, after the clients left {after}"
        if not same:
            detail += f" ({after - before:+d})"
        checks.append(Check(name, same, detail))
    if final.db_connections_max is not None:
        checks.append(
            Check(
                "database_connections",
                final.db_connections_max <= max_db_connections,
                f"most SQLite connections on one tenant file: {final.db_connections_max}"
                f" (at most {max_db_connections})",
            )
        )
    return checks


def clients(tally: Tally) -> list[Check]:
    internal = tally.errors.get("INTERNAL", 0)
    checks = [
        Check("internal_errors", internal == 0, f"INTERNAL errors: {internal}"),
        Check(
            "close_codes",
            not tally.unexpected_closes,
            "unexpected closes: " + (_counts(tally.unexpected_closes) or "none"),
        ),
    ]
    refused = {k: v for k, v in tally.connect_failures.items() if k.startswith("HTTP")}
    checks.append(
        Check("upgrades", not refused, "refused upgrades: " + (_counts(refused) or "none"))
    )
    failing = {k: v for k, v in tally.anomalies.items() if k in FAILING_ANOMALIES}
    checks.append(
        Check("anomalies", not failing, "client anomalies: " + (_counts(failing) or "none"))
    )
    if tally.commands == 0:
        checks.append(Check("load", False, "no command was answered"))
    return checks


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} x{value}" for key, value in sorted(counts.items()))


def judge(
    *,
    load_points: Sequence[tuple[float, int]],
    run_s: float,
    rule: MemoryRule,
    baseline: Levels,
    final: Levels,
    max_db_connections: int,
    tally: Tally,
    server_problem: str | None = None,
) -> Verdict:
    verdict = Verdict()
    if server_problem:
        verdict.checks.append(Check("server", False, server_problem))
    if load_points:
        verdict.checks.append(memory(load_points, run_s, rule))
    else:
        verdict.checks.append(Check("memory", True, "not judged: no RSS (no pid)", judged=False))
    verdict.checks.extend(leaks(baseline, final, max_db_connections))
    verdict.checks.extend(clients(tally))
    return verdict
