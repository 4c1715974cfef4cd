"""A connection's life: Ping/Pong, bad frames, close codes, heartbeats, slow consumers.

End to end against uvicorn where the socket matters; the slow consumer also at unit level,
where a peer that stops reading can be made exactly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message
from hamcrest import (
    assert_that,
    contains_exactly,
    equal_to,
    has_length,
)

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import session_pb2
from server.auth import Principal
from server.config import MIN_MESSAGE_BYTES
from server.connection import Connection
from server.handlers import command_table
from server.hub import InProcessHub, PublishedEvent
from server.protocol import CloseCode
from server.runner import CommandRunner, Outcome
from tenants.manager import TenantDatabases
from tests.helpers_foundation import (
    FakeWebSocket,
    build_services,
    client_frame,
    close_code,
    create_project,
    fake_connection,
    parse_server,
    principal,
)
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client


async def _pong(client: WsClient, request_id: str) -> env.PongReply:
    """The Pong answering request_id, skipping server Pings and anything else."""
    await client.send("ping", session_pb2.Ping(), request_id)
    while True:
        message = await client.receive()
        if message.WhichOneof("payload") == "pong" and message.pong.request_id == request_id:
            return message.pong


async def _error_response(client: WsClient) -> env.Response:
    while True:
        message = await client.receive()
        if message.WhichOneof("payload") == "response":
            return message.response


# --- Ping, bad frames -------------------------------------------------------------------------


async def test_given_a_ping_with_a_request_id_when_sent_then_a_pong_echoes_it(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())
    try:
        pong = await _pong(client, "ping-42")

        assert_that(pong.request_id, equal_to("ping-42"))
    finally:
        await client.close()


async def test_given_random_bytes_when_sent_then_invalid_argument_and_the_socket_stays_usable(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())
    try:
        await client.send_raw(b"\xff\xff\xff\xff\x0f garbage \x00\x01")

        response = await _error_response(client)

        assert_that(response.error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
        assert_that(response.request_id, equal_to(""))
        assert_that((await _pong(client, "after-garbage")).request_id, equal_to("after-garbage"))
    finally:
        await client.close()


async def test_given_an_empty_client_message_when_sent_then_invalid_argument_and_still_open(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())
    try:
        await client.send_raw(env.ClientMessage(request_id="empty-1").SerializeToString())

        response = await _error_response(client)

        assert_that(response.error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
        assert_that(response.request_id, equal_to("empty-1"))
        assert_that((await _pong(client, "after-empty")).request_id, equal_to("after-empty"))
    finally:
        await client.close()


async def test_given_an_unknown_command_number_when_sent_then_invalid_argument_and_still_open(
    server: RunningServer,
) -> None:
    # request_id "r-999" (field 1), then field 999 as a length-delimited payload: a command
    # from a newer protocol version.
    tag_999 = bytes([0xBA, 0x3E])  # (999 << 3) | 2 as a varint
    frame = b"\x0a\x05r-999" + tag_999 + b"\x02\x08\x01"
    client = await open_client(server.ws_url, server.token())
    try:
        await client.send_raw(frame)

        response = await _error_response(client)

        assert_that(response.error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
        assert_that(response.request_id, equal_to("r-999"))
        assert_that((await _pong(client, "after-999")).request_id, equal_to("after-999"))
    finally:
        await client.close()


async def test_given_a_command_without_request_id_when_sent_then_invalid_argument_on_it(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())
    try:
        await client.send_raw(
            client_frame("create_project", projects_msg.CreateProject(key="AB", name="A"), "")
        )

        response = await _error_response(client)

        assert_that(response.error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
        assert_that(response.error.field, equal_to("request_id"))
        listed = await client.ok("list_projects", projects_msg.ListProjects())
        assert_that(listed.projects, has_length(0))
    finally:
        await client.close()


async def test_given_an_overlong_request_id_when_sent_then_invalid_argument_on_it(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())
    try:
        await client.send_raw(client_frame("list_projects", projects_msg.ListProjects(), "r" * 129))

        response = await _error_response(client)

        assert_that(response.error.code, equal_to(env.ERROR_CODE_INVALID_ARGUMENT))
        assert_that(response.error.field, equal_to("request_id"))
        assert_that(response.request_id, equal_to(""))
    finally:
        await client.close()


async def test_given_a_ping_without_request_id_when_sent_then_a_pong_answers(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())
    try:
        pong = await _pong(client, "")

        assert_that(pong.request_id, equal_to(""))
    finally:
        await client.close()


# --- close codes ------------------------------------------------------------------------------


async def test_given_a_text_frame_when_sent_then_closed_with_1003(server: RunningServer) -> None:
    client = await open_client(server.ws_url, server.token())

    await client.send_raw("hello")

    code, _ = await close_code(client.ws)
    assert_that(code, equal_to(CloseCode.UNSUPPORTED_DATA))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _frame_of_size(size: int, request_id: str) -> bytes:
    """A valid Ping frame of exactly `size` bytes, padded with a field this server does not
    know (protobuf keeps unknown fields, so the frame still parses as a Ping)."""
    base = client_frame("ping", session_pb2.Ping(), request_id)
    tag = _varint(1000 << 3 | 2)  # field 1000, length-delimited
    pad = size - len(base) - len(tag)
    while True:  # the length prefix's own size shifts the padding by a byte or two
        frame = base + tag + _varint(pad) + b"x" * pad
        if len(frame) == size:
            return frame
        pad -= len(frame) - size


async def test_given_a_frame_over_the_size_limit_when_sent_then_closed_with_1009(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, max_message_bytes=MIN_MESSAGE_BYTES)) as running:
        client = await open_client(running.ws_url, running.token())

        await client.send_raw(_frame_of_size(MIN_MESSAGE_BYTES + 1, "over"))

        code, _ = await close_code(client.ws)
        assert_that(code, equal_to(CloseCode.MESSAGE_TOO_BIG))


async def test_given_a_frame_at_the_size_limit_when_sent_then_it_is_read(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, max_message_bytes=MIN_MESSAGE_BYTES)) as running:
        client = await open_client(running.ws_url, running.token())
        try:
            await client.send_raw(_frame_of_size(MIN_MESSAGE_BYTES, "at-limit"))

            pong = await client._wait_for(lambda m: m.WhichOneof("payload") == "pong")

            assert_that(pong.pong.request_id, equal_to("at-limit"))
        finally:
            await client.close()


# --- heartbeats -------------------------------------------------------------------------------


async def test_given_a_silent_client_when_the_timeout_passes_then_closed_with_4001(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, heartbeat_interval_ms=100)) as running:
        # WebSocket-level pings every 20 ms: uvicorn answers them, so they prove no liveness.
        client = await open_client(running.ws_url, running.token(), ping_interval=0.02)

        code, frames = await close_code(client.ws)

        assert_that(code, equal_to(CloseCode.HEARTBEAT_TIMEOUT))
        kinds = [parse_server(f).WhichOneof("payload") for f in frames]
        assert_that(set(kinds), equal_to({"ping"}))


async def test_given_a_client_answering_pings_when_intervals_pass_then_it_stays_open(
    tmp_path: Path,
) -> None:
    # 40 pings at 50 ms span 2.5 timeouts, so only the Pongs can keep it open; the 800 ms
    # timeout leaves a loaded machine 750 ms of slack per answer.
    config = make_config(tmp_path, heartbeat_interval_ms=50, heartbeat_timeout_ms=800)
    async with run_server(config) as running:
        client = await open_client(running.ws_url, running.token())
        try:
            pings = 0
            while pings < 40:
                message = await client.receive()
                if message.WhichOneof("payload") == "ping":
                    pings += 1
                    await client.send("pong", session_pb2.Pong())

            assert_that((await _pong(client, "still-here")).request_id, equal_to("still-here"))
        finally:
            await client.close()


async def test_given_a_token_expiring_while_connected_when_it_expires_then_closed_with_4003(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, jwt_leeway_seconds=0)) as running:
        client = await open_client(running.ws_url, running.token(ttl=2))

        code, _ = await close_code(client.ws, limit=10)

        assert_that(code, equal_to(CloseCode.TOKEN_EXPIRED))


# --- slow consumers ---------------------------------------------------------------------------

DESCRIPTION = "x" * 60_000


async def _small_window_client(running: RunningServer) -> WsClient:
    """A client whose socket buffers almost nothing: once it stops reading, so does TCP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.port))
    return await open_client(running.ws_url, running.token(user="slow"), sock=sock, max_queue=1)


