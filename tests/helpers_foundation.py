"""Helpers for the foundation tests: refused upgrades, close codes, tokens, fakes.

Kept out of conftest.py: only the foundation tests use them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from google.protobuf.message import Message
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import session_pb2
from server.auth import Principal, Role
from server.config import Config
from server.connection import Connection
from server.hub import InProcessHub
from server.services import Services
from server.transport import FRAMES_EXTENSION
from tests.wire import TIMEOUT, WsClient

# --- upgrades that must be refused ----------------------------------------------------------


async def refused_status(url: str, **kwargs: Any) -> int:
    """The HTTP status of an upgrade the server refuses; fails if it is accepted."""
    try:
        ws = await connect(url, compression=None, open_timeout=TIMEOUT, **kwargs)
    except InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    raise AssertionError("the upgrade was accepted")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tenant_files(data_dir: Path) -> list[Path]:
    """Every SQLite file (and its -wal/-shm) anywhere under the data directory."""
    return sorted(data_dir.rglob("*.sqlite3*"))


# --- tokens built by hand ---------------------------------------------------------------------


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, object]) -> str:
    """An `alg: none` JWT: header and claims, empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def claims(tenant: str = "acme", user: str = "alice", ttl: int = 3600) -> dict[str, object]:
    now = int(time.time())
    return {"sub": user, "tenant_id": tenant, "iat": now, "nbf": now, "exp": now + ttl}


# --- closes -----------------------------------------------------------------------------------


async def close_code(ws: ClientConnection, limit: float = TIMEOUT) -> tuple[int, list[bytes]]:
    """Read until the server closes; its close code and the frames received before."""
    frames: list[bytes] = []
    async with asyncio.timeout(limit):
        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None, "closed without a close frame"
                return closed.rcvd.code, frames
            frames.append(frame if isinstance(frame, bytes) else frame.encode())


def parse_server(frame: bytes) -> env.ServerMessage:
    message = env.ServerMessage()
    message.ParseFromString(frame)
    return message


async def create_project(client: WsClient, key: str, request_id: str | None = None) -> Any:
    return await client.ok(
        "create_project", projects_msg.CreateProject(key=key, name=f"Project {key}"), request_id
    )


def client_frame(name: str, command: Message, request_id: str) -> bytes:
    message = env.ClientMessage(request_id=request_id)
    getattr(message, name).CopyFrom(command)
    return message.SerializeToString()


# --- an in-memory WebSocket for Connection unit tests ----------------------------------------


class _Gate:
    """An asyncio.Event-like flag whose setting wakes the frame writer, as a transport's
    resume_writing does."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.callbacks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        return self._open.is_set()

    def set(self) -> None:
        self._open.set()
        for callback in list(self.callbacks):
            callback()

    def clear(self) -> None:
        self._open.clear()

    async def wait(self) -> None:
        await self._open.wait()


class FakeWebSocket:
    """The part of Starlette's WebSocket that Connection uses, and the transport's frame
    sink (server/outbox.py: FrameSink).

    Frames the server sends land in `sent` (unframed); `gate` (set by default) makes the
    socket push back while cleared, like a peer that stops reading.
    """

    def __init__(self) -> None:
        self.accepted_subprotocol: str | None = None
        self.sent: asyncio.Queue[bytes] = asyncio.Queue()
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gate = _Gate()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.scope: dict[str, Any] = {"extensions": {FRAMES_EXTENSION: self}}
        self.welcome = session_pb2.Welcome()  # a test keeps the one it read here

    async def accept(self, subprotocol: str | None = None) -> None:
        self.accepted_subprotocol = subprotocol

    # --- the frame sink ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.close_code is None:
            self.sent.put_nowait(_unframe(data))

    def writable(self) -> bool:
        return self.gate.is_set() and self.close_code is None

    def on_writable(self, callback: Callable[[], None]) -> None:
        self.gate.callbacks.append(callback)

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = code
            self.closed.set()
            await self.incoming.put({"type": "websocket.disconnect", "code": code})

    def feed(self, frame: bytes) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "bytes": frame})

    def disconnect(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    async def next_message(self, limit: float = TIMEOUT) -> env.ServerMessage:
        async with asyncio.timeout(limit):
            return parse_server(await self.sent.get())

    async def response(self, request_id: str, limit: float = TIMEOUT) -> env.Response:
        """The Response to request_id; anything before it is dropped."""
        async with asyncio.timeout(limit):
            while True:
                message = await self.next_message(limit)
                if message.HasField("response") and message.response.request_id == request_id:
                    return message.response

    async def until_pong(self, request_id: str, limit: float = TIMEOUT) -> list[env.ServerMessage]:
        """Everything sent before the Pong to request_id (a barrier, like events_until_quiet)."""
        received: list[env.ServerMessage] = []
        async with asyncio.timeout(limit):
            while True:
                message = await self.next_message(limit)
                if message.HasField("pong") and message.pong.request_id == request_id:
                    return received
                received.append(message)


def fake_connection(
    ws: FakeWebSocket, services: Services, who: Principal, subprotocol: str | None = None
) -> Connection:
    return Connection(cast(WebSocket, ws), who, services, subprotocol=subprotocol)


def build_services(config: Config) -> Services:
    return Services.create(config, hub=InProcessHub())


def _unframe(data: bytes) -> bytes:
    """The payload of one unmasked WebSocket frame (server/frames.py)."""
    size = data[1] & 0x7F
    if size == 126:
        return data[4:]
    if size == 127:
        return data[10:]
    return data[2:]


def principal(tenant: str = "acme", user: str = "alice", role: Role = Role.MEMBER) -> Principal:
    return Principal(user, tenant, role, time.time() + 3600)
