"""Presence across processes through Redis (the `PresenceExchange` of server/presence.py).

Each process keeps its own entries of a project in one hash per tenant, `pm:p:<tenant>`,
field `<project> <process>`, each value stamped with when it expires, and announces every
change on the tenant's channel (the hub's, so it reaches exactly the processes that serve
the tenant). Every `ttl / 3` a process writes its entries again with a new expiry: its
heartbeat. Other processes cache what they hear and forget an entry once its expiry has
passed, so a process that dies leaves no ghost for longer than the ttl. A process that
starts serving a tenant reads the hash once to learn who is already there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from redis.exceptions import RedisError

from server.presence import Entries, Entry, merge
from server.redis_hub import KIND_PRESENCE, RedisHub, channel_of

log = logging.getLogger(__name__)

RemoteChanged = Callable[[str, str], None]  # tenant, project


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def hash_of(tenant_id: str) -> bytes:
    return b"pm:p:" + tenant_id.encode()


def encode_entries(project_id: str, entries: Entries, expires_ms: int) -> bytes:
    return json.dumps({"p": project_id, "x": expires_ms, "e": [list(e) for e in entries]}).encode()


def decode_entries(raw: bytes) -> tuple[str, int, Entries]:
    found = json.loads(raw)
    entries: list[Entry] = [(str(u), int(n), str(v), int(o)) for u, n, v, o in found["e"]]
    return str(found["p"]), int(found["x"]), tuple(entries)


class RedisPresenceExchange:
    def __init__(self, hub: RedisHub, ttl_s: float, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._hub = hub
        self._ttl_ms = int(ttl_s * 1000)
        self._clock_ms = clock_ms
        self._own: dict[tuple[str, str], Entries] = {}
        # (tenant, project) -> process id -> (expires at, entries)
        self._remote: dict[tuple[str, str], dict[bytes, tuple[int, Entries]]] = {}
        self._loaded: set[str] = set()
        self._changed: RemoteChanged = lambda tenant, project: None
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Future[None]] = set()
        self._closed = False
        hub.on_presence(self._heard)

    def bind(self, changed: RemoteChanged) -> None:
        """Who to tell when another process's entries of a project change."""
        self._changed = changed

    # --- PresenceExchange -------------------------------------------------------------------

    def publish(self, tenant_id: str, project_id: str, entries: Entries) -> None:
        if self._closed:
            return  # a session that ended after the server began to close: nobody to tell
        key = (tenant_id, project_id)
        if entries:
            self._own[key] = entries
        else:
            self._own.pop(key, None)
        self._announce(tenant_id, project_id, entries)
        self._ensure_running()
        if tenant_id not in self._loaded:
            self._loaded.add(tenant_id)
            self._keep(self._load(tenant_id))

    def remote(self, tenant_id: str, project_id: str) -> Entries:
        heard = self._remote.get((tenant_id, project_id))
        if not heard:
            return ()
        now = self._clock_ms()
        parts = [entries for expires, entries in heard.values() if expires > now]
        return merge(*parts) if parts else ()

    # --- wire -------------------------------------------------------------------------------

    def _announce(self, tenant_id: str, project_id: str, entries: Entries) -> None:
        expires = self._clock_ms() + self._ttl_ms
        body = encode_entries(project_id, entries, expires)
        self._hub.send(channel_of(tenant_id), bytes([KIND_PRESENCE]) + self._hub.origin + body)
        self._keep(self._store(tenant_id, project_id, body, bool(entries)))

    def _keep(self, work: Any) -> None:
        if self._closed:
            # A session ending after close: its write would open a fresh connection on the
            # hub's closed pool, and nothing would ever close it.
            work.close()
            return
        task = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, tenant_id: str, project_id: str, body: bytes, present: bool) -> None:
        client = self._hub.client
        if client is None:
            return
        field = f"{project_id} {self._hub.origin.hex()}".encode()
        try:
            pipe = client.pipeline(transaction=False)
            if present:
                pipe.hset(hash_of(tenant_id), field, body)
                pipe.pexpire(hash_of(tenant_id), 2 * self._ttl_ms)
            else:
                pipe.hdel(hash_of(tenant_id), field)
            await pipe.execute()
        except (RedisError, OSError):
            pass  # the next heartbeat writes it again

    async def _load(self, tenant_id: str) -> None:
        """Who is already there, by the entries other processes keep in Redis."""
        client = self._hub.client
        if client is None:
            return
        try:
            stored = cast(dict[bytes, bytes], await client.hgetall(hash_of(tenant_id)))
        except (RedisError, OSError):
            self._loaded.discard(tenant_id)  # try again on the next change
            return
        for field, raw in stored.items():
            origin_hex = field.rsplit(b" ", 1)[-1]
            try:
                origin = bytes.fromhex(origin_hex.decode())
            except ValueError:
                continue
            if origin != self._hub.origin:
                self._take(tenant_id, origin, raw)

    def _heard(self, tenant_id: str, origin: bytes, body: bytes) -> None:
        self._ensure_running()
        self._take(tenant_id, origin, body)

    def _take(self, tenant_id: str, origin: bytes, raw: bytes) -> None:
        try:
            project_id, expires, entries = decode_entries(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("presence: an unreadable entry from another process")
            return
        key = (tenant_id, project_id)
        heard = self._remote.setdefault(key, {})
        before = heard.get(origin)
        if entries:
            heard[origin] = (expires, entries)
        else:
            heard.pop(origin, None)
            if not heard:
                del self._remote[key]
        if before is None or before[1] != entries:
            self._changed(tenant_id, project_id)

    # --- heartbeat --------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        """Every third of the ttl: our entries again, with a new expiry; theirs forgotten
        once expired (a process that died)."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            for (tenant_id, project_id), entries in list(self._own.items()):
                self._announce(tenant_id, project_id, entries)
            now = self._clock_ms()
            for key, heard in list(self._remote.items()):
                gone = [origin for origin, (expires, _) in heard.items() if expires <= now]
                for origin in gone:
                    del heard[origin]
                if not heard:
                    del self._remote[key]
                if gone:
                    self._changed(*key)

    async def close(self) -> None:
        self._closed = True
        pending = [*self._writes, *([self._task] if self._task is not None else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def exchange_for(hub: Any, ttl_s: float) -> RedisPresenceExchange | None:
    return RedisPresenceExchange(hub, ttl_s) if isinstance(hub, RedisHub) else None
