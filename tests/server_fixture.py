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
from server.hub import Hub
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

    async def app_tasks_done(self) -> None:
        """Every request's task (a session's included) has returned: uvicorn logs an upgrade,
        and a session ends, only after the client has seen its answer or close."""
        tasks = set(self.uvicorn_server.server_state.tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=10)

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


class _TestServer(uvicorn.Server):
    """uvicorn's Server without its 0.1 s ticks: it notices should_exit at once and polls
    for connections and tasks to finish every few milliseconds. With a server per test,
    the ticks were half the suite's time. Shutdown does what uvicorn's does, in its order:
    stop accepting, close every connection (1012), wait for them and their tasks within
    the graceful timeout (then cancel), then the lifespan's shutdown."""

    _POLL_S = 0.002

    async def main_loop(self) -> None:
        self._exit_requested = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            try:
                async with asyncio.timeout(0.1):
                    await self._exit_requested.wait()
            except TimeoutError:
                pass

    def request_exit(self) -> None:
        self.should_exit = True
        requested = getattr(self, "_exit_requested", None)
        if requested is not None:
            requested.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                # uvicorn's sets of connections and tasks have no event to wait on.
                while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110
                    await asyncio.sleep(self._POLL_S)
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


@asynccontextmanager
async def run_server(
    config: Config, *, hub: Hub | None = None, port: int = 0
) -> AsyncIterator[RunningServer]:
    """The server on a free port, or on `port` again (a restart that clients reconnect to)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    uv_config = uvicorn_config(create_app(config, hub=hub), config, log_level="warning")
    uv_server = _TestServer(uv_config)
    task = asyncio.create_task(uv_server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not uv_server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
        yield RunningServer(config, port, uv_server)
    finally:
        uv_server.request_exit()
        async with asyncio.timeout(15):
            await task
        sock.close()
