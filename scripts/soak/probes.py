"""What the soak reads from the server: the gauges of GET /metrics, and the memory and
descriptors of its process from /proc (when the soak knows its pid)."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scripts.soak import prometheus

# The gauges of server/metrics.py, by the names the soak reports them under.
GAUGES = {
    "connections": "pm_connections",
    "subscriptions": "pm_subscriptions",
    "open_tenants": "pm_open_tenants",
    "tasks": "pm_event_loop_tasks",
}
# A tenant's database file; its -wal and -shm belong to the same SQLite connection.
_DATABASE_SUFFIX = ".sqlite3"
_DATABASE_SIDE_FILES = (".sqlite3-wal", ".sqlite3-shm", ".sqlite3-journal")
_SCRAPE_TIMEOUT_S = 10.0


class ProbeError(RuntimeError):
    pass


@dataclass(frozen=True)
class Gauges:
    connections: int | None
    subscriptions: int | None
    open_tenants: int | None
    tasks: int | None

    @classmethod
    def of(cls, metrics: prometheus.Metrics) -> Gauges:
        values = {}
        for field, name in GAUGES.items():
            value = metrics.value(name)
            values[field] = None if value is None else int(value)
        return cls(**values)

    def missing(self) -> list[str]:
        return [name for field, name in GAUGES.items() if getattr(self, field) is None]


def metrics_url(ws_url: str) -> str:
    """The /metrics address of the server behind a WebSocket URL (same host and port)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}/metrics"


async def scrape(url: str, token: str = "") -> prometheus.Metrics:
    """GET the URL over HTTP/1.0 (so the body is never chunked and the server closes the
    socket when done: once the answer has arrived, the scrape holds nothing open)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    try:
        async with asyncio.timeout(_SCRAPE_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
            try:
                # PM_METRICS_TOKEN, when the server has one.
                auth = f"Authorization: Bearer {token}\r\n" if token else ""
                request = f"GET {path} HTTP/1.0\r\nHost: {parts.netloc}\r\n{auth}\r\n"
                writer.write(request.encode())
                await writer.drain()
                raw = await reader.read()
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass
    except (OSError, TimeoutError) as exc:
        raise ProbeError(f"GET {url}: {type(exc).__name__}: {exc}") from None
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or fields[1] != "200":
        raise ProbeError(f"GET {url}: {status_line or 'no answer'}")
    try:
        return prometheus.parse(body.decode("utf-8"))
    except (UnicodeDecodeError, prometheus.ParseError) as exc:
        raise ProbeError(f"GET {url}: not the Prometheus text format: {exc}") from None


async def gauges(url: str, token: str = "") -> Gauges:
    return Gauges.of(await scrape(url, token))


@dataclass(frozen=True)
class ProcessReading:
    rss_kib: int
    # Every open descriptor, and those that are not a tenant's database files.
    fds: int
    other_fds: int
    # The most SQLite connections any one tenant file has open (one descriptor of the
    # main file each): bounded by design (a writer and the read connections).
    db_connections_max: int


def read_process(pid: int) -> ProcessReading:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        links = _fd_links(pid)
    except OSError as exc:
        raise ProbeError(f"process {pid}: {exc.strerror or exc}") from None
    rss_kib = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
            break
    per_database: Counter[str] = Counter()
    other = 0
    for link in links:
        if link.endswith(_DATABASE_SUFFIX):
            per_database[link] += 1
        elif not link.endswith(_DATABASE_SIDE_FILES):
            other += 1
    return ProcessReading(
        rss_kib=rss_kib,
        fds=len(links),
        other_fds=other,
        db_connections_max=max(per_database.values(), default=0),
    )


def _fd_links(pid: int) -> list[str]:
    directory = f"/proc/{pid}/fd"
    links = []
    for name in os.listdir(directory):
        try:
            links.append(os.readlink(f"{directory}/{name}"))
        except FileNotFoundError:
            continue  # closed between the listing and the read
    return links
