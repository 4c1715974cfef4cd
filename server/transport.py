"""uvicorn's HTTP (h11) and WebSocket (websockets sans-I/O) protocols, held to our limits.

uvicorn lets a peer keep a socket as long as it likes; these subclasses do not:

- Every close is over within PM_CLOSE_TIMEOUT_MS. asyncio's `close()` waits for the write
  buffer to drain, forever if the peer stops reading, so each socket's transport is wrapped
  in `BoundedTransport`, which aborts the connection once the timeout has passed.
- A close frame goes out at once (uvicorn waited for the socket to be writable first).
- A request's head must arrive within PM_HEADER_TIMEOUT_MS and fit MAX_HEAD_BYTES (431).
- An upgrade the websockets parser refuses (a header line over 8 KiB, too many headers) is
  answered with the parser's 431 or 400; uvicorn never wrote it and held the socket open.
- A frame over PM_MAX_MESSAGE_BYTES closes with 1009 and half-closes, then reads and drops
  the rest until the peer's EOF: closing a socket with unread data answers with a RST,
  which destroys the close frame the peer had not read yet.
- A new socket whose descriptor would eat into the tenant databases' reserve gets a 503.
- Invalid UTF-8 and refused upgrades are INFO lines, never a traceback or an ERROR.

`protocols(config, stats)` binds both classes to one Config and one SocketStats.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, cast

import h11
from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import SecurityError
from websockets.protocol import State

from server.config import Config
from server.logs import RefusalLog

log = logging.getLogger(__name__)

# The request line and headers of one request, in bytes.
MAX_HEAD_BYTES = 64 * 1024
# An open tenant database holds a writer and up to two read connections, each with three
# descriptors: the file, its -wal and its -shm.
_DESCRIPTORS_PER_TENANT = 9
_SPARE_DESCRIPTORS = 32
_HEAD_END = re.compile(rb"\n\r?\n")
# Messages read from a WebSocket before the app has taken them (see receive()).
READ_AHEAD_MESSAGES = 64
# Gathered writes of one turn beyond this go to the socket at once.
_EARLY_FLUSH_BYTES = 256 * 1024
# The scope extension through which the app writes frames (server/outbox.py: FrameSink).
FRAMES_EXTENSION = "pm.frames"


@dataclass(frozen=True)
class Limits:
    close_timeout: float
    header_timeout: float
    descriptor_reserve: int

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(
            close_timeout=config.close_timeout_ms / 1000,
            header_timeout=config.header_timeout_ms / 1000,
            descriptor_reserve=_DESCRIPTORS_PER_TENANT * config.max_open_tenants
            + _SPARE_DESCRIPTORS,
        )


@dataclass
class SocketStats:
    """Shared by every socket of one server: the count /healthz reports, the refusal log."""

    open_sockets: int = 0
    refusals: RefusalLog = field(default_factory=RefusalLog)


def descriptor_ceiling(reserve: int) -> int | None:
    """The lowest descriptor number a new socket may not have (None: no limit). At most
    half the descriptors are kept back, so that a low limit still serves some sockets."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - min(reserve, soft // 2)


