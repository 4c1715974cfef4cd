"""/metrics against the real server: real protobuf commands move the counters by exactly
what was sent, the gauges read the state at the scrape, and no sample carries a tenant."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hamcrest import (
    assert_that,
    contains_string,
    empty,
    equal_to,
    greater_than,
    greater_than_or_equal_to,
    less_than_or_equal_to,
    starts_with,
)

from pm.v1 import entities_pb2 as pb
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as items_msg
from server.protocol import CloseCode
from tests.boards import UNKNOWN_ID, create_project
from tests.conftest import ClientFactory
from tests.helpers_foundation import close_code
from tests.metrics_scrape import scrape
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client


def _create_item(project_id: str, title: str) -> items_msg.CreateWorkItem:
    return items_msg.CreateWorkItem(project_id=project_id, type=pb.WORK_ITEM_TYPE_TASK, title=title)


async def _create_items(client: WsClient, project_id: str, count: int) -> None:
    for index in range(count):
        await client.ok("create_work_item", _create_item(project_id, f"item {index}"))


async def test_given_n_created_items_when_scraping_then_commands_durations_and_events_moved_by_n(
    server: RunningServer, connect: ClientFactory
) -> None:
    client = await connect()
    project_id = await create_project(client, "PM")
    before = await scrape(server.http_url)

    await _create_items(client, project_id, 7)
    after = await scrape(server.http_url)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert_that(after.status, equal_to(200))
    assert_that(after.content_type, starts_with("text/plain"))
    assert_that(moved("pm_commands_total", command="create_work_item", code="OK"), equal_to(7))
    assert_that(moved("pm_command_duration_seconds_count", command="create_work_item"), equal_to(7))
    assert_that(
        moved("pm_command_duration_seconds_bucket", command="create_work_item", le="+Inf"),
        equal_to(7),
    )
    assert_that(
        moved("pm_command_duration_seconds_sum", command="create_work_item"), greater_than(0)
    )
    assert_that(moved("pm_events_published_total"), equal_to(7))
    assert_that(moved("pm_command_batch_size_sum"), equal_to(7))
    assert_that(moved("pm_commands_total", command="create_project"), equal_to(0))


async def test_given_refused_commands_when_scraping_then_each_counts_under_its_error_code(
    server: RunningServer, connect: ClientFactory
) -> None:
    viewer = await connect(user="victor", roles=["viewer"])
    before = await scrape(server.http_url)

    await viewer.error("get_project", projects_msg.GetProject(project_id=UNKNOWN_ID))
    await viewer.error("get_project", projects_msg.GetProject(project_id=UNKNOWN_ID))
    await viewer.error("create_project", projects_msg.CreateProject(key="NO", name="No"))
    await viewer.error("subscribe", session_pb2.Subscribe())  # no project, no feed
    await viewer.send_raw(b"\xff\xff not protobuf")
    await viewer.response("")  # a frame that did not parse has no request_id
    after = await scrape(server.http_url)

    def moved(**labels: str) -> float:
        return after.value("pm_commands_total", **labels) - before.value(
            "pm_commands_total", **labels
        )

    assert_that(moved(command="get_project", code="NOT_FOUND"), equal_to(2))
    assert_that(moved(command="create_project", code="PERMISSION_DENIED"), equal_to(1))
    assert_that(moved(command="subscribe", code="INVALID_ARGUMENT"), equal_to(1))
    assert_that(moved(command="invalid_frame", code="INVALID_ARGUMENT"), equal_to(1))
    assert_that(moved(code="OK"), equal_to(0))


async def test_given_pipelined_writes_when_scraping_then_batch_sizes_sum_to_the_writes(
    server: RunningServer, connect: ClientFactory
) -> None:
    client = await connect()
    project_id = await create_project(client, "PM")
    before = await scrape(server.http_url)

    sent = [
        await client.send("create_work_item", _create_item(project_id, f"item {i}"))
        for i in range(20)
    ]
    for request_id in sent:
        await client.response(request_id)
    after = await scrape(server.http_url)

    batches = after.value("pm_command_batch_size_count") - before.value(
        "pm_command_batch_size_count"
    )
    assert_that(
        after.value("pm_command_batch_size_sum") - before.value("pm_command_batch_size_sum"),
        equal_to(20),
    )
    assert_that(batches, greater_than_or_equal_to(1))
    assert_that(batches, less_than_or_equal_to(20))


async def test_given_subscribed_clients_when_scraping_then_gauges_exact_and_zero_after_close(
    server: RunningServer,
) -> None:
    first = await open_client(server.ws_url, server.token())
    second = await open_client(server.ws_url, server.token(user="bob"))
    projects = [await create_project(first, key) for key in ("AA", "BB", "CC")]
    await first.subscribe(*projects)
    await second.subscribe(projects[0], tenant_feed=True)
    while_open = await scrape(server.http_url)

    await first.close()
    await second.close()
    await server.app_tasks_done()
    closed = await scrape(server.http_url)

    assert_that(while_open.value("pm_connections"), equal_to(2))
    assert_that(while_open.value("pm_subscriptions"), equal_to(4))
    assert_that(while_open.value("pm_open_tenants"), equal_to(1))
    assert_that(while_open.value("pm_event_loop_tasks"), greater_than(0))
    assert_that(while_open.value("pm_broker_state", state="none"), equal_to(1))
    assert_that(while_open.value("pm_broker_state", state="degraded"), equal_to(0))
    assert_that(closed.value("pm_connections"), equal_to(0))
    assert_that(closed.value("pm_subscriptions"), equal_to(0))
    assert_that(closed.value("pm_send_queue_bytes"), equal_to(0))
    assert_that(closed.value("pm_tenant_streams"), equal_to(0))
    assert_that(
        closed.value("pm_connection_closes_total", code="1000")
        - while_open.value("pm_connection_closes_total", code="1000"),
        equal_to(2),
    )


async def test_given_two_watchers_when_items_are_created_then_deliveries_moved_by_2n(
    server: RunningServer, connect: ClientFactory
) -> None:
    writer = await connect()
    project_id = await create_project(writer, "PM")
    watchers = [await connect(user=name) for name in ("wendy", "walt")]
    for watcher in watchers:
        await watcher.subscribe(project_id)
    before = await scrape(server.http_url)

    await _create_items(writer, project_id, 5)
    for watcher in watchers:
        for _ in range(5):
            await watcher.event()
    after = await scrape(server.http_url)

    assert_that(
        after.value("pm_event_deliveries_total") - before.value("pm_event_deliveries_total"),
        equal_to(10),
    )


async def test_given_a_resume_when_scraping_then_its_pages_and_events_are_counted(
    server: RunningServer, connect: ClientFactory
) -> None:
    writer = await connect()
    project_id = await create_project(writer, "PM")
    await _create_items(writer, project_id, 3)
    reader = await connect(user="rita")
    before = await scrape(server.http_url)

    await reader.subscribe(project_id, since_seq=0)
    replayed = await reader.events_until_quiet()
    after = await scrape(server.http_url)

    assert_that(
        after.value("pm_replay_pages_total") - before.value("pm_replay_pages_total"),
        greater_than_or_equal_to(1),
    )
    assert_that(
        after.value("pm_replay_events_total") - before.value("pm_replay_events_total"),
        equal_to(len(replayed)),
    )
    assert_that(len(replayed), equal_to(4))  # the project's creation and its three items


async def test_given_several_tenants_when_scraping_then_no_sample_names_a_tenant(
    server: RunningServer, connect: ClientFactory
) -> None:
    for tenant in ("acme-unique-tenant", "globex-unique-tenant"):
        client = await connect(tenant=tenant)
        await create_project(client, "PM")

    scraped = await scrape(server.http_url)

    assert_that(sorted(scraped.label_names() & {"tenant", "tenant_id"}), empty())
    assert_that(scraped.text.count("unique-tenant"), equal_to(0))
    assert_that(scraped.value("pm_open_tenants"), equal_to(2))


async def test_given_http_requests_when_scraping_then_counted_by_route_template_and_status(
    server: RunningServer, connect: ClientFactory
) -> None:
    client = await connect()
    project_id = await create_project(client, "PM")
    before = await scrape(server.http_url)

    await scrape(server.http_url, "/healthz")
    await scrape(server.http_url, "/t/acme/healthz")
    await scrape(server.http_url, f"/api/v1/projects/{project_id}/context", token=server.token())
    await scrape(server.http_url, f"/api/v1/projects/{UNKNOWN_ID}/context", token=server.token())
    await scrape(server.http_url, "/api/v1/nowhere")
    after = await scrape(server.http_url)

    def moved(**labels: str) -> float:
        return after.value("pm_http_requests_total", **labels) - before.value(
            "pm_http_requests_total", **labels
        )

    project_route = "/api/v1/projects/{project_id}/context"
    assert_that(moved(route="/healthz", method="GET", status="200"), equal_to(2))
    assert_that(moved(route=project_route, status="200"), equal_to(1))
    assert_that(moved(route=project_route, status="404"), equal_to(1))
    assert_that(moved(route="unmatched", status="404"), equal_to(1))
    assert_that(moved(route="/metrics", status="200"), equal_to(1))  # `before` itself
    assert_that(after.text.count(project_id), equal_to(0))


async def test_given_the_tenant_prefix_when_asking_for_metrics_then_they_are_not_served_there(
    server: RunningServer,
) -> None:
    under_tenant = await scrape(server.http_url, "/t/acme/metrics")

    assert_that(under_tenant.text.count("pm_connections"), equal_to(0))


async def test_given_a_metrics_token_when_scraping_without_it_then_401_and_with_it_200(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, metrics_token="scrape-me")) as running:
        without = await scrape(running.http_url)
        wrong = await scrape(running.http_url, token="not-it")
        with_it = await scrape(running.http_url, token="scrape-me")

    assert_that([without.status, wrong.status, with_it.status], equal_to([401, 401, 200]))
    assert_that(with_it.text, contains_string("pm_connections"))


async def test_given_a_client_past_the_command_rate_when_scraping_then_refusals_and_4029_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(
        tmp_path, commands_per_second=0.001, command_burst=2, max_refused_commands=2
    )
    caplog.set_level(logging.WARNING, logger="server.logs")
    async with run_server(config) as running:
        client = await open_client(running.ws_url, running.token())
        for _ in range(2):
            await client.ok("list_projects", projects_msg.ListProjects())
        refused = [
            (await client.error("list_projects", projects_msg.ListProjects())).message
            for _ in range(2)
        ]
        await client.send("list_projects", projects_msg.ListProjects())
        code, _ = await close_code(client.ws)
        await running.app_tasks_done()
        scraped = await scrape(running.http_url)

    assert_that(code, equal_to(CloseCode.RATE_LIMITED))
    assert_that(refused[0], contains_string("retry after"))
    assert_that(
        scraped.value("pm_commands_total", command="list_projects", code="RESOURCE_EXHAUSTED"),
        equal_to(2),
    )
    assert_that(scraped.value("pm_commands_total", command="list_projects", code="OK"), equal_to(2))
    assert_that(scraped.value("pm_connection_closes_total", code="4029"), equal_to(1))
    lines = [r.getMessage() for r in caplog.records if r.name == "server.logs"]
    # The second refusal of the same reason within the second is counted, not logged.
    assert_that(
        lines,
        equal_to(
            [
                "refused a command: RESOURCE_EXHAUSTED: more than 0.001 commands a second",
                "refused a command: closing with 4029: kept on past 0.001 commands a second",
            ]
        ),
    )
