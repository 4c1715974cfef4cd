"""cluster_2_workers_commands(_1_tenant) and cluster_2_workers_fanout: `python -m server`
with PM_WORKERS=2 (a supervisor and two workers on one port, SO_REUSEPORT, joined by a
redis-server this run starts on a free port) against one process with the in-process hub,
on the same machine; one process with the same Redis hub is reported beside, to tell what
the broker costs from what the second process brings.

The load generators address the one port and the kernel spreads their connections over the
workers. Commands: 16 connections x 32 CreateWorkItem in flight, once over 16 tenants (each
worker writes its own tenants' databases) and once in one tenant (the two workers then take
turns at its SQLite write lock). Fan-out: 1,000 subscribers of one project in two
load-generator processes and one writer, as in fanout.py; with two workers, about half of
the subscribers are on the worker the writer is not on, so every event reaches them
through Redis. The load generators share the machine's cores with the workers: on 2 cores
the cluster side has no idle core to grow into, which is what these figures show; they
have no target.

A side's process CPU is that of every process serving it (supervisor, workers, Redis).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from scripts.bench.generator import LoadGen
from scripts.bench.plan import Profile
from scripts.bench.procs import BenchError, Service
from scripts.bench.runs.common import check_answers, create_projects
from scripts.bench.runs.side import Pair, Side, guarded, others
from scripts.bench.workspace import Workspace
from scripts.cluster import local_redis

COMMANDS = "cluster_2_workers_commands"
COMMANDS_1 = "cluster_2_workers_commands_1_tenant"
FANOUT = "cluster_2_workers_fanout"
NAMES = [COMMANDS, COMMANDS_1, FANOUT]
WORKERS = 2
SETTINGS = {
    "PM_SQLITE_SYNCHRONOUS": "NORMAL",
    # 200 events per subscriber must never trip 4008 (as in fanout.py).
    "PM_SEND_QUEUE_LIMIT": "100000",
    "PM_SEND_QUEUE_BYTES": str(256 * 1024 * 1024),
}
CLUSTER = {"PM_WORKERS": str(WORKERS)}
START_DELAY_S = 3.0
WORKERS_LIMIT_S = 30.0
TIMEOUT_MS = 180_000
SUBSCRIBER_PROCESSES = 2
_LISTEN = "0A"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _listening(port: int) -> int:
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == _LISTEN:
            count += 1
    return count


def _wait_listening(service: Service, count: int) -> None:
    """/healthz answers once one worker is up: wait for all of them to listen."""
    deadline = time.monotonic() + WORKERS_LIMIT_S
    while _listening(service.port) < count:
        if not service.alive() or time.monotonic() > deadline:
            raise BenchError(f"{count} workers did not listen on {service.port}")
        time.sleep(0.05)


@contextmanager
def _serving(ws: Workspace, kind: str) -> Iterator[tuple[Service, list[int]]]:
    """The side's server and every pid serving it: "one", "one_redis" or "cluster"."""
    if kind == "one":
        with ws.pm_server("cluster-one", SETTINGS) as service:
            yield service, [service.pid]
        return
    directory = ws.fresh_dir(f"redis-{kind}")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        try:
            redis = stack.enter_context(local_redis(directory))
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
        settings = {**SETTINGS, "PM_BROKER_URL": redis.url}
        workers = 1
        if kind == "cluster":
            settings.update(CLUSTER)
            workers = WORKERS
        with ws.pm_server(f"cluster-{kind}", settings) as service:
            _wait_listening(service, workers)
            children = _children(service.pid)
            if kind == "cluster" and len(children) != WORKERS:
                raise BenchError(f"expected {WORKERS} workers, found {children}")
            yield service, [service.pid, *children, redis.process.pid]


def _cores(pids: list[int], first: dict[int, float], last: dict[int, float], s: float) -> float:
    return round(sum(last[p] - first[p] for p in pids if p in first and p in last) / s, 3)


def _commands(
    ws: Workspace, service: Service, pids: list[int], connections: list[dict[str, str]]
) -> Side:
    profile = ws.profile
    window_s = (profile.warmup_ms + profile.throughput_ms) / 1000
    gen = ws.start_node(
        "pipeline",
        {
            "url": service.ws_url,
            "mode": "server",
            "connections": connections,
            "in_flight": profile.in_flight,
            "warmup_ms": profile.warmup_ms,
            "duration_ms": profile.throughput_ms,
            "drain_ms": 30_000,
            "start_at_ms": (time.monotonic() + START_DELAY_S) * 1000,
            "run_id": ws.run_id(),
        },
        watch=pids,
        timeout=START_DELAY_S + window_s + 60,
    )
    try:
        result = gen.wait(START_DELAY_S + window_s + 90)
    finally:
        gen.kill()
    check_answers(result, "cluster pipeline")
    first, last = gen.marks.get("start"), gen.marks.get("end")
    if first is None or last is None:
        raise BenchError("pipeline: no start/end marks")
    elapsed = last.at - first.at
    return Side(
        value=result["rate"],
        client_cpu=gen.own_cpu_share(),
        server_cpu=_cores(pids, first.cpu, last.cpu, elapsed),
        other_cpu=others(first, last),
        details={
            "acks": result["acks"],
            "window_ms": round(result["window_ms"], 1),
            "closes": result["closes"],
            "cores_per_process": _per_process(pids, first.cpu, last.cpu, elapsed),
        },
    )