def _connection(running: RunningServer, session_id: str) -> Connection:
    found = [c for c in running.services.connections if c.session_id == session_id]
    assert_that(found, has_length(1))
    conn = found[0]
    assert isinstance(conn, Connection)
    return conn


async def test_given_a_client_that_never_reads_when_events_pile_up_then_4008_and_others_unharmed(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, send_queue_limit=4)
    async with run_server(config) as running:
        writer = await open_client(running.ws_url, running.token(user="writer"))
        observer = await open_client(running.ws_url, running.token(user="observer"))
        slow = await _small_window_client(running)
        try:
            await observer.subscribe(tenant_feed=True)
            await slow.subscribe(tenant_feed=True)
            slow_conn = _connection(running, slow.welcome.session_id)

            created = 0
            while slow_conn.close_code is None and created < 400:
                await writer.ok(
                    "create_project",
                    projects_msg.CreateProject(
                        key=f"P{created}", name="Big", description=DESCRIPTION
                    ),
                )
                created += 1
                assert_that((await observer.event()).seq, equal_to(created))

            assert_that(slow_conn.close_code, equal_to(CloseCode.SLOW_CONSUMER))
            code, _ = await close_code(slow.ws, limit=30)
            assert_that(code, equal_to(CloseCode.SLOW_CONSUMER))
            assert_that(await observer.events_until_quiet(), has_length(0))
            await create_project(writer, "AFTER")
            assert_that((await observer.event()).seq, equal_to(created + 1))
        finally:
            await writer.close()
            await observer.close()
            await slow.close()


