"""The Redis hub (PM_BROKER_URL=redis://...): committed events between processes.

Each tenant has one Redis Pub/Sub channel, `pm:t:<tenant>`; a process subscribes to the
channels of the tenants its connections listen to and nothing else. A message is binary: a
kind byte, the publishing process's id, then the kind's body (an event: seq, scopes and the
ServerMessage frame). Pub/Sub is at most once, which is all the hub promises: the tenant's
stream (stream.py) orders what arrives, drops copies, fills gaps from the tenant's log, and
tails the log of the tenants it serves while the broker is away or lost something.

A process's own commits reach its own connections at once, without Redis, so an outage
pauses only delivery between processes. Publishing never waits: messages queue (bounded:
the log holds every event, so the oldest are dropped first) for one sender task that
pipelines them. One listener task holds the subscription connection; when it breaks, the
hub is `degraded` until a new one has every channel again, retrying with backoff, and each
new subscription bumps `generation` so the streams check the log for what passed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.hub import Hub, InProcessHub, PublishedEvent, Receiver

log = logging.getLogger(__name__)

CHANNEL_PREFIX = b"pm:t:"
KIND_EVENT = 1
KIND_PRESENCE = 2
_ORIGIN_BYTES = 8
_EVENT_HEAD = struct.Struct(">qBH")  # seq, tenant_level, project count
_LENGTH = struct.Struct(">H")
# Messages waiting for the sender; beyond it the oldest go (the log has them).
OUTBOX_LIMIT = 10_000
_BATCH = 512
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 2.0
# How long subscribe waits for Redis to confirm; a broker that is away does not hold up a
# connection's Subscribe (the streams tail the log meanwhile).
SUBSCRIBE_WAIT_S = 2.0
# An idle listener pings this often, so a broker that vanished without a word is noticed.
PING_EVERY_S = 5.0

PresenceHandler = Callable[[str, bytes, bytes], None]  # tenant, origin, body


def channel_of(tenant_id: str) -> bytes:
    return CHANNEL_PREFIX + tenant_id.encode()


def encode_event(origin: bytes, event: PublishedEvent) -> bytes:
    parts = [
        bytes([KIND_EVENT]),
        origin,
        _EVENT_HEAD.pack(event.seq, int(event.tenant_level), len(event.project_ids)),
    ]
    for project_id in event.project_ids:
        raw = project_id.encode()
        parts += [_LENGTH.pack(len(raw)), raw]
    parts.append(event.frame)
    return b"".join(parts)


def decode_event(tenant_id: str, body: bytes) -> PublishedEvent:
    """The event of a KIND_EVENT message's body (after kind and origin)."""
    seq, tenant_level, count = _EVENT_HEAD.unpack_from(body)
    at = _EVENT_HEAD.size
    projects = []
    for _ in range(count):
        (size,) = _LENGTH.unpack_from(body, at)
        at += _LENGTH.size
        projects.append(body[at : at + size].decode())
        at += size
    return PublishedEvent(tenant_id, seq, tuple(projects), bool(tenant_level), body[at:])


def split_message(data: bytes) -> tuple[int, bytes, bytes]:
    """(kind, origin, body) of a message."""
    return data[0], data[1 : 1 + _ORIGIN_BYTES], data[1 + _ORIGIN_BYTES :]


