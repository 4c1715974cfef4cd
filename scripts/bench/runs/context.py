"""context_10k_json_ms and context_10k_markdown_ms: GET /api/v1/projects/{id}/context of a
project of 10,000 items (seeded with CreateWorkItem over the WebSocket, as the resume run
seeds its project), as JSON and as markdown, each the median of a few requests in a row,
with the body's size recorded. The baseline is GET /api/v1/projects on the same server: the
REST round trip of a tiny view (auth, one read, a small body), so the ratio is what the
10,000 items cost beside it."""

from __future__ import annotations

import statistics
import time
import urllib.request
from typing import Any

from scripts.bench.plan import Profile
from scripts.bench.procs import BenchError, Service, cpu_seconds, machine_busy_seconds
from scripts.bench.runs.common import create_projects, seed_items
from scripts.bench.runs.side import Pair, Side, guarded
from scripts.bench.workspace import Workspace

JSON = "context_10k_json_ms"
MARKDOWN = "context_10k_markdown_ms"
BASELINE = "context_baseline_projects_ms"
# Requests per form in a round, after one unmeasured warm-up request.
REQUESTS = 5
TIMEOUT_S = 120


def _http_url(service: Service) -> str:
    return f"http://127.0.0.1:{service.port}/api/v1"


def _get(url: str, token: str) -> tuple[float, int]:
    """One GET, read to its end: (milliseconds, body bytes)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
        if answer.status != 200:
            raise BenchError(f"GET {url}: status {answer.status}")
        size = len(answer.read())
    return (time.perf_counter() - began) * 1000, size


def _timed(service: Service, url: str, token: str, **details: Any) -> Side:
    _get(url, token)  # warm-up: the tenant's file open, the read connection's cache
    pid = service.pid
    cpu_before, busy_before, began = cpu_seconds(pid), machine_busy_seconds(), time.monotonic()
    own_before = time.process_time()
    samples = [_get(url, token) for _ in range(REQUESTS)]
    elapsed = time.monotonic() - began
    server_cpu = cpu_seconds(pid) - cpu_before
    own = time.process_time() - own_before
    others = machine_busy_seconds() - busy_before - server_cpu - own
    times = [ms for ms, _ in samples]
    sizes = {size for _, size in samples}
    return Side(
        value=round(statistics.median(times), 2),
        client_cpu=round(own / elapsed, 3),
        server_cpu=round(server_cpu / elapsed, 3),
        other_cpu=round(max(0.0, others / elapsed), 3),
        details={
            **details,
            "body_bytes": max(sizes),
            "ms": [round(ms, 1) for ms in times],
            "requests": REQUESTS,
        },
    )


def _run(ws: Workspace) -> dict[str, Side]:
    profile = ws.profile
    with ws.pm_server("context", {}) as service:
        token = ws.token("bench")
        (project,) = create_projects(ws, service, [token])
        seeded = seed_items(ws, service, token, project, profile.seed_items)
        base = _http_url(service)
        context = f"{base}/projects/{project}/context"
        return {
            JSON: _timed(service, context, token, items=profile.seed_items, seed=seeded["rate"]),
            MARKDOWN: _timed(service, f"{context}?format=markdown", token),
            BASELINE: _timed(service, f"{base}/projects", token),
        }


def measure(ws: Workspace, memory: dict[str, Any]) -> dict[str, Pair]:
    sides = guarded(lambda: _run(ws), [JSON, MARKDOWN, BASELINE])
    return {
        JSON: Pair(sides[JSON], sides[BASELINE]),
        MARKDOWN: Pair(sides[MARKDOWN], sides[BASELINE]),
    }


def recorded(profile: Profile) -> dict[str, Any]:
    return {
        "seed": f"{profile.seed_items} CreateWorkItem over {profile.connections} connections"
        f" x {profile.in_flight} in flight, one project",
        "requests": f"1 warm-up, then {REQUESTS} sequential GETs per form; the median",
        "baseline": "GET /api/v1/projects (one project) on the same server",
    }
