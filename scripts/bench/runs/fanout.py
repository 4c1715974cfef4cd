"""fanout_1000 and fanout_p99_ms: 1,000 subscribers of one project and one writer with up
to 64 of 200 CreateWorkItem in flight; against the sequential-await fan-out app relaying
200 frames of the same size sent open loop (the queued app's figures reported beside).

Subscribers (in two processes) and the writer are separate load-generator processes, so a
subscriber backlog cannot delay the next send."""

from __future__ import annotations

import math
from typing import Any

from scripts.bench.generator import LoadGen
from scripts.bench.plan import Profile
from scripts.bench.procs import BenchError, Service
from scripts.bench.runs.common import create_projects
from scripts.bench.runs.side import Pair, Side, guarded, others, share
from scripts.bench.workspace import Workspace

RATE = "fanout_1000"
P99 = "fanout_p99_ms"
# 200 events per subscriber must never trip 4008 (nor a replay limit).
SETTINGS = {"PM_SEND_QUEUE_LIMIT": "100000", "PM_SEND_QUEUE_BYTES": str(256 * 1024 * 1024)}
TIMEOUT_MS = 180_000
DEFAULT_FRAME_BYTES = 400
# One Node process reading 1,000 sockets came close to a whole core: two share them.
SUBSCRIBER_PROCESSES = 2


def _subscribers(
    ws: Workspace, service: Service, mode: str, token: str, project: str
) -> list[LoadGen]:
    profile = ws.profile
    share_each = profile.fanout_subscribers // SUBSCRIBER_PROCESSES
    gens = [
        ws.start_node(
            "subscribers",
            {
                "url": service.ws_url,
                "mode": mode,
                "token": token,
                "project_id": project,
                "count": share_each,
                "expected": profile.fanout_events,
                "timeout_ms": TIMEOUT_MS,
                "raw_latencies": True,
            },
            watch=[service.pid],
            timeout=TIMEOUT_MS / 1000 + 120,
        )
        for _ in range(SUBSCRIBER_PROCESSES)
    ]
    # Each sample then covers every subscriber process, so `others` leaves them all out.
    for gen in gens:
        gen.watch = [service.pid, *(g.pid for g in gens)]
    return gens


def _fan_out(
    ws: Workspace, service: Service, mode: str, token: str, project: str, frame_bytes: int
) -> dict[str, Side]:
    profile = ws.profile
    subscribers = _subscribers(ws, service, mode, token, project)
    try:
        for gen in subscribers:
            gen.wait_mark("ready", 120)
        publisher = ws.node(
            "publisher",
            {
                "url": service.ws_url,
                "mode": mode,
                "token": token,
                "project_id": project,
                "total": profile.fanout_events,
                "in_flight": profile.fanout_in_flight,
                "frame_size": frame_bytes,
                "timeout_ms": TIMEOUT_MS,
                "run_id": ws.run_id(),
            },
            watch=[service.pid, *(g.pid for g in subscribers)],
            timeout=TIMEOUT_MS / 1000 + 30,
        )
        results = [gen.wait(TIMEOUT_MS / 1000 + 60) for gen in subscribers]
    finally:
        for gen in subscribers:
            gen.kill()
    deliveries = sum(r["deliveries"] for r in results)
    if deliveries == 0:
        raise BenchError(f"no event reached a subscriber: {results}")
    # Subscriber processes share the monotonic clock: one window from the first send
    # (read from the request_ids) to the last delivery anywhere.
    started = min(r["first_sent"] for r in results if r["deliveries"])
    ended = max(r["last_at"] for r in results if r["deliveries"])
    latencies = sorted(x for r in results for x in r.pop("latencies", []))
    first = publisher.marks["start"]
    last = max((g.marks["end"] for g in subscribers), key=lambda sample: sample.at)
    # The writer has ended by the last delivery: its share is over its own window.
    client = [share(g.pid, first, g.marks["end"]) for g in subscribers]
    client.append(publisher.own_cpu_share())
    busiest = max((c for c in client if c is not None), default=None)
    frame_bytes_seen = [r["frame_bytes"] for r in results if r["frame_bytes"]]
    details: dict[str, Any] = {
        "deliveries": deliveries,
        "expected": sum(r["expected"] for r in results),
        "complete": all(r["complete"] for r in results),
        "ms": round(ended - started, 1),
        "frame_bytes": round(sum(frame_bytes_seen) / len(frame_bytes_seen), 1),
        "closes": [r["closes"] for r in results],
        "writer_cpu": client[-1],
        "subscribers_cpu": client[:-1],
    }
    if publisher.result and publisher.result.get("errors"):
        details["writer_errors"] = publisher.result["errors"]
    server_cpu = share(service.pid, first, last)
    own = publisher.marks["end"].cpu.get(publisher.pid, 0.0) - first.cpu.get(publisher.pid, 0.0)
    other = others(first, last, own)
    rate = Side(deliveries / (ended - started) * 1000, busiest, server_cpu, other, details)
    spread = {"p50_ms": _rank(latencies, 50), "max_ms": latencies[-1]}
    p99 = Side(_rank(latencies, 99), busiest, server_cpu, other, spread)
    return {RATE: rate, P99: p99}


def _rank(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(percent / 100 * len(ordered)) - 1))]


def server(ws: Workspace) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        with ws.pm_server("fanout", SETTINGS) as service:
            token = ws.token("bench")
            (project,) = create_projects(ws, service, [token])
            return _fan_out(ws, service, "server", token, project, 0)

    return guarded(run, [RATE, P99])


def baseline(ws: Workspace, kind: str, frame_bytes: int) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        with ws.baseline(kind) as service:
            return _fan_out(ws, service, "baseline", "", "", frame_bytes)

    return guarded(run, [RATE, P99])


def measure(ws: Workspace, memory: dict[str, Any]) -> dict[str, Pair]:
    sides = server(ws)
    size = sides[RATE].details.get("frame_bytes")
    if size:
        memory["fanout_event_bytes"] = round(size)
    frame = memory.get("fanout_event_bytes", memory.get("event_bytes", DEFAULT_FRAME_BYTES))
    sequential = baseline(ws, "fanout-sequential", frame)
    queued = baseline(ws, "fanout-queued", frame)
    return {
        name: Pair(sides[name], sequential[name], {"baseline_queued": queued[name]})
        for name in (RATE, P99)
    }


def recorded(profile: Profile) -> dict[str, Any]:
    return {
        "server_env": SETTINGS,
        "subscribers": profile.fanout_subscribers,
        "events": profile.fanout_events,
        "writer_in_flight": profile.fanout_in_flight,
        "baseline_queue_limit": "1024 frames per subscriber (scripts/bench/baselines.py)",
    }
