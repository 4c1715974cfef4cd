"""The broadcast hub: carries committed events between the processes that serve a tenant.

A narrow contract a broker can keep (encode/broadcaster's shape, with its weak spots
avoided: binary payloads, nothing unbounded per subscriber):
- `publish(event)` hands a committed event on, with its tenant, seq, scopes and frame. It
  never awaits: events are published in commit order by the code that learns of the commit,
  and a broker-backed hub queues what it sends.
- `subscribe(tenant, receiver)` returns once the receiver gets every event published for
  that tenant from then on (by any process); `unsubscribe` stops it.
- `tenant_reset(tenant)` (a restore replacing the tenant's file): entered once every other
  process has held the tenant and let go of its file, left when they may open it again.
  Other processes do their part through the `TenantResetter` given to `on_reset`. One
  process has no others: the in-process hub enters at once.

A hub promises nothing about order or duplicates: a broker may deliver late, twice, out of
order or not at all. The tenant's stream (stream.py) releases events in seq order, fills
gaps from the tenant's log, and each session drops what it already sent (session.py).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from server.frames import binary_frame


@dataclass(slots=True)
class PublishedEvent:
    tenant_id: str
    seq: int
    project_ids: tuple[str, ...]
    # Project-level events (created, renamed, deleted) also go to tenant-feed subscribers.
    tenant_level: bool
    # The ServerMessage frame, encoded once for every receiver.
    frame: bytes
    _ws_frame: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def ws_frame(self) -> bytes:
        """The frame in WebSocket framing, built once for every receiver."""
        if self._ws_frame is None:
            self._ws_frame = binary_frame(self.frame)
        return self._ws_frame


Receiver = Callable[[PublishedEvent], None]
# Entered: the tenant is held in this process, its connections closed, its stream reset and
# its database closed (raises when it cannot be, e.g. a restore of this process holds it).
# Left: the hold ends and the next lease opens the file as it is then.
TenantResetter = Callable[[str], AbstractAsyncContextManager[None]]


class ResetRefused(Exception):
    """The other processes could not be made to let go of a tenant's file; nothing of the
    restore was done. `conflict`: another restore of the tenant runs (else: retry later)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.conflict = conflict


class Hub(abc.ABC):
    # Whether the tenants' streams must read the log now and then for what the hub did not
    # bring (a broker's hub: a lost message, an outage). An in-process hub loses nothing.
    needs_tail = False
    # Bumped each time a broker's subscriptions are (re)established: what was published
    # before may have been missed, so the streams check the log once more.
    generation = 0

    @property
    def state(self) -> str:
        """For /healthz: "ok", or "degraded" while a broker is away."""
        return "ok"

    @property
    def healthy(self) -> bool:
        return self.state == "ok"

    async def start(self) -> None:  # noqa: B027 - a hook: most hubs have nothing to start
        """Connect to a broker (the lifespan's start); an in-process hub has nothing to do."""

    @abc.abstractmethod
    def publish(self, event: PublishedEvent) -> None:
        """Hand a committed event to every receiver of its tenant, in every process."""

    @abc.abstractmethod
    async def subscribe(self, tenant_id: str, receiver: Receiver) -> None:
        """Returns once `receiver` gets the tenant's events."""

    @abc.abstractmethod
    async def unsubscribe(self, tenant_id: str, receiver: Receiver) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    def on_reset(self, resetter: TenantResetter) -> None:  # noqa: B027 - nothing to relay
        """How this process lets go of a tenant that another process restores."""

    @asynccontextmanager
    async def tenant_reset(self, tenant_id: str) -> AsyncIterator[None]:
        """Every other process has let go of the tenant's file while inside (ResetRefused
        when they could not be made to). One process has no others."""
        yield


class InProcessHub(Hub):
    """One process: publishing is calling the tenant's receivers, in order, at once."""

    def __init__(self) -> None:
        self._receivers: dict[str, list[Receiver]] = {}

    def publish(self, event: PublishedEvent) -> None:
        for receiver in self._receivers.get(event.tenant_id, ()):
            receiver(event)

    async def subscribe(self, tenant_id: str, receiver: Receiver) -> None:
        self._receivers.setdefault(tenant_id, []).append(receiver)

    async def unsubscribe(self, tenant_id: str, receiver: Receiver) -> None:
        receivers = self._receivers.get(tenant_id)
        if receivers is not None and receiver in receivers:
            receivers.remove(receiver)
            if not receivers:
                del self._receivers[tenant_id]

    def has_receivers(self, tenant_id: str) -> bool:
        return tenant_id in self._receivers

    def receiver_count(self) -> int:
        return sum(len(receivers) for receivers in self._receivers.values())

    async def close(self) -> None:
        self._receivers.clear()


def create_hub(broker_url: str) -> Hub:
    """Pick the hub by the scheme of PM_BROKER_URL; empty means in-process."""
    if not broker_url or broker_url.startswith("memory:"):
        return InProcessHub()
    if broker_url.startswith(("redis:", "rediss:")):
        from server.redis_hub import RedisHub

        return RedisHub(broker_url)
    raise ValueError(f"unsupported PM_BROKER_URL scheme: {broker_url.split(':', 1)[0]}")
