"""The server under test: a `python -m server` of the soak's own (a fresh data directory
and JWT secret, a free port, the abuse limits raised as the benchmark raises them, short
heartbeats so silent clients are closed within the run), or one given by --url."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.bench.procs import Service, free_port, tail
from scripts.bench.workspace import SERVER_DEFAULTS
from scripts.soak.probes import metrics_url

SOAK_SETTINGS = {
    **SERVER_DEFAULTS,
    # Heartbeats on, and short: a client that goes silent is closed (4001) within seconds.
    "PM_HEARTBEAT_INTERVAL_MS": "4000",
    "PM_GRACEFUL_SHUTDOWN_SECONDS": "5",
}
_START_LIMIT_S = 60.0


@dataclass
class Target:
    ws_url: str
    secret: str
    pid: int | None
    service: Service | None = None
    metrics_token: str = ""

    @property
    def metrics_url(self) -> str:
        return metrics_url(self.ws_url)

    def problem(self) -> str | None:
        """Why the server is no longer there to measure, when it is not."""
        if self.service is not None and not self.service.alive():
            return f"the server exited during the soak:\n{tail(self.service.log_path)}"
        return None


@asynccontextmanager
async def own_server(
    *, log_level: str = "warning", settings: dict[str, str] | None = None, keep: bool = False
) -> AsyncIterator[Target]:
    root = Path(tempfile.mkdtemp(prefix="pm-soak-"))
    secret = secrets.token_urlsafe(32)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PM_")},
        **SOAK_SETTINGS,
        **(settings or {}),
        "PM_JWT_SECRET": secret,
        "PM_PORT": str(port),
        "PM_DATA_DIR": str(root / "data"),
    }
    argv = [sys.executable, "-m", "server", "--log-level", log_level]
    service = Service("pm-server", argv, env, port, root / "server.log")
    try:
        await asyncio.to_thread(service.start, _START_LIMIT_S)
        yield Target(service.ws_url, secret, service.pid, service)
    finally:
        await asyncio.to_thread(service.stop)
        if keep:
            print(f"server data and log kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def given_server(
    url: str, secret: str, pid: int | None, metrics_token: str = ""
) -> AsyncIterator[Target]:
    yield Target(url, secret, pid, metrics_token=metrics_token)
