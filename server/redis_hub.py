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

Restores (`tenant_reset`). Every process also listens to `pm:reset`, whatever tenants it
serves (a process may hold a tenant's file open with no connection listening), and to its
own `pm:process:<id>`; each keeps `pm:proc:<id>` alive (a TTL key, listed in the set
`pm:procs`), which is how a restorer knows whom to wait for. The restoring process takes
`pm:r:<tenant>` (SET NX, the restore id, a TTL it refreshes: one restore of a tenant at a
time, everywhere) and publishes reset/begin; every other process holds the tenant (through
its `TenantResetter`), then adds its id to the set `pm:r:<tenant>:<restore id>` and tells
the restorer on its process channel. The restorer repeats begin until every live process
has acknowledged (one that stops being alive is not waited for), or gives up after
RESET_WAIT_S. Leaving, it publishes reset/end and deletes `pm:r:<tenant>`; a held process
lets go on end, or when it finds the key gone or another restore's (end lost, the
restorer died), and keeps holding while it cannot ask Redis. A process that starts during a
restore does not hold: it opens the file only when a connection comes, and the install's
own check (nobody else may have the file open) refuses a restore it would disturb.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.hub import (
    Hub,
    InProcessHub,
    PublishedEvent,
    Receiver,
    ResetRefused,
    TenantResetter,
)

log = logging.getLogger(__name__)

CHANNEL_PREFIX = b"pm:t:"
KIND_EVENT = 1
KIND_PRESENCE = 2
# On CONTROL_CHANNEL: phase byte, restore id, tenant. On a process channel: restore id, tenant.
KIND_RESET = 3
KIND_RESET_ACK = 4
PHASE_BEGIN = 1
PHASE_END = 2
CONTROL_CHANNEL = b"pm:reset"
PROCESS_PREFIX = b"pm:process:"
PROCESSES_KEY = b"pm:procs"
_ORIGIN_BYTES = 8
_RESET_ID_BYTES = 8
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
# A process's `pm:proc:<id>` is written this often and lives three times as long: a killed
# process stops being waited for by a restore within ALIVE_TTL_MS.
ALIVE_EVERY_S = 1.0
ALIVE_TTL_MS = 3000
# How long a restorer waits for the other processes to let go of the tenant.
RESET_WAIT_S = 10.0
# Between the restorer's repeats of begin (Pub/Sub may lose one) and re-reads of who lives.
RESET_ROUND_S = 0.5
# `pm:r:<tenant>` outlives a restorer that died by this much; refreshed at a third of it.
RESET_MARK_TTL_MS = 15_000
# How often a held process asks whether the restore still runs (its end may be lost).
RESET_CHECK_S = 1.0
_RELEASE_MARK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)

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


def alive_key(origin_hex: bytes) -> bytes:
    """The key a live process refreshes, by its origin in hex (as pm:procs holds it)."""
    return b"pm:proc:" + origin_hex


def reset_mark_key(tenant_id: str) -> bytes:
    return b"pm:r:" + tenant_id.encode()


def reset_acks_key(tenant_id: str, restore_id: bytes) -> bytes:
    return reset_mark_key(tenant_id) + b":" + restore_id.hex().encode()


def encode_reset(origin: bytes, phase: int, restore_id: bytes, tenant_id: str) -> bytes:
    return bytes([KIND_RESET]) + origin + bytes([phase]) + restore_id + tenant_id.encode()


def encode_reset_ack(origin: bytes, restore_id: bytes, tenant_id: str) -> bytes:
    return bytes([KIND_RESET_ACK]) + origin + restore_id + tenant_id.encode()


@dataclass(eq=False)
class _HeldForRestore:
    """A tenant this process holds for another process's restore."""

    restore_id: bytes
    restorer: bytes
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    acknowledged: bool = False


