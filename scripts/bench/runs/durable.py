"""durable_writes_normal / durable_writes_full: 64 connections with one CreateWorkItem in
flight each, against raw sqlite3 committing one row at a time in the same synchronous mode
on the same disk (the baseline runs in a directory beside the server's data)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any

from scripts.bench.plan import Profile
from scripts.bench.procs import REPO, BenchError, machine_busy_seconds
from scripts.bench.runs.common import check_answers, create_projects
from scripts.bench.runs.side import Pair, Side, guarded, measured
from scripts.bench.workspace import Workspace

NAMES = {"NORMAL": "durable_writes_normal", "FULL": "durable_writes_full"}


def settings(mode: str) -> dict[str, str]:
    return {"PM_SQLITE_SYNCHRONOUS": mode}


def server(ws: Workspace, mode: str) -> dict[str, Side]:
    name = NAMES[mode]

    def run() -> dict[str, Side]:
        profile = ws.profile
        with ws.pm_server(f"durable-{mode.lower()}", settings(mode)) as service:
            token = ws.token("bench")
            (project,) = create_projects(ws, service, [token])
            connections = [{"token": token, "project_id": project}] * profile.durable_connections
            gen = ws.node(
                "pipeline",
                {
                    "url": service.ws_url,
                    "mode": "server",
                    "connections": connections,
                    "in_flight": 1,
                    "warmup_ms": profile.warmup_ms,
                    "duration_ms": profile.durable_ms,
                    "drain_ms": 30_000,
                    "run_id": ws.run_id(),
                },
                watch=[service.pid],
                timeout=(profile.warmup_ms + profile.durable_ms) / 1000 + 90,
            )
        result = gen.result or {}
        check_answers(result, f"durable writes {mode}")
        return {name: measured(gen, result["rate"], service.pid, acks=result["acks"])}

    return guarded(run, [name])


def _clocks() -> tuple[float, float, float]:
    """Now, the machine's busy CPU seconds, and the CPU seconds of our ended children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic(), machine_busy_seconds(), children.ru_utime + children.ru_stime


def raw_sqlite(ws: Workspace, mode: str) -> dict[str, Side]:
    name = NAMES[mode]

    def run() -> dict[str, Side]:
        seconds = ws.profile.durable_ms / 1000
        directory = ws.fresh_dir(f"sqlite-{mode.lower()}")
        argv = [sys.executable, "-m", "scripts.bench.sqlite_baseline"]
        argv += ["--dir", str(directory), "--synchronous", mode, "--seconds", str(seconds)]
        before = _clocks()
        try:
            done = subprocess.run(
                argv, cwd=REPO, capture_output=True, text=True, timeout=seconds + 60
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"raw sqlite3 {mode} did not finish") from None
        after = _clocks()
        if done.returncode != 0:
            raise BenchError(f"raw sqlite3 {mode} failed: {done.stderr.strip()[-300:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        elapsed = after[0] - before[0]
        child = (after[2] - before[2]) / elapsed
        other = max(0.0, (after[1] - before[1]) / elapsed - child)
        # One Python process doing the loop: it is its own client.
        side = Side(result["rate"], None, round(child, 3), round(other, 3))
        side.details = {"writes": result["writes"]}
        return {name: side}

    return guarded(run, [name])


def measure(ws: Workspace, memory: dict[str, Any]) -> dict[str, Pair]:
    pairs: dict[str, Pair] = {}
    for mode, name in NAMES.items():
        sides = server(ws, mode)
        pairs[name] = Pair(sides[name], raw_sqlite(ws, mode)[name])
    return pairs


def recorded(profile: Profile) -> dict[str, Any]:
    return {
        "server_env": "PM_SQLITE_SYNCHRONOUS as named; journal_mode WAL on both sides",
        "connections": profile.durable_connections,
        "in_flight_per_connection": 1,
        "warmup_ms": profile.warmup_ms,
        "window_ms": profile.durable_ms,
        "baseline_row": "TEXT uuid primary key + 100-byte BLOB, BEGIN IMMEDIATE/INSERT/COMMIT",
    }
