"""`python -m server` as a real process: health, SIGTERM closes sockets with 1012, exits 0,
and what was acknowledged is there after a restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hamcrest import assert_that, contains_exactly, equal_to, has_entries

from pm.v1 import projects_pb2 as msg
from server import __version__ as SERVER_VERSION
from server.protocol import CloseCode
from server.tokens import mint_token
from tests.helpers_foundation import close_code, create_project
from tests.wire import open_client

ROOT = Path(__file__).resolve().parent.parent
SECRET = "shutdown-test-secret-0123456789-0123456789"
START_LIMIT_S = 20.0
EXIT_LIMIT_S = 20.0


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def token(self, user: str = "alice") -> str:
        return mint_token(SECRET, tenant_id="acme", user_id=user)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


async def _wait_healthy(server: ServerProcess) -> None:
    # Process start is the one place a bounded poll is the honest way to wait.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_LIMIT_S
    while loop.time() < deadline:
        if server.process.returncode is not None:
            raise AssertionError(f"server exited early:\n{server.log_text()}")
        try:
            status, _ = await http_get(server.port, "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"server did not become healthy:\n{server.log_text()}")


@asynccontextmanager
async def server_process(data_dir: Path, log: Path) -> AsyncIterator[ServerProcess]:
    port = _free_port()
    env = {
        **os.environ,
        "PM_PORT": str(port),
        "PM_DATA_DIR": str(data_dir),
        "PM_JWT_SECRET": SECRET,
        "PM_GRACEFUL_SHUTDOWN_SECONDS": "5",
    }
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "--log-level",
            "warning",
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    server = ServerProcess(process, port, log)
    try:
        await _wait_healthy(server)
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _stop(server: ServerProcess) -> int:
    server.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(EXIT_LIMIT_S):
        return await server.process.wait()


async def test_given_a_running_server_when_asking_healthz_then_200_json_with_counts(
    tmp_path: Path,
) -> None:
    async with server_process(tmp_path / "data", tmp_path / "server.log") as server:
        client = await open_client(server.ws_url, server.token())
        try:
            status, body = await http_get(server.port, "/healthz")
        finally:
            await client.close()
        health: Any = json.loads(body)

        assert_that(status, equal_to(200))
        assert_that(
            health,
            has_entries(status="ok", version=SERVER_VERSION, open_tenants=1, connections=1),
        )
        assert_that(await _stop(server), equal_to(0))


async def test_given_a_connected_client_when_sigterm_then_1012_exit_0_and_data_survives(
    tmp_path: Path,
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    async with server_process(data_dir, log) as server:
        client = await open_client(server.ws_url, server.token())
        created = (await create_project(client, "AB")).project

        exit_code = await _stop(server)
        code, _ = await close_code(client.ws, limit=EXIT_LIMIT_S)

        assert_that(code, equal_to(CloseCode.SERVICE_RESTART))
        assert_that(exit_code, equal_to(0), server.log_text())

    async with server_process(data_dir, log) as restarted:
        client = await open_client(restarted.ws_url, restarted.token())
        try:
            found = await client.ok("get_project", msg.GetProject(project_id=created.id))
            listed = await client.ok("list_projects", msg.ListProjects())
        finally:
            await client.close()
        assert_that(await _stop(restarted), equal_to(0))

    assert_that(found.project, equal_to(created))
    assert_that([p.key for p in listed.projects], contains_exactly("AB"))
    assert_that(client.welcome.current_seq, equal_to(1))


async def test_given_production_with_the_development_secret_when_starting_then_it_refuses(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PM_ENV": "production", "PM_DATA_DIR": str(tmp_path)}
    env.pop("PM_JWT_SECRET", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(EXIT_LIMIT_S):
        _, stderr = await process.communicate()

    assert_that(process.returncode, equal_to(2))
    assert_that(b"development JWT secret" in stderr, equal_to(True))