class RedisHub(Hub):
    needs_tail = True

    def __init__(self, url: str, *, origin: bytes | None = None) -> None:
        self._url = url
        self.origin = origin if origin is not None else os.urandom(_ORIGIN_BYTES)
        self._local = InProcessHub()
        self._client: redis.Redis | None = None
        self._outbox: deque[tuple[bytes, bytes]] = deque()
        self._wake = asyncio.Event()
        # Channels this process wants, and the waiters for Redis's confirmation of each.
        self._channels: set[bytes] = set()
        self._acks: dict[bytes, asyncio.Future[None]] = {}
        self._pubsub: Any = None
        self._subscribed: set[bytes] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._listening = False
        self._sending_ok = True
        self.generation = 0
        self.dropped = 0
        self._presence: PresenceHandler | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return "ok" if self._listening and self._sending_ok else "degraded"

    @property
    def healthy(self) -> bool:
        return self.state == "ok"

    @property
    def client(self) -> redis.Redis | None:
        """The command connection pool (None until started)."""
        return self._client

    def on_presence(self, handler: PresenceHandler) -> None:
        self._presence = handler

    # --- the Hub contract -------------------------------------------------------------------

    async def start(self) -> None:
        self._start()

    def publish(self, event: PublishedEvent) -> None:
        self._local.publish(event)  # this process's connections, broker or not
        self.send(channel_of(event.tenant_id), encode_event(self.origin, event))

    def send(self, channel: bytes, message: bytes) -> None:
        """Queue a message for every other process listening to the channel."""
        self._start()
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append((channel, message))
        self._wake.set()

    async def subscribe(self, tenant_id: str, receiver: Receiver) -> None:
        self._start()
        await self._local.subscribe(tenant_id, receiver)
        channel = channel_of(tenant_id)
        if channel in self._channels:
            return
        self._channels.add(channel)
        ack = self._acks.setdefault(channel, asyncio.get_running_loop().create_future())
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.subscribe(channel)
            except (RedisError, OSError):
                pass  # the listener notices, reconnects and subscribes everything again
        try:
            await asyncio.wait_for(asyncio.shield(ack), SUBSCRIBE_WAIT_S)
        except TimeoutError:
            log.warning("broker: no confirmation for %s yet; tailing the log", channel)

    async def unsubscribe(self, tenant_id: str, receiver: Receiver) -> None:
        await self._local.unsubscribe(tenant_id, receiver)
        if self._local.has_receivers(tenant_id):
            return
        channel = channel_of(tenant_id)
        self._channels.discard(channel)
        self._acks.pop(channel, None)
        self._subscribed.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.unsubscribe(channel)
            except (RedisError, OSError):
                pass

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            await _quietly(self._pubsub.aclose())
        if self._client is not None:
            await _quietly(self._client.aclose())
        await self._local.close()

    # --- tasks ------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._tasks or self._closed:
            return
        self._client = redis.Redis.from_url(
            self._url,
            socket_timeout=PING_EVERY_S,
            socket_connect_timeout=2.0,
            # No retries inside redis-py: the loops here retry, with backoff, and know when
            # the broker is away.
            retry=Retry(NoBackoff(), 0),
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_loop()), loop.create_task(self._listen_loop())]

    async def _send_loop(self) -> None:
        assert self._client is not None
        backoff = _BACKOFF_FIRST_S
        while True:
            if not self._outbox:
                self._wake.clear()
                if self._sending_ok:
                    await self._wake.wait()
                    continue
                # Away: nothing to send, but find out when the broker is back.
                try:
                    await asyncio.wait_for(self._wake.wait(), backoff)
                except TimeoutError:
                    pass
            batch = [self._outbox.popleft() for _ in range(min(_BATCH, len(self._outbox)))]
            try:
                if batch:
                    pipe = self._client.pipeline(transaction=False)
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
                else:
                    await self._client.ping()
            except (RedisError, OSError) as exc:
                if self._sending_ok:
                    log.warning("broker: publishing failed (%s); the logs carry on", exc)
                self._sending_ok = False
                # What failed is in the log: the other processes' streams tail it.
                self.dropped += len(batch)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            if not self._sending_ok:
                log.info("broker: publishing again")
            self._sending_ok = True
            backoff = _BACKOFF_FIRST_S

    async def _listen_loop(self) -> None:
        assert self._client is not None
        backoff = _BACKOFF_FIRST_S
        while True:
            pubsub = self._client.pubsub()
            try:
                # A channel of our own keeps the connection subscribed while no tenant is.
                await pubsub.subscribe(b"pm:process:" + self.origin.hex().encode())
                # Published before the channels are read: a tenant added from now on is
                # subscribed by `subscribe` itself, one added before is in the list.
                self._pubsub = pubsub
                if self._channels:
                    await pubsub.subscribe(*sorted(self._channels))
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._listening or backoff == _BACKOFF_FIRST_S:
                    log.warning("broker: subscription lost (%s); retrying", exc)
            finally:
                self._listening = False
                self._pubsub = None
                self._subscribed.clear()
                await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _read(self, pubsub: Any) -> None:
        idle = 0.0
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                idle += 1.0
                if idle >= PING_EVERY_S:
                    idle = 0.0
                    await pubsub.ping()
                continue
            idle = 0.0
            kind = message["type"]
            if kind == "message":
                self._dispatch(message["channel"], message["data"])
            elif kind == "subscribe":
                self._confirmed(message["channel"])

    def _confirmed(self, channel: bytes) -> None:
        self._subscribed.add(channel)
        ack = self._acks.get(channel)
        if ack is not None and not ack.done():
            ack.set_result(None)
        if not self._listening and self._channels <= self._subscribed:
            self._listening = True
            self.generation += 1
            log.info("broker: subscribed to %d tenant channel(s)", len(self._channels))

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if not channel.startswith(CHANNEL_PREFIX) or len(data) <= 1 + _ORIGIN_BYTES:
            return
        kind, origin, body = split_message(data)
        if origin == self.origin:
            return  # delivered locally when published
        tenant_id = channel[len(CHANNEL_PREFIX) :].decode()
        try:
            if kind == KIND_EVENT:
                self._local.publish(decode_event(tenant_id, body))
            elif kind == KIND_PRESENCE and self._presence is not None:
                self._presence(tenant_id, origin, body)
        except Exception:
            log.exception("broker: a message on %s could not be handled", channel)


async def _quietly(closing: Any) -> None:
    try:
        await closing
    except Exception:
        pass
