"""Steps several workloads share: seeding projects and items over the wire."""

from __future__ import annotations

from typing import Any

from scripts.bench.procs import BenchError, Service
from scripts.bench.workspace import Workspace


def create_projects(ws: Workspace, server: Service, tokens: list[str]) -> list[str]:
    """One project per token (each token its tenant); returns their ids in order."""
    gen = ws.node(
        "projects",
        {"url": server.ws_url, "tokens": tokens, "run_id": ws.run_id()},
        watch=[],
        timeout=60,
    )
    assert gen.result is not None
    ids: list[str] = gen.result["project_ids"]
    return ids


def seed_items(
    ws: Workspace, server: Service, token: str, project_id: str, count: int
) -> dict[str, Any]:
    """`count` CreateWorkItem (so as many events), pipelined over several connections."""
    profile = ws.profile
    gen = ws.node(
        "pipeline",
        {
            "url": server.ws_url,
            "mode": "server",
            "connections": [{"token": token, "project_id": project_id}] * profile.connections,
            "in_flight": profile.in_flight,
            "total": count,
            "timeout_ms": 600_000,
            "run_id": ws.run_id(),
        },
        watch=[server.pid],
        timeout=620,
    )
    assert gen.result is not None
    if gen.result["answered"] < count:
        raise BenchError(f"seeding answered {gen.result['answered']} of {count}: {gen.result}")
    return gen.result


def check_answers(result: dict[str, Any], what: str) -> None:
    """A run whose commands were refused measured something else: say so."""
    if result.get("errors"):
        raise BenchError(f"{what}: commands answered with errors {result['errors']}")
    if result.get("acks", 1) == 0:
        raise BenchError(f"{what}: nothing was answered in the window ({result})")
