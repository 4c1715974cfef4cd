"""Any close tears the socket down within PM_CLOSE_TIMEOUT_MS, even when the peer has stopped
reading: 4008 (slow consumer), 4001 (heartbeat timeout), 1012 (shutdown).

The peer is a WebSocket client over a plain socket with a 4 KiB receive buffer that reads
only when told to: once it stops, TCP stops and the server's writes stall.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from hamcrest import assert_that, equal_to, has_entries, is_in, is_not, none
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import session_pb2
from server.app import create_app
from server.config import Config
from server.protocol import CloseCode
from server.serve import uvicorn_config
from tests.helpers_foundation import client_frame
from tests.server_fixture import RunningServer, make_config, run_server
from tests.test_connection import DESCRIPTION, _connection
from tests.test_shutdown import http_get
from tests.wire import TIMEOUT, WsClient, open_client

LIMIT_S = 10.0


class StallingClient:
    """A WebSocket client that reads only inside its own calls."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.session_id = ""
        self._events: list[object] = []

    @classmethod
    async def connect(cls, port: int, token: str) -> StallingClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/ws"))
        request = protocol.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        protocol.send_request(request)
        client = cls(sock, protocol)
        await client._flush()
        response = await client._next(lambda event: isinstance(event, Response))
        assert isinstance(response, Response) and response.status_code == 101, response
        client.session_id = (await client._message("welcome")).welcome.session_id
        return client

    async def subscribe_tenant_feed(self) -> None:
        frame = client_frame("subscribe", session_pb2.Subscribe(tenant_feed=True), "sub")
        self.protocol.send_binary(frame)
        await self._flush()
        await self._message("response")

    def close(self) -> None:
        self.sock.close()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        for data in self.protocol.data_to_send():
            await loop.sock_sendall(self.sock, data)

    async def _next(self, wanted: Callable[[object], bool]) -> object:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT):
            while True:
                self._events += self.protocol.events_received()
                while self._events:
                    event = self._events.pop(0)
                    if wanted(event):
                        return event
                data = await loop.sock_recv(self.sock, 65536)
                assert data, "the server closed the connection"
                self.protocol.receive_data(data)

    async def _message(self, kind: str) -> env.ServerMessage:
        def wanted(event: object) -> bool:
            return isinstance(event, Frame) and event.opcode is Opcode.BINARY

        while True:
            frame = await self._next(wanted)
            assert isinstance(frame, Frame)
            message = env.ServerMessage()
            message.ParseFromString(bytes(frame.data))
            if message.WhichOneof("payload") == kind:
                return message


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Polls: a socket's teardown is seen from outside, with no event to wait on."""
    async with asyncio.timeout(LIMIT_S):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def _health(port: int) -> Any:
    _, body = await http_get(port, "/healthz")
    return json.loads(body)


def _server_side(running: RunningServer, client: StallingClient) -> WebSocketsSansIOProtocol:
    """The server's protocol instance for `client`'s socket."""
    address = client.sock.getsockname()
    [found] = [
        protocol
        for protocol in running.uvicorn_server.server_state.connections
        if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.client == address
    ]
    return found


def _stalled(protocol: WebSocketsSansIOProtocol) -> bool:
    """Whether the socket no longer takes what the server writes."""
    return not protocol.writable.is_set()


async def _create(writer: WsClient, n: int) -> None:
    await writer.ok(
        "create_project",
        projects_msg.CreateProject(key=f"P{n}", name="Big", description=DESCRIPTION),
    )


