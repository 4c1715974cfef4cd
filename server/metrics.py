"""What /metrics exposes (Prometheus text format), at a few plain-int increments a command.

The hot path only adds to plain numbers on `Metrics` (one dict update and one bucket per
command, one addition per event fan-out): a prometheus_client metric takes a lock on every
touch. A scrape turns them, with the gauges read at that moment from the Services
(connections, subscriptions, open tenants, the event loop's tasks...), into metric
families. No metric has a tenant label: the tenants are unbounded.

One process: the scrape reads the live numbers, so each value is exact at that moment.

PM_WORKERS above 1: the supervisor gives the workers one fresh directory
(PROMETHEUS_MULTIPROC_DIR) and removes it when it exits. Each worker writes its whole
snapshot (absolute values, so a write is idempotent) into its own files there in
prometheus_client's multiprocess format, every REFRESH_S and right before it answers a
scrape, and answers with prometheus_client's MultiProcessCollector over every worker's
files: counters and histograms are summed, gauges are "livesum" (the supervisor calls
mark_process_dead for a worker that exits, which drops its gauges and keeps its counts).
So any worker's scrape is the sum over the workers: its own numbers exact, the others' at
most REFRESH_S old.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _go_float

from server.protocol import CloseCode

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# How often a worker rewrites its numbers for the others' scrapes.
REFRESH_S = 1.0
# Seconds from a command's frame being read to its answer being ready (waiting behind the
# connection's earlier commands included).
DURATION_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Commands committed by one transaction (the tenant's writer takes at most 256).
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
# A client may close with any code from 1000 to 4999: the rest count as "other".
_KNOWN_CLOSE_CODES = frozenset(
    {*map(int, CloseCode), 1001, 1002, 1005, 1006, 1007, 1008, 1010, 1013, 1014, 1015}
)


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus writes it ("0.005", "+Inf")."""
    text: str = _go_float(bound)  # type: ignore[no-untyped-call]
    return text


def close_code_label(code: int | None) -> str:
    if code is None:
        return "none"
    return str(code) if code in _KNOWN_CLOSE_CODES else "other"


class Histogram:
    """Counts per bucket (not cumulative; the last one is +Inf) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        # Prometheus buckets are "less or equal": the first bound not below the value.
        self.counts[bisect_left(self.bounds, value)] += times
        self.sum += value * times

    @property
    def count(self) -> int:
        return sum(self.counts)

    def copy(self) -> Histogram:
        other = Histogram(self.bounds)
        other.counts = list(self.counts)
        other.sum = self.sum
        return other


class _CommandStats:
    __slots__ = ("codes", "durations")

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.durations = Histogram(DURATION_BUCKETS)


Kind = Literal["counter", "gauge", "histogram"]


@dataclass
class Family:
    """One metric: `name` without the `_total` of a counter."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    values: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    histograms: list[tuple[tuple[str, ...], Histogram]] = field(default_factory=list)


class Metrics:
    """This process's counts; everything here runs on the event loop's thread."""

    def __init__(self) -> None:
        self.commands: dict[str, _CommandStats] = {}
        self.batches = Histogram(BATCH_BUCKETS)
        self.events_published = 0
        self.event_deliveries = 0
        self.replay_pages = 0
        self.replayed_events = 0
        self.closes: dict[str, int] = {}
        # (route template, method, status) -> requests
        self.http: dict[tuple[str, str, str], int] = {}

    # --- the hot path -------------------------------------------------------------------

    def command(self, name: str, code: str, seconds: float) -> None:
        stats = self.commands.get(name)
        if stats is None:
            stats = self.commands[name] = _CommandStats()
        codes = stats.codes
        codes[code] = codes.get(code, 0) + 1
        durations = stats.durations
        durations.counts[bisect_left(DURATION_BUCKETS, seconds)] += 1
        durations.sum += seconds

    def connection_closed(self, code: int | None) -> None:
        label = close_code_label(code)
        self.closes[label] = self.closes.get(label, 0) + 1

    def http_request(self, route: str, method: str, status: int) -> None:
        key = (route, method, str(status))
        self.http[key] = self.http.get(key, 0) + 1

    # --- at scrape time ----------------------------------------------------------------

    def families(self) -> list[Family]:
        commands = Family(
            "pm_commands",
            "counter",
            "Commands answered, by proto oneof field name and result (OK or the ErrorCode)",
            ("command", "code"),
        )
        durations = Family(
            "pm_command_duration_seconds",
            "histogram",
            "Seconds from a command's frame being read to its answer",
            ("command",),
        )
        for name, stats in sorted(self.commands.items()):
            for code, count in sorted(stats.codes.items()):
                commands.values.append(((name, code), count))
            durations.histograms.append(((name,), stats.durations.copy()))
        return [
            commands,
            durations,
            Family(
                "pm_command_batch_size",
                "histogram",
                "Writes committed together by one transaction of a tenant's writer",
                histograms=[((), self.batches.copy())],
            ),
            _counter(
                "pm_events_published", "Committed events handed to the hub", self.events_published
            ),
            _counter(
                "pm_event_deliveries",
                "Live events handed to subscribed connections (one per connection and event)",
                self.event_deliveries,
            ),
            _counter(
                "pm_replay_pages", "Pages of stored events read for a resume", self.replay_pages
            ),
            _counter("pm_replay_events", "Stored events sent by resumes", self.replayed_events),
            Family(
                "pm_connection_closes",
                "counter",
                "Authenticated WebSocket sessions closed, by close code",
                ("code",),
                sorted(((code,), count) for code, count in self.closes.items()),
            ),
            Family(
                "pm_http_requests",
                "counter",
                "HTTP requests (REST, MCP, health, metrics, board) by route template and status",
                ("route", "method", "status"),
                sorted((key, count) for key, count in self.http.items()),
            ),
        ]