def plain_response(status: HTTPStatus, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    body = f"{status.phrase}\n".encode()
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


class BoundedTransport(asyncio.Transport):
    """A socket's transport whose close cannot hang: aborted `timeout` seconds after close()
    or linger() unless the connection is lost before.

    It also gathers the writes of one event-loop turn into one: a batch of commands answers
    many frames at once, and one send() each was a sixth of the server's time (py-spy)."""

    def __init__(
        self,
        inner: asyncio.Transport,
        timeout: float,
        loop: asyncio.AbstractEventLoop,
        stats: SocketStats,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.lingering = False
        self._timeout = timeout
        self._loop = loop
        self._stats: SocketStats | None = stats
        self._abort_timer: asyncio.TimerHandle | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        stats.open_sockets += 1

    def close(self) -> None:
        self.flush()
        if not self.lingering:  # a lingering socket closes at the peer's EOF or the timeout
            self.inner.close()
        self._abort_later()

    def linger(self) -> None:
        """Half-close: the peer reads what was written, then EOF; it may finish sending
        (the protocol drops what arrives), and asyncio closes at the peer's EOF."""
        self.flush()
        self.lingering = True
        if self.inner.can_write_eof():
            self.inner.write_eof()
        self._abort_later()

    def flush(self) -> None:
        """Hand what this turn wrote to the socket, in one write."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self.inner.is_closing():
            self.inner.write(data)

    def lost(self) -> None:
        """The connection is gone (the protocol's connection_lost)."""
        self._pending = []
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        if self._stats is not None:
            self._stats.open_sockets -= 1
            self._stats = None

    def _abort_later(self) -> None:
        if self._abort_timer is None:
            self._abort_timer = self._loop.call_later(self._timeout, self.inner.abort)

    def is_closing(self) -> bool:
        return self.lingering or self.inner.is_closing()

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if self.lingering or not data:  # half-closed: asyncio would raise
            return
        if not self._pending:
            self._pending_bytes = 0
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= _EARLY_FLUSH_BYTES:
            # Much in one turn (a fan-out burst): hand it on now, so that the socket's
            # flow control (pause_writing) sees it before more is gathered.
            self.flush()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        for data in list_of_data:
            self.write(data)

    def abort(self) -> None:
        self._pending = []
        self.inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + sum(len(data) for data in self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()


class _HeadMeter:
    """The size of a request's head as its bytes arrive. h11 takes a head of any size when
    it arrives whole (its own limit is for incomplete ones)."""

    def __init__(self) -> None:
        self.size = 0
        self.complete = False
        self._tail = b""

    def feed(self, data: bytes) -> int:
        if self.complete:
            return self.size
        if self.size == 0:
            data = data.lstrip(b"\r\n")  # h11 skips blank lines before a request
        window = self._tail + data
        end = _HEAD_END.search(window)
        if end is None:
            self.size += len(data)
            self._tail = window[-3:]
        else:
            self.size += end.end() - len(self._tail)
            self.complete = True
        return self.size


def _fileno(transport: asyncio.BaseTransport) -> int | None:
    sock = transport.get_extra_info("socket")
    return None if sock is None else int(sock.fileno())


class HttpProtocol(H11Protocol):
    limits: ClassVar[Limits]
    stats: ClassVar[SocketStats]

    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head = _HeadMeter()
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.bounded = BoundedTransport(transport, self.limits.close_timeout, self.loop, self.stats)
        super().connection_made(self.bounded)
        ceiling = descriptor_ceiling(self.limits.descriptor_reserve)
        fd = _fileno(transport)
        if ceiling is not None and fd is not None and fd >= ceiling:
            # The reserve is for tenant databases: a socket must not take their descriptors.
            self._refuse(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "descriptor limit",
                [("Retry-After", "1")],
                linger=False,  # free the descriptor now: it is what is short
            )
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self.bounded.lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.bounded.lingering:
            return  # refused: the rest is read only so that the peer gets the answer
        if self.conn.their_state is h11.IDLE:
            if self._head.complete:  # the next request on a kept-alive connection
                self._head = _HeadMeter()
                self._arm_header_timer()
            if self._head.feed(data) > MAX_HEAD_BYTES:
                self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
                return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()

    def _refuse(
        self,
        status: HTTPStatus,
        reason: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        linger: bool = True,
    ) -> None:
        self._cancel_header_timer()
        self.stats.refusals.refused(reason)
        self.bounded.write(plain_response(status, headers))
        if linger:  # the peer may still be sending its head
            self.bounded.linger()
        else:
            self.bounded.close()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout, self._header_timeout
            )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.bounded.is_closing():
            self.stats.refusals.refused("request head not received in time")
            self.bounded.close()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    limits: ClassVar[Limits]
    stats: ClassVar[SocketStats]

    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.close_timeout = self.limits.close_timeout
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        self.frame_sink = Frames(self)
        self._queued_bytes = 0
        self._read_ahead = max(config.ws_max_size, 64 * 1024)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, BoundedTransport):  # handed over by HttpProtocol if so
            plain = cast(asyncio.Transport, transport)
            transport = BoundedTransport(plain, self.limits.close_timeout, self.loop, self.stats)
        self.bounded = transport
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bounded.lost()
        super().connection_lost(exc)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FRAMES_EXTENSION] = self.frame_sink

    def resume_writing(self) -> None:
        super().resume_writing()
        self.frame_sink.resumed()

    def data_received(self, data: bytes) -> None:
        if self.bounded.lingering:
            return  # failed: the rest is read only so that the peer gets the close frame
        self.conn.receive_data(data)
        if self.conn.handshake_exc is not None and not self.handshake_initiated:
            self._refuse_handshake()
        elif self.conn.parser_exc is not None:
            self.handle_parser_exception()
        else:
            self.handle_events()

    def _refuse_handshake(self) -> None:
        """The websockets parser refused the request h11 passed on and queued its answer
        (431 for a header line over 8 KiB or too many headers, 414 for the request line)."""
        answer = b"".join(self.conn.data_to_send())
        if not answer:  # a request websockets cannot parse at all: it only queued EOF
            answer = plain_response(HTTPStatus.BAD_REQUEST)
        too_large = isinstance(self.conn.handshake_exc, SecurityError)
        self.stats.refusals.refused(
            "upgrade request head too large" if too_large else "malformed upgrade request"
        )
        self.handshake_complete = self.close_sent = True
        self.bounded.write(answer)
        self.bounded.linger()

    def handle_parser_exception(self) -> None:
        close = self.conn.close_sent
        if close is None:
            # Failed during the opening handshake (uvicorn asserts here): no frame to send.
            self.stats.refusals.refused("malformed upgrade request")
            if self.handshake_initiated:
                self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
            self.handshake_complete = self.close_sent = True
            self.bounded.close()
            return
        log.info("%s - closing with %d: %s", self._peer(), close.code, close.reason or "bad frame")
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": close.code, "reason": close.reason}
        )
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:  # reading on is what lets the peer's EOF arrive
            self.read_paused = False
            self.transport.resume_reading()
        self.bounded.linger()

    def send_receive_event_to_app(self) -> None:
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past the close: reads go on only until the peer's close reply
        if self.curr_msg_data_type == "text":
            try:
                text = data.decode()
            except UnicodeDecodeError:
                log.info("%s - closing with 1007: invalid UTF-8 in a text frame", self._peer())
                self._close_now(1007, "invalid UTF-8")
                return
            self.queue.put_nowait({"type": "websocket.receive", "text": text})
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": data})
        # uvicorn stops reading after every message until the app takes it: two epoll calls
        # per frame. A pipelining client sends many at once, so read ahead a little, bounded
        # in messages and in bytes (the app's own in-flight limit is the real bound).
        self._queued_bytes += len(data)
        if not self.read_paused and (
            self.queue.qsize() >= READ_AHEAD_MESSAGES or self._queued_bytes >= self._read_ahead
        ):
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self) -> ASGIReceiveEvent:
        message = await self.queue.get()
        if message["type"] == "websocket.receive":
            taken = message.get("bytes") or message.get("text") or b""
            self._queued_bytes -= len(taken)
        if (
            self.read_paused
            and self.queue.qsize() < READ_AHEAD_MESSAGES // 2
            and (self._queued_bytes < self._read_ahead // 2)
        ):
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] == "websocket.close" and self._open():
            self._close_now(message.get("code", 1000), message.get("reason") or "")
            return
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self._forget_handshake()
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # A denial response ends the handshake; uvicorn does not mark it, and then logs
            # an ERROR for every refused upgrade when the app returns.
            self.handshake_complete = True

    def _forget_handshake(self) -> None:
        """uvicorn keeps the upgrade's request and response, and the scope its headers, for
        the socket's whole life: about 4 KiB per idle connection, the bearer token among
        them. Nothing reads them after the accept (the app took what it needed first)."""
        # The websockets parser's suspended frame still holds the request: empty its headers.
        self.request.headers.clear()
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        headers = self.scope.get("headers")
        if isinstance(headers, list):
            headers.clear()  # in place: Starlette's cached Headers wraps this very list

    def _open(self) -> bool:
        return (
            self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and not self.disconnected
            and not self.transport.is_closing()
            and self.conn.state is State.OPEN
        )

    def _close_now(self, code: int, reason: str) -> None:
        """Write the close frame without waiting for the socket to become writable: a peer
        that stops reading would hold the connection forever. Aborted after the timeout
        unless the peer answers the close."""
        if self.conn.state is not State.OPEN:
            return  # the peer's close came first: handle_close answers it and tells the app
        self.conn.send_close(code, reason)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.bounded.abort)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "-"


