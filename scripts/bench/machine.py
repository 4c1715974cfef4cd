"""The facts a figure depends on: cores, CPU, memory, disk, the Python and Node stacks,
the limits the benchmark ran under, the commit measured."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from scripts.bench.procs import REPO

PYTHON_PACKAGES = ("uvicorn", "starlette", "websockets", "protobuf", "pyjwt", "h11")
NODE_PACKAGES = ("ws", "protobufjs")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _filesystem(path: Path) -> str:
    """The mount (device and type) holding `path`: where both durable-write sides write."""
    best = ("", "unknown")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) >= len(best[0]):
                best = (mount, f"{device} ({kind}) at {mount}")
    except OSError:
        pass
    return best[1]


def _command(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return done.stdout.strip() if done.returncode == 0 else "unavailable"


def _node_package(name: str) -> str:
    path = REPO / "scripts" / "bench" / "node_modules" / name / "package.json"
    try:
        version: str = json.loads(path.read_text())["version"]
        return version
    except (OSError, ValueError, KeyError):
        return "missing"


def facts(data_root: Path, open_files: tuple[int, int], profile: str) -> dict[str, Any]:
    python_packages: dict[str, str] = {}
    for name in PYTHON_PACKAGES:
        try:
            python_packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            python_packages[name] = "missing"
    dirty = _command(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_packages": python_packages,
        "sqlite": sqlite3.sqlite_version,
        # A Python thread may hold the GIL this long before another gets it.
        "python_switch_interval_s": sys.getswitchinterval(),
        "node": _command(["node", "--version"]),
        "node_packages": {name: _node_package(name) for name in NODE_PACKAGES},
        "commit": _command(["git", "rev-parse", "--short", "HEAD"]),
        "work_tree_dirty": bool(dirty and dirty != "unavailable"),
        "data_disk": _filesystem(data_root),
        "rlimit_nofile": f"{open_files[0]}:{open_files[1]}",
        "uvicorn_settings": "server.serve.uvicorn_config for the server and every baseline",
        "load_generator": "node scripts/bench/loadgen (ws + protobufjs), one process per role",
    }
