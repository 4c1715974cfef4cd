"""PM_WORKERS=N: one supervisor and N worker processes serving one port.

`python -m server` with PM_WORKERS above 1 does not serve itself: it starts N children,
`python -m server` again with PM_WORKER_INDEX set, and waits. Each worker binds its own
listening socket on PM_HOST:PM_PORT with SO_REUSEPORT and hands it to uvicorn, so the
kernel (Linux) spreads new connections over the workers by their addresses; the workers
share PM_DATA_DIR and see each other's events through PM_BROKER_URL (config refuses more
than one worker without a broker). uvicorn's own `workers` option is not used: it needs an
import string and pickles the config, while ours carries protocol classes built at runtime.

Stopping: SIGTERM or SIGINT to the supervisor sends SIGTERM to every worker, which shuts
down gracefully (1012 to its WebSockets, databases closed last) and exits 0; the supervisor
exits 0 once all have, or 1 if one had to be killed or exited otherwise. A second signal
kills the workers at once. Workers run in their own process group, so a Ctrl-C in a
terminal reaches the supervisor only and the stop goes through this one path; each holds
the read end of a pipe from the supervisor (its lifeline) and stops itself when it reads
EOF, so a supervisor killed outright leaves no orphan holding the port.

A worker that dies on its own (a crash, the OOM killer) is logged and started again: its
connections are lost and reconnect to either worker, and nothing acknowledged is lost since
every commit is in the shared databases. One that dies more than MAX_RESTARTS times within
RESTART_WINDOW_S has a cause a restart will not mend (the port taken by another program, a
broken data directory): the supervisor then stops the others and exits 1.

Metrics: the supervisor makes a fresh directory for the workers' numbers
(PROMETHEUS_MULTIPROC_DIR, server/metrics.py), drops the gauges of a worker that exits
(its counts stay in the sums) and removes the directory when it exits itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client.multiprocess import mark_process_dead

from server.config import Config, ConfigError
from server.metrics import MULTIPROC_ENV

log = logging.getLogger(__name__)

INDEX_ENV = "PM_WORKER_INDEX"
LIFELINE_ENV = "PM_WORKER_LIFELINE_FD"
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
# Beyond the workers' graceful shutdown: the lifespan's teardown (hub, databases) and exit.
STOP_MARGIN_S = 10.0


def worker_index(environ: Mapping[str, str] | None = None) -> int | None:
    """This process's index among the workers, or None outside a supervisor's children."""
    raw = (os.environ if environ is None else environ).get(INDEX_ENV, "")
    return int(raw) if raw.isdigit() else None


def check_supported() -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("PM_WORKERS above 1 needs SO_REUSEPORT, which this system lacks")


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, (str(address[0]), int(address[1]))


def listening_socket(host: str, port: int) -> socket.socket:
    """A worker's own socket on the shared port; uvicorn calls listen() on it."""
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raises OSError when anything already listens there.

    Bound without SO_REUSEPORT on purpose: with it, the workers would silently join another
    program's (or another cluster's) SO_REUSEPORT group and share its connections.
    """
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)


def watch_lifeline(environ: Mapping[str, str] | None = None) -> None:
    """In a worker: stop (SIGTERM to itself, the graceful path) when the supervisor is gone."""
    raw = (os.environ if environ is None else environ).get(LIFELINE_ENV, "")
    if not raw.isdigit():
        return
    fd = int(raw)

    def wait_for_eof() -> None:
        try:
            while os.read(fd, 64):
                pass
        except OSError:
            pass
        log.warning("the supervisor is gone: stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait_for_eof, name="lifeline", daemon=True).start()


def broker_for_display(url: str) -> str:
    """The broker URL without any password in it."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return parts._replace(netloc=netloc).geturl()


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    deaths: deque[float] = field(default_factory=deque)


