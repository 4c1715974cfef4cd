"""A restore through one of two `python -m server` processes joined by Redis, one data
directory: both processes close the tenant's connections with 1012 (and no other tenant's),
the other process serves the restored file under its new epoch, and a resume in the old
epoch answers RESYNC_REQUIRED. With the broker away the restore is refused and nothing is
written; a process that does not let go in time makes the restorer give up, and lets go
itself once it can."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from hamcrest import assert_that, contains_string, empty, equal_to, is_not
from websockets.exceptions import InvalidStatus

from pm.v1 import session_pb2
from server import redis_hub
from server.admin import OPERATOR_CLAIM
from server.hub import ResetRefused
from server.redis_hub import RedisHub
from server.tokens import mint_token
from tenants import backup
from tests.boards import create_item, create_project
from tests.redis_server import RedisServer
from tests.tenant_state import snapshot
from tests.test_backup_restore_e2e import RESYNC, _closed_with, _still_answers, _titles
from tests.test_redis_process_e2e import _pair
from tests.test_shutdown import SECRET, ServerProcess, http_get
from tests.wire import WsClient, open_client

WAIT_S = 10.0


async def _restore(server: ServerProcess, copy: Path) -> httpx.Response:
    token = mint_token(SECRET, tenant_id="acme", user_id="op", extra={OPERATOR_CLAIM: True})
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            f"http://127.0.0.1:{server.port}/admin/tenants/acme/restore",
            json={"source": str(copy)},
            headers={"Authorization": f"Bearer {token}"},
        )


async def _open_when_served(server: ServerProcess, user: str) -> WsClient:
    """A client's reconnect: a 503 (the tenant still held, Retry-After) is tried again."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await open_client(server.ws_url, server.token(user))
            except InvalidStatus as refused:
                if refused.response.status_code != 503:
                    raise
            # The process lets go on the restore's end, a message away: retry as a client.
            await asyncio.sleep(0.05)


async def _health(server: ServerProcess) -> str:
    _, body = await http_get(server.port, "/healthz")
    return str(json.loads(body)["status"])


async def _until_degraded(server: ServerProcess) -> None:
    # The only way to see another process's broker state is to ask it; bounded.
    async with asyncio.timeout(WAIT_S):
        while await _health(server) != "degraded":  # noqa: ASYNC110 - over HTTP
            await asyncio.sleep(0.05)


async def test_given_two_processes_when_restoring_through_one_then_both_close_and_the_other_serves_the_copy(  # noqa: E501
    tmp_path: Path, redis: RedisServer
) -> None:
    data = tmp_path / "shared"
    async with _pair(tmp_path, redis) as (one, two):
        alice = await open_client(one.ws_url, one.token("alice"))
        project_id = await create_project(alice, "PM")
        await create_item(alice, project_id, title="before")
        copy = tmp_path / "copy.sqlite3"
        await asyncio.to_thread(backup.backup_tenant, data, "acme", copy)
        await create_item(alice, project_id, title="after")
        bob = await open_client(two.ws_url, two.token("bob"))
        await bob.subscribe(project_id)
        gina_token = mint_token(SECRET, tenant_id="globex", user_id="gina")
        gina = await open_client(two.ws_url, gina_token)
        await create_project(gina, "GX")
        old_epoch, old_seq = alice.welcome.epoch, 3  # project, "before", "after"

        answer = await _restore(one, copy)

        codes = [await _closed_with(alice), await _closed_with(bob)]
        other_open = await _still_answers(gina)
        back = await _open_when_served(two, "bob")
        resumed = await back.error(
            "subscribe",
            session_pb2.Subscribe(project_ids=[project_id], since_seq=old_seq, epoch=old_epoch),
        )
        titles = await _titles(back, project_id)
        on_one = await _open_when_served(one, "alice")
        await back.subscribe(project_id, since_seq=back.welcome.current_seq)
        await create_item(on_one, project_id, title="later")
        later = await back.event()  # from process one, through Redis, in the new history
        for client in (back, on_one, gina):
            await client.close()

    assert_that(answer.status_code, equal_to(200), answer.text)
    assert_that(answer.json()["closed_connections"], equal_to(1))  # process one's own
    assert_that(codes, equal_to([1012, 1012]))
    assert_that(other_open, equal_to(True))
    assert_that(back.welcome.epoch, is_not(equal_to(old_epoch)))
    assert_that(back.welcome.epoch, equal_to(answer.json()["epoch"]))
    assert_that(on_one.welcome.epoch, equal_to(back.welcome.epoch))
    assert_that(back.welcome.current_seq, equal_to(2))  # the copy's log: project, "before"
    assert_that(resumed.code, equal_to(RESYNC))
    assert_that(titles, equal_to(["before"]))
    assert_that(later.seq, equal_to(3))
    assert_that(two.log_text(), contains_string("tenant acme let go for a restore"))