def split_message(data: bytes) -> tuple[int, bytes, bytes]:
    """(kind, origin, body) of a message."""
    return data[0], data[1 : 1 + _ORIGIN_BYTES], data[1 + _ORIGIN_BYTES :]


class RedisHub(Hub):
    needs_tail = True

    def __init__(self, url: str, *, origin: bytes | None = None) -> None:
        self._url = url
        self.origin = origin if origin is not None else os.urandom(_ORIGIN_BYTES)
        # Made once: the listener compares every message's channel with the process's own.
        self._origin_hex = self.origin.hex().encode()
        self._own_channel = PROCESS_PREFIX + self._origin_hex
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
        self._resetter: TenantResetter | None = None
        # Restores of this process, by id: set when an acknowledgement arrives.
        self._reset_waiters: dict[bytes, asyncio.Event] = {}
        # Tenants held here for another process's restore, and the tasks holding them.
        self._held_for_restores: dict[str, _HeldForRestore] = {}
        self._holding: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

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

    def on_reset(self, resetter: TenantResetter) -> None:
        self._resetter = resetter

    # --- the Hub contract -------------------------------------------------------------------

    async def start(self) -> None:
        self._start()
        # Alive from the start, not a loop turn later: a restore from now on waits for us.
        await _quietly(self._announce_alive())

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
        holding = list(self._holding)
        alive, others = self._tasks[2:], self._tasks[:2]
        # Let the liveness loop finish a write rather than cancel it mid-command, which
        # could leave a pooled connection behind.
        self._stopping.set()
        await _quietly(asyncio.wait_for(asyncio.gather(*alive), 2.0))
        for task in [*others, *alive, *holding]:
            task.cancel()
        await asyncio.gather(*self._tasks, *holding, return_exceptions=True)
        if self._client is not None:
            # Gone at once rather than after ALIVE_TTL_MS: a restore need not wait for us.
            await _quietly(asyncio.wait_for(self._leave(), 1.0))
        if self._pubsub is not None:
            await _quietly(self._pubsub.aclose())
        client, self._client = self._client, None
        if client is not None:
            # Seen as None from now on: a late user (presence) skips its write instead of
            # opening a new connection on the closed pool, which nothing would close.
            await _quietly(client.aclose())
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
        self._tasks = [
            loop.create_task(self._send_loop()),
            loop.create_task(self._listen_loop()),
            loop.create_task(self._alive_loop()),
        ]

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
                # A channel of our own keeps the connection subscribed while no tenant is;
                # restores reach every process, whichever tenants it serves.
                await pubsub.subscribe(self._own_channel, CONTROL_CHANNEL)
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
        if len(data) <= 1 + _ORIGIN_BYTES:
            return
        kind, origin, body = split_message(data)
        if origin == self.origin:
            return  # delivered locally when published
        try:
            if channel == CONTROL_CHANNEL:
                if kind == KIND_RESET:
                    self._reset_heard(origin, body)
                return
            if channel == self._own_channel:
                if kind == KIND_RESET_ACK:
                    waiter = self._reset_waiters.get(body[:_RESET_ID_BYTES])
                    if waiter is not None:
                        waiter.set()
                return
            if not channel.startswith(CHANNEL_PREFIX):
                return
            tenant_id = channel[len(CHANNEL_PREFIX) :].decode()
            if kind == KIND_EVENT:
                self._local.publish(decode_event(tenant_id, body))
            elif kind == KIND_PRESENCE and self._presence is not None:
                self._presence(tenant_id, origin, body)
        except Exception:
            log.exception("broker: a message on %s could not be handled", channel)

    # --- liveness ---------------------------------------------------------------------------

    async def _alive_loop(self) -> None:
        assert self._client is not None
        while True:
            try:
                await self._announce_alive()
            except (RedisError, OSError):
                pass  # the send and listen loops report the broker's state
            try:
                await asyncio.wait_for(self._stopping.wait(), ALIVE_EVERY_S)
                return
            except TimeoutError:
                pass

    async def _announce_alive(self) -> None:
        assert self._client is not None
        pipe = self._client.pipeline(transaction=False)
        pipe.sadd(PROCESSES_KEY, self._origin_hex)
        pipe.set(alive_key(self._origin_hex), b"1", px=ALIVE_TTL_MS)
        await pipe.execute()

    async def _leave(self) -> None:
        assert self._client is not None
        pipe = self._client.pipeline(transaction=False)
        pipe.srem(PROCESSES_KEY, self._origin_hex)
        pipe.delete(alive_key(self._origin_hex))
        await pipe.execute()

    async def _live_others(self) -> set[bytes]:
        """The ids (hex) of the other processes alive now; the dead are struck off."""
        assert self._client is not None
        members = cast(set[bytes], await self._client.smembers(PROCESSES_KEY))
        others = sorted(members - {self._origin_hex})
        if not others:
            return set()
        pipe = self._client.pipeline(transaction=False)
        for member in others:
            pipe.exists(alive_key(member))
        found = await pipe.execute()
        dead = [member for member, alive in zip(others, found, strict=True) if not alive]
        if dead:
            await self._client.srem(PROCESSES_KEY, *dead)
        return {member for member, alive in zip(others, found, strict=True) if alive}

    # --- restores: the restoring process ----------------------------------------------------

    @asynccontextmanager
    async def tenant_reset(self, tenant_id: str) -> AsyncIterator[None]:
        self._start()
        client = self._client
        assert client is not None
        if not self.healthy:
            raise ResetRefused(
                "the broker is degraded: other processes might not hear of the restore;"
                " retry once /healthz says ok"
            )
        restore_id = os.urandom(_RESET_ID_BYTES)
        mark = reset_mark_key(tenant_id)
        try:
            taken = await client.set(mark, restore_id.hex(), nx=True, px=RESET_MARK_TTL_MS)
        except (RedisError, OSError) as exc:
            raise ResetRefused(f"the broker did not answer ({exc}); nothing restored") from None
        if not taken:
            raise ResetRefused(f"another process is restoring tenant {tenant_id}", conflict=True)
        waiter = self._reset_waiters[restore_id] = asyncio.Event()
        keeper = asyncio.get_running_loop().create_task(self._keep_mark(mark))
        try:
            await self._wait_let_go(tenant_id, restore_id, waiter)
            yield
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            self._reset_waiters.pop(restore_id, None)
            await self._end_reset(tenant_id, restore_id)

    async def _wait_let_go(self, tenant_id: str, restore_id: bytes, waiter: asyncio.Event) -> None:
        assert self._client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESET_WAIT_S
        begin = encode_reset(self.origin, PHASE_BEGIN, restore_id, tenant_id)
        acks = reset_acks_key(tenant_id, restore_id)
        try:
            expected = await self._live_others()
            while True:
                waiter.clear()
                # Again each round, for whoever has not answered: Pub/Sub may lose it.
                await self._client.publish(CONTROL_CHANNEL, begin)
                acknowledged = cast(set[bytes], await self._client.smembers(acks))
                missing = expected - acknowledged
                if not missing:
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise ResetRefused(
                        f"{len(missing)} other process(es) did not let go of tenant"
                        f" {tenant_id} within {RESET_WAIT_S:g} s; nothing restored"
                    )
                try:
                    await asyncio.wait_for(waiter.wait(), min(RESET_ROUND_S, remaining))
                except TimeoutError:
                    pass
                # One that died meanwhile holds nothing; one that started is not waited for.
                expected &= await self._live_others()
        except (RedisError, OSError) as exc:
            raise ResetRefused(f"the broker failed ({exc}); nothing restored") from None

    async def _keep_mark(self, mark: bytes) -> None:
        assert self._client is not None
        while True:
            await asyncio.sleep(RESET_MARK_TTL_MS / 3000)
            try:
                await self._client.pexpire(mark, RESET_MARK_TTL_MS)
            except (RedisError, OSError):
                pass  # the others keep holding while they cannot read it either

    async def _end_reset(self, tenant_id: str, restore_id: bytes) -> None:
        assert self._client is not None
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.publish(
                CONTROL_CHANNEL, encode_reset(self.origin, PHASE_END, restore_id, tenant_id)
            )
            pipe.eval(_RELEASE_MARK, 1, reset_mark_key(tenant_id), restore_id.hex())
            pipe.delete(reset_acks_key(tenant_id, restore_id))
            await pipe.execute()
        except (RedisError, OSError) as exc:
            # The mark expires by itself; the others let go when they see it gone.
            log.warning("broker: the end of a restore of %s was not published (%s)", tenant_id, exc)

    # --- restores: the other processes ------------------------------------------------------

    def _reset_heard(self, origin: bytes, body: bytes) -> None:
        phase = body[0]
        restore_id = body[1 : 1 + _RESET_ID_BYTES]
        tenant_id = body[1 + _RESET_ID_BYTES :].decode()
        held = self._held_for_restores.get(tenant_id)
        if phase == PHASE_END:
            if held is not None and held.restore_id == restore_id:
                held.ended.set()
            return
        if phase != PHASE_BEGIN:
            return
        if held is not None:
            # The restorer's repeat: answer again if this one is done (the answer may be
            # lost). Another restore's begin waits until the old hold sees its mark gone.
            if held.restore_id == restore_id and held.acknowledged:
                self._keep_holding(self._acknowledge(tenant_id, held))
            return
        held = self._held_for_restores[tenant_id] = _HeldForRestore(restore_id, origin)
        self._keep_holding(self._hold_for(tenant_id, held))

    def _keep_holding(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._holding.add(task)
        task.add_done_callback(self._holding.discard)

    async def _hold_for(self, tenant_id: str, held: _HeldForRestore) -> None:
        try:
            if await self._restore_running(tenant_id, held.restore_id) is False:
                return  # a begin heard after its end
            holding = self._resetter(tenant_id) if self._resetter is not None else nullcontext()
            async with holding:
                held.acknowledged = True
                await self._acknowledge(tenant_id, held)
                log.info("tenant %s held for a restore by another process", tenant_id)
                while not held.ended.is_set():
                    try:
                        await asyncio.wait_for(held.ended.wait(), RESET_CHECK_S)
                    except TimeoutError:
                        if await self._restore_running(tenant_id, held.restore_id) is False:
                            break
            log.info("tenant %s released after another process's restore", tenant_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Unacknowledged: the restorer gives up and nothing is written.
            log.warning("tenant %s not held for another process's restore: %s", tenant_id, exc)
        finally:
            if self._held_for_restores.get(tenant_id) is held:
                del self._held_for_restores[tenant_id]

    async def _acknowledge(self, tenant_id: str, held: _HeldForRestore) -> None:
        assert self._client is not None
        acks = reset_acks_key(tenant_id, held.restore_id)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.sadd(acks, self._origin_hex)
            pipe.pexpire(acks, RESET_MARK_TTL_MS)
            pipe.publish(
                PROCESS_PREFIX + held.restorer.hex().encode(),
                encode_reset_ack(self.origin, held.restore_id, tenant_id),
            )
            await pipe.execute()
        except (RedisError, OSError):
            pass  # the restorer's next begin asks again

    async def _restore_running(self, tenant_id: str, restore_id: bytes) -> bool | None:
        """Whether the restore still holds its mark; None when Redis cannot say."""
        assert self._client is not None
        try:
            found = await self._client.get(reset_mark_key(tenant_id))
        except (RedisError, OSError):
            return None
        return bool(found == restore_id.hex().encode())


async def _quietly(closing: Any) -> None:
    try:
        await closing
    except Exception:
        pass
