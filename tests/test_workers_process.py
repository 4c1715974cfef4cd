"""`python -m server` with PM_WORKERS=2 as a real process: a supervisor and two workers on
one port joined by a Redis of the test's own; writes reach watchers on either worker;
SIGTERM stops every worker and exits 0; a killed worker is started again; no broker, no
start.

Which worker holds a connection is read from /proc (Linux, as SO_REUSEPORT's spreading
is): the server side of a socket is the /proc/net/tcp entry whose remote port is the
client's, and the worker is the process holding that socket's inode."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from hamcrest import (
    assert_that,
    contains_string,
    equal_to,
    has_length,
    only_contains,
)

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as items_msg
from server.protocol import CloseCode
from server.tokens import mint_token
from server.workers import broker_for_display, worker_index
from tests.boards import create_project
from tests.helpers_foundation import close_code
from tests.redis_server import RedisServer
from tests.test_shutdown import (
    EXIT_LIMIT_S,
    ROOT,
    SECRET,
    START_LIMIT_S,
    ServerProcess,
    _free_port,
    _wait_healthy,
    http_get,
)
from tests.wire import WsClient, open_client

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads sockets and processes from /proc"
)

WORKERS = 2
# Enough that both workers hold some, however the kernel's hash falls.
MAX_CONNECTIONS = 48
_LISTEN, _ESTABLISHED = "0A", "01"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _argv(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _tcp_entries() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket."""
    entries = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        entries.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state, inode))
    return entries


