"""Request heads: one that does not arrive in time is dropped, one that is too large is
answered 431 and closed, for plain HTTP requests and WebSocket upgrades alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hamcrest import assert_that, equal_to, starts_with

from pm.v1 import session_pb2
from tests.server_fixture import RunningServer, make_config, run_server
from tests.test_connection import _pong
from tests.wire import TIMEOUT, open_client


async def _exchange(port: int, data: bytes) -> str:
    """Send `data`, then read everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(TIMEOUT):
            return (await reader.read()).decode("latin-1")
    finally:
        writer.close()


def _upgrade(running: RunningServer, *extra: tuple[str, str]) -> bytes:
    """An upgrade the server accepts, but for the `extra` headers."""
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: 127.0.0.1:{running.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        f"Authorization: Bearer {running.token()}",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
    ids=["nothing", "an unfinished head"],
)
async def test_given_a_socket_without_a_whole_head_when_the_header_timeout_passes_then_dropped(
    tmp_path: Path, sent: bytes
) -> None:
    async with run_server(make_config(tmp_path, header_timeout_ms=200)) as running:
        answer = await _exchange(running.port, sent)

        assert_that(answer, equal_to(""))


async def test_given_the_header_timeout_when_a_request_arrives_in_time_then_it_is_answered(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, header_timeout_ms=200)) as running:
        answer = await _exchange(
            running.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )

        assert_that(answer, starts_with("HTTP/1.1 200 "))


async def test_given_the_header_timeout_when_a_websocket_stays_open_longer_then_it_is_kept(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, header_timeout_ms=100, heartbeat_interval_ms=150)
    async with run_server(config) as running:
        client = await open_client(running.ws_url, running.token())
        try:
            for _ in range(3):  # three heartbeat intervals: several header timeouts
                await client._wait_for(lambda m: m.WhichOneof("payload") == "ping")
                await client.send("pong", session_pb2.Pong())

            pong = await _pong(client, "after-the-timeout")

            assert_that(pong.request_id, equal_to("after-the-timeout"))
        finally:
            await client.close()


@pytest.mark.parametrize("line_bytes", [9_000, 50_000, 100_000])
async def test_given_an_upgrade_with_one_oversized_header_line_when_sent_then_431_and_closed(
    server: RunningServer, line_bytes: int
) -> None:
    answer = await _exchange(server.port, _upgrade(server, ("X-Big", "a" * line_bytes)))

    assert_that(answer, starts_with("HTTP/1.1 431 "))


async def test_given_an_upgrade_with_too_many_headers_when_sent_then_431_and_closed(
    server: RunningServer,
) -> None:
    many = [(f"X-H{i}", "v") for i in range(200)]

    answer = await _exchange(server.port, _upgrade(server, *many))

    assert_that(answer, starts_with("HTTP/1.1 431 "))


async def test_given_a_plain_request_with_100_kb_of_headers_when_sent_then_431_and_closed(
    server: RunningServer,
) -> None:
    headers = "".join(f"X-H{i}: {'a' * 5_000}\r\n" for i in range(20))
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()

    answer = await _exchange(server.port, request)

    assert_that(answer, starts_with("HTTP/1.1 431 "))


async def test_given_a_plain_request_with_headers_under_the_limit_when_sent_then_answered(
    server: RunningServer,
) -> None:
    headers = "".join(f"X-H{i}: {'a' * 5_000}\r\n" for i in range(10))
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode()

    answer = await _exchange(server.port, request)

    assert_that(answer, starts_with("HTTP/1.1 200 "))
