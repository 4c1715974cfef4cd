"""/readyz against the real server: ready normally; unready (503, with a reason) only while
tenant databases cannot be created, and ready again once they can; a broker outage is
degraded in /healthz and still ready."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import httpx
from hamcrest import assert_that, contains_string, equal_to

from server.hub import InProcessHub
from server.readiness import Readiness
from tests.boards import create_project
from tests.metrics_scrape import scrape
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import open_client

TIMEOUT = 10.0


async def _get(server: RunningServer, path: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as client:
        response = await client.get(path)
    body: dict[str, object] = json.loads(response.text)
    return response.status_code, body


def _readiness(server: RunningServer) -> Readiness:
    readiness = server.services.readiness
    assert isinstance(readiness, Readiness)
    return readiness


def _replace_with_a_file(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.write_text("not a directory")


async def test_given_a_fresh_server_when_asking_readyz_then_200_ready_there_and_under_a_tenant(
    server: RunningServer,
) -> None:
    plain = await _get(server, "/readyz")
    prefixed = await _get(server, "/t/acme/readyz")

    assert_that(plain, equal_to((200, {"status": "ready"})))
    assert_that(prefixed, equal_to((200, {"status": "ready"})))


async def test_given_a_file_where_the_tenants_directory_belongs_when_asking_then_503_then_ready(
    server: RunningServer, tmp_path: Path
) -> None:
    client = await open_client(server.ws_url, server.token())
    await create_project(client, "PM")
    await client.close()
    tenants = tmp_path / "tenants"

    _replace_with_a_file(tenants)
    broken = await _get(server, "/readyz")
    tenants.unlink()
    recovered = await _get(server, "/readyz")
    reopened = await open_client(server.ws_url, server.token(tenant="globex"))
    await reopened.close()

    status, body = broken
    assert_that(status, equal_to(503))
    assert_that(body["status"], equal_to("unready"))
    assert_that(str(body["reason"]), contains_string("File exists"))
    assert_that(str(body["reason"]).count(str(tmp_path)), equal_to(0))  # no path: unauthenticated
    assert_that(recovered, equal_to((200, {"status": "ready"})))
    assert_that(tenants.is_dir(), equal_to(True))


async def test_given_a_disk_refusing_new_files_when_asking_readyz_then_503_until_it_accepts(
    server: RunningServer,
) -> None:
    readiness = _readiness(server)
    accepting = readiness.create_probe

    def refuse(directory: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    readiness.create_probe = refuse
    full = await _get(server, "/readyz")
    readiness.create_probe = accepting
    freed = await _get(server, "/readyz")

    assert_that(
        full,
        equal_to(
            (
                503,
                {
                    "status": "unready",
                    "reason": "cannot create tenant databases: No space left on device",
                },
            )
        ),
    )
    assert_that(freed, equal_to((200, {"status": "ready"})))


class _BrokerAway(InProcessHub):
    """A broker-backed hub whose broker is down: delivery within the process goes on."""

    needs_tail = True

    @property
    def state(self) -> str:
        return "degraded"


async def test_given_the_broker_away_when_asking_then_healthz_degraded_and_readyz_still_ready(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path), hub=_BrokerAway()) as running:
        health = await _get(running, "/healthz")
        ready = await _get(running, "/readyz")
        metrics = await scrape(running.http_url)

    assert_that(health[0], equal_to(200))
    assert_that((health[1]["status"], health[1]["broker"]), equal_to(("degraded", "degraded")))
    assert_that(ready, equal_to((200, {"status": "ready"})))
    assert_that(metrics.value("pm_broker_state", state="degraded"), equal_to(1))
    assert_that(metrics.value("pm_broker_state", state="ok"), equal_to(0))
