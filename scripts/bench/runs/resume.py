"""resume and write_latency_under_read, on one seeded server run (a project, 10,000 items
and so 10,000 events): the replay of them all to one client, then the writer's p99 alone
and while another client of the tenant replays, lists and reads the REST context (JSON and
markdown) in a loop. The resume baseline, the bare push of as many frames of the size the
server sent, runs in its own process."""

from __future__ import annotations

from typing import Any

from scripts.bench.generator import LoadGen
from scripts.bench.plan import Profile
from scripts.bench.procs import BenchError, Service
from scripts.bench.runs.common import create_projects, seed_items
from scripts.bench.runs.side import Pair, Side, guarded, measured, share
from scripts.bench.workspace import Workspace

RESUME = "resume"
LATENCY = "write_latency_under_read"
# The same writer alone, earlier in the same server run: the latency figure's baseline.
ALONE = "write_latency_alone"
# Room for the whole replay: neither RESYNC_REQUIRED nor 4008 may cut the benchmark short.
SETTINGS = {
    "PM_MAX_REPLAY_EVENTS": "1000000",
    "PM_MAX_REPLAY_BYTES": str(1024 * 1024 * 1024),
    "PM_SEND_QUEUE_LIMIT": "1000000",
    "PM_SEND_QUEUE_BYTES": str(1024 * 1024 * 1024),
}
REPLAY_TIMEOUT_MS = 300_000


def _writer(ws: Workspace, service: Service, token: str, project: str, watch: list[int]) -> LoadGen:
    profile = ws.profile
    return ws.node(
        "writer",
        {
            "url": service.ws_url,
            "token": token,
            "project_id": project,
            "rate_hz": profile.writer_rate_hz,
            "warmup_ms": profile.warmup_ms,
            "duration_ms": profile.writer_ms,
            "timeout_ms": 120_000,
            "run_id": ws.run_id(),
        },
        watch=watch,
        timeout=(profile.warmup_ms + profile.writer_ms) / 1000 + 180,
    )


def _latency_details(result: dict[str, Any]) -> dict[str, Any]:
    latency, service = result["latency"], result["service"]
    return {
        "p50_ms": latency["p50"],
        "max_ms": latency["max"],
        "samples": latency["count"],
        "send_to_answer_p99_ms": service["p99"],
        "errors": result["errors"],
    }


def server(ws: Workspace) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        profile = ws.profile
        with ws.pm_server("resume", SETTINGS) as service:
            token = ws.token("bench")
            (project,) = create_projects(ws, service, [token])
            seeded = seed_items(ws, service, token, project, profile.seed_items)
            sides = {RESUME: guarded(lambda: _resume(ws, service, token, project), [RESUME])}
            sides[RESUME][RESUME].details["seed_commands_per_s"] = round(seeded["rate"], 1)
            latency = guarded(lambda: _latency(ws, service, token, project), [LATENCY, ALONE])
        return {**sides[RESUME], **latency}

    return guarded(run, [RESUME, LATENCY, ALONE])


def _resume(ws: Workspace, service: Service, token: str, project: str) -> dict[str, Side]:
    gen = ws.node(
        "replay",
        {
            "url": service.ws_url,
            "mode": "server",
            "token": token,
            "project_id": project,
            "timeout_ms": REPLAY_TIMEOUT_MS,
        },
        watch=[service.pid],
        timeout=REPLAY_TIMEOUT_MS / 1000 + 30,
    )
    result = gen.result or {}
    return {
        RESUME: measured(
            gen,
            result["rate"],
            service.pid,
            events=result["events"],
            frame_bytes=round(result["frame_bytes"], 1),
        )
    }


