"""idle_kib_per_connection: the server's RSS growth per authenticated, subscribed
connection (5,000 of them, answering the server's Ping), against the bare echo's growth per
connection that has sent one frame and had it back."""

from __future__ import annotations

from typing import Any

from scripts.bench.generator import LoadGen
from scripts.bench.plan import Profile
from scripts.bench.procs import BenchError, Service, open_files_limit
from scripts.bench.runs.common import create_projects
from scripts.bench.runs.side import Pair, Side, guarded, others, share
from scripts.bench.workspace import Workspace

NAME = "idle_kib_per_connection"
TIMEOUT_MS = 120_000


def settings(ws: Workspace) -> dict[str, str]:
    return {"PM_HEARTBEAT_INTERVAL_MS": str(ws.profile.idle_heartbeat_ms)}


def _idle(ws: Workspace, service: Service, mode: str, token: str, project: str) -> Side:
    profile = ws.profile
    gen: LoadGen = ws.node(
        "idle",
        {
            "url": service.ws_url,
            "mode": mode,
            "token": token,
            "project_id": project,
            "count": profile.idle_connections,
            "hold_ms": profile.idle_hold_ms,
            "settle_ms": 1_000,
            "concurrency": 64,
            "timeout_ms": TIMEOUT_MS,
        },
        watch=[service.pid],
        timeout=TIMEOUT_MS / 1000 + profile.idle_hold_ms / 1000 + 120,
    )
    result: dict[str, Any] = gen.result or {}
    if result.get("open") != profile.idle_connections:
        raise BenchError(f"only {result.get('open')} connections stayed open: {result}")
    begin, held = gen.marks["begin"], gen.marks["measure"]
    growth = held.rss[service.pid] - begin.rss[service.pid]
    return Side(
        value=growth / profile.idle_connections / 1024,
        client_cpu=share(gen.pid, gen.marks["connected"], held),
        server_cpu=share(service.pid, gen.marks["connected"], held),
        other_cpu=others(gen.marks["connected"], held),
        details={
            "rss_before_mib": round(begin.rss[service.pid] / 2**20, 1),
            "rss_held_mib": round(held.rss[service.pid] / 2**20, 1),
            "connections": result["connections"],
            "pings_answered": result["pings"],
            "open_files_limit": open_files_limit(service.pid),
        },
    )


def server(ws: Workspace) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        with ws.pm_server("idle", settings(ws)) as service:
            token = ws.token("bench")
            (project,) = create_projects(ws, service, [token])
            side = _idle(ws, service, "server", token, project)
        if side.details["pings_answered"] == 0:
            side.details["warning"] = "no Ping came during the hold"
        return {NAME: side}

    return guarded(run, [NAME])


def echo(ws: Workspace) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        with ws.baseline("echo") as service:
            return {NAME: _idle(ws, service, "echo", "", "00000000-0000-4000-8000-000000000000")}

    return guarded(run, [NAME])


def measure(ws: Workspace, memory: dict[str, Any]) -> dict[str, Pair]:
    return {NAME: Pair(server(ws)[NAME], echo(ws)[NAME])}


def recorded(profile: Profile) -> dict[str, Any]:
    return {
        "server_env": {"PM_HEARTBEAT_INTERVAL_MS": str(profile.idle_heartbeat_ms)},
        "connections": profile.idle_connections,
        "hold_ms": profile.idle_hold_ms,
        "rss": "VmRSS after the hold minus VmRSS before the first connection",
    }
