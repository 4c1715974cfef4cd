"""A figure's value from one run of one side, with the CPU shares that qualify it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scripts.bench.generator import LoadGen, Sample
from scripts.bench.procs import BenchError


@dataclass
class Side:
    value: float | None = None
    # Cores used by the load generator(s) measuring this value, and by the process measured.
    client_cpu: float | None = None
    server_cpu: float | None = None
    # Cores taken meanwhile by processes that are not the benchmark's: a busy machine.
    other_cpu: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Pair:
    """One round of one figure: the server's side, its baseline and any side reported beside."""

    server: Side
    baseline: Side
    beside: dict[str, Side] = field(default_factory=dict)


def share(pid: int, first: Sample, last: Sample) -> float | None:
    """Cores used by `pid` between two samples (1.0: one whole core)."""
    if pid not in first.cpu or pid not in last.cpu or last.at <= first.at:
        return None
    return round((last.cpu[pid] - first.cpu[pid]) / (last.at - first.at), 3)


def others(first: Sample, last: Sample, ours_seconds: float = 0.0) -> float | None:
    """Cores busy between two samples beyond the watched processes (and `ours_seconds` of
    CPU spent by ones that ended meanwhile)."""
    elapsed = last.at - first.at
    if elapsed <= 0:
        return None
    watched = sum(last.cpu[pid] - first.cpu[pid] for pid in first.cpu if pid in last.cpu)
    return round(max(0.0, (last.busy - first.busy - watched - ours_seconds) / elapsed), 3)


def measured(gen: LoadGen, value: float, server_pid: int, **details: Any) -> Side:
    """A value whose window is `gen`'s start and end marks."""
    first, last = gen.marks.get("start"), gen.marks.get("end")
    if first is None or last is None:
        raise BenchError(f"{gen.scenario}: no start/end marks")
    return Side(
        value=value,
        client_cpu=gen.own_cpu_share(),
        server_cpu=share(server_pid, first, last),
        other_cpu=others(first, last),
        details=details,
    )


def guarded(run: Callable[[], dict[str, Side]], names: list[str]) -> dict[str, Side]:
    """Runs one side of a workload; a failure becomes an error for each figure it feeds."""
    try:
        return run()
    except BenchError as exc:
        return {name: Side(error=str(exc)) for name in names}
