"""Where one benchmark invocation keeps its things (bench/work/: data directories, logs,
load-generator specs) and how it starts the processes under test with their settings."""

from __future__ import annotations

import itertools
import os
import resource
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.bench import generator
from scripts.bench.generator import LoadGen
from scripts.bench.plan import Profile
from scripts.bench.procs import REPO, Service, free_port
from server.tokens import mint_token

SECRET = "pm-bench-secret-0123456789abcdef-0123456789"
# Every socket is a descriptor: 5,000 idle connections need more than the usual 1024.
WANTED_OPEN_FILES = 65_536
# Settings every pm-server run starts from; a workload adds its own (recorded with it).
SERVER_DEFAULTS = {
    "PM_HOST": "127.0.0.1",
    "PM_JWT_SECRET": SECRET,
    # Throughput runs need no heartbeat; the idle run sets a short one on purpose.
    "PM_HEARTBEAT_INTERVAL_MS": "600000",
    "PM_GRACEFUL_SHUTDOWN_SECONDS": "2",
    # The abuse limits (server/limits.py) out of the way: a benchmark is one client driving
    # the server flat out (5,000 connections of one token, pipelined writes, replays and
    # REST reads in a loop), which is what they exist to stop.
    "PM_COMMANDS_PER_SECOND": "1000000",
    "PM_COMMAND_BURST": "1000000",
    "PM_MAX_CONNECTIONS_PER_USER": "1000000",
    "PM_MAX_CONNECTIONS_PER_TENANT": "1000000",
    "PM_MAX_REPLAYS_PER_TENANT": "1000000",
    "PM_REST_REQUESTS_PER_SECOND": "1000000",
    "PM_REST_BURST": "1000000",
}


def raise_open_files(wanted: int = WANTED_OPEN_FILES) -> tuple[int, int]:
    """Raises this process's RLIMIT_NOFILE (children inherit it); returns the new soft:hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (wanted, hard):
        if target == resource.RLIM_INFINITY or target <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard)))
            break
        except (ValueError, OSError):
            continue  # raising the hard limit needs privilege: fall back to it
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _clean_environment() -> dict[str, str]:
    """The caller's environment without its PM_* settings, which would change the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PM_")}


@dataclass
class Workspace:
    root: Path
    profile: Profile
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def create(cls, root: Path, profile: Profile) -> Workspace:
        shutil.rmtree(root, ignore_errors=True)
        (root / "logs").mkdir(parents=True)
        (root / "specs").mkdir()
        (root / "data").mkdir()
        return cls(root, profile)

    def _name(self, name: str) -> str:
        return f"{next(self._counter):03d}-{name}"

    def fresh_dir(self, name: str) -> Path:
        path = self.root / "data" / self._name(name)
        path.mkdir()
        return path

    def token(self, tenant: str, user: str = "bench-user") -> str:
        return mint_token(SECRET, tenant_id=tenant, user_id=user, roles=["admin"], ttl_seconds=7200)

    @contextmanager
    def pm_server(self, name: str, settings: dict[str, str]) -> Iterator[Service]:
        """`python -m server` with a fresh PM_DATA_DIR, removed again afterwards."""
        data = self.fresh_dir(name)
        port = free_port()
        env = {
            **_clean_environment(),
            **SERVER_DEFAULTS,
            **settings,
            "PM_PORT": str(port),
            "PM_DATA_DIR": str(data),
        }
        log = self.root / "logs" / f"{data.name}.log"
        service = Service(name, [sys.executable, "-m", "server"], env, port, log)
        try:
            with service.start():
                yield service
        finally:
            shutil.rmtree(data, ignore_errors=True)

    @contextmanager
    def baseline(self, kind: str) -> Iterator[Service]:
        port = free_port()
        argv = [sys.executable, "-m", "scripts.bench.baselines", kind, "--port", str(port)]
        log = self.root / "logs" / f"{self._name(kind)}.log"
        with Service(kind, argv, _clean_environment(), port, log).start() as service:
            yield service

    def node(
        self, scenario: str, spec: dict[str, Any], *, watch: list[int], timeout: float
    ) -> LoadGen:
        """Runs one load-generator scenario to its end."""
        return generator.run(scenario, spec, self.root / "specs", watch=watch, timeout=timeout)

    def start_node(
        self, scenario: str, spec: dict[str, Any], *, watch: list[int], timeout: float
    ) -> LoadGen:
        """Starts a scenario that runs beside another one (wait for it later)."""
        spec = {**spec, "deadline_ms": int(timeout * 1000)}
        return LoadGen(scenario, spec, self.root / "specs", watch=list(watch)).start()

    def run_id(self) -> str:
        return f"r{next(self._counter)}"


def repo_path(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
