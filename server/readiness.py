"""/readyz: whether this process can open (and so create) tenant databases now.

Unready only while a tenant's file could not be made: the data directory missing and not
creatable, a regular file where the tenants' directory should be, a disk or filesystem
refusing new files. A broker outage is not unreadiness (the process still serves its own
connections and commits; /healthz says "degraded"). The probe does what opening a new
tenant does first (make the directory, create a file in it, write a byte), off the event
loop, one probe at a time however many requests ask.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

# Tenant ids never start with a dot: the probe's file is never a tenant's.
_PROBE_PREFIX = ".readyz-"


def create_probe_file(directory: Path) -> None:
    path = directory / f"{_PROBE_PREFIX}{os.getpid()}"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\0")
    finally:
        os.close(fd)
    os.unlink(path)


class Readiness:
    def __init__(
        self, tenants_dir: Path, *, create_probe: Callable[[Path], None] = create_probe_file
    ) -> None:
        self.tenants_dir = tenants_dir
        self.create_probe = create_probe
        self._running: asyncio.Future[str | None] | None = None

    async def unready_reason(self) -> str | None:
        """None when ready; otherwise why not (no path in it: /readyz is unauthenticated)."""
        running = self._running
        if running is None:
            running = self._running = asyncio.ensure_future(asyncio.to_thread(self._probe))
            running.add_done_callback(self._probed)
        return await asyncio.shield(running)

    def _probed(self, done: asyncio.Future[str | None]) -> None:
        if self._running is done:
            self._running = None

    def _probe(self) -> str | None:
        try:
            self.tenants_dir.mkdir(parents=True, exist_ok=True)
            self.create_probe(self.tenants_dir)
        except OSError as exc:
            return f"cannot create tenant databases: {exc.strerror or type(exc).__name__}"
        return None
