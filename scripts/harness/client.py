"""A small pm.v1 client over the `websockets` library: send commands, await responses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import TracebackType

from google.protobuf.message import Message
from websockets.asyncio.client import ClientConnection, connect

from pm.v1 import envelope_pb2 as env


class CommandFailed(Exception):
    def __init__(self, error: env.Error) -> None:
        super().__init__(f"{env.ErrorCode.Name(error.code)}: {error.message}")
        self.error = error


class Client:
    """Commands go out with fresh request ids; events and pings wait in `events`."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.welcome: env.ServerMessage | None = None
        self._ws: ClientConnection | None = None
        self.events: asyncio.Queue[env.Event] = asyncio.Queue()

    async def __aenter__(self) -> Client:
        self._ws = await connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            compression=None,
            max_size=None,
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
        """Send one command and return its Response (events meanwhile go to `events`)."""
        assert self._ws is not None
        # Unique across runs: the server treats (user, request_id) as an idempotency key.
        request_id = f"h-{uuid.uuid4()}"
        message = env.ClientMessage(request_id=request_id)
        getattr(message, name).CopyFrom(command)
        await self._ws.send(message.SerializeToString())
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
        elif reply.WhichOneof("payload") == "ping":
            asyncio.ensure_future(self._pong())

    async def _pong(self) -> None:
        assert self._ws is not None
        await self._ws.send(env.ClientMessage(pong={}).SerializeToString())

    async def stream(self) -> AsyncIterator[env.Event]:
        """Events as they arrive (answering pings), forever."""
        while True:
            while not self.events.empty():
                yield self.events.get_nowait()
            assert self._ws is not None
            frame = await self._ws.recv()
            message = env.ServerMessage()
            message.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
            self._keep(message)