async def test_given_a_peer_that_stopped_reading_when_cut_off_with_4008_then_its_socket_is_gone(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, send_queue_limit=4, close_timeout_ms=200)
    async with run_server(config) as running:
        writer = await open_client(running.ws_url, running.token(user="writer"))
        slow = await StallingClient.connect(running.port, running.token(user="slow"))
        try:
            await slow.subscribe_tenant_feed()
            slow_conn = _connection(running, slow.session_id)
            slow_socket = _server_side(running, slow)
            created = 0
            while slow_conn.close_code is None and created < 400:
                await _create(writer, created)
                created += 1
            assert_that(slow_conn.close_code, equal_to(CloseCode.SLOW_CONSUMER))

            async def gone() -> bool:
                sockets = running.uvicorn_server.server_state.connections
                health = await _health(running.port)
                return slow_socket not in sockets and health["connections"] == 1

            await _eventually(gone)

            # Left: the writer, and the socket of this very /healthz request.
            assert_that(await _health(running.port), has_entries(connections=1, sockets=2))
            remaining = [conn.session_id for conn in running.services.connections]
            assert_that(remaining, equal_to([writer.welcome.session_id]))
        finally:
            await writer.close()
            slow.close()


async def test_given_a_stalled_peer_when_the_heartbeat_times_out_then_4001_and_its_socket_is_gone(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path,
        heartbeat_interval_ms=1_000,
        heartbeat_timeout_ms=3_000,
        send_queue_bytes=256 * 1_048_576,
        close_timeout_ms=200,
    )
    async with run_server(config) as running:
        writer = await open_client(running.ws_url, running.token(user="writer"))
        slow = await StallingClient.connect(running.port, running.token(user="slow"))
        try:
            await slow.subscribe_tenant_feed()
            slow_conn = _connection(running, slow.session_id)
            stalled = _server_side(running, slow)
            created = 0
            while not _stalled(stalled) and created < 400:
                await _create(writer, created)
                created += 1
            assert_that(_stalled(stalled), equal_to(True))
            assert_that(slow_conn.close_code, none())

            async def gone() -> bool:
                return stalled not in running.uvicorn_server.server_state.connections

            await _eventually(gone)

            assert_that(slow_conn.close_code, equal_to(CloseCode.HEARTBEAT_TIMEOUT))
            assert_that(slow_conn, is_not(is_in(running.services.connections)))
        finally:
            await writer.close()
            slow.close()


@asynccontextmanager
async def _serving(config: Config) -> AsyncIterator[tuple[RunningServer, asyncio.Task[None]]]:
    """run_server, but the test itself stops the server and waits for it to finish."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    uv_server = uvicorn.Server(uvicorn_config(create_app(config), config, log_level="warning"))
    task = asyncio.create_task(uv_server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(LIMIT_S):
            while not uv_server.started:
                assert not task.done(), task
                await asyncio.sleep(0.005)
        yield RunningServer(config, sock.getsockname()[1], uv_server), task
    finally:
        uv_server.should_exit = uv_server.force_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()


async def test_given_a_stalled_peer_when_the_server_shuts_down_then_it_still_finishes(
    tmp_path: Path,
) -> None:
    # uvicorn would wait up to the graceful timeout for the connection: far past LIMIT_S.
    config = make_config(
        tmp_path,
        graceful_shutdown_seconds=60,
        send_queue_bytes=256 * 1_048_576,
        close_timeout_ms=200,
    )
    async with _serving(config) as (running, serving):
        writer = await open_client(running.ws_url, running.token(user="writer"))
        slow = await StallingClient.connect(running.port, running.token(user="slow"))
        try:
            await slow.subscribe_tenant_feed()
            stalled = _server_side(running, slow)
            created = 0
            while not _stalled(stalled) and created < 400:
                await _create(writer, created)
                created += 1
            assert_that(_stalled(stalled), equal_to(True))

            running.uvicorn_server.should_exit = True
            async with asyncio.timeout(LIMIT_S):
                await serving

            assert_that(running.uvicorn_server.server_state.connections, equal_to(set()))
            assert_that(stalled.disconnected, equal_to(True))
        finally:
            await writer.close()
            slow.close()


async def test_given_a_server_with_idle_sockets_when_asking_healthz_then_it_counts_them(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        idle = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(3)]
        try:

            async def counted() -> bool:
                return bool((await _health(running.port))["sockets"] == 4)

            await _eventually(counted)

            assert_that(await _health(running.port), has_entries(connections=0, sockets=4))
        finally:
            for sock in idle:
                sock.close()
