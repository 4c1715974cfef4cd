"""python -m scripts.bench [--quick] [--only throughput,durable,...]: see __init__.py."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from scripts.bench import machine, report
from scripts.bench.figures import FIGURES, summarize
from scripts.bench.plan import FULL, QUICK
from scripts.bench.procs import REPO
from scripts.bench.runs import cluster, context, durable, fanout, idle, resume, throughput
from scripts.bench.runs.side import Pair
from scripts.bench.workspace import SERVER_DEFAULTS, Workspace, raise_open_files

# Each workload module has measure(ws, memory) -> {figure: Pair} and recorded(profile).
WORKLOADS: dict[str, ModuleType] = {
    "throughput": throughput,
    "durable": durable,
    "resume": resume,
    "fanout": fanout,
    "idle": idle,
    "context": context,
    "cluster": cluster,
}
FIGURES_OF = {
    "throughput": ["command_throughput", "command_throughput_16_tenants"],
    "durable": ["durable_writes_normal", "durable_writes_full"],
    "resume": ["resume", "write_latency_under_read"],
    "fanout": ["fanout_1000", "fanout_p99_ms"],
    "idle": ["idle_kib_per_connection"],
    "context": ["context_10k_json_ms", "context_10k_markdown_ms"],
    "cluster": [
        "cluster_2_workers_commands",
        "cluster_2_workers_commands_1_tenant",
        "cluster_2_workers_fanout",
    ],
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--only", default="", help=f"comma-separated: {','.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=0, help="override the profile's rounds")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "latest.json")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "work")
    return parser.parse_args(argv)


def _settings(workload: ModuleType, ws: Workspace) -> dict[str, Any]:
    common = {k: v for k, v in SERVER_DEFAULTS.items() if k != "PM_JWT_SECRET"}
    recorded: Callable[..., dict[str, Any]] = workload.recorded
    return {"server_defaults": common, **recorded(ws.profile)}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds:
        profile = replace(profile, rounds=args.rounds)
    chosen = [w for w in (args.only.split(",") if args.only else WORKLOADS) if w]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    open_files = raise_open_files()
    ws = Workspace.create(args.work, profile)
    facts = machine.facts(ws.root, open_files, profile.name)
    pairs: dict[str, list[Pair]] = {f.name: [] for f in FIGURES}
    memory: dict[str, Any] = {}
    started = time.monotonic()
    figures: dict[str, Any] = {}
    for round_number in range(1, profile.rounds + 1):
        for name in chosen:
            began = time.monotonic()
            print(f"round {round_number}/{profile.rounds}: {name} ...", file=sys.stderr, flush=True)
            for figure, pair in WORKLOADS[name].measure(ws, memory).items():
                pairs[figure].append(pair)
            print(f"  {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
        figures = _summaries(pairs, chosen, ws)
        facts["elapsed_s"] = round(time.monotonic() - started)
        facts["rounds_done"] = round_number
        report.write_json(args.out, facts, figures)
    print(report.text(facts, figures))
    print(f"\nwrote {args.out} in {facts['elapsed_s']} s; logs in {ws.root / 'logs'}")
    return 0


def _summaries(pairs: dict[str, list[Pair]], chosen: list[str], ws: Workspace) -> dict[str, Any]:
    wanted = {figure: name for name in chosen for figure in FIGURES_OF[name]}
    return {
        f.name: summarize(f, pairs[f.name], _settings(WORKLOADS[wanted[f.name]], ws))
        for f in FIGURES
        if f.name in wanted
    }


if __name__ == "__main__":
    sys.exit(main())