class Inbox:
    """The messages read for the app, in place of uvicorn's asyncio.Queue: the same four
    calls, but an idle connection holds an empty list instead of three deque blocks (about
    2 KiB; issue 9 counts idle memory per connection)."""

    __slots__ = ("_items", "_getter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        getter, self._getter = self._getter, None
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            await self._getter
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class Writable:
    """uvicorn's `writable` flag, in place of an asyncio.Event: the same four calls, but no
    deque of waiters per connection (about 0.7 KiB) until someone waits on a full socket."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            await waiter


class Frames:
    """The app's way to write WebSocket frames to the socket without awaiting (a FrameSink):
    the bytes are already framed (server/frames.py; an event's once for all receivers) and
    go straight to the transport, which gathers a turn's writes into one send. Nothing is
    written once a close frame has gone out."""

    def __init__(self, protocol: WebSocketProtocol) -> None:
        self._protocol = protocol
        self._callbacks: list[Callable[[], None]] = []

    def write(self, data: bytes) -> None:
        if self._open():
            self._protocol.transport.write(data)

    def writable(self) -> bool:
        return self._open() and self._protocol.writable.is_set()

    def on_writable(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def resumed(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:
                log.exception("a frame writer failed to resume")

    def _open(self) -> bool:
        protocol = self._protocol
        return (
            protocol.handshake_complete
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is State.OPEN
            and not protocol.transport.is_closing()
        )


def protocols(
    config: Config, socket_stats: SocketStats
) -> tuple[type[HttpProtocol], type[WebSocketProtocol]]:
    """Both protocol classes bound to `config`'s limits and to `socket_stats`."""
    bound = Limits.of(config)

    class BoundHttpProtocol(HttpProtocol):
        limits = bound
        stats = socket_stats

    class BoundWebSocketProtocol(WebSocketProtocol):
        limits = bound
        stats = socket_stats

    return BoundHttpProtocol, BoundWebSocketProtocol


def stats_of(app_state: object) -> SocketStats | None:
    """The SocketStats uvicorn_config put on an app's state, if it did."""
    stats = getattr(app_state, "socket_stats", None)
    return stats if isinstance(stats, SocketStats) else None