def _counter(name: str, help: str, value: float) -> Family:
    return Family(name, "counter", help, values=[((), value)])


def _gauge(name: str, help: str, value: float) -> Family:
    return Family(name, "gauge", help, values=[((), value)])


BROKER_STATES = ("none", "ok", "degraded")


def gauges(services: Services, open_sockets: int | None) -> list[Family]:
    """Read now, on the event loop (the scrape's own task counts among the tasks)."""
    connections = list(services.connections)
    subscribed = 0
    queued = 0
    for connection in connections:
        if connection.subscriptions is not None:
            subscribed += connection.subscriptions.session.project_count
        if connection.outbox is not None:
            queued += connection.outbox.queued_bytes
    hub = services.hub
    state = hub.state if hub.needs_tail else "none"
    found = [
        _gauge("pm_connections", "Open authenticated WebSocket sessions", len(connections)),
        _gauge("pm_subscriptions", "Projects subscribed, summed over connections", subscribed),
        _gauge("pm_open_tenants", "Open tenant databases", services.databases.open_count),
        _gauge("pm_event_loop_tasks", "Tasks of the event loop", len(asyncio.all_tasks())),
        _gauge("pm_send_queue_bytes", "Bytes queued for clients, summed", queued),
        _gauge("pm_tenant_streams", "Tenants with live listeners", services.streams.open_count),
        Family(
            "pm_broker_state",
            "gauge",
            "Processes whose hub is in each state (none: the in-process hub)",
            ("state",),
            [((name,), 1 if name == state else 0) for name in BROKER_STATES],
        ),
    ]
    if open_sockets is not None:
        found.append(
            _gauge("pm_open_sockets", "Open client sockets, authenticated or not", open_sockets)
        )
    return found


# --- exposition --------------------------------------------------------------------------


def _prometheus(family: Family) -> Metric:
    if family.kind == "histogram":
        histogram = HistogramMetricFamily(family.name, family.help, labels=family.labels)
        for labels, h in family.histograms:
            histogram.add_metric(list(labels), _cumulative(h), h.sum)
        return histogram
    made: CounterMetricFamily | GaugeMetricFamily
    if family.kind == "counter":
        made = CounterMetricFamily(family.name, family.help, labels=family.labels)
    else:
        made = GaugeMetricFamily(family.name, family.help, labels=family.labels)
    for labels, value in family.values:
        made.add_metric(list(labels), value)
    return made


def _cumulative(h: Histogram) -> list[tuple[str, float]]:
    buckets = []
    total = 0
    for bound, count in zip([*h.bounds, math.inf], h.counts, strict=True):
        total += count
        buckets.append((_le(bound), float(total)))
    return buckets


class _Snapshot(Collector):
    def __init__(self, families: Iterable[Family]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield _prometheus(family)


def exposition(families: Iterable[Family]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry)


class SharedMetrics:
    """A worker's files in the supervisor's directory, and the merge of everyone's."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.directory = directory
        self._pid = os.getpid() if pid is None else pid
        self._files: dict[str, Any] = {}

    def _file(self, prefix: str) -> Any:
        found = self._files.get(prefix)
        if found is None:
            path = self.directory / f"{prefix}_{self._pid}.db"
            found = self._files[prefix] = MmapedDict(str(path))  # type: ignore[no-untyped-call]
        return found

    def write(self, families: Iterable[Family]) -> None:
        for family in families:
            prefix = "gauge_livesum" if family.kind == "gauge" else family.kind
            target = self._file(prefix)
            name, labels, text = family.name, list(family.labels), family.help
            if family.kind == "histogram":
                bucket_labels = [*labels, "le"]
                for values, h in family.histograms:
                    for bound, count in zip([*h.bounds, math.inf], h.counts, strict=True):
                        key = mmap_key(
                            name,
                            f"{name}_bucket",
                            bucket_labels,
                            [*values, _le(bound)],
                            text,
                        )
                        target.write_value(key, float(count), 0.0)
                    key = mmap_key(name, f"{name}_sum", labels, list(values), text)
                    target.write_value(key, h.sum, 0.0)
                continue
            sample = f"{name}_total" if family.kind == "counter" else name
            for values, value in family.values:
                key = mmap_key(name, sample, labels, list(values), text)
                target.write_value(key, float(value), 0.0)

    def exposition(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def close(self) -> None:
        for opened in self._files.values():
            opened.close()
        self._files.clear()


def shared_metrics_from_env(is_worker: bool) -> SharedMetrics | None:
    """A supervisor's worker writes its numbers where the supervisor said."""
    raw = os.environ.get(MULTIPROC_ENV, "")
    if not is_worker or not raw or not Path(raw).is_dir():
        return None
    return SharedMetrics(Path(raw))


async def refresh_forever(write: Callable[[], None], interval_s: float = REFRESH_S) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            write()
        except Exception:
            log.exception("metrics: writing this worker's numbers failed")
