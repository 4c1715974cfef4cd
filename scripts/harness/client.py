"""A small pm.v1 client over the `websockets` library: send commands, await responses."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from urllib.parse import urlsplit

from google.protobuf.message import Message
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2


class CommandFailed(Exception):
    def __init__(self, error: env.Error) -> None:
        super().__init__(f"{env.ErrorCode.Name(error.code)}: {error.message}")
        self.error = error


class UsageError(Exception):
    """A command line that cannot be sent (unknown command, bad JSON): one line, exit 2."""


# What `describe_failure` turns into one line instead of a traceback.
CONNECTION_FAILURES: tuple[type[BaseException], ...] = (WebSocketException, OSError, TimeoutError)


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe_error(error: env.Error) -> str:
    """An Error answer as one line: its code, message and field."""
    line = f"{env.ErrorCode.Name(error.code)}: {one_line(error.message)}"
    if error.field:
        line += f" (field {error.field})"
    return line


def _denial_detail(failure: InvalidStatus) -> str:
    """The reason the server gave with a refused upgrade: its JSON error/message, or its text."""
    response = failure.response
    body = (response.body or b"").decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        parts = [str(parsed[key]) for key in ("error", "message") if parsed.get(key)]
        return one_line(": ".join(parts))
    return one_line(body)[:200]


# Why the server may have refused the upgrade, when it said nothing more.
_STATUS_HINTS = {
    401: "check --token / PM_TOKEN",
    403: "wrong path? the WebSocket is at /ws",
    404: "wrong path? the WebSocket is at /ws",
    429: "too many connections for this user or tenant",
}


def describe_failure(url: str, failure: BaseException) -> str:
    """One line saying why talking to the server at `url` failed."""
    if isinstance(failure, InvalidURI):
        scheme = urlsplit(url).scheme
        if scheme in ("http", "https"):
            suggestion = ("wss" if scheme == "https" else "ws") + url[len(scheme) :]
            return f"{url} is not a WebSocket URL: use {suggestion}"
        return f"{url} is not a WebSocket URL ({failure.msg}): expected ws://HOST:PORT/ws"
    if isinstance(failure, InvalidStatus):
        response = failure.response
        line = f"{url} refused the connection: HTTP {response.status_code} {response.reason_phrase}"
        detail = _denial_detail(failure)
        if detail:
            line += f": {detail}"
        hint = _STATUS_HINTS.get(response.status_code)
        if hint and (response.status_code == 401 or not detail):
            line += f" ({hint})"
        return line
    if isinstance(failure, ConnectionClosed):
        return f"the server closed the connection: {one_line(str(failure))}"
    if isinstance(failure, InvalidHandshake):
        return f"{url}: the WebSocket handshake failed: {one_line(str(failure))}"
    if isinstance(failure, WebSocketException):
        return f"{url}: {type(failure).__name__}: {one_line(str(failure))}"
    if isinstance(failure, ConnectionRefusedError):
        parts = urlsplit(url)
        return f"cannot connect to {parts.netloc}: connection refused (is the server running?)"
    if isinstance(failure, socket.gaierror):
        return f"cannot resolve the host of {url}: {failure.strerror or failure}"
    if isinstance(failure, TimeoutError):
        return f"timed out waiting for the server at {url}"
    if isinstance(failure, OSError):
        return f"cannot talk to {url}: {one_line(failure.strerror or str(failure))}"
    return f"{url}: {type(failure).__name__}: {one_line(str(failure))}"


class Client:
    """Commands go out with fresh request ids; events and pings wait in `events`."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.welcome: env.ServerMessage | None = None
        self._ws: ClientConnection | None = None
        self.events: asyncio.Queue[env.Event] = asyncio.Queue()
        self.presence: asyncio.Queue[session_pb2.PresenceUpdate] = asyncio.Queue()

    async def __aenter__(self) -> Client:
        self._ws = await connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            compression=None,
            max_size=None,
            open_timeout=self.timeout,
        )
        self.welcome = await self._next()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def _next(self) -> env.ServerMessage:
        assert self._ws is not None
        frame = await asyncio.wait_for(self._ws.recv(), self.timeout)
        message = env.ServerMessage()
        message.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
        return message

    async def call(self, name: str, command: Message) -> env.Response:
        """Send one command and return its Response (events meanwhile go to `events`).

        `Ping` is answered by a Pong, returned as an empty Response; `Pong` has no answer.
        """
        assert self._ws is not None
        # Unique across runs: the server treats (user, request_id) as an idempotency key.
        request_id = f"h-{uuid.uuid4()}"
        message = env.ClientMessage(request_id=request_id)
        getattr(message, name).CopyFrom(command)
        await self._ws.send(message.SerializeToString())
        if name == "pong":
            return env.Response(request_id=request_id)
        while True:
            reply = await self._next()
            kind = reply.WhichOneof("payload")
            if kind == "response" and reply.response.request_id == request_id:
                return reply.response
            if kind == "pong" and reply.pong.request_id == request_id:
                return env.Response(request_id=request_id)
            self._keep(reply)

    async def result(self, name: str, command: Message) -> Message:
        response = await self.call(name, command)
        if response.HasField("error"):
            raise CommandFailed(response.error)
        result: Message = getattr(response, name)
        return result

    def _keep(self, reply: env.ServerMessage) -> None:
        if reply.WhichOneof("payload") == "event":
            self.events.put_nowait(reply.event)
        elif reply.WhichOneof("payload") == "presence":
            self.presence.put_nowait(reply.presence)
        elif reply.WhichOneof("payload") == "ping":
            asyncio.ensure_future(self._pong())

    async def _pong(self) -> None:
        assert self._ws is not None
        await self._ws.send(env.ClientMessage(pong={}).SerializeToString())

    async def presence_updates(self) -> AsyncIterator[session_pb2.PresenceUpdate]:
        """Presence updates as they arrive (answering pings, keeping events), forever."""
        while True:
            while not self.presence.empty():
                yield self.presence.get_nowait()
            self._keep(await self._receive())

    async def _receive(self) -> env.ServerMessage:
        assert self._ws is not None
        frame = await self._ws.recv()
        message = env.ServerMessage()
        message.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
        return message

    async def stream(self) -> AsyncIterator[env.Event]:
        """Events as they arrive (answering pings), forever."""
        while True:
            while not self.events.empty():
                yield self.events.get_nowait()
            self._keep(await self._receive())
