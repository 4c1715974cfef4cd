"""One ordered stream per tenant per process, between the hub and the connections.

A connection sees only its own scopes, so it cannot tell a missing seq from another
project's. The tenant's stream sees every event of the tenant: it releases them in seq
order, drops what it already released (a broker's duplicate or late copy), holds back
events that arrive after a gap, and fills a gap still open after `gap_fill_ms` from the
tenant's log (the log, not the broker, is the truth). With the in-process hub events arrive
in commit order and it never waits.

Each released event goes to the listeners of the scopes it touches (a project, or the
tenant feed for project-level events), each listener once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from server.hub import Hub, PublishedEvent
from server.metrics import Metrics
from server.session import TENANT_FEED

log = logging.getLogger(__name__)

Listener = Callable[[PublishedEvent], None]
# Reads the tenant's stored events in (after, up_to], all projects, as published events.
Fill = Callable[[str, int, int], Awaitable[list[PublishedEvent]]]
# The tenant's current seq, read from its log.
Position = Callable[[str], Awaitable[int]]


class TenantStream:
    def __init__(
        self, tenant_id: str, fill: Fill, gap_fill_s: float, metrics: Metrics | None = None
    ) -> None:
        self.tenant_id = tenant_id
        self._metrics = metrics if metrics is not None else Metrics()
        # The seq of the last event released (everything up to it has been).
        self.position = 0
        self._fill = fill
        self._gap_fill_s = gap_fill_s
        self._started = False
        self._pending: dict[int, PublishedEvent] = {}
        self._gap_timer: asyncio.TimerHandle | None = None
        self._filling: asyncio.Task[None] | None = None
        self._by_scope: dict[str, set[Listener]] = {}

    # --- listeners --------------------------------------------------------------------------

    def listen(self, listener: Listener, scopes: Iterable[str]) -> None:
        for scope in scopes:
            self._by_scope.setdefault(scope, set()).add(listener)

    def forget(self, listener: Listener, scopes: Iterable[str]) -> None:
        for scope in scopes:
            members = self._by_scope.get(scope)
            if members is not None:
                members.discard(listener)
                if not members:
                    del self._by_scope[scope]

    @property
    def idle(self) -> bool:
        return not self._by_scope

    def listener_count(self) -> int:
        return len({id(m) for members in self._by_scope.values() for m in members})

    # --- events -----------------------------------------------------------------------------

    def start(self, position: int) -> None:
        """Begin releasing: everything up to `position` is history, not live."""
        self.position = max(self.position, position)
        self._started = True
        self._release_pending()

    def receive(self, event: PublishedEvent) -> None:
        """An event from the hub: released now, held until its gap closes, or dropped."""
        if event.seq <= self.position or event.seq in self._pending:
            return
        if self._started and event.seq == self.position + 1:
            self._release(event)
            if self._pending:
                self._release_pending()
            return
        self._pending[event.seq] = event
        if self._started:
            self._arm_gap_timer()

    def catch_up(self, current: int) -> None:
        """The log says the tenant is at `current`: fill now what the hub has not brought
        (a broker's lost last event, or an outage), instead of waiting for a later event to
        reveal the gap."""
        if not self._started or current <= self.position or self._filling is not None:
            return
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        self._filling = asyncio.ensure_future(self._fill_gap(current))

    def _release(self, event: PublishedEvent) -> None:
        self.position = event.seq
        receivers: set[Listener] = set()
        for project_id in event.project_ids:
            members = self._by_scope.get(project_id)
            if members:
                receivers |= members
        if event.tenant_level:
            feed = self._by_scope.get(TENANT_FEED)
            if feed:
                receivers |= feed
        # Once per event, not per receiver: a fan-out to a thousand stays a thousand calls.
        self._metrics.event_deliveries += len(receivers)
        for receiver in receivers:
            try:
                receiver(event)
            except Exception:
                log.exception("tenant %s: a listener failed on seq %d", self.tenant_id, event.seq)

    def _release_pending(self) -> None:
        pending = self._pending
        for seq in [s for s in pending if s <= self.position]:
            del pending[seq]
        while self.position + 1 in pending:
            self._release(pending.pop(self.position + 1))
        if pending:
            self._arm_gap_timer()
        elif self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _arm_gap_timer(self) -> None:
        if self._gap_timer is None and self._filling is None:
            loop = asyncio.get_running_loop()
            self._gap_timer = loop.call_later(self._gap_fill_s, self._start_fill)

    def _start_fill(self) -> None:
        self._gap_timer = None
        if not self._pending or self._filling is not None:
            return
        self._filling = asyncio.ensure_future(self._fill_gap(max(self._pending)))

    async def _fill_gap(self, up_to: int) -> None:
        """Read what the gap holds from the log; a seq the log does not have either never
        committed here, or was pruned: skip it."""
        try:
            stored = await self._fill(self.tenant_id, self.position, up_to)
        except Exception:
            # Never release past a gap the log could not be asked about: the events in it
            # would be lost to every listener without a word. Hold on and ask again.
            log.exception(
                "tenant %s: filling a gap after seq %d failed; retrying",
                self.tenant_id,
                self.position,
            )
            self._filling = None
            self._arm_gap_timer()
            return
        self._filling = None
        for event in stored:
            self._pending.setdefault(event.seq, event)
        for seq in sorted(s for s in self._pending if s <= up_to):
            event = self._pending.pop(seq)
            if seq > self.position:
                self._release(event)
        self._release_pending()

    def close(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        if self._filling is not None:
            self._filling.cancel()
        self._by_scope.clear()


class TenantStreams:
    """The process's streams, one per tenant with listeners, joined to the hub."""

    def __init__(
        self,
        hub: Hub,
        position: Position,
        fill: Fill,
        gap_fill_s: float,
        tail_interval_s: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._hub = hub
        self._metrics = metrics if metrics is not None else Metrics()
        self._position = position
        self._fill = fill
        self._gap_fill_s = gap_fill_s
        self._tail_interval_s = tail_interval_s
        self._streams: dict[str, TenantStream] = {}
        self._opening: dict[str, asyncio.Future[TenantStream]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._tail_task: asyncio.Task[None] | None = None

    def get(self, tenant_id: str) -> TenantStream | None:
        return self._streams.get(tenant_id)

    async def open(self, tenant_id: str) -> TenantStream:
        """The tenant's stream, joined to the hub and positioned at the tenant's current
        seq; concurrent first callers share one opening."""
        stream = self._streams.get(tenant_id)
        if stream is not None:
            return stream
        if self._hub.needs_tail and self._tail_task is None:
            self._tail_task = asyncio.ensure_future(self._tail())
        opening = self._opening.get(tenant_id)
        if opening is None:
            opening = asyncio.ensure_future(self._open_new(tenant_id))
            self._opening[tenant_id] = opening
        return await asyncio.shield(opening)

    async def _open_new(self, tenant_id: str) -> TenantStream:
        stream = TenantStream(tenant_id, self._fill, self._gap_fill_s, self._metrics)
        try:
            # Live first, then read where the log is: nothing falls between the two.
            await self._hub.subscribe(tenant_id, stream.receive)
            try:
                stream.start(await self._position(tenant_id))
            except BaseException:
                await self._hub.unsubscribe(tenant_id, stream.receive)
                raise
        finally:
            del self._opening[tenant_id]
        self._streams[tenant_id] = stream
        return stream

    def release_if_idle(self, tenant_id: str) -> None:
        """Leave the hub once no connection of this process listens to the tenant."""
        stream = self._streams.get(tenant_id)
        if stream is None or not stream.idle:
            return
        del self._streams[tenant_id]
        stream.close()
        task = asyncio.ensure_future(self._hub.unsubscribe(tenant_id, stream.receive))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def reset(self, tenant_id: str) -> None:
        """Forget the tenant's stream even while listened to: its file was replaced (a
        restore), so its position belongs to another history. Its connections are closed
        by then; the next one opens a stream at the new file's seq."""
        stream = self._streams.get(tenant_id)
        if stream is None:
            return
        if not stream.idle:
            log.warning(
                "tenant %s: stream reset with %d listeners", tenant_id, stream.listener_count()
            )
        stream.close()  # no listeners left: released below, as an idle stream is
        self.release_if_idle(tenant_id)

    @property
    def open_count(self) -> int:
        return len(self._streams)

    async def _tail(self) -> None:
        """With a broker: read where each served tenant's log is, every tail interval, every
        gap-fill interval while the broker is away, and at once after it (re)subscribed,
        and fill what did not arrive. The log, not the broker, is the truth."""
        loop = asyncio.get_running_loop()
        swept_at, generation = loop.time(), self._hub.generation
        while True:
            await asyncio.sleep(min(self._gap_fill_s, self._tail_interval_s))
            hub = self._hub
            due = (
                not hub.healthy
                or hub.generation != generation
                or loop.time() - swept_at >= self._tail_interval_s
            )
            if not due:
                continue
            swept_at, generation = loop.time(), hub.generation
            for tenant_id, stream in list(self._streams.items()):
                try:
                    current = await self._position(tenant_id)
                except Exception:
                    log.warning("tenant %s: reading its seq to tail it failed", tenant_id)
                    continue
                if self._streams.get(tenant_id) is stream:
                    stream.catch_up(current)

    async def close(self) -> None:
        if self._tail_task is not None:
            self._tail_task.cancel()
            await asyncio.gather(self._tail_task, return_exceptions=True)
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
