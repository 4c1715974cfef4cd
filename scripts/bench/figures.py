"""The figures issue 8 names, and how rounds of Pairs become bench/latest.json's entries:
median(server) / median(baseline), ranges, client-bound flags, the target and whether it
was met."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from scripts.bench.runs.side import Pair, Side

# A load generator using more of a core than this may have been the bottleneck.
CLIENT_BOUND_SHARE = 0.8


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    better: str  # "higher" or "lower"
    target_kind: str  # "ratio" or "absolute"
    target: float | None
    workload: str
    baseline: str
    # write_latency_under_read also passes with a p99 under this many milliseconds.
    target_absolute: float | None = None


FIGURES = [
    Figure(
        "command_throughput",
        "commands/s",
        "higher",
        "ratio",
        0.25,
        "16 connections x 32 CreateWorkItem in flight, 1 tenant",
        "bare echo of the same frames",
    ),
    Figure(
        "command_throughput_16_tenants",
        "commands/s",
        "higher",
        "ratio",
        0.9,
        "the same over 16 tenants",
        "the 1-tenant figure",
    ),
    Figure(
        "durable_writes_normal",
        "commands/s",
        "higher",
        "ratio",
        0.2,
        "64 connections x 1 in flight, synchronous=NORMAL",
        "raw sqlite3 INSERT+COMMIT, NORMAL",
    ),
    Figure(
        "durable_writes_full",
        "commands/s",
        "higher",
        "ratio",
        1.0,
        "64 connections x 1 in flight, synchronous=FULL",
        "raw sqlite3 INSERT+COMMIT, FULL",
    ),
    Figure(
        "resume",
        "events/s",
        "higher",
        "ratio",
        0.5,
        "replay of 10,000 events to one client (since_seq=0)",
        "bare push of 10,000 same-size frames",
    ),
    Figure(
        "write_latency_under_read",
        "ms",
        "lower",
        "ratio",
        2.0,
        "write p99, 1 in flight at 200/s, beside replay+list of 10,000",
        "the same writer alone",
        target_absolute=10.0,
    ),
    Figure(
        "fanout_1000",
        "deliveries/s",
        "higher",
        "ratio",
        None,
        "1,000 subscribers, 200 CreateWorkItem, up to 64 in flight",
        "sequential-await fan-out, 200 frames open loop",
    ),
    Figure(
        "fanout_p99_ms",
        "ms",
        "lower",
        "absolute",
        None,
        "command sent to receipt by a subscriber, p99",
        "sequential-await fan-out p99",
    ),
    Figure(
        "idle_kib_per_connection",
        "KiB",
        "lower",
        "absolute",
        None,
        "5,000 subscribed connections answering Ping, RSS growth",
        "bare echo's growth per connection",
    ),
    Figure(
        "context_10k_json_ms",
        "ms",
        "lower",
        "absolute",
        None,
        "GET /api/v1/projects/{id}/context of 10,000 items as JSON, median (body size beside)",
        "GET /api/v1/projects on the same server",
    ),
    Figure(
        "context_10k_markdown_ms",
        "ms",
        "lower",
        "absolute",
        None,
        "the same context as ?format=markdown, median (body size beside)",
        "GET /api/v1/projects on the same server",
    ),
    # PM_WORKERS=2 against one process on this machine's cores, which the load generators
    # share: what a second process brings (or costs) here, not a scaling target.
    Figure(
        "cluster_2_workers_commands",
        "commands/s",
        "higher",
        "ratio",
        None,
        "PM_WORKERS=2 + Redis: 16 connections x 32 CreateWorkItem in flight, 16 tenants",
        "one process, in-process hub (one process with Redis beside)",
    ),
    Figure(
        "cluster_2_workers_commands_1_tenant",
        "commands/s",
        "higher",
        "ratio",
        None,
        "the same in 1 tenant: both workers take turns at its SQLite write lock",
        "one process, in-process hub (one process with Redis beside)",
    ),
    Figure(
        "cluster_2_workers_fanout",
        "deliveries/s",
        "higher",
        "ratio",
        None,
        "PM_WORKERS=2 + Redis: 1,000 subscribers over both workers, 200 CreateWorkItem,"
        " up to 64 in flight; the other worker's share crosses Redis",
        "one process, in-process hub (one process with Redis beside)",
    ),
]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _range(values: list[float]) -> list[float] | None:
    return [min(values), max(values)] if values else None


def _values(sides: list[Side]) -> list[float]:
    return [s.value for s in sides if s.value is not None]


def _bound(sides: list[Side]) -> bool:
    return any(s.client_cpu is not None and s.client_cpu > CLIENT_BOUND_SHARE for s in sides)


def _max_share(sides: list[Side], attr: str) -> float | None:
    shares = [getattr(s, attr) for s in sides if getattr(s, attr) is not None]
    return max(shares) if shares else None


def _run_entry(pair: Pair) -> dict[str, Any]:
    entry: dict[str, Any] = {"server": pair.server.value, "baseline": pair.baseline.value}
    for key, side in pair.beside.items():
        entry[key] = side.value
    sides = {"server": pair.server, "baseline": pair.baseline, **pair.beside}
    entry["client_cpu"] = {k: s.client_cpu for k, s in sides.items()}
    entry["process_cpu"] = {k: s.server_cpu for k, s in sides.items()}
    entry["other_cpu"] = {k: s.other_cpu for k, s in sides.items()}
    errors = {k: s.error for k, s in sides.items() if s.error}
    if errors:
        entry["errors"] = errors
    details = {k: s.details for k, s in sides.items() if s.details}
    if details:
        entry["details"] = details
    return entry


def _met(figure: Figure, ratio: float | None, server: float | None) -> bool | None:
    if figure.target is None or ratio is None:
        return None
    if figure.better == "higher":
        return ratio >= figure.target
    met = ratio <= figure.target
    if figure.target_absolute is not None and server is not None:
        met = met or server < figure.target_absolute
    return met


def summarize(figure: Figure, pairs: list[Pair], settings: dict[str, Any]) -> dict[str, Any]:
    servers = [p.server for p in pairs]
    baselines = [p.baseline for p in pairs]
    server = _median(_values(servers))
    baseline = _median(_values(baselines))
    ratio = server / baseline if server is not None and baseline else None
    bound_sides = [
        label for label, sides in (("server", servers), ("baseline", baselines)) if _bound(sides)
    ]
    entry: dict[str, Any] = {
        "unit": figure.unit,
        "better": figure.better,
        "server": server,
        "baseline": baseline,
        "ratio": ratio,
        "target_kind": figure.target_kind,
        "target": figure.target,
        "runs": [_run_entry(p) for p in pairs],
        "client_bound": bool(bound_sides),
    }
    if figure.target_absolute is not None:
        entry["target_p99_ms"] = figure.target_absolute
    entry["met"] = _met(figure, ratio, server)
    beside_keys = sorted({k for p in pairs for k in p.beside})
    for key in beside_keys:
        values = _values([p.beside[key] for p in pairs if key in p.beside])
        entry[key] = _median(values)
        entry[f"{key}_range"] = _range(values)
        beside = entry[key]
        entry[f"ratio_{key}"] = server / beside if server is not None and beside else None
        if _bound([p.beside[key] for p in pairs if key in p.beside]):
            bound_sides.append(key)
            entry["client_bound"] = True
    entry.update(
        {
            "server_range": _range(_values(servers)),
            "baseline_range": _range(_values(baselines)),
            "client_bound_sides": bound_sides,
            "client_cpu_max": {
                "server": _max_share(servers, "client_cpu"),
                "baseline": _max_share(baselines, "client_cpu"),
            },
            # Cores used by the process measured: near 1.0, it saturated itself.
            "server_cpu_max": _max_share(servers, "server_cpu"),
            "baseline_process_cpu_max": _max_share(baselines, "server_cpu"),
            "other_cpu_max": _max_share(
                [s for p in pairs for s in (p.server, p.baseline, *p.beside.values())],
                "other_cpu",
            ),
            "workload": figure.workload,
            "baseline_is": figure.baseline,
            "settings": settings,
        }
    )
    errors = [
        f"{label}: {side.error}"
        for p in pairs
        for label, side in (("server", p.server), ("baseline", p.baseline), *p.beside.items())
        if side.error
    ]
    if errors:
        entry["errors"] = errors
    return entry
