"""Test client: real protobuf frames over the `websockets` client, every receive timed."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from google.protobuf.message import Message
from websockets.asyncio.client import ClientConnection, connect

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2

TIMEOUT = 5.0
_ids = itertools.count(1)


def new_request_id() -> str:
    return f"req-{next(_ids)}"


class WsClient:
    def __init__(self, ws: ClientConnection, welcome: env.ServerMessage) -> None:
        self.ws = ws
        self.welcome = welcome.welcome
        # Frames received while waiting for something else, in arrival order.
        self.backlog: list[env.ServerMessage] = []

    async def send_raw(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def send(self, name: str, command: Message, request_id: str | None = None) -> str:
        request_id = request_id if request_id is not None else new_request_id()
        message = env.ClientMessage(request_id=request_id)
        getattr(message, name).CopyFrom(command)
        await self.ws.send(message.SerializeToString())
        return request_id

    async def receive(self, limit: float = TIMEOUT) -> env.ServerMessage:
        if self.backlog:
            return self.backlog.pop(0)
        return await self._read(limit)

    async def _read(self, limit: float) -> env.ServerMessage:
        async with asyncio.timeout(limit):
            frame = await self.ws.recv()
        assert isinstance(frame, bytes), "the server sent a text frame"
        message = env.ServerMessage()
        message.ParseFromString(frame)
        return message

    async def _wait_for(self, match: Any, limit: float = TIMEOUT) -> env.ServerMessage:
        for i, message in enumerate(self.backlog):
            if match(message):
                return self.backlog.pop(i)
        async with asyncio.timeout(limit):
            while True:
                message = await self._read(limit)
                if match(message):
                    return message
                self.backlog.append(message)

    async def response(self, request_id: str, limit: float = TIMEOUT) -> env.Response:
        message = await self._wait_for(
            lambda m: m.WhichOneof("payload") == "response" and m.response.request_id == request_id,
            limit,
        )
        return message.response

    async def request(
        self, name: str, command: Message, request_id: str | None = None
    ) -> env.Response:
        return await self.response(await self.send(name, command, request_id))

    async def ok(self, name: str, command: Message, request_id: str | None = None) -> Any:
        """Send a command that must succeed; returns its result message."""
        response = await self.request(name, command, request_id)
        assert not response.HasField("error"), f"{name} failed: {response.error}"
        return getattr(response, name)

    async def error(self, name: str, command: Message, request_id: str | None = None) -> env.Error:
        """Send a command that must fail; returns its Error."""
        response = await self.request(name, command, request_id)
        assert response.HasField("error"), f"{name} unexpectedly succeeded: {response}"
        return response.error

    async def event(self, limit: float = TIMEOUT) -> env.Event:
        message = await self._wait_for(lambda m: m.WhichOneof("payload") == "event", limit)
        return message.event

    async def events_until_quiet(self) -> list[env.Event]:
        """Every event the server queued for us before this call.

        A Ping goes out after them; its Pong comes back after every frame already queued
        (one ordered send queue per connection), so no sleep is needed to know "nothing more".
        """
        request_id = await self.send("ping", session_pb2.Ping())
        events: list[env.Event] = []
        while True:
            message = await self.receive()
            kind = message.WhichOneof("payload")
            if kind == "pong" and message.pong.request_id == request_id:
                return events
            if kind == "event":
                events.append(message.event)

    async def subscribe(
        self,
        *project_ids: str,
        tenant_feed: bool = False,
        since_seq: int | None = None,
        epoch: str | None = None,
    ) -> Any:
        """Subscribe; with since_seq, in the epoch the Welcome gave unless one is given."""
        return await self.ok(
            "subscribe",
            session_pb2.Subscribe(
                project_ids=list(project_ids),
                tenant_feed=tenant_feed,
                since_seq=since_seq,
                epoch=(epoch if epoch is not None else self.welcome.epoch)
                if since_seq is not None
                else "",
            ),
        )

    async def close(self) -> None:
        await self.ws.close()


async def open_client(url: str, token: str | None, **kwargs: Any) -> WsClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await connect(
        url, additional_headers=headers, compression=None, open_timeout=TIMEOUT, **kwargs
    )
    welcome = WsClient(ws, env.ServerMessage())
    first = await welcome._read(TIMEOUT)
    assert first.WhichOneof("payload") == "welcome", f"expected Welcome first, got {first}"
    return WsClient(ws, first)
