"""/metrics with PM_WORKERS=2 as real processes: a scrape of either worker is the sum over
both, a killed worker's gauges leave the sums while its counts stay, and the supervisor
removes the shared directory when it exits.

Which worker answers a request is read from /proc, as in test_workers_process.py: the
request is sent on a kept-alive connection whose server side that worker holds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from hamcrest import assert_that, equal_to, has_length

from pm.v1 import entities_pb2 as pb
from pm.v1 import work_items_pb2 as items_msg
from server.metrics import MULTIPROC_ENV, REFRESH_S
from server.tokens import mint_token
from tests.boards import create_project
from tests.metrics_scrape import Scrape
from tests.redis_server import RedisServer
from tests.test_shutdown import SECRET, ServerProcess
from tests.test_workers_process import (
    _ESTABLISHED,
    MAX_CONNECTIONS,
    _cluster,
    _owner,
    _spread,
    _tcp_entries,
    _wait_workers,
)
from tests.wire import WsClient

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads sockets and processes from /proc"
)

# Both workers refresh within REFRESH_S; a few rounds of it is the bound of every wait.
CONVERGE_S = 10 * REFRESH_S
ITEMS_PER_CLIENT = 3


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return status, await reader.readexactly(length)


def _server_side_owner(port: int, client_port: int, pids: list[int]) -> int | None:
    for local, remote, state, inode in _tcp_entries():
        if local == port and remote == client_port and state == _ESTABLISHED:
            return _owner(inode, pids)
    return None


async def _scrape_each_worker(server: ServerProcess, pids: list[int]) -> dict[int, Scrape]:
    """One /metrics answer from each worker."""
    found: dict[int, Scrape] = {}
    for _ in range(MAX_CONNECTIONS):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            # Answered first, so that the worker has accepted the socket (and holds it).
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await _read_response(reader)
            owner = _server_side_owner(server.port, writer.get_extra_info("sockname")[1], pids)
            if owner is not None and owner not in found:
                writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                status, body = await _read_response(reader)
                found[owner] = Scrape(status, "text/plain", body.decode())
        finally:
            writer.close()
            await writer.wait_closed()
        if len(found) == len(pids):
            return found
    raise AssertionError(f"no request reached every worker of {pids}")


async def _until_every_worker_says(
    server: ServerProcess, pids: list[int], holds: Callable[[Scrape], bool]
) -> dict[int, Scrape]:
    """Scrapes of each worker until all of them satisfy `holds` (the last ones either way)."""
    # The other workers' numbers arrive with their next refresh: a bounded poll of another
    # process is the honest wait here.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONVERGE_S
    while True:
        scrapes = await _scrape_each_worker(server, pids)
        if all(holds(s) for s in scrapes.values()) or loop.time() > deadline:
            return scrapes
        await asyncio.sleep(REFRESH_S / 4)


def _environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (entry.decode().split("=", 1) for entry in raw if b"=" in entry)
    return {key: value for key, value in pairs}


def _names_in(directory: Path) -> list[str] | None:
    """The directory's file names, None once it is gone."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else None


def _created(scrape: Scrape) -> float:
    return scrape.value("pm_commands_total", command="create_work_item", code="OK")


async def test_given_clients_on_both_workers_when_scraping_either_then_the_sum_over_both(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with _cluster(tmp_path, redis) as (server, pids), AsyncExitStack() as stack:
        metrics_dir = Path(_environ_of(pids[0])[MULTIPROC_ENV])
        token = mint_token(SECRET, tenant_id="acme", user_id="alice")
        held: dict[int, list[WsClient]] = await _spread(stack, server, pids, token, each=2)
        clients = [client for on_worker in held.values() for client in on_worker]
        project_id = await create_project(clients[0], "PM")
        for client in clients:
            await client.subscribe(project_id)
            for index in range(ITEMS_PER_CLIENT):
                await client.ok(
                    "create_work_item",
                    items_msg.CreateWorkItem(
                        project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=f"{index}"
                    ),
                )
        created = ITEMS_PER_CLIENT * len(clients)

        def summed(scrape: Scrape) -> bool:
            return (
                _created(scrape) == created
                and scrape.value("pm_connections") == len(clients)
                and scrape.value("pm_subscriptions") == len(clients)
            )

        converged = await _until_every_worker_says(server, pids, summed)

        # A killed worker: its connections and gauges go, its counts stay in the sums.
        killed, survivor = pids
        os.kill(killed, signal.SIGKILL)
        restarted = await _wait_workers(server, avoid=frozenset({killed}))
        left = len(held[survivor])

        def after_the_kill(scrape: Scrape) -> bool:
            return _created(scrape) == created and scrape.value("pm_connections") == left

        after_kill = await _until_every_worker_says(server, restarted, after_the_kill)
        files_while_running = _names_in(metrics_dir)

    assert_that(list(converged), has_length(2))
    assert_that(
        {
            pid: (_created(s), s.value("pm_connections"), s.value("pm_subscriptions"))
            for pid, s in converged.items()
        },
        equal_to({pid: (created, len(clients), len(clients)) for pid in pids}),
    )
    assert_that(
        {pid: (_created(s), s.value("pm_connections")) for pid, s in after_kill.items()},
        equal_to({pid: (created, left) for pid in restarted}),
    )
    left_behind = files_while_running or []
    assert_that(f"gauge_livesum_{killed}.db" in left_behind, equal_to(False))
    assert_that(f"counter_{killed}.db" in left_behind, equal_to(True))
    assert_that(_names_in(metrics_dir), equal_to(None))
    assert_that(server.process.returncode, equal_to(0))