def _event(seq: int) -> PublishedEvent:
    return PublishedEvent("acme", seq, ("p",), True, f"frame-{seq}".encode())


async def test_given_a_blocked_peer_when_deliveries_exceed_the_queue_then_closed_with_4008(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, send_queue_limit=3)
    services = build_services(config)
    slow_ws, fine_ws = FakeWebSocket(), FakeWebSocket()
    slow = fake_connection(slow_ws, services, principal(user="slow"))
    fine = fake_connection(fine_ws, services, principal(user="fine"))
    serving = [asyncio.create_task(slow.serve()), asyncio.create_task(fine.serve())]
    try:
        assert_that((await slow_ws.next_message()).WhichOneof("payload"), equal_to("welcome"))
        assert_that((await fine_ws.next_message()).WhichOneof("payload"), equal_to("welcome"))
        for ws in (slow_ws, fine_ws):
            ws.feed(client_frame("subscribe", session_pb2.Subscribe(tenant_feed=True), "s"))
            await ws.response("s")
        slow_ws.gate.clear()

        received = []
        async with asyncio.timeout(5):
            for seq in range(1, 11):
                services.hub.publish(_event(seq))
                received.append(await fine_ws.sent.get())
            await slow_ws.closed.wait()

        assert_that(slow_ws.close_code, equal_to(CloseCode.SLOW_CONSUMER))
        assert_that(received, contains_exactly(*[_event(s).frame for s in range(1, 11)]))
        assert_that(fine.close_code, equal_to(None))
    finally:
        slow_ws.gate.set()
        fine_ws.disconnect()
        async with asyncio.timeout(5):
            await asyncio.gather(*serving)
        await services.databases.close()
    assert_that(services.connections, equal_to(set()))


async def test_given_a_closed_connection_when_it_ends_then_its_subscriptions_are_released(
    tmp_path: Path,
) -> None:
    services = build_services(make_config(tmp_path))
    ws = FakeWebSocket()
    conn = fake_connection(ws, services, principal(), subprotocol="pm.v1")
    serving = asyncio.create_task(conn.serve())
    try:
        await ws.next_message()
        ws.feed(client_frame("subscribe", session_pb2.Subscribe(tenant_feed=True), "s1"))
        response = await ws.response("s1")
        assert_that(response.HasField("subscribe"), equal_to(True))
        assert_that(ws.accepted_subprotocol, equal_to("pm.v1"))

        ws.disconnect()
        async with asyncio.timeout(5):
            await serving
    finally:
        await services.databases.close()

    hub = services.hub
    assert isinstance(hub, InProcessHub)
    assert_that((services.streams.open_count, hub.receiver_count()), equal_to((0, 0)))
    assert_that(services.connections, equal_to(set()))


