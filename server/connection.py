"""One client's WebSocket, from Welcome to close: it moves bytes and runs the pipeline.

The connection runs in the ASGI task uvicorn gives it and starts no task of its own while
idle: frames go out through the socket's transport as they are pushed (outbox.py), the
heartbeat is the process's shared timer (heartbeats.py), and what to send of each event is
the Session's decision (session.py), fed by the tenant's ordered stream (stream.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from starlette.websockets import WebSocket

import server
from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from server import protocol
from server.auth import Principal
from server.commands import parse_id
from server.frames import binary_frame
from server.hub import PublishedEvent
from server.outbox import FrameSink, Outbox
from server.pipeline import CommandPipeline, as_task
from server.protocol import CloseCode
from server.runner import Outcome
from server.services import Services
from server.session import TENANT_FEED, Session
from server.stream import TenantStream
from server.transport import FRAMES_EXTENSION
from tenants import event_log, projects
from tenants.database import TenantDatabase
from tenants.errors import Internal, InvalidArgument, NotFound, PmError, ResyncRequired

log = logging.getLogger(__name__)

# A replay reads and sends this many stored events at a time, then waits for them to leave
# and lets the event loop serve others: a page's frames are built on the loop.
REPLAY_PAGE = 128
# Rounds of reading on in the log after live events overflowed the replay's buffer.
_CATCH_UP_ROUNDS = 20

# Follow-ups that outlive a closed connection until they commit and publish (strong refs).
_follow_ups: set[asyncio.Task[None]] = set()


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        services: Services,
        *,
        subprotocol: str | None,
    ) -> None:
        self.websocket = websocket
        self.principal = principal
        self.services = services
        self.subprotocol = subprotocol
        self.session_id = str(uuid.uuid4())
        config = services.config
        self.session = Session(buffer_limit=REPLAY_PAGE)
        self.outbox: Outbox | None = None
        self._pipeline = CommandPipeline(
            config.max_in_flight, self._send, self._deliver, on_idle=self._seen
        )
        self._loop = asyncio.get_running_loop()
        self._last_seen = self._loop.time()
        self._next_ping = self._last_seen + config.heartbeat_interval_ms / 1000
        self._stream: TenantStream | None = None
        self._epoch = ""
        self._close_code: int | None = None
        self._closing: asyncio.Event | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def close_code(self) -> int | None:
        """The code this connection closed (or is closing) with; None while open."""
        return self._close_code

    async def wait_closing(self) -> None:
        """Returns once the connection has decided to close (its code is known)."""
        if self._close_code is None:
            if self._closing is None:
                self._closing = asyncio.Event()  # made only when someone waits
            await self._closing.wait()

    def _closed_now(self) -> None:
        if self._closing is not None:
            self._closing.set()

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    # --- lifecycle --------------------------------------------------------------------------

    async def serve(self) -> None:
        services = self.services
        config = services.config
        async with services.databases.lease(self.tenant_id) as db:
            current_seq = await db.read(event_log.current_seq)
            self._epoch = db.meta.epoch
        await self.websocket.accept(subprotocol=self.subprotocol)
        sink: FrameSink = self.websocket.scope["extensions"][FRAMES_EXTENSION]
        self.outbox = Outbox(sink, config.send_queue_limit, config.send_queue_bytes)
        services.connections.add(self)
        services.heartbeats.add(self)
        log.info(
            "session %s opened: user %s tenant %s",
            self.session_id,
            self.principal.user_id,
            self.tenant_id,
        )
        welcome = session_pb2.Welcome(
            session_id=self.session_id,
            user_id=self.principal.user_id,
            tenant_id=self.tenant_id,
            roles=self.principal.role_names,
            server_version=server.__version__,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            heartbeat_timeout_ms=config.heartbeat_timeout_ms,
            current_seq=current_seq,
            epoch=self._epoch,
        )
        self._send(protocol.encode_server(env.ServerMessage(welcome=welcome)))
        try:
            await self._read()
        except Exception:
            log.exception("session %s: reading failed", self.session_id)
            await self._close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            if self._closer is not None:
                await asyncio.gather(self._closer, return_exceptions=True)
            self._release()
            log.info("session %s closed (code %s)", self.session_id, self._close_code)

    def _release(self) -> None:
        self.services.connections.discard(self)
        self.services.heartbeats.discard(self)
        self._stop_deliveries()

    def _stop_deliveries(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        stream = self._stream
        if stream is not None:
            stream.forget(self._on_event, self._scopes())
            self.session.clear()
            self.services.streams.release_if_idle(self.tenant_id)
            self._stream = None

    def _scopes(self) -> list[str]:
        session = self.session
        return [*session.project_ids, *([TENANT_FEED] if session.tenant_feed else [])]

    def _seen(self) -> None:
        self._last_seen = self._loop.time()

    def _send(self, frame: bytes) -> None:
        """Queue a message frame (a response, a Ping) for this client."""
        self._push(binary_frame(frame))

    def _push(self, data: bytes) -> None:
        if self.outbox is not None and not self.outbox.push(data):
            self.abort(CloseCode.SLOW_CONSUMER, "send queue over its limit")

    def abort(self, code: int, reason: str) -> None:
        """Close from code that must not await (a fan-out, a heartbeat)."""
        if self._closer is None and self._close_code is None:
            self._closer = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._close_code is not None:
            return
        self._close_code = code
        self._closed_now()
        # At once, not after the close handshake: a reader too slow to take the close frame
        # must not keep receiving (and holding) events meanwhile.
        self._stop_deliveries()
        try:
            await self.websocket.close(code=code, reason=reason)
        except (RuntimeError, OSError):
            pass  # already closed by the peer or the server

    async def _read(self) -> None:
        while self._close_code is None:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self._close_code = self._close_code or message.get("code", CloseCode.NORMAL)
                self._closed_now()
                return
            self._last_seen = self._loop.time()
            frame = message.get("bytes")
            if frame is None:
                await self._close(CloseCode.UNSUPPORTED_DATA, "binary frames only")
                return
            await self._pipeline.room()
            self._handle(frame)

    def beat(self, now: float) -> None:
        """The shared heartbeat's tick: Ping when due; 4001 after silence, 4003 at expiry."""
        if self._close_code is not None:
            return
        config = self.services.config
        timeout = config.heartbeat_timeout_ms / 1000
        # Frames wait unread while the pipeline is full, Pongs included: silence while
        # commands run proves nothing; their answers move _last_seen.
        if not self._pipeline.busy and now - self._last_seen > timeout:
            self.abort(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            return
        if self.principal.expires_at <= time.time():
            self.abort(CloseCode.TOKEN_EXPIRED, "token expired")
            return
        if now >= self._next_ping:
            self._send(protocol.PING_FRAME)
            self._next_ping = now + config.heartbeat_interval_ms / 1000

    # --- commands --------------------------------------------------------------------------

    def _handle(self, frame: bytes) -> None:
        """Hand one frame to the pipeline: it runs when the ordering rules allow."""
        try:
            message, name = protocol.decode_client_message(frame)
        except PmError as error:
            self._pipeline.answered(protocol.encode_error(protocol.safe_request_id(frame), error))
            return
        request_id = message.request_id
        if name == "ping":
            self._pipeline.answered(protocol.encode_pong(request_id))
        elif name == "pong":
            pass  # reading it was enough: _last_seen moved
        elif name in ("subscribe", "unsubscribe"):
            self._pipeline.start(
                "barrier", as_task(lambda: self._session_command(request_id, name, message))
            )
        else:
            command = getattr(message, name)
            runner = self.services.runner
            principal = self.principal
            if runner.is_mutation(name):
                # No task: the write's commit answers it (see CommandRunner.submit).
                self._pipeline.start(
                    "write", lambda done: runner.submit(principal, request_id, name, command, done)
                )
            else:
                self._pipeline.start(
                    "read", as_task(lambda: runner.run(principal, request_id, name, command))
                )

    async def _session_command(
        self, request_id: str, name: str, message: env.ClientMessage
    ) -> None:
        try:
            if name == "subscribe":
                await self._subscribe(request_id, message.subscribe)
            else:
                self._unsubscribe(request_id, message.unsubscribe)
        except PmError as error:
            self._send(protocol.encode_error(request_id, error))
        except Exception:
            log.exception("session %s: %s failed", self.session_id, name)
            self._send(protocol.encode_error(request_id, Internal("internal error")))

    def _deliver(self, outcome: Outcome) -> None:
        """A committed write's event, in commit order, right after its answer."""
        if outcome.event is not None:
            self.services.hub.publish(outcome.event)
        if outcome.follow_up is not None:
            follow_up = outcome.follow_up
            request_id = outcome.request_id
            runner = self.services.runner
            hub = self.services.hub
            principal = self.principal

            async def run_follow_up() -> None:
                # After the answer and its event: housekeeping never delays either.
                event = await runner.follow_up(principal, request_id, follow_up)
                if event is not None:
                    hub.publish(event)

            task = asyncio.ensure_future(run_follow_up())
            _follow_ups.add(task)
            task.add_done_callback(_follow_ups.discard)

    # --- subscriptions ---------------------------------------------------------------------

    async def _subscribe(self, request_id: str, command: session_pb2.Subscribe) -> None:
        self.principal.require(self.services.runner.role_of("subscribe"))
        wanted = list(dict.fromkeys(parse_id(p, "project_ids") for p in command.project_ids))
        if not wanted and not command.tenant_feed:
            raise InvalidArgument("name project_ids or tenant_feed", field="project_ids")
        # None: live only. A number (0 included): replay the events after it.
        since = command.since_seq if command.HasField("since_seq") else None
        if since is not None and command.epoch != self._epoch:
            # Before every other since_seq rule: after a restore a seq may look valid.
            raise ResyncRequired("the epoch of since_seq is not this tenant's; reload in bulk")
        if self._stream is None:
            self._stream = await self.services.streams.open(self.tenant_id)
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
        config = self.services.config

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
            async with self.services.databases.lease(self.tenant_id) as db:
                extent = await db.read(check)
        except BaseException:
            session.remove(added)
            stream.forget(self._on_event, added)
            # Held events of the scopes that remain still go out, in order.
            await self._catch_up(target, target, [], False)
            raise
        result = session_pb2.SubscribeResult(
            project_ids=session.project_ids,
            tenant_feed=session.tenant_feed,
            replay_to_seq=extent.last_seq if extent is not None else 0,
            current_seq=target,
            epoch=self._epoch,
        )
        self._send(protocol.encode_result(request_id, "subscribe", result))
        cursor = target if since is None else since
        await self._catch_up(cursor, target, new_projects, new_feed)

    async def _catch_up(self, cursor: int, target: int, project_ids: list[str], feed: bool) -> None:
        """Send the stored events in (cursor, target] of the given scopes, a page at a
        time, then the live events held meanwhile; if those overflowed, read on in the log
        (for every scope) up to the stream's position, and so on."""
        session = self.session
        max_bytes = self.services.config.max_message_bytes
        for _ in range(_CATCH_UP_ROUNDS):
            while cursor < target and self._close_code is None:
                after = cursor
                async with self.services.databases.lease(self.tenant_id) as tenant_db:
                    page = await _read_page(tenant_db, after, target, project_ids, feed)
                if not page:
                    break
                outbox = self.outbox
                for stored in page:
                    if session.replayed(stored.seq, stored.project_ids, stored.tenant_level):
                        if outbox is not None:
                            outbox.push_replay(
                                protocol.event_ws_frame(
                                    stored.seq, stored.payload, max_bytes=max_bytes
                                )
                            )
                cursor = page[-1].seq
                if outbox is not None:
                    await outbox.drained()
                await asyncio.sleep(0)  # a page is a few milliseconds: let others run
            if self._close_code is not None or not session.replaying:
                return
            if not session.overflowed:
                for event in session.finish_replay():
                    self._push(event.ws_frame)
                return
            # Live events after `target` were dropped from the buffer: read them instead.
            assert self._stream is not None
            cursor, target = target, self._stream.position
            project_ids, feed = session.project_ids, session.tenant_feed
            session.restart_buffer()
        self.abort(CloseCode.SLOW_CONSUMER, "could not catch up with the event stream")

    def _unsubscribe(self, request_id: str, command: session_pb2.Unsubscribe) -> None:
        self.principal.require(self.services.runner.role_of("unsubscribe"))
        gone = [p for p in dict.fromkeys(parse_id(p, "project_ids") for p in command.project_ids)]
        if command.tenant_feed:
            gone.append(TENANT_FEED)
        held = [scope for scope in gone if self.session.has(scope)]
        self.session.remove(held)
        if self._stream is not None:
            self._stream.forget(self._on_event, held)
        result = session_pb2.UnsubscribeResult(
            project_ids=self.session.project_ids, tenant_feed=self.session.tenant_feed
        )
        self._send(protocol.encode_result(request_id, "unsubscribe", result))

    def _on_event(self, event: PublishedEvent) -> None:
        """The tenant stream's delivery of a live event touching one of our scopes."""
        if self.session.live(event):
            self._push(event.ws_frame)


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
