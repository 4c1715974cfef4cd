"""The soak in order: the server, the seed, the baseline, the clients for the set time with
a sample every interval, the stop, the wait for the server to settle back, the verdict."""

from __future__ import annotations

import asyncio
import json
import math
import random
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from scripts.bench.workspace import raise_open_files
from scripts.soak import verdict as judging
from scripts.soak.clients import Behaviour, Credentials, Identity, SimulatedClient
from scripts.soak.sampler import Levels, Sample, Sampler, line, read_levels
from scripts.soak.seed import Layout, SeedError, seed
from scripts.soak.tally import Tally
from scripts.soak.target import Target, given_server, own_server
from scripts.soak.verdict import MemoryRule, Verdict
from scripts.soak.world import TenantWorld
from server.config import DEVELOPMENT_JWT_SECRET

_POLL_S = 0.25
# The baseline is taken once the gauges hold still for this many polls in a row.
_STEADY_POLLS = 4


class SoakError(RuntimeError):
    """The soak could not run (no server, no /metrics, a seed refused): not a verdict."""


@dataclass(frozen=True)
class Options:
    clients: int = 500
    seconds: float = 600.0
    interval_s: float = 10.0
    tenants: int = 8
    projects: int = 5
    items: int = 30
    # None: about four connections per user.
    users_per_tenant: int | None = None
    viewer_share: float = 0.15
    behaviour: Behaviour = field(default_factory=Behaviour)
    memory: MemoryRule = field(default_factory=MemoryRule)
    url: str | None = None
    pid: int | None = None
    jwt_secret: str | None = None
    metrics_token: str = ""
    seed: int | None = None
    settle_timeout_s: float = 60.0
    # The writer, two read connections (tenants/readers.py), and one descriptor of a closed
    # checkpoint connection that SQLite keeps open while other connections hold locks.
    max_db_connections: int = 4
    server_log_level: str = "warning"
    keep_data: bool = False

    def users(self) -> int:
        if self.users_per_tenant is not None:
            return self.users_per_tenant
        return max(2, math.ceil(self.clients / self.tenants / 4))


@dataclass
class Report:
    options: Options
    baseline: Levels
    final: Levels
    samples: list[Sample]
    tally: Tally
    verdict: Verdict
    settled_s: float

    def to_json(self) -> dict[str, Any]:
        options = asdict(self.options)
        return {
            "options": json.loads(json.dumps(options, default=str)),
            "baseline": self.baseline.to_json(),
            "final": self.final.to_json(),
            "settled_s": round(self.settled_s, 3),
            "samples": [sample.to_json() for sample in self.samples],
            "totals": {
                "commands": self.tally.commands,
                "events": self.tally.events,
                "connects": self.tally.connects,
                "resumes": self.tally.resumes,
                "errors": dict(self.tally.errors),
                "refusals": dict(self.tally.refusals),
                "endings": dict(self.tally.endings),
                "expected_closes": dict(self.tally.expected_closes),
                "unexpected_closes": dict(self.tally.unexpected_closes),
                "connect_failures": dict(self.tally.connect_failures),
                "anomalies": dict(self.tally.anomalies),
                "anomaly_examples": self.tally.anomaly_examples,
            },
            "verdict": self.verdict.to_json(),
        }


@asynccontextmanager
async def _target(options: Options) -> AsyncIterator[Target]:
    if options.url is None:
        async with own_server(log_level=options.server_log_level, keep=options.keep_data) as t:
            yield t
    else:
        secret = options.jwt_secret or DEVELOPMENT_JWT_SECRET
        async with given_server(options.url, secret, options.pid, options.metrics_token) as t:
            yield t


async def run_soak(options: Options, out: TextIO = sys.stdout) -> Report:
    raise_open_files()
    async with _target(options) as target:
        return await _soak(target, options, out)


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


async def _soak(target: Target, options: Options, out: TextIO) -> Report:
    run_id = secrets.token_hex(3)
    rng = random.Random(options.seed)
    credentials = Credentials(target.secret, ttl_s=int(options.seconds) + 3600)
    before = await read_levels(target.metrics_url, target.pid, target.metrics_token)
    if before.connections is None or before.tasks is None:
        raise SoakError(f"cannot read the server's gauges: {before.problem}")
    layout = Layout(options.tenants, options.projects, options.items)
    _say(out, f"soak {run_id}: {target.ws_url}, server pid {target.pid or 'unknown'}; seeding")
    try:
        worlds = await seed(target.ws_url, credentials, layout, run_id, rng)
    except (SeedError, OSError, TimeoutError) as exc:
        raise SoakError(f"seeding failed: {exc}") from exc
    baseline = await _steady(target, before, options.settle_timeout_s)
    _say(out, f"baseline: {_levels_text(baseline)}")
    tally = Tally()
    stop = asyncio.Event()
    clients = _clients(options, target, worlds, tally, credentials, stop, run_id, rng)
    _say(
        out,
        f"{options.clients} clients over {options.tenants} tenants"
        f" ({options.users()} users each) for {options.seconds:.0f} s",
    )
    sampler = Sampler(target.metrics_url, target.pid, tally, target.metrics_token)
    tasks = [asyncio.create_task(client.run()) for client in clients]
    server_problem = await _load(sampler, target, options, out)
    stop.set()
    await _stop_clients(tasks, options.behaviour.connect_timeout_s * 3)
    started = time.monotonic()
    final = await _settle(target, baseline, options.settle_timeout_s)
    settled_s = time.monotonic() - started
    _say(out, f"after the clients left ({settled_s:.1f} s): {_levels_text(final)}")
    load_points = [
        (s.elapsed_s, s.levels.rss_kib)
        for s in sampler.samples
        if s.phase == "load" and s.levels.rss_kib is not None
    ]
    verdict = judging.judge(
        load_points=load_points,
        run_s=options.seconds,
        rule=options.memory,
        baseline=baseline,
        final=final,
        max_db_connections=options.max_db_connections,
        tally=tally,
        server_problem=server_problem or target.problem(),
    )
    report = Report(options, baseline, final, sampler.samples, tally, verdict, settled_s)
    _summary(report, out)
    return report