class _CloseBlockedWebSocket(FakeWebSocket):
    """A peer that reads nothing, the close frame included, until `gate` opens."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.close_code = code
        self.closed.set()
        await self.gate.wait()
        await self.incoming.put({"type": "websocket.disconnect", "code": code})


async def test_given_a_slow_consumer_when_cut_off_then_deliveries_stop_before_the_close_completes(
    tmp_path: Path,
) -> None:
    services = build_services(make_config(tmp_path, send_queue_limit=2))
    ws = _CloseBlockedWebSocket()
    conn = fake_connection(ws, services, principal())
    serving = asyncio.create_task(conn.serve())
    hub = services.hub
    assert isinstance(hub, InProcessHub)
    try:
        await ws.next_message()
        ws.feed(client_frame("subscribe", session_pb2.Subscribe(tenant_feed=True), "s1"))
        await ws.response("s1")
        ws.gate.clear()

        async with asyncio.timeout(5):
            seq = 0
            while not ws.closed.is_set():
                seq += 1
                hub.publish(_event(seq))
                await asyncio.sleep(0)  # let the writer and the closer run

        assert_that(ws.close_code, equal_to(CloseCode.SLOW_CONSUMER))
        # Cut off the stream at once, before its close handshake completes.
        assert_that(services.streams.open_count, equal_to(0))
    finally:
        ws.gate.set()
        async with asyncio.timeout(5):
            await serving
        await services.databases.close()


class _BlockingRunner(CommandRunner):
    """Holds every command until `release` is set, like a long-running write."""

    def __init__(self, databases: TenantDatabases) -> None:
        super().__init__(databases, command_table())
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.held: list[asyncio.Future[None]] = []

    async def run(
        self, principal: Principal, request_id: str, name: str, command: Message
    ) -> Outcome:
        self.entered.set()
        await self.release.wait()
        return await super().run(principal, request_id, name, command)

    def submit(
        self,
        principal: Principal,
        request_id: str,
        name: str,
        command: Message,
        done: Callable[[Outcome], None],
    ) -> None:
        self.entered.set()

        async def later() -> None:
            await self.release.wait()
            CommandRunner.submit(self, principal, request_id, name, command, done)

        self.held.append(asyncio.ensure_future(later()))


async def test_given_a_command_longer_than_the_heartbeat_timeout_when_it_runs_then_no_4001(
    tmp_path: Path,
) -> None:
    services = build_services(make_config(tmp_path, heartbeat_interval_ms=40))
    runner = _BlockingRunner(services.databases)
    services = dataclasses.replace(services, runner=runner)
    ws = FakeWebSocket()
    conn = fake_connection(ws, services, principal())
    serving = asyncio.create_task(conn.serve())
    try:
        await ws.next_message()
        ws.feed(client_frame("list_projects", projects_msg.ListProjects(), "slow"))
        pings = 0
        async with asyncio.timeout(5):
            while pings < 6:  # six intervals: three heartbeat timeouts while busy
                if (await ws.next_message()).WhichOneof("payload") == "ping":
                    pings += 1
        assert_that(conn.close_code, equal_to(None))

        runner.release.set()
        response = await ws.response("slow")

        assert_that(response.HasField("list_projects"), equal_to(True))
        async with asyncio.timeout(5):
            await ws.closed.wait()  # silent afterwards: the heartbeat still closes it
        assert_that(ws.close_code, equal_to(CloseCode.HEARTBEAT_TIMEOUT))
    finally:
        runner.release.set()
        async with asyncio.timeout(5):
            await serving
        await services.databases.close()


async def test_given_a_command_in_flight_when_its_connection_closes_then_others_still_get_the_event(
    tmp_path: Path,
) -> None:
    # A short heartbeat interval: the heartbeat looks at the token's expiry on every wake-up.
    config = make_config(tmp_path, heartbeat_interval_ms=50, heartbeat_timeout_ms=60_000)
    services = build_services(config)
    runner = _BlockingRunner(services.databases)
    services = dataclasses.replace(services, runner=runner)
    closing_ws, watcher_ws = FakeWebSocket(), FakeWebSocket()
    closing = fake_connection(closing_ws, services, principal(user="alice"))
    watcher = fake_connection(watcher_ws, services, principal(user="wendy"))
    serving = [asyncio.create_task(closing.serve()), asyncio.create_task(watcher.serve())]
    try:
        await closing_ws.next_message()
        await watcher_ws.next_message()
        watcher_ws.feed(client_frame("subscribe", session_pb2.Subscribe(tenant_feed=True), "s"))
        await watcher_ws.response("s")
        closing_ws.feed(
            client_frame("create_project", projects_msg.CreateProject(key="PM", name="P"), "c")
        )
        async with asyncio.timeout(5):
            await runner.entered.wait()
        # The token runs out while the command is in flight.
        closing.principal = dataclasses.replace(closing.principal, expires_at=time.time())
        async with asyncio.timeout(5):
            await closing_ws.closed.wait()
            await serving[0]

        runner.release.set()
        event = await watcher_ws.next_message()
        while event.WhichOneof("payload") == "ping":
            event = await watcher_ws.next_message()

        assert_that(closing_ws.close_code, equal_to(CloseCode.TOKEN_EXPIRED))
        assert_that(event.event.WhichOneof("change"), equal_to("project_created"))
    finally:
        runner.release.set()
        watcher_ws.disconnect()
        async with asyncio.timeout(5):
            await asyncio.gather(*serving)
        await services.databases.close()
