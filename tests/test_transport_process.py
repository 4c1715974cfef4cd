"""`python -m server` as a real process, where its whole log can be read: no query string of
/ws in any line, and at the descriptor limit the server keeps serving and logs a count."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hamcrest import (
    assert_that,
    contains_string,
    equal_to,
    greater_than_or_equal_to,
    is_in,
    is_not,
    less_than,
    less_than_or_equal_to,
)
from hamcrest.core.matcher import Matcher

from pm.v1 import session_pb2
from tests.helpers_foundation import refused_status
from tests.test_shutdown import ROOT, SECRET, ServerProcess, _free_port, _wait_healthy, http_get
from tests.wire import TIMEOUT, open_client

EXIT_LIMIT_S = 20.0
DESCRIPTORS = 200


@asynccontextmanager
async def _server(
    tmp_path: Path, *, preexec_fn: Callable[[], None] | None = None, **env: str
) -> AsyncIterator[ServerProcess]:
    """The server at log level info, its stdout and stderr in one file; SIGTERM at the end."""
    port = _free_port()
    log = tmp_path / "server.log"
    environ = {
        # The shell's own PM_* settings must not change what a test sees.
        **{k: v for k, v in os.environ.items() if not k.startswith("PM_")},
        "PM_PORT": str(port),
        "PM_DATA_DIR": str(tmp_path / "data"),
        "PM_JWT_SECRET": SECRET,
        "PM_GRACEFUL_SHUTDOWN_SECONDS": "5",
        **env,
    }
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "--log-level",
            "info",
            cwd=ROOT,
            env=environ,
            stdout=sink,
            stderr=sink,
            preexec_fn=preexec_fn,
        )
    server = ServerProcess(process, port, log)
    try:
        await _wait_healthy(server)
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(EXIT_LIMIT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_given_upgrades_with_query_strings_when_logged_then_no_line_holds_one(
    tmp_path: Path,
) -> None:
    async with _server(tmp_path) as server:
        token = server.token()
        refused = await refused_status(f"{server.ws_url}?token={token}")
        client = await open_client(f"{server.ws_url}?x=1", token)
        await client.close()
        plain = [
            (await http_get(server.port, f"{path}?token={token}"))[0]
            for path in ("/ws", "/t/acme/ws")
        ]

    log = server.log_text()
    assert_that((refused, plain), equal_to((401, [404, 404])))
    # The lines were written (one per refusal, one per session), just without the query.
    assert_that(log, contains_string("upgrade 401: tokens are not accepted in the query string"))
    assert_that(log, contains_string(f"session {client.welcome.session_id} opened"))
    assert_that(log, contains_string('"GET /t/acme/ws HTTP/1.1" 404'))
    no_token: Matcher[str] = is_not(contains_string(token))
    no_ws_query: Matcher[str] = is_not(contains_string("/ws?"))
    assert_that(log, no_token)
    assert_that(log, no_ws_query)


async def _refused(port: int) -> str:
    """How a new socket fares: the start of its answer, or how it was closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.read()
        return answer[:12].decode("latin-1") or "closed"
    except ConnectionResetError:
        return "reset"
    finally:
        writer.close()


def _descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


async def test_given_the_descriptor_limit_when_idle_sockets_pile_up_then_service_and_log_hold(
    tmp_path: Path,
) -> None:
    async with _server(
        tmp_path,
        preexec_fn=_descriptor_limit,
        PM_MAX_OPEN_TENANTS="4",
        PM_HEADER_TIMEOUT_MS="60000",  # the idle sockets must stay for the test's length
    ) as server:
        client = await open_client(server.ws_url, server.token())
        loop = asyncio.get_running_loop()
        idle: list[socket.socket] = []
        try:
            for _ in range(DESCRIPTORS + 50):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", server.port))
                idle.append(sock)

            await client.send("ping", session_pb2.Ping(), "still-served")
            pong = await client._wait_for(lambda m: m.WhichOneof("payload") == "pong")
            new_socket = await _refused(server.port)
            alive = server.process.returncode is None
        finally:
            for sock in idle:
                sock.close()
        await client.close()

    log = server.log_text()
    lines = log.splitlines()
    refusals = [line for line in lines if "refused" in line or "accept() failed" in line]
    assert_that((pong.pong.request_id, alive), equal_to(("still-served", True)))
    assert_that(new_socket, is_in(["HTTP/1.1 503", "closed", "reset"]))
    assert_that(server.process.returncode, equal_to(0))
    assert_that([line for line in lines if "Traceback" in line], equal_to([]), log)
    assert_that(len(refusals), greater_than_or_equal_to(1))
    assert_that(len(refusals), less_than_or_equal_to(10))
    assert_that(
        len([line for line in lines if "Too many open files" in line]), less_than_or_equal_to(10)
    )
    assert_that(len(lines), less_than(50))


async def test_given_a_soft_descriptor_limit_under_the_hard_one_when_starting_then_raised(
    tmp_path: Path,
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= DESCRIPTORS:
        pytest.skip("needs a finite hard limit above the soft one the test sets")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))

    async with _server(tmp_path, preexec_fn=low_soft_limit) as server:
        limits = await asyncio.to_thread(Path(f"/proc/{server.process.pid}/limits").read_text)

    [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert_that(line.split()[3:5], equal_to([str(hard), str(hard)]))
