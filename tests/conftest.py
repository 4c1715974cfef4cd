from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, redis_server
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with run_server(make_config(tmp_path)) as running:
        yield running


ClientFactory = Callable[..., Awaitable[WsClient]]


@pytest.fixture
async def connect(server: RunningServer) -> AsyncIterator[ClientFactory]:
    """connect(tenant=, user=, roles=) opens an authenticated client; all close at the end."""
    opened: list[WsClient] = []

    async def factory(
        tenant: str = "acme", user: str = "alice", roles: list[str] | None = None
    ) -> WsClient:
        client = await open_client(server.ws_url, server.token(tenant, user, roles))
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.close()


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of the test's own, on a free port (tests/redis_server.py)."""
    async with redis_server(tmp_path / "redis") as server:
        yield server