def _owner(inode: str, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


def _listeners(port: int, pids: list[int]) -> list[int | None]:
    """The owner of each listening socket on the port."""
    return sorted(
        (
            _owner(inode, pids)
            for local, _, state, inode in _tcp_entries()
            if local == port and state == _LISTEN
        ),
        key=lambda pid: pid or 0,
    )


def _worker_of(server: ServerProcess, pids: list[int], client: WsClient) -> int | None:
    client_port = int(client.ws.local_address[1])
    for local, remote, state, inode in _tcp_entries():
        if local == server.port and remote == client_port and state == _ESTABLISHED:
            return _owner(inode, pids)
    return None


async def _wait_workers(server: ServerProcess, avoid: frozenset[int] = frozenset()) -> list[int]:
    """The worker pids once WORKERS of them (none in `avoid`) listen on the port."""
    # Process start is the one place a bounded poll is the honest way to wait: a worker
    # listens only once its lifespan has started.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_LIMIT_S
    while loop.time() < deadline:
        if server.process.returncode is not None:
            raise AssertionError(f"supervisor exited early:\n{server.log_text()}")
        pids = [p for p in _children(server.process.pid) if p not in avoid]
        owners = [
            _owner(inode, pids)
            for local, _, state, inode in _tcp_entries()
            if local == server.port and state == _LISTEN
        ]
        if len(pids) == WORKERS and sorted(o for o in owners if o is not None) == pids:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError(f"{WORKERS} workers did not listen:\n{server.log_text()}")


@asynccontextmanager
async def _cluster(
    tmp_path: Path, redis: RedisServer, *args: str, **env: str
) -> AsyncIterator[tuple[ServerProcess, list[int]]]:
    """The supervisor with its workers listening; SIGTERM at the end if still running."""
    port = _free_port()
    log = tmp_path / "server.log"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PM_")},
        "PM_PORT": str(port),
        "PM_DATA_DIR": str(tmp_path / "data"),
        "PM_JWT_SECRET": SECRET,
        "PM_GRACEFUL_SHUTDOWN_SECONDS": "5",
        "PM_WORKERS": str(WORKERS),
        "PM_BROKER_URL": redis.url,
        **env,
    }
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "--log-level",
            "info",
            *args,
            cwd=ROOT,
            env=environ,
            stdout=sink,
            stderr=sink,
        )
    server = ServerProcess(process, port, log)
    try:
        await _wait_healthy(server)
        yield server, await _wait_workers(server)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(EXIT_LIMIT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def _spread(
    stack: AsyncExitStack,
    server: ServerProcess,
    pids: list[int],
    token: str,
    each: int,
) -> dict[int, list[WsClient]]:
    """Connections opened until every worker holds at least `each` of them."""
    held: dict[int, list[WsClient]] = {pid: [] for pid in pids}
    for _ in range(MAX_CONNECTIONS):
        if all(len(clients) >= each for clients in held.values()):
            break
        client = await open_client(server.ws_url, token)
        stack.push_async_callback(client.close)
        worker = _worker_of(server, pids, client)
        assert worker is not None, "no worker holds the connection"
        held[worker].append(client)
    return held


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_given_two_workers_when_started_then_each_listens_on_the_one_port(
    tmp_path: Path, redis: RedisServer
) -> None:
    # The development secret, so --dev prints its token: once, from the supervisor.
    async with _cluster(tmp_path, redis, "--dev", PM_JWT_SECRET="") as (server, pids):
        status, _ = await http_get(server.port, "/healthz")
        listeners = _listeners(server.port, pids)
        commands = [_argv(pid)[:3] for pid in pids]

    log = server.log_text()
    assert_that(status, equal_to(200))
    assert_that(listeners, equal_to(pids))
    assert_that(commands, only_contains([sys.executable.encode(), b"-m", b"server"]))
    assert_that(log, contains_string(f"{WORKERS} worker processes on 127.0.0.1:{server.port}"))
    assert_that(log, contains_string(f"joined by the broker {redis.url}"))
    assert_that(log.count("token:"), equal_to(1))


async def test_given_watchers_on_both_workers_when_each_worker_takes_a_write_then_all_see_both(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _cluster(tmp_path, redis) as (server, pids), AsyncExitStack() as stack:
        writer_token = mint_token(SECRET, tenant_id="acme", user_id="alice")
        first = await open_client(server.ws_url, writer_token)
        stack.push_async_callback(first.close)
        project_id = await create_project(first, "PM")
        viewer = mint_token(SECRET, tenant_id="acme", user_id="wendy", roles=["viewer"])
        watchers = await _spread(stack, server, pids, viewer, each=2)
        for clients in watchers.values():
            for watcher in clients:
                await watcher.subscribe(project_id)
        writers = await _spread(stack, server, pids, writer_token, each=1)

        for pid in pids:
            await writers[pid][0].ok(
                "create_work_item",
                items_msg.CreateWorkItem(
                    project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=f"via {pid}"
                ),
            )
        seen = {
            (pid, index): sorted(
                [(await watcher.event()).work_item_created.work_item.title for _ in pids]
            )
            for pid, clients in watchers.items()
            for index, watcher in enumerate(clients)
        }

    assert_that([len(clients) >= 2 for clients in watchers.values()], only_contains(True))
    assert_that(list(seen.values()), only_contains(sorted(f"via {pid}" for pid in pids)))


async def test_given_a_client_on_each_worker_when_sigterm_then_1012_all_workers_gone_exit_0(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _cluster(tmp_path, redis) as (server, pids), AsyncExitStack() as stack:
        token = mint_token(SECRET, tenant_id="acme", user_id="alice")
        clients = await _spread(stack, server, pids, token, each=1)

        server.process.send_signal(signal.SIGTERM)
        codes = [(await close_code(held[0].ws, limit=EXIT_LIMIT_S))[0] for held in clients.values()]
        async with asyncio.timeout(EXIT_LIMIT_S):
            exit_code = await server.process.wait()

    assert_that(codes, equal_to([CloseCode.SERVICE_RESTART] * WORKERS))
    assert_that(exit_code, equal_to(0), server.log_text())
    assert_that([_alive(pid) for pid in pids], only_contains(False))


async def test_given_a_worker_killed_when_the_supervisor_sees_it_then_logged_and_restarted(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _cluster(tmp_path, redis) as (server, pids):
        killed = pids[0]
        os.kill(killed, signal.SIGKILL)
        restarted = await _wait_workers(server, avoid=frozenset({killed}))
        status, _ = await http_get(server.port, "/healthz")

    assert_that(restarted, has_length(WORKERS))
    assert_that(killed in restarted, equal_to(False))
    assert_that(status, equal_to(200))
    assert_that(server.log_text(), contains_string(f"(pid {killed}) exited with status -9"))
    assert_that(server.process.returncode, equal_to(0))


async def test_given_two_workers_without_a_broker_when_starting_then_it_refuses_with_2(
    tmp_path: Path,
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
    environ.update({"PM_WORKERS": str(WORKERS), "PM_DATA_DIR": str(tmp_path)})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        cwd=ROOT,
        env=environ,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(EXIT_LIMIT_S):
        _, stderr = await process.communicate()

    assert_that(process.returncode, equal_to(2))
    assert_that(stderr.decode(), contains_string("configuration error: PM_WORKERS above 1"))
    assert_that(stderr.decode(), contains_string("PM_BROKER_URL"))


def test_given_a_broker_url_with_credentials_when_announced_then_no_password_is_printed() -> None:
    shown = [
        broker_for_display(url)
        for url in ("redis://127.0.0.1:6379/0", "rediss://user:s3cret@cache.example:6380/2")
    ]
    assert_that(shown, equal_to(["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/2"]))


def test_given_the_worker_marker_when_read_then_only_a_number_makes_a_worker() -> None:
    found = [worker_index(env) for env in ({}, {"PM_WORKER_INDEX": "1"}, {"PM_WORKER_INDEX": "x"})]
    assert_that(found, equal_to([None, 1, None]))
