"""One connection's subscriptions: Subscribe, Unsubscribe, SetViewing, the paged replay and
live delivery.

What to send of each event is the Session's decision (session.py), fed by the tenant's
ordered stream (stream.py); who is in each subscribed project is Presence's (presence.py).
This module does the reading and sending around them, through a narrow `Peer`: the
connection that moves the bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pm.v1 import session_pb2
from server import protocol
from server.auth import Principal
from server.commands import parse_id
from server.hub import PublishedEvent
from server.protocol import CloseCode
from server.services import Services
from server.session import TENANT_FEED, Session
from server.stream import TenantStream
from tenants import event_log, projects, work_items
from tenants.database import TenantDatabase
from tenants.errors import InvalidArgument, NotFound, ResyncRequired

# A replay reads and sends this many stored events at a time, then waits for them to leave
# and lets the event loop serve others: a page's frames are built on the loop.
REPLAY_PAGE = 128
# Rounds of reading on in the log after live events overflowed the replay's buffer.
_CATCH_UP_ROUNDS = 20


class Peer(Protocol):
    """The connection, as its subscriptions need it."""

    @property
    def principal(self) -> Principal: ...

    @property
    def open(self) -> bool: ...

    def send(self, message_frame: bytes) -> None:
        """Queue an encoded ServerMessage."""

    def push(self, ws_frame: bytes) -> None:
        """Queue a ready WebSocket frame (a live event, shared by every receiver)."""

    def push_replay(self, ws_frame: bytes) -> None:
        """Queue a replayed event's frame (bounded by the replay limits, not the queue's)."""

    async def drained(self) -> None:
        """Returns once what is queued has gone to the socket."""

    def abort(self, code: int, reason: str) -> None: ...


class Subscriptions:
    def __init__(self, peer: Peer, services: Services, epoch: str) -> None:
        self._peer = peer
        self._services = services
        self._tenant_id = peer.principal.tenant_id
        self._epoch = epoch
        self.session = Session(buffer_limit=REPLAY_PAGE)
        self._stream: TenantStream | None = None

    # --- presence member ------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._peer.principal.user_id

    def deliver_presence(self, frame: bytes) -> None:
        self._peer.send(frame)

    # --- commands ---------------------------------------------------------------------------

    async def subscribe(self, request_id: str, command: session_pb2.Subscribe) -> None:
        wanted = list(dict.fromkeys(parse_id(p, "project_ids") for p in command.project_ids))
        if not wanted and not command.tenant_feed:
            raise InvalidArgument("name project_ids or tenant_feed", field="project_ids")
        # None: live only. A number (0 included): replay the events after it.
        since = command.since_seq if command.HasField("since_seq") else None
        if since is not None and command.epoch != self._epoch:
            # Before every other since_seq rule: after a restore a seq may look valid.
            raise ResyncRequired("the epoch of since_seq is not this tenant's; reload in bulk")
        if self._stream is None:
            self._stream = await self._services.streams.open(self._tenant_id)
        stream = self._stream
        session = self.session
        wanted_scopes = [*wanted, *([TENANT_FEED] if command.tenant_feed else [])]
        # Hold live events from here on, and take the stream's position in the same step:
        # no event falls between what the replay reads and what comes live.
        session.begin_replay()
        target = stream.position
        added = session.add(wanted_scopes, since=target if since is None else since)
        stream.listen(self._on_event, added)
        new_projects = [s for s in added if s != TENANT_FEED]
        new_feed = TENANT_FEED in added
        config = self._services.config

        def check(conn: Any) -> event_log.Extent | None:
            missing = set(wanted) - projects.live_ids(conn, wanted)
            if missing:
                raise NotFound(f"project {sorted(missing)[0]} not found", field="project_ids")
            if since is None:
                return None
            current = event_log.current_seq(conn)
            if since > current:
                raise InvalidArgument(
                    f"since_seq {since} is ahead of the current seq {current}", field="since_seq"
                )
            if not event_log.replayable(conn, since):
                raise ResyncRequired("since_seq is older than the retained event log")
            extent = event_log.extent(
                conn,
                since_seq=since,
                up_to_seq=target,
                project_ids=new_projects,
                tenant_feed=new_feed,
            )
            # Decided before the Response: a replay beyond either limit is better served by
            # a bulk reload than by holding the tenant's database and the client's queue.
            if extent.count > config.max_replay_events:
                raise ResyncRequired(
                    f"more than {config.max_replay_events} events to replay; reload in bulk"
                )
            if extent.payload_bytes > config.max_replay_bytes:
                raise ResyncRequired(
                    f"more than {config.max_replay_bytes} bytes to replay; reload in bulk"
                )
            return extent

        try:
            async with self._services.databases.lease(self._tenant_id) as db:
                extent = await db.read(check)
        except BaseException:
            session.remove(added)
            stream.forget(self._on_event, added)
            # Held events of the scopes that remain still go out, in order.
            await self._catch_up(target, target, [], False)
            raise
        presence = self._services.presence
        for project_id in new_projects:
            presence.join(self._tenant_id, project_id, self)
        result = session_pb2.SubscribeResult(
            project_ids=session.project_ids,
            tenant_feed=session.tenant_feed,
            replay_to_seq=extent.last_seq if extent is not None else 0,
            current_seq=target,
            epoch=self._epoch,
            presence=[
                presence.snapshot(self._tenant_id, project_id, self)
                for project_id in session.project_ids
            ],
        )
        self._peer.send(protocol.encode_result(request_id, "subscribe", result))
        cursor = target if since is None else since
        await self._catch_up(cursor, target, new_projects, new_feed)

    def unsubscribe(self, request_id: str, command: session_pb2.Unsubscribe) -> None:
        gone = [p for p in dict.fromkeys(parse_id(p, "project_ids") for p in command.project_ids)]
        if command.tenant_feed:
            gone.append(TENANT_FEED)
        held = [scope for scope in gone if self.session.has(scope)]
        self._drop(held)
        result = session_pb2.UnsubscribeResult(
            project_ids=self.session.project_ids, tenant_feed=self.session.tenant_feed
        )
        self._peer.send(protocol.encode_result(request_id, "unsubscribe", result))

    async def set_viewing(self, request_id: str, command: session_pb2.SetViewing) -> None:
        project_id = parse_id(command.project_id, "project_id")
        if project_id not in self.session.project_ids:
            raise NotFound(f"project {project_id} is not subscribed", field="project_id")
        item_id = ""
        if command.work_item_id:
            item_id = parse_id(command.work_item_id, "work_item_id")

            def check(conn: Any) -> None:
                item = work_items.get(conn, item_id)
                if item is None or item.project_id != project_id:
                    raise NotFound(f"work item {item_id} not found", field="work_item_id")

            async with self._services.databases.lease(self._tenant_id) as db:
                await db.read(check)
            if not self.session.has(project_id):
                raise NotFound(f"project {project_id} is not subscribed", field="project_id")
        presence = self._services.presence
        presence.view(self._tenant_id, project_id, self, item_id)
        result = session_pb2.SetViewingResult(
            presence=presence.snapshot(self._tenant_id, project_id, self)
        )
        self._peer.send(protocol.encode_result(request_id, "set_viewing", result))

    def close(self) -> None:
        """The connection is going: no more deliveries, and its user leaves (once)."""
        self._drop(self._scopes())
        self.session.clear()
        if self._stream is not None:
            self._stream = None
            self._services.streams.release_if_idle(self._tenant_id)

    # --- delivery ---------------------------------------------------------------------------

    def _scopes(self) -> list[str]:
        session = self.session
        return [*session.project_ids, *([TENANT_FEED] if session.tenant_feed else [])]

    def _drop(self, scopes: list[str]) -> None:
        self.session.remove(scopes)
        if self._stream is not None:
            self._stream.forget(self._on_event, scopes)
        self._services.presence.leave_all(
            self._tenant_id, (s for s in scopes if s != TENANT_FEED), self
        )

    def _on_event(self, event: PublishedEvent) -> None:
        """The tenant stream's delivery of a live event touching one of our scopes."""
        if self.session.live(event):
            self._peer.push(event.ws_frame)

    async def _catch_up(self, cursor: int, target: int, project_ids: list[str], feed: bool) -> None:
        """Send the stored events in (cursor, target] of the given scopes, a page at a
        time, then the live events held meanwhile; if those overflowed, read on in the log
        (for every scope) up to the stream's position, and so on."""
        session = self.session
        peer = self._peer
        max_bytes = self._services.config.max_message_bytes
        metrics = self._services.metrics
        for _ in range(_CATCH_UP_ROUNDS):
            while cursor < target and peer.open:
                after = cursor
                async with self._services.databases.lease(self._tenant_id) as tenant_db:
                    page = await _read_page(tenant_db, after, target, project_ids, feed)
                if not page:
                    break
                sent = 0
                for stored in page:
                    if session.replayed(stored.seq, stored.project_ids, stored.tenant_level):
                        peer.push_replay(
                            protocol.event_ws_frame(stored.seq, stored.payload, max_bytes=max_bytes)
                        )
                        sent += 1
                metrics.replay_pages += 1
                metrics.replayed_events += sent
                cursor = page[-1].seq
                await peer.drained()
                await asyncio.sleep(0)  # a page is a few milliseconds: let others run
            if not peer.open or not session.replaying:
                return
            if not session.overflowed:
                for event in session.finish_replay():
                    peer.push(event.ws_frame)
                return
            # Live events after `target` were dropped from the buffer: read them instead.
            assert self._stream is not None
            cursor, target = target, self._stream.position
            project_ids, feed = session.project_ids, session.tenant_feed
            session.restart_buffer()
        peer.abort(CloseCode.SLOW_CONSUMER, "could not catch up with the event stream")


async def _read_page(
    db: TenantDatabase, after: int, target: int, project_ids: list[str], feed: bool
) -> list[event_log.StoredEvent]:
    return await db.read(
        lambda conn: event_log.page(
            conn,
            after_seq=after,
            up_to_seq=target,
            project_ids=project_ids,
            tenant_feed=feed,
            limit=REPLAY_PAGE,
        )
    )