async def test_given_the_broker_down_when_restoring_through_a_process_then_refused_and_nothing_written(  # noqa: E501
    tmp_path: Path, redis: RedisServer
) -> None:
    data = tmp_path / "shared"
    async with _pair(tmp_path, redis) as (one, two):
        alice = await open_client(one.ws_url, one.token("alice"))
        project_id = await create_project(alice, "PM")
        await create_item(alice, project_id, title="kept")
        copy = tmp_path / "copy.sqlite3"
        await asyncio.to_thread(backup.backup_tenant, data, "acme", copy)
        bob = await open_client(two.ws_url, two.token("bob"))
        await bob.subscribe(project_id)
        await create_item(alice, project_id, title="newer")
        await redis.stop()
        await _until_degraded(one)
        before = snapshot(data)

        answer = await _restore(one, copy)

        after = snapshot(data)
        still_open = [await _still_answers(alice), await _still_answers(bob)]
        titles = await _titles(bob, project_id)
        for client in (alice, bob):
            await client.close()

    assert_that(answer.status_code, equal_to(503))
    assert_that(answer.json()["message"], contains_string("broker is degraded"))
    assert_that(after, equal_to(before))
    assert_that(still_open, equal_to([True, True]))
    assert_that(titles, equal_to(["kept", "newer"]))
    staging = [n.name for n in (data / "tenants").iterdir() if ".restore-" in n.name]
    assert_that(staging, empty())


async def test_given_a_process_that_does_not_let_go_when_restoring_then_refused_in_time_and_it_is_released(  # noqa: E501
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_hub, "RESET_WAIT_S", 1.0)
    entered, finish, left = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def slow_to_drain(tenant_id: str) -> AsyncIterator[None]:
        entered.set()
        await finish.wait()  # a command in flight that outlasts the restorer's patience
        try:
            yield
        finally:
            left.set()

    restorer, other = RedisHub(redis.url), RedisHub(redis.url)
    other.on_reset(slow_to_drain)
    try:
        await other.start()
        await restorer.start()
        # Returns once subscribed: the other listens to the restores' channel by then.
        await other.subscribe("globex", lambda event: None)
        await restorer.subscribe("globex", lambda event: None)
        loop = asyncio.get_running_loop()
        began = loop.time()

        with pytest.raises(ResetRefused) as refused:
            async with restorer.tenant_reset("acme"):
                pass
        waited = loop.time() - began
        heard = entered.is_set()
        finish.set()
        async with asyncio.timeout(WAIT_S):
            await left.wait()  # the restore is over: the late hold ends at once
    finally:
        await restorer.close()
        await other.close()

    assert_that(refused.value.message, contains_string("did not let go of tenant acme"))
    assert_that(refused.value.conflict, equal_to(False))
    assert_that(heard, equal_to(True))
    assert_that(waited < 1.0 + WAIT_S / 2, equal_to(True))