def _clients(
    options: Options,
    target: Target,
    worlds: list[TenantWorld],
    tally: Tally,
    credentials: Credentials,
    stop: asyncio.Event,
    run_id: str,
    rng: random.Random,
) -> list[SimulatedClient]:
    users = options.users()
    roles = {
        (world.tenant_id, n): "admin"
        if n == 0
        else ("viewer" if rng.random() < options.viewer_share else "member")
        for world in worlds
        for n in range(users)
    }
    clients = []
    for index in range(options.clients):
        world = worlds[index % len(worlds)]
        user = (index // len(worlds)) % users
        who = Identity(world.tenant_id, f"user-{user}", roles[(world.tenant_id, user)])
        clients.append(
            SimulatedClient(
                index=index,
                who=who,
                url=target.ws_url,
                world=world,
                tally=tally,
                credentials=credentials,
                behaviour=options.behaviour,
                stop=stop,
                run_id=run_id,
                rng=random.Random(rng.random()),
            )
        )
    return clients


async def _load(sampler: Sampler, target: Target, options: Options, out: TextIO) -> str | None:
    """Samples every interval until the time is up; why it stopped early, if it did."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    ticks = max(1, math.ceil(options.seconds / options.interval_s))
    for tick in range(1, ticks + 1):
        due = start + min(tick * options.interval_s, options.seconds)
        await asyncio.sleep(max(0.0, due - loop.time()))  # the sampling schedule
        sample = await sampler.take("load")
        _say(out, line(sample))
        problem = target.problem()
        if problem:
            return problem
    return None


async def _stop_clients(tasks: list[asyncio.Task[None]], limit_s: float) -> None:
    _, pending = await asyncio.wait(tasks, timeout=limit_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=limit_s)


async def _steady(target: Target, before: Levels, limit_s: float) -> Levels:
    """The levels once the seed's connections are gone and nothing moves any more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    streak: list[Levels] = []
    while True:
        levels = await read_levels(target.metrics_url, target.pid, target.metrics_token)
        back = (levels.connections, levels.subscriptions) == (
            before.connections,
            before.subscriptions,
        )
        if back and streak and streak[-1].leak_view() == levels.leak_view():
            streak.append(levels)
        else:
            streak = [levels] if back else []
        if len(streak) >= _STEADY_POLLS:
            return levels
        if loop.time() >= deadline:
            raise SoakError(f"the server did not settle after the seed: {_levels_text(levels)}")
        await asyncio.sleep(_POLL_S)


async def _settle(target: Target, baseline: Levels, limit_s: float) -> Levels:
    """Polls until connections, subscriptions, tasks and descriptors are back to the
    baseline, or the time is up: the last reading either way (the verdict compares it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        levels = await read_levels(target.metrics_url, target.pid, target.metrics_token)
        if levels.leak_view() == baseline.leak_view() or loop.time() >= deadline:
            return levels
        if target.problem():
            return levels
        await asyncio.sleep(_POLL_S)


def _levels_text(levels: Levels) -> str:
    rss = "-" if levels.rss_kib is None else f"{levels.rss_kib / 1024:.1f} MiB"
    text = (
        f"connections {levels.connections}, subscriptions {levels.subscriptions},"
        f" tasks {levels.tasks}, open tenants {levels.open_tenants}, rss {rss},"
        f" fds {levels.fds} ({levels.other_fds} not database files,"
        f" at most {levels.db_connections_max} connections on a tenant file)"
    )
    if levels.problem:
        text += f" [{levels.problem}]"
    return text


def _summary(report: Report, out: TextIO) -> None:
    tally = report.tally
    _say(
        out,
        f"commands {tally.commands}, events received {tally.events}, connections"
        f" {tally.connects} ({tally.resumes} resumed), endings {dict(tally.endings)}",
    )
    _say(out, f"errors by code: {dict(sorted(tally.errors.items())) or 'none'}")
    _say(out, f"deliberate refusals: {dict(sorted(tally.refusals.items())) or 'none'}")
    _say(
        out,
        f"closes by the server: expected {dict(tally.expected_closes) or 'none'},"
        f" unexpected {dict(tally.unexpected_closes) or 'none'}",
    )
    if tally.connect_failures:
        _say(out, f"failed connects: {dict(tally.connect_failures)}")
    for example in tally.anomaly_examples:
        _say(out, f"anomaly: {example}")
    for check in report.verdict.checks:
        mark = "ok  " if check.ok else "FAIL"
        if not check.judged:
            mark = "--  "
        _say(out, f"{mark} {check.name}: {check.detail}")
    _say(out, "PASS" if report.verdict.ok else "FAIL")


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=1) + "\n")
