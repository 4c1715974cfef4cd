"""One client's WebSocket, from Welcome to close: it moves bytes, runs the pipeline and
answers the heartbeat and token clocks.

The connection runs in the ASGI task uvicorn gives it and starts no task of its own while
idle: frames go out through the socket's transport as they are pushed (outbox.py), the
heartbeat is the process's shared timer (heartbeats.py), and subscriptions, replay and
presence are its Subscriptions' business (subscriptions.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

import server
from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from server import protocol
from server.auth import Principal
from server.frames import binary_frame
from server.limits import ReplaySlot, check_subscribe, limits_for
from server.logs import bind_session, command_context
from server.outbox import FrameSink, Outbox
from server.pipeline import CommandPipeline, as_task
from server.protocol import CloseCode
from server.runner import Outcome
from server.services import Services
from server.subscriptions import Subscriptions
from server.transport import FRAMES_EXTENSION
from tenants import event_log
from tenants.errors import (
    FailedPrecondition,
    Internal,
    InvalidArgument,
    PermissionDenied,
    PmError,
    ResourceExhausted,
)

log = logging.getLogger(__name__)

# Commands about the connection itself, run by it in order with the others.
_SESSION_COMMANDS = frozenset({"subscribe", "unsubscribe", "set_viewing", "refresh_token"})

# Follow-ups that outlive a closed connection until they commit and publish (strong refs).
_follow_ups: set[asyncio.Task[None]] = set()
# The metrics' command label of a frame that did not parse (no oneof field to name it by).
INVALID_FRAME = "invalid_frame"


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
        self.subscriptions: Subscriptions | None = None
        self.outbox: Outbox | None = None
        self._metrics = services.metrics
        self._pipeline = CommandPipeline(
            config.max_in_flight,
            self._send,
            self._deliver,
            on_idle=self._seen,
            record=self._metrics.command,
        )
        # Frames answered (or refused) on this connection, for its closing line.
        self._commands = 0
        self._limits = limits_for(services)
        self._limiter = self._limits.commands()
        # The running Subscribe's replay, counted among its tenant's (server/limits.py).
        self._replay: ReplaySlot | None = None
        self._loop = asyncio.get_running_loop()
        self._last_seen = self._loop.time()
        self._next_ping = self._last_seen + config.heartbeat_interval_ms / 1000
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

    def _open_refusal(self, refused: PmError) -> JSONResponse:
        """The HTTP answer to an upgrade whose tenant cannot be opened now."""
        self.services.refusals.refused(f"upgrade: tenant cannot be opened: {refused.message}")
        if isinstance(refused, ResourceExhausted):
            # A restore holding the file (back in a moment) or a full disk (an operator must
            # free space): both pass, so the client retries, later for the disk.
            wait = "1" if self.services.databases.is_held(self.tenant_id) else "30"
            return JSONResponse(
                {"error": "unavailable", "message": refused.message},
                status_code=503,
                headers={"Retry-After": wait},
            )
        # A file written by a newer server: retrying will not help until it is upgraded.
        return JSONResponse(
            {"error": "failed_precondition", "message": refused.message}, status_code=409
        )

    async def serve(self) -> None:
        services = self.services
        config = services.config
        # This task's lines (and its commands' tasks') name the session in JSON logs.
        bind_session(self.tenant_id, self.principal.user_id, self.session_id)
        databases = services.databases
        try:
            async with databases.lease(self.tenant_id) as db:
                generation = databases.generation(self.tenant_id)
                current_seq = await db.read(event_log.current_seq)
                epoch = db.meta.epoch
                await services.profiles.remember(db, self.principal)
        except (ResourceExhausted, FailedPrecondition) as refused:
            # Nothing is accepted yet: the upgrade itself says why, never a bare 500.
            await self.websocket.send_denial_response(self._open_refusal(refused))
            return
        self.subscriptions = Subscriptions(self, services, epoch)
        await self.websocket.accept(subprotocol=self.subprotocol)
        sink: FrameSink = self.websocket.scope["extensions"][FRAMES_EXTENSION]
        self.outbox = Outbox(sink, config.send_queue_limit, config.send_queue_bytes)
        services.connections.add(self)
        services.heartbeats.add(self)
        opened_at = self._loop.time()
        if databases.generation(self.tenant_id) != generation:
            # A restore began after the epoch above was read and swept the connections
            # before this one joined them: this one holds the old history, so it goes too.
            self.abort(CloseCode.SERVICE_RESTART, "tenant restored: reconnect and reload")
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
            epoch=epoch,
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
            self._metrics.connection_closed(self._close_code)
            log.info(
                "session %s closed (code %s) after %.3f s, %d commands",
                self.session_id,
                self._close_code,
                self._loop.time() - opened_at,
                self._commands,
            )

    def _release(self) -> None:
        self.services.connections.discard(self)
        self.services.heartbeats.discard(self)
        self._stop_deliveries()

    def _stop_deliveries(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        if self.subscriptions is not None:
            self.subscriptions.close()

    # --- the Peer of subscriptions.py -------------------------------------------------------

    @property
    def open(self) -> bool:
        return self._close_code is None

    def send(self, message_frame: bytes) -> None:
        self._send(message_frame)

    def push(self, ws_frame: bytes) -> None:
        self._push(ws_frame)

    def push_replay(self, ws_frame: bytes) -> None:
        if self.outbox is not None:
            self.outbox.push_replay(ws_frame)

    async def drained(self) -> None:
        if self.outbox is not None:
            # Waiting for the client is not reading the log: a slow reader holds no slot.
            replay = self._replay
            if replay is not None:
                replay.pause()
            try:
                await self.outbox.drained()
            finally:
                if replay is not None and self._replay is replay:
                    replay.resume()

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
            if not self._handle(frame):
                await self._close(CloseCode.RATE_LIMITED, "rate limit exceeded")
                return

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

    def _handle(self, frame: bytes) -> bool:
        """Hand one frame to the pipeline: it runs when the ordering rules allow. False: the
        client kept on past the rate limit, close with 4029."""
        try:
            message, name = protocol.decode_client_message(frame)
        except PmError as error:
            self._commands += 1
            self._pipeline.answered(
                protocol.encode_error(protocol.safe_request_id(frame), error),
                INVALID_FRAME,
                error.code.value,
            )
            return True
        request_id = message.request_id
        if name == "pong":
            return True  # reading it was enough: _last_seen moved
        self._commands += 1
        if name == "ping":
            self._pipeline.answered(protocol.encode_pong(request_id), name)
            return True
        # The rate limit is on the commands, which run something; the frames above are
        # answered at once, costing no more than a refusal would.
        refusal = self._limiter.admit()
        if refusal is not None:
            return self._refuse(request_id, name, refusal.error, close=refusal.close)
        if name in _SESSION_COMMANDS:
            self._pipeline.start(
                "barrier",
                as_task(
                    lambda: self._session_command(request_id, name, message),
                    command_context(request_id),
                ),
                name,
            )
        else:
            command = getattr(message, name)
            runner = self.services.runner
            principal = self.principal
            if runner.is_mutation(name):
                # No task: the write's commit answers it (see CommandRunner.submit).
                self._pipeline.start(
                    "write",
                    lambda done: runner.submit(principal, request_id, name, command, done),
                    name,
                )
            else:
                self._pipeline.start(
                    "read",
                    as_task(
                        lambda: runner.run(principal, request_id, name, command),
                        command_context(request_id),
                    ),
                    name,
                )
        return True

    def _refuse(self, request_id: str, name: str, error: PmError, *, close: bool) -> bool:
        """Past the command rate: answered RESOURCE_EXHAUSTED, or (False) closed with 4029.
        Logged at most once a second per reason, with a count."""
        rate = self.services.config.commands_per_second
        if close:
            self.services.refusals.command_refused(
                f"closing with 4029: kept on past {rate:g} commands a second"
            )
            return False
        self.services.refusals.command_refused(
            f"{error.code.value}: more than {rate:g} commands a second"
        )
        self._pipeline.answered(protocol.encode_error(request_id, error), name, error.code.value)
        return True

    async def _session_command(
        self, request_id: str, name: str, message: env.ClientMessage
    ) -> Outcome:
        """Answers by itself; the Outcome (with no frame) carries the code."""
        subscriptions = self.subscriptions
        assert subscriptions is not None
        try:
            self.principal.require(self.services.runner.role_of(name))
            if name == "subscribe":
                await self._subscribe(subscriptions, request_id, message.subscribe)
            elif name == "unsubscribe":
                subscriptions.unsubscribe(request_id, message.unsubscribe)
            elif name == "set_viewing":
                await subscriptions.set_viewing(request_id, message.set_viewing)
            else:
                await self._refresh_token(request_id, message.refresh_token)
        except PmError as error:
            self._send(protocol.encode_error(request_id, error))
            return Outcome(b"", code=error.code.value)
        except Exception:
            log.exception("session %s: %s failed", self.session_id, name)
            self._send(protocol.encode_error(request_id, Internal("internal error")))
            return Outcome(b"", code=Internal.code.value)
        return Outcome(b"")

    async def _subscribe(
        self, subscriptions: Subscriptions, request_id: str, command: session_pb2.Subscribe
    ) -> None:
        """Subscribe within the limits (projects, replays), checked before anything else."""
        limits = self._limits
        check_subscribe(limits.config, subscriptions.session, command)
        if not command.HasField("since_seq"):
            await subscriptions.subscribe(request_id, command)
            return
        replay = limits.replays.start(self.tenant_id)
        self._replay = replay
        try:
            await subscriptions.subscribe(request_id, command)
        finally:
            self._replay = None
            replay.release()

    async def _refresh_token(self, request_id: str, command: session_pb2.RefreshToken) -> None:
        """Moves this connection's expiry (and its roles, from the next command on)."""
        current = self.principal
        fresh = self.services.verifier.verify(command.token)  # UNAUTHENTICATED when bad
        if fresh.user_id != current.user_id or fresh.tenant_id != current.tenant_id:
            raise PermissionDenied("the token is for another user or tenant")
        if fresh.expires_at <= current.expires_at:
            raise InvalidArgument(
                "the token does not expire later than the current one", field="token"
            )
        self.principal = fresh
        if (fresh.name, fresh.email) != (current.name, current.email):
            async with self.services.databases.lease(self.tenant_id) as db:
                await self.services.profiles.remember(db, fresh)
        result = session_pb2.RefreshTokenResult(
            expires_at_ms=int(fresh.expires_at * 1000), roles=fresh.role_names
        )
        self._send(protocol.encode_result(request_id, "refresh_token", result))

    def _deliver(self, outcome: Outcome) -> None:
        """A committed write's event, in commit order, right after its answer."""
        if outcome.event is not None:
            self._metrics.events_published += 1
            self.services.hub.publish(outcome.event)
        if outcome.follow_up is not None:
            follow_up = outcome.follow_up
            request_id = outcome.request_id
            runner = self.services.runner
            hub = self.services.hub
            principal = self.principal
            metrics = self._metrics

            async def run_follow_up() -> None:
                # After the answer and its event: housekeeping never delays either.
                event = await runner.follow_up(principal, request_id, follow_up)
                if event is not None:
                    metrics.events_published += 1
                    hub.publish(event)

            task = asyncio.ensure_future(run_follow_up())
            _follow_ups.add(task)
            task.add_done_callback(_follow_ups.discard)
