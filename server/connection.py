"""One client's WebSocket, from Welcome to close.

Three tasks per connection: the reader (decodes frames and runs commands in order), the
writer (drains the bounded outbox) and the heartbeat (Ping every interval, close 4001 when
the client has been silent past the timeout, 4003 when its token expires). When any of them
ends, the others are cancelled and the connection's subscriptions are released.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable

from starlette.websockets import WebSocket, WebSocketDisconnect

import server
from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from server import protocol
from server.auth import Principal
from server.commands import parse_id
from server.hub import PublishedEvent
from server.outbox import Outbox
from server.pipeline import CommandPipeline, as_task
from server.protocol import CloseCode
from server.runner import Outcome
from server.services import Services
from tenants import event_log, projects
from tenants.errors import Internal, InvalidArgument, NotFound, PmError, ResyncRequired

log = logging.getLogger(__name__)

TENANT_FEED = ""  # the tenant feed's key among the scopes (never a project id)

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
        self.outbox = Outbox(
            config.send_queue_limit, config.send_queue_bytes, config.max_replay_bytes
        )
        self.projects: set[str] = set()
        self.tenant_feed = False
        self._loop = asyncio.get_running_loop()
        self._last_seen = self._loop.time()
        # While a Subscribe reads the log, live events wait here (see _take_buffer).
        self._replay_buffer: list[PublishedEvent] | None = None
        # Scope (a project id, or TENANT_FEED) -> the seq after which its events come live.
        self._live_after: dict[str, int] = {}
        self._close_code: int | None = None
        # Set once the connection has decided to close (its code is known).
        self.closing = asyncio.Event()
        self._pipeline = CommandPipeline(
            config.max_in_flight, self._send, self._deliver, on_idle=self._seen
        )
        self._closer: asyncio.Task[None] | None = None

    @property
    def close_code(self) -> int | None:
        """The code this connection closed (or is closing) with; None while open."""
        return self._close_code

    # --- lifecycle --------------------------------------------------------------------------

    async def serve(self) -> None:
        config = self.services.config
        async with self.services.databases.lease(self.principal.tenant_id) as db:
            current_seq = await db.read(event_log.current_seq)
        await self.websocket.accept(subprotocol=self.subprotocol)
        self.services.connections.add(self)
        log.info(
            "session %s opened: user %s tenant %s",
            self.session_id,
            self.principal.user_id,
            self.principal.tenant_id,
        )
        welcome = session_pb2.Welcome(
            session_id=self.session_id,
            user_id=self.principal.user_id,
            tenant_id=self.principal.tenant_id,
            roles=self.principal.role_names,
            server_version=server.__version__,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            heartbeat_timeout_ms=config.heartbeat_timeout_ms,
            current_seq=current_seq,
        )
        self._send(protocol.encode_server(env.ServerMessage(welcome=welcome)))
        tasks = [
            asyncio.create_task(self._read(), name=f"reader-{self.session_id}"),
            asyncio.create_task(self.outbox.drain(self._write), name=f"writer-{self.session_id}"),
            asyncio.create_task(self._heartbeat(), name=f"heartbeat-{self.session_id}"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    if not isinstance(exc, (WebSocketDisconnect, OSError, RuntimeError)):
                        log.error(
                            "session %s: %s failed", self.session_id, task.get_name(), exc_info=exc
                        )
                        await self._close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._closer is not None:
                await asyncio.gather(self._closer, return_exceptions=True)
            self._release()
            log.info("session %s closed (code %s)", self.session_id, self._close_code)

    def _release(self) -> None:
        self.services.connections.discard(self)
        self._stop_deliveries()

    def _stop_deliveries(self) -> None:
        self.outbox.close()
        self.services.hub.unsubscribe(
            self.principal.tenant_id, self, project_ids=self.projects, tenant_feed=self.tenant_feed
        )
        self.projects.clear()
        self.tenant_feed = False
        self._live_after.clear()

    def _seen(self) -> None:
        self._last_seen = self._loop.time()

    async def _write(self, frame: bytes) -> None:
        await self.websocket.send_bytes(frame)

    def _send(self, frame: bytes, *, replay: bool = False) -> None:
        queued = self.outbox.push_replay(frame) if replay else self.outbox.push(frame)
        if not queued:
            self.abort(CloseCode.SLOW_CONSUMER, "send queue over its limit")

    def abort(self, code: int, reason: str) -> None:
        """Close from code that must not await (the hub's fan-out)."""
        if self._closer is None:
            self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._close_code is not None:
            return
        self._close_code = code
        self.closing.set()
        # At once, not after the close handshake: a reader too slow to take the close frame
        # must not keep receiving (and holding) events meanwhile.
        self._stop_deliveries()
        try:
            await self.websocket.close(code=code, reason=reason)
        except (RuntimeError, OSError):
            pass  # already closed by the peer or the server

    # --- the three tasks -------------------------------------------------------------------

    async def _read(self) -> None:
        while self._close_code is None:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self._close_code = self._close_code or message.get("code", CloseCode.NORMAL)
                self.closing.set()
                return
            self._last_seen = self._loop.time()
            frame = message.get("bytes")
            if frame is None:
                await self._close(CloseCode.UNSUPPORTED_DATA, "binary frames only")
                return
            await self._pipeline.room()
            self._handle(frame)

    async def _heartbeat(self) -> None:
        config = self.services.config
        interval = config.heartbeat_interval_ms / 1000
        timeout = config.heartbeat_timeout_ms / 1000
        next_ping = self._loop.time() + interval
        while True:
            now = self._loop.time()
            silent_until = self._last_seen + timeout
            if self._pipeline.busy:
                # Frames wait unread while the pipeline is full, Pongs included: silence then
                # proves nothing. Its answers move _last_seen; look again a timeout on.
                silent_until = max(silent_until, now + timeout)
            elif now >= silent_until:
                await self._close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
                return
            expires_in = self.principal.expires_at - time.time()
            if expires_in <= 0:
                await self._close(CloseCode.TOKEN_EXPIRED, "token expired")
                return
            if now >= next_ping:
                self._send(protocol.PING_FRAME)
                next_ping = now + interval
            await asyncio.sleep(max(0.0, min(next_ping, silent_until, now + expires_in) - now))

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

    async def _subscribe(self, request_id: str, command: session_pb2.Subscribe) -> None:
        wanted = list(dict.fromkeys(parse_id(p, "project_ids") for p in command.project_ids))
        if not wanted and not command.tenant_feed:
            raise InvalidArgument("name project_ids or tenant_feed", field="project_ids")
        # None: live only. A number (0 included): replay the events after it.
        since = command.since_seq if command.HasField("since_seq") else None
        tenant_id = self.principal.tenant_id
        hub = self.services.hub

        live_after = dict(self._live_after)

        def delivered_live(seq: int, project_ids: Iterable[str], tenant_level: bool) -> bool:
            """Sent (or being sent) live through a scope subscribed before this command."""
            scopes = [*project_ids, TENANT_FEED] if tenant_level else list(project_ids)
            return any(seq > live_after.get(scope, seq) for scope in scopes)

        config = self.services.config

        def check(conn: sqlite3.Connection) -> tuple[int, list[event_log.StoredEvent]]:
            missing = set(wanted) - projects.live_ids(conn, wanted)
            if missing:
                raise NotFound(f"project {sorted(missing)[0]} not found", field="project_ids")
            current = event_log.current_seq(conn)
            if since is None:
                return current, []
            if since > current:
                raise InvalidArgument(
                    f"since_seq {since} is ahead of the current seq {current}", field="since_seq"
                )
            oldest = event_log.oldest_retained_seq(conn)
            if since < current and oldest > since + 1:
                raise ResyncRequired("since_seq is older than the retained event log")
            seqs = event_log.matching_seqs(
                conn,
                since_seq=since,
                up_to_seq=current,
                project_ids=wanted,
                tenant_feed=command.tenant_feed,
            )
            # Decided before the Response: a replay beyond either limit is better served by
            # a bulk reload than by holding the tenant's database and the client's queue.
            if len(seqs) > config.max_replay_events:
                raise ResyncRequired(
                    f"more than {config.max_replay_events} events to replay; reload in bulk"
                )
            if event_log.payload_bytes(conn, seqs) > config.max_replay_bytes:
                raise ResyncRequired(
                    f"more than {config.max_replay_bytes} bytes to replay; reload in bulk"
                )
            stored = event_log.events_for(conn, seqs)
            # Once per event: what an earlier subscription already carried is not sent again.
            replay = [e for e in stored if not delivered_live(e.seq, e.project_ids, e.tenant_level)]
            return current, replay

        # Register before reading, buffering live events, so none falls between the two.
        self._replay_buffer = []
        hub.subscribe(tenant_id, self, project_ids=wanted, tenant_feed=command.tenant_feed)
        try:
            async with self.services.databases.lease(tenant_id) as db:
                current, replay = await db.read(check)
        except BaseException:
            hub.unsubscribe(
                tenant_id,
                self,
                project_ids=set(wanted) - self.projects,
                tenant_feed=command.tenant_feed and not self.tenant_feed,
            )
            self._flush_buffer()
            raise
        self.projects.update(wanted)
        self.tenant_feed = self.tenant_feed or command.tenant_feed
        for scope in [*wanted, TENANT_FEED] if command.tenant_feed else wanted:
            self._live_after.setdefault(scope, current)
        result = session_pb2.SubscribeResult(
            project_ids=sorted(self.projects),
            tenant_feed=self.tenant_feed,
            replay_to_seq=(replay[-1].seq if replay else since or 0),
            current_seq=current,
        )
        self._send(protocol.encode_result(request_id, "subscribe", result))

        def due(event: PublishedEvent) -> bool:
            # Live for an earlier scope, or committed after the read: the replay lacks it.
            # Otherwise the replay carries it, or (at or below since_seq) the client has it.
            return (
                since is None
                or event.seq > current
                or delivered_live(event.seq, event.project_ids, event.tenant_level)
            )

        # Live events of earlier scopes may be older than the replay's last one: merge by seq
        # so the client still sees seq order.
        limit = config.max_message_bytes
        outgoing = [
            (e.seq, protocol.event_frame(e.seq, e.payload, max_bytes=limit), True) for e in replay
        ]
        outgoing += [(e.seq, e.frame, False) for e in self._take_buffer(due=due)]
        outgoing.sort(key=lambda item: item[0])
        for _, frame, asked_for in outgoing:
            self._send(frame, replay=asked_for)

    def _flush_buffer(self) -> None:
        for event in self._take_buffer(due=lambda event: True):
            self._send(event.frame)

    def _take_buffer(self, *, due: Callable[[PublishedEvent], bool]) -> list[PublishedEvent]:
        """The live events that arrived during a Subscribe's read and are still to send:
        those the connection now listens to (a refused Subscribe adds nothing) and `due`."""
        buffered, self._replay_buffer = self._replay_buffer or [], None
        return [e for e in buffered if self._listens_to(e) and due(e)]

    def _listens_to(self, event: PublishedEvent) -> bool:
        return not self.projects.isdisjoint(event.project_ids) or (
            self.tenant_feed and event.tenant_level
        )

    def _unsubscribe(self, request_id: str, command: session_pb2.Unsubscribe) -> None:
        gone = {parse_id(p, "project_ids") for p in command.project_ids} & self.projects
        self.services.hub.unsubscribe(
            self.principal.tenant_id,
            self,
            project_ids=gone,
            tenant_feed=command.tenant_feed and self.tenant_feed,
        )
        self.projects -= gone
        if command.tenant_feed:
            self.tenant_feed = False
        for scope in [*gone, TENANT_FEED] if command.tenant_feed else gone:
            self._live_after.pop(scope, None)
        result = session_pb2.UnsubscribeResult(
            project_ids=sorted(self.projects), tenant_feed=self.tenant_feed
        )
        self._send(protocol.encode_result(request_id, "unsubscribe", result))

    # --- the hub's side --------------------------------------------------------------------

    def deliver(self, event: PublishedEvent) -> None:
        if self._replay_buffer is not None:
            self._replay_buffer.append(event)
            return
        self._send(event.frame)
