"""The abuse limits against a real server: each refused with its answer and nothing changed,
and a well-behaved client never limited at the default settings.

Rates here are so low (0.001 a second) that nothing refills during a test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    empty,
    equal_to,
    greater_than,
    has_entries,
    has_length,
    has_properties,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as items_msg
from server.limits import limits_for
from tests.boards import TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.helpers_foundation import bearer, close_code
from tests.rest import get
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import TIMEOUT, WsClient, open_client

EXHAUSTED = env.ERROR_CODE_RESOURCE_EXHAUSTED
RETRY_AFTER = re.compile(r"retry after (\d+) ms")
SLOW = 0.001  # a token every 1000 s


def retry_after_ms(error: env.Error) -> int:
    """The hint in its field, which the message text repeats for a human reader."""
    found = RETRY_AFTER.search(error.message)
    assert found is not None, f"no retry hint in {error.message!r}"
    assert_that(error.retry_after_ms, equal_to(int(found.group(1))))
    return error.retry_after_ms


async def project_keys(client: WsClient) -> list[str]:
    listed = await client.ok("list_projects", projects_msg.ListProjects(page_size=500))
    return sorted(project.key for project in listed.projects)


async def refused_upgrade(url: str, token: str) -> Response:
    """The HTTP answer to an upgrade the server refuses; fails if it is accepted."""
    try:
        ws = await connect(
            url, additional_headers=bearer(token), compression=None, open_timeout=TIMEOUT
        )
    except InvalidStatus as refused:
        return refused.response
    await ws.close()
    raise AssertionError("the upgrade was accepted")


# --- commands per connection ----------------------------------------------------------------


async def test_given_a_connection_past_its_burst_when_it_keeps_sending_then_refused_then_4029(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path, commands_per_second=SLOW, command_burst=3, max_refused_commands=2
    )
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        for key in ("AA", "BB", "CC"):  # the whole burst
            await create_project(alice, key)

        refused_id = await alice.send(
            "create_project", projects_msg.CreateProject(key="DD", name="D"), "refused-d"
        )
        # Pings take no token: still answered, in order.
        await alice.send("ping", session_pb2.Ping(), "still-answered")
        list_id = await alice.send("list_projects", projects_msg.ListProjects())
        await alice.send("create_project", projects_msg.CreateProject(key="EE", name="E"))
        refused = (await alice.response(refused_id)).error
        pong = await alice._wait_for(lambda m: m.WhichOneof("payload") == "pong")
        refused_read = (await alice.response(list_id)).error
        code, _ = await close_code(alice.ws)

        bob = await open_client(running.ws_url, running.token(user="bob"))
        keys = await project_keys(bob)
        # The refusal recorded nothing: the same request_id runs anew on a fresh connection.
        retried = await bob.ok(
            "create_project", projects_msg.CreateProject(key="DD", name="D"), "refused-d"
        )
        await bob.close()

    assert_that(refused, has_properties(code=EXHAUSTED))
    assert_that(retry_after_ms(refused), greater_than(900_000))
    assert_that(pong.pong.request_id, equal_to("still-answered"))
    assert_that(refused_read, has_properties(code=EXHAUSTED))
    assert_that(code, equal_to(4029))
    assert_that(keys, contains_exactly("AA", "BB", "CC"))
    assert_that(retried.project, has_properties(key="DD"))


async def test_given_the_default_limits_when_a_client_pipelines_hundreds_then_none_is_refused(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id = await create_project(alice)
    command = items_msg.CreateWorkItem(project_id=project_id, type=TASK, title="Item")

    sent: list[str] = []
    for n in range(400):
        sent.append(await alice.send("create_work_item", command))
        if n % 50 == 0:
            await alice.send("list_work_items", items_msg.ListWorkItems(project_id=project_id))
    errors = [r.error for r in [await alice.response(r) for r in sent] if r.HasField("error")]
    listed = await alice.ok(
        "list_work_items", items_msg.ListWorkItems(project_id=project_id, page_size=500)
    )

    assert_that(errors, empty())
    assert_that(listed.work_items, has_length(400))


# --- connections per user and per tenant ------------------------------------------------------


async def test_given_a_user_and_a_tenant_at_their_caps_when_upgrading_then_429_before_accept(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, max_connections_per_user=2, max_connections_per_tenant=3)
    async with run_server(config) as running:
        held = [await open_client(running.ws_url, running.token()) for _ in range(2)]

        per_user = await refused_upgrade(running.ws_url, running.token())
        held.append(await open_client(running.ws_url, running.token(user="bob")))
        per_tenant = await refused_upgrade(running.ws_url, running.token(user="carol"))
        other_tenant = await open_client(running.ws_url, running.token(tenant="globex"))
        accepted = len(running.services.connections)
        for client in [*held, other_tenant]:
            await client.close()

    for refused, reason in ((per_user, "for the user"), (per_tenant, "for the tenant")):
        assert_that(refused.status_code, equal_to(429))
        assert_that(int(refused.headers["Retry-After"]), greater_than(0))
        assert_that(
            json.loads(refused.body),
            has_entries(error="resource_exhausted", message=contains_string(reason)),
        )
    assert_that(accepted, equal_to(4))


# --- subscriptions ------------------------------------------------------------------------------


async def test_given_subscription_caps_when_subscribing_past_them_then_refused_and_unchanged(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, max_subscriptions=2, max_projects_per_subscribe=2)
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        p1, p2, p3 = [await create_project(alice, key) for key in ("AA", "BB", "CC")]

        too_many = await alice.error("subscribe", session_pb2.Subscribe(project_ids=[p1, p2, p3]))
        first = await alice.subscribe(p1)
        second = await alice.subscribe(p2)
        past = await alice.error("subscribe", session_pb2.Subscribe(project_ids=[p3]))
        again = await alice.subscribe(p1, tenant_feed=True)  # nothing new: within the cap
        await create_item(alice, p3)
        events = await alice.events_until_quiet()
        await alice.close()

    assert_that(too_many, has_properties(code=env.ERROR_CODE_INVALID_ARGUMENT, field="project_ids"))
    assert_that(list(first.project_ids), equal_to([p1]))
    assert_that(sorted(second.project_ids), equal_to(sorted([p1, p2])))
    assert_that(past, has_properties(code=EXHAUSTED, field="project_ids"))
    assert_that(sorted(again.project_ids), equal_to(sorted([p1, p2])))
    assert_that([e.WhichOneof("change") for e in events], empty())  # p3 was not subscribed


# --- replays per tenant ----------------------------------------------------------------------


async def test_given_the_tenants_replays_running_when_resuming_then_refused_with_retry_after(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, max_replays_per_tenant=1)) as running:
        alice = await open_client(running.ws_url, running.token())
        project_id = await create_project(alice)
        await create_item(alice, project_id)
        viewer = await open_client(running.ws_url, running.token(user="vic", roles=["viewer"]))
        replays = limits_for(running.services).replays
        resume = session_pb2.Subscribe(
            project_ids=[project_id], since_seq=0, epoch=viewer.welcome.epoch
        )

        with replays.start("acme"):  # another viewer's replay, still reading the log
            refused = await viewer.error("subscribe", resume)
            live = await viewer.subscribe(tenant_feed=True)  # no replay: not limited
        resumed = await viewer.ok("subscribe", resume)
        replayed = await viewer.events_until_quiet()
        running_after = replays.running("acme")
        await viewer.close()
        await alice.close()

    assert_that(refused, has_properties(code=EXHAUSTED, field="since_seq"))
    assert_that(retry_after_ms(refused), greater_than(0))
    assert_that(list(live.project_ids), empty())  # the refused Subscribe added nothing
    assert_that(list(resumed.project_ids), equal_to([project_id]))
    assert_that(
        [e.WhichOneof("change") for e in replayed],
        contains_exactly("project_created", "work_item_created"),
    )
    assert_that(running_after, equal_to(0))


# --- REST and MCP requests ------------------------------------------------------------------


async def _post_mcp(running: RunningServer, token: str) -> httpx.Response:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        return await client.post(
            f"{running.http_url}/mcp",
            json=initialize,
            headers={
                "Accept": "application/json, text/event-stream",
                "Authorization": f"Bearer {token}",
            },
        )


async def test_given_a_user_past_its_request_rate_when_calling_rest_or_mcp_then_429(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, rest_requests_per_second=SLOW, rest_burst=2)
    async with run_server(config) as running:
        within = [(await get(running, "/projects")).status_code for _ in range(2)]
        rest = await get(running, "/projects")
        fresh_token = await get(running, "/projects", running.token(ttl=7200))
        mcp = await _post_mcp(running, running.token())
        bob = await get(running, "/projects", running.token(user="bob"))
        bob_mcp = await _post_mcp(running, running.token(user="bob"))

    assert_that(within, equal_to([200, 200]))
    for refused in (rest, fresh_token, mcp):  # per user: a fresh token buys nothing
        assert_that(refused.status_code, equal_to(429))
        assert_that(int(refused.headers["retry-after"]), greater_than(900))
        assert_that(
            refused.json(),
            has_entries(code="RESOURCE_EXHAUSTED", message=contains_string("retry after")),
        )
    assert_that((bob.status_code, bob_mcp.status_code), equal_to((200, 200)))