class Supervisor:
    def __init__(
        self, config: Config, worker_argv: list[str], metrics_dir: Path | None = None
    ) -> None:
        self.config = config
        self.worker_argv = worker_argv
        self.metrics_dir = metrics_dir
        self._slots = [_Slot(i) for i in range(config.workers)]
        self._stop = asyncio.Event()
        self._stopping = False
        self._failed = False
        self._signals = 0

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self._slots]
        await self._stop.wait()
        self._stopping = True
        for slot in self._slots:
            _signal(slot.process, signal.SIGTERM)
        limit = self.config.graceful_shutdown_seconds + STOP_MARGIN_S
        _, late = await asyncio.wait(keepers, timeout=limit)
        if late:
            log.error("%d worker(s) still running after %.0f s: killed", len(late), limit)
            self._kill_all()
        statuses = [await keeper for keeper in keepers]
        clean = all(status in (0, -signal.SIGTERM) for status in statuses)
        return 0 if clean and not self._failed and not late else 1

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second stop signal: killing the workers")
            self._failed = True
            self._kill_all()
        self._stop.set()

    def _kill_all(self) -> None:
        for slot in self._slots:
            _signal(slot.process, signal.SIGKILL)

    async def _keep(self, slot: _Slot) -> int:
        """Runs one worker, again after an unexpected death; its last exit status."""
        loop = asyncio.get_running_loop()
        while True:
            process, lifeline = await self._spawn(slot.index)
            slot.process = process
            if self._stopping:
                # The stop came while it was starting, so the broadcast missed it.
                _signal(process, signal.SIGTERM)
            try:
                status = await process.wait()
            finally:
                os.close(lifeline)
                self._forget_gauges(process.pid)
            if self._stopping:
                return status
            log.error("worker %d (pid %d) exited with status %d", slot.index, process.pid, status)
            now = loop.time()
            slot.deaths.append(now)
            while slot.deaths and slot.deaths[0] < now - RESTART_WINDOW_S:
                slot.deaths.popleft()
            if len(slot.deaths) > MAX_RESTARTS:
                log.error(
                    "worker %d died %d times within %.0f s: stopping all workers",
                    slot.index,
                    len(slot.deaths),
                    RESTART_WINDOW_S,
                )
                self._failed = True
                self._stop.set()
                return status
            log.warning("restarting worker %d", slot.index)

    def _forget_gauges(self, pid: int) -> None:
        if self.metrics_dir is not None:
            try:
                mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
            except OSError as exc:
                log.warning("metrics: dropping worker %d's gauges failed: %s", pid, exc)

    async def _spawn(self, index: int) -> tuple[asyncio.subprocess.Process, int]:
        """The worker and the write end of its lifeline, to hold open while it lives."""
        lifeline, keep = os.pipe()
        env = {**os.environ, INDEX_ENV: str(index), LIFELINE_ENV: str(lifeline)}
        if self.metrics_dir is not None:
            env[MULTIPROC_ENV] = str(self.metrics_dir)
        try:
            process = await asyncio.create_subprocess_exec(
                *self.worker_argv,
                env=env,
                pass_fds=(lifeline,),
                # Its own group: a terminal's Ctrl-C reaches the supervisor alone.
                process_group=0,
            )
        except BaseException:
            os.close(keep)
            raise
        finally:
            os.close(lifeline)
        log.info("worker %d started (pid %d)", index, process.pid)
        return process, keep


def _signal(process: asyncio.subprocess.Process | None, sig: int) -> None:
    if process is not None and process.returncode is None:
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass  # exited meanwhile; its keeper will see the status


def supervise(config: Config, *, log_level: str) -> int:
    """The supervisor's whole life: start the workers, keep them, stop them; exit status."""
    try:
        check_port_free(config.host, config.port)
    except OSError as exc:
        print(f"cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    print(
        f"pm-server: {config.workers} worker processes on {config.host}:{config.port}"
        f" (SO_REUSEPORT), joined by the broker {broker_for_display(config.broker_url)}",
        flush=True,
    )
    argv = [sys.executable, "-m", "server", "--log-level", log_level]
    # Fresh for each run: counts left by an earlier run's workers would add to this one's.
    with tempfile.TemporaryDirectory(prefix="pm-metrics-") as metrics_dir:
        return asyncio.run(Supervisor(config, argv, Path(metrics_dir)).run())
