"""A real pm-server under uvicorn on a free port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from server.app import create_app
from server.config import Config
from server.serve import uvicorn_config
from server.tokens import mint_token


@dataclass
class RunningServer:
    config: Config
    port: int
    uvicorn_server: uvicorn.Server

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.uvicorn_server.config.loaded_app.app.state.services  # best effort

    def token(
        self,
        tenant: str = "acme",
        user: str = "alice",
        roles: list[str] | None = None,
        ttl: int = 3600,
    ) -> str:
        return mint_token(
            self.config.jwt_secret, tenant_id=tenant, user_id=user, roles=roles, ttl_seconds=ttl
        )


def make_config(tmp_path: object, **overrides: object) -> Config:
    base = Config(
        data_dir=tmp_path,  # type: ignore[arg-type]
        jwt_secret="test-secret-0123456789-0123456789-abcdef",
        heartbeat_interval_ms=30_000,
        graceful_shutdown_seconds=5,
    )
    return base.replace(**overrides)


@asynccontextmanager
async def run_server(config: Config) -> AsyncIterator[RunningServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv_config = uvicorn_config(create_app(config), config, log_level="warning")
    uv_server = uvicorn.Server(uv_config)
    task = asyncio.create_task(uv_server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not uv_server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
        yield RunningServer(config, port, uv_server)
    finally:
        uv_server.should_exit = True
        async with asyncio.timeout(15):
            await task
        sock.close()
