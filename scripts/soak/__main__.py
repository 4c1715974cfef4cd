"""python -m scripts.soak [--clients 500] [--seconds 600] [--interval 10] [--json FILE]
    [--url ws://host:port/ws [--pid PID] [--jwt-secret SECRET]]

Hundreds of simulated clients against pm-server for a set time, one line of the server's
figures per interval, then a verdict: exit 0 when it passed, 1 when it found something
(the reasons are printed), 2 when it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from scripts.soak.clients import Behaviour
from scripts.soak.run import Options, SoakError, run_soak, write_json
from scripts.soak.verdict import MemoryRule


def parse(argv: list[str] | None) -> tuple[Options, Path | None]:
    p = argparse.ArgumentParser(
        prog="python -m scripts.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--seconds", type=float, default=600.0, help="how long the clients run")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--tenants", type=int, default=8)
    p.add_argument("--projects", type=int, default=5, help="projects per tenant")
    p.add_argument("--items", type=int, default=30, help="work items seeded per project")
    p.add_argument(
        "--users", type=int, default=None, help="users per tenant (default: ~4 conns each)"
    )
    p.add_argument("--think-ms", type=float, default=2000.0, help="mean pause between commands")
    p.add_argument("--lifetime", type=float, default=20.0, help="mean seconds a connection lives")
    p.add_argument("--warmup-share", type=float, default=0.2)
    p.add_argument("--warmup-min", type=float, default=30.0, help="seconds of warm-up at least")
    p.add_argument(
        "--memory-limit", type=float, default=0.05, help="RSS growth allowed (0.05: 5%%)"
    )
    p.add_argument("--settle-timeout", type=float, default=60.0)
    p.add_argument("--url", default=None, help="soak this server instead of starting one")
    p.add_argument("--pid", type=int, default=None, help="with --url: its pid, for RSS and fds")
    p.add_argument(
        "--jwt-secret",
        default=os.environ.get("PM_JWT_SECRET"),
        help="with --url: the server's secret (default PM_JWT_SECRET, else the development one)",
    )
    p.add_argument(
        "--metrics-token",
        default=os.environ.get("PM_METRICS_TOKEN", ""),
        help="with --url: the bearer token of its /metrics (default PM_METRICS_TOKEN)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the random choices")
    p.add_argument("--json", type=Path, default=None, help="write the samples and verdict here")
    p.add_argument("--server-log-level", default="warning")
    p.add_argument("--keep-data", action="store_true", help="keep the server's data and log")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.interval <= 0:
        p.error("--clients, --seconds and --interval must be positive")
    options = Options(
        clients=args.clients,
        seconds=args.seconds,
        interval_s=args.interval,
        tenants=args.tenants,
        projects=args.projects,
        items=args.items,
        users_per_tenant=args.users,
        behaviour=Behaviour(
            think_s=args.think_ms / 1000,
            lifetime_s=args.lifetime,
            ramp_s=min(10.0, args.seconds / 10),
        ),
        memory=MemoryRule(
            warmup_share=args.warmup_share, warmup_min_s=args.warmup_min, limit=args.memory_limit
        ),
        url=args.url,
        pid=args.pid,
        jwt_secret=args.jwt_secret,
        metrics_token=args.metrics_token,
        seed=args.seed,
        settle_timeout_s=args.settle_timeout,
        server_log_level=args.server_log_level,
        keep_data=args.keep_data,
    )
    return options, args.json


def main(argv: list[str] | None = None) -> int:
    options, json_path = parse(argv)
    try:
        report = asyncio.run(run_soak(options))
    except SoakError as exc:
        print(f"soak could not run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if json_path is not None:
        write_json(report, json_path)
    return 0 if report.verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