def _latency(ws: Workspace, service: Service, token: str, project: str) -> dict[str, Side]:
    alone = _writer(ws, service, token, project, [service.pid])
    reader = ws.start_node(
        "reader",
        {
            "url": service.ws_url,
            "token": token,
            "project_id": project,
            "page_size": ws.profile.list_page_size,
            "context_url": f"http://127.0.0.1:{service.port}/api/v1/projects/{project}/context",
            "max_ms": 600_000,
            "timeout_ms": REPLAY_TIMEOUT_MS,
        },
        watch=[service.pid],
        timeout=620,
    )
    try:
        reader.wait_mark("reading", 60)
        busy = _writer(ws, service, token, project, [service.pid, reader.pid])
        reader.stop_input()
        # The reader ends after its current round; its totals are details, not the figure.
        try:
            reads = reader.wait(REPLAY_TIMEOUT_MS / 1000)
        except BenchError as exc:
            reads = {"error": str(exc)}
    finally:
        reader.kill()
    for gen in (alone, busy):
        if gen.result is None or gen.result["latency"]["count"] == 0:
            raise BenchError(f"writer measured nothing: {gen.result}")
    assert alone.result is not None and busy.result is not None
    first, last = busy.marks["start"], busy.marks["end"]
    side = measured(busy, busy.result["latency"]["p99"], service.pid)
    side.details = {
        **_latency_details(busy.result),
        "reader_cpu": share(reader.pid, first, last),
        "reader": {k: v for k, v in reads.items() if not k.endswith("_ms")},
        "reader_replay_ms": _rounded(reads.get("replay_ms")),
        "reader_list_ms": _rounded(reads.get("list_ms")),
        "reader_context_json_ms": _rounded(reads.get("context_json_ms")),
        "reader_context_markdown_ms": _rounded(reads.get("context_markdown_ms")),
    }
    baseline = measured(alone, alone.result["latency"]["p99"], service.pid)
    baseline.details = _latency_details(alone.result)
    return {LATENCY: side, ALONE: baseline}


def _rounded(values: list[float] | None) -> list[float] | None:
    return None if values is None else [round(v, 1) for v in values]


def push(ws: Workspace, frame_bytes: int, count: int) -> dict[str, Side]:
    def run() -> dict[str, Side]:
        with ws.baseline("push") as service:
            gen = ws.node(
                "replay",
                {
                    "url": service.ws_url,
                    "mode": "push",
                    "count": count,
                    "frame_size": frame_bytes,
                    "timeout_ms": REPLAY_TIMEOUT_MS,
                },
                watch=[service.pid],
                timeout=REPLAY_TIMEOUT_MS / 1000 + 30,
            )
        result = gen.result or {}
        side = measured(gen, result["rate"], service.pid, frame_bytes=result["frame_bytes"])
        return {RESUME: side}

    return guarded(run, [RESUME])


# Until a server run has said how large its events are: about a CreateWorkItem event's size.
DEFAULT_FRAME_BYTES = 400


def measure(ws: Workspace, memory: dict[str, Any]) -> dict[str, Pair]:
    sides = server(ws)
    resumed = sides[RESUME]
    if resumed.value is not None:
        memory["event_bytes"] = round(resumed.details["frame_bytes"])
        memory["replayed_events"] = resumed.details["events"]
    frame = memory.get("event_bytes", DEFAULT_FRAME_BYTES)
    baseline = push(ws, frame, memory.get("replayed_events", ws.profile.seed_items))
    return {
        RESUME: Pair(resumed, baseline[RESUME]),
        LATENCY: Pair(sides[LATENCY], sides[ALONE]),
    }


def recorded(profile: Profile) -> dict[str, Any]:
    return {
        "server_env": SETTINGS,
        "seed": f"{profile.seed_items} CreateWorkItem over {profile.connections} connections"
        f" x {profile.in_flight} in flight",
        "writer_rate_hz": profile.writer_rate_hz,
        "writer_window_ms": profile.writer_ms,
        "latency_from": "each command's scheduled send time (coordinated omission counted)",
        "reader": f"new connection: Subscribe since_seq=0, then ListWorkItems page_size"
        f" {profile.list_page_size} to the end, then GET the project's context as JSON and"
        " as markdown, in a loop",
    }
