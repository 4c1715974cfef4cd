"""One sample per interval: the server's gauges and /proc figures, the clients' commands,
latency and errors over the interval; and the line printed for it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from scripts.bench.procs import cpu_seconds, machine_busy_seconds
from scripts.soak import probes
from scripts.soak.tally import Tally


@dataclass(frozen=True)
class Levels:
    """What must come back to where it was: the server's gauges and descriptors."""

    connections: int | None = None
    subscriptions: int | None = None
    tasks: int | None = None
    open_tenants: int | None = None
    rss_kib: int | None = None
    fds: int | None = None
    other_fds: int | None = None
    db_connections_max: int | None = None
    problem: str | None = None

    def leak_view(self) -> tuple[int | None, ...]:
        return (self.connections, self.subscriptions, self.tasks, self.other_fds)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def read_levels(metrics_url: str, pid: int | None, token: str = "") -> Levels:
    problems = []
    gauges = probes.Gauges(None, None, None, None)
    try:
        gauges = await probes.gauges(metrics_url, token)
        if gauges.missing():
            problems.append(f"/metrics has no {', '.join(gauges.missing())}")
    except probes.ProbeError as exc:
        problems.append(str(exc))
    process: probes.ProcessReading | None = None
    if pid is not None:
        # After the scrape, whose socket the server has closed by now: it is not counted.
        try:
            process = probes.read_process(pid)
        except probes.ProbeError as exc:
            problems.append(str(exc))
    return Levels(
        connections=gauges.connections,
        subscriptions=gauges.subscriptions,
        tasks=gauges.tasks,
        open_tenants=gauges.open_tenants,
        rss_kib=process.rss_kib if process else None,
        fds=process.fds if process else None,
        other_fds=process.other_fds if process else None,
        db_connections_max=process.db_connections_max if process else None,
        problem="; ".join(problems) or None,
    )


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    phase: str
    levels: Levels
    commands: int
    commands_per_s: float
    p99_ms: float | None
    errors: dict[str, int] = field(default_factory=dict)
    client_links: int = 0
    # Cores busy over the interval: the server, the soak's clients, everything else on the
    # machine (a shared machine's other work shows in the p99).
    cpu: CpuShares | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "phase": self.phase,
            **self.levels.to_json(),
            "commands": self.commands,
            "commands_per_s": round(self.commands_per_s, 2),
            "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 3),
            "errors": self.errors,
            "client_links": self.client_links,
            "cpu": None if self.cpu is None else asdict(self.cpu),
        }


@dataclass(frozen=True)
class CpuShares:
    server: float | None
    clients: float
    others: float | None


class _CpuClock:
    """CPU seconds of the server, of this process and of the whole machine, between takes."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._last = self._read()

    def _read(self) -> tuple[float, float | None, float, float]:
        server: float | None = None
        if self.pid is not None:
            try:
                server = cpu_seconds(self.pid)
            except OSError:
                server = None
        return time.monotonic(), server, time.process_time(), machine_busy_seconds()

    def take(self) -> CpuShares:
        now = self._read()
        wall = max(now[0] - self._last[0], 1e-9)
        before_server, after_server = self._last[1], now[1]
        server = (
            None
            if before_server is None or after_server is None
            else (after_server - before_server) / wall
        )
        clients = (now[2] - self._last[2]) / wall
        machine = (now[3] - self._last[3]) / wall
        self._last = now
        others = None if server is None else max(0.0, machine - server - clients)
        return CpuShares(
            server=None if server is None else round(server, 3),
            clients=round(clients, 3),
            others=None if others is None else round(others, 3),
        )


class Sampler:
    def __init__(self, metrics_url: str, pid: int | None, tally: Tally, token: str = "") -> None:
        self.metrics_url = metrics_url
        self.token = token
        self.pid = pid
        self.tally = tally
        self.started = time.monotonic()
        self._last = self.started
        self._cpu = _CpuClock(pid)
        self.samples: list[Sample] = []

    async def take(self, phase: str = "load") -> Sample:
        levels = await read_levels(self.metrics_url, self.pid, self.token)
        now = time.monotonic()
        interval = self.tally.take_interval()
        sample = Sample(
            elapsed_s=now - self.started,
            phase=phase,
            levels=levels,
            commands=interval.commands,
            commands_per_s=interval.commands / max(now - self._last, 1e-9),
            p99_ms=interval.p99_ms(),
            errors=dict(sorted(interval.errors.items())),
            client_links=self.tally.open_links,
            cpu=self._cpu.take(),
        )
        self._last = now
        self.samples.append(sample)
        return sample


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def line(sample: Sample) -> str:
    levels = sample.levels
    rss = "-" if levels.rss_kib is None else f"{levels.rss_kib / 1024:.1f}MiB"
    p99 = "-" if sample.p99_ms is None else f"{sample.p99_ms:.1f}ms"
    errors = " ".join(f"{code}={count}" for code, count in sample.errors.items()) or "none"
    text = (
        f"{sample.elapsed_s:6.0f}s rss {rss:>9} fds {_int(levels.fds):>5}"
        f" tasks {_int(levels.tasks):>5} conns {_int(levels.connections):>4}"
        f" subs {_int(levels.subscriptions):>5} tenants {_int(levels.open_tenants):>3}"
        f" db/tenant {_int(levels.db_connections_max)}"
        f" cmd/s {sample.commands_per_s:6.1f} p99 {p99:>8} errors {errors}"
    )
    if sample.cpu is not None:
        text += f" cpu server {_cores(sample.cpu.server)} clients {_cores(sample.cpu.clients)}"
        text += f" others {_cores(sample.cpu.others)}"
    if levels.problem:
        text += f"  [{levels.problem}]"
    return text


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