def _per_process(
    pids: list[int], first: dict[int, float], last: dict[int, float], elapsed: float
) -> dict[str, float]:
    return {
        str(pid): round((last[pid] - first[pid]) / elapsed, 3)
        for pid in pids
        if pid in first and pid in last
    }


def _subscribers(
    ws: Workspace, service: Service, pids: list[int], token: str, project: str
) -> list[LoadGen]:
    profile = ws.profile
    gens = [
        ws.start_node(
            "subscribers",
            {
                "url": service.ws_url,
                "mode": "server",
                "token": token,
                "project_id": project,
                "count": profile.fanout_subscribers // SUBSCRIBER_PROCESSES,
                "expected": profile.fanout_events,
                "timeout_ms": TIMEOUT_MS,
            },
            watch=pids,
            timeout=TIMEOUT_MS / 1000 + 120,
        )
        for _ in range(SUBSCRIBER_PROCESSES)
    ]
    for gen in gens:
        gen.watch = [*pids, *(g.pid for g in gens)]
    return gens


def _fanout(ws: Workspace, service: Service, pids: list[int], token: str, project: str) -> Side:
    profile = ws.profile
    subscribers = _subscribers(ws, service, pids, token, project)
    try:
        for gen in subscribers:
            gen.wait_mark("ready", 120)
        publisher = ws.node(
            "publisher",
            {
                "url": service.ws_url,
                "mode": "server",
                "token": token,
                "project_id": project,
                "total": profile.fanout_events,
                "in_flight": profile.fanout_in_flight,
                "frame_size": 0,
                "timeout_ms": TIMEOUT_MS,
                "run_id": ws.run_id(),
            },
            watch=[*pids, *(g.pid for g in subscribers)],
            timeout=TIMEOUT_MS / 1000 + 30,
        )
        results = [gen.wait(TIMEOUT_MS / 1000 + 60) for gen in subscribers]
    finally:
        for gen in subscribers:
            gen.kill()
    deliveries = sum(r["deliveries"] for r in results)
    if deliveries == 0:
        raise BenchError(f"no event reached a subscriber: {results}")
    # One window from the first send (read from the request_ids) to the last delivery.
    started = min(r["first_sent"] for r in results if r["deliveries"])
    ended = max(r["last_at"] for r in results if r["deliveries"])
    last = max((g.marks["end"] for g in subscribers), key=lambda sample: sample.at)
    first = publisher.marks["start"]
    elapsed = last.at - first.at
    details: dict[str, Any] = {
        "deliveries": deliveries,
        "expected": sum(r["expected"] for r in results),
        "complete": all(r["complete"] for r in results),
        "ms": round(ended - started, 1),
        # The larger of the subscriber processes' own p99s (fanout.py merges them).
        "p99_ms_max": max(r["latency"]["p99"] for r in results if r["deliveries"]),
        "closes": [r["closes"] for r in results],
        "cores_per_process": _per_process(pids, first.cpu, last.cpu, elapsed),
    }
    if publisher.result and publisher.result.get("errors"):
        details["writer_errors"] = publisher.result["errors"]
    client = [g.own_cpu_share() for g in subscribers] + [publisher.own_cpu_share()]
    own = publisher.marks["end"].cpu.get(publisher.pid, 0.0) - first.cpu.get(publisher.pid, 0.0)
    return Side(
        value=deliveries / (ended - started) * 1000,
        client_cpu=max((c for c in client if c is not None), default=None),
        server_cpu=_cores(pids, first.cpu, last.cpu, elapsed),
        other_cpu=others(first, last, own),
        details=details,
    )


def side(ws: Workspace, kind: str) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        count = ws.profile.connections
        with _serving(ws, kind) as (service, pids):
            tokens = [ws.token(f"bench-c{i:02d}") for i in range(count)]
            projects = create_projects(ws, service, tokens)
            spread = [{"token": t, "project_id": p} for t, p in zip(tokens, projects, strict=True)]
            many = _commands(ws, service, pids, spread)
            token = ws.token("bench-one")
            (project,) = create_projects(ws, service, [token])
            one = _commands(ws, service, pids, [{"token": token, "project_id": project}] * count)
            token = ws.token("bench-fan")
            (project,) = create_projects(ws, service, [token])
            fan = _fanout(ws, service, pids, token, project)
        return {COMMANDS: many, COMMANDS_1: one, FANOUT: fan}

    return guarded(run, NAMES)


def measure(ws: Workspace, memory: dict[str, Any]) -> dict[str, Pair]:
    cluster = side(ws, "cluster")
    one = side(ws, "one")
    one_redis = side(ws, "one_redis")
    return {
        name: Pair(cluster[name], one[name], {"one_process_redis": one_redis[name]})
        for name in NAMES
    }


def recorded(profile: Profile) -> dict[str, Any]:
    return {
        "server_env": {**SETTINGS, **CLUSTER, "PM_BROKER_URL": "redis://127.0.0.1:<free>/0"},
        "baseline_env": SETTINGS,
        "beside_one_process_redis_env": {**SETTINGS, "PM_BROKER_URL": "redis://..."},
        "connections": profile.connections,
        "in_flight_per_connection": profile.in_flight,
        "warmup_ms": profile.warmup_ms,
        "window_ms": profile.throughput_ms,
        "subscribers": profile.fanout_subscribers,
        "events": profile.fanout_events,
        "writer_in_flight": profile.fanout_in_flight,
    }
