"""What one client can make the server hold: every outgoing frame fits PM_MAX_MESSAGE_BYTES,
each connection's queue is bounded in bytes (4008 past it), an event too large for a frame
goes out truncated to the refs of what changed, and a replay past its limits answers
RESYNC_REQUIRED before anything is sent."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from hamcrest import (
    assert_that,
    contains_exactly,
    equal_to,
    has_length,
    less_than_or_equal_to,
)

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as msg
from server.config import MIN_MESSAGE_BYTES
from server.connection import Connection
from server.protocol import CloseCode
from tests.boards import EPIC, STORY, TASK, create_item, create_project
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client

BIG = "d" * 64 * 1024  # the largest description the domain allows
LIMIT = MIN_MESSAGE_BYTES  # 256 KiB: a few large items fill a frame


async def _stalled_client(running: RunningServer) -> WsClient:
    """A client whose socket buffers almost nothing: once it stops reading, so does TCP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.port))
    return await open_client(
        running.ws_url, running.token(user="slow"), sock=sock, max_queue=1, max_size=None
    )


def _connection(running: RunningServer, session_id: str) -> Connection:
    found = [c for c in running.services.connections if c.session_id == session_id]
    assert_that(found, has_length(1))
    connection: Connection = found[0]
    return connection


async def _frame_sizes(client: WsClient, name: str, command: object) -> list[int]:
    """Sends the command and returns the size of its Response frame, read raw."""
    await client.send(name, command)  # type: ignore[arg-type]
    sizes = []
    async with asyncio.timeout(10):
        while True:
            frame = await client.ws.recv()
            assert isinstance(frame, bytes)
            message = env.ServerMessage()
            message.ParseFromString(frame)
            if message.WhichOneof("payload") == "response":
                sizes.append(len(frame))
                client.backlog.append(message)
                return sizes


async def test_given_a_client_that_never_reads_when_it_asks_for_large_lists_then_4008(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path, max_message_bytes=LIMIT, send_queue_bytes=2 * LIMIT, send_queue_limit=1024
    )
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        project_id = await create_project(alice, "PM")
        for n in range(8):
            await create_item(alice, project_id, TASK, f"Big {n}", description=BIG)
        slow = await _stalled_client(running)
        slow_conn = _connection(running, slow.welcome.session_id)
        try:
            # Each answer is a page of about LIMIT bytes; the queue holds two such pages.
            for _ in range(200):
                await slow.send("list_work_items", msg.ListWorkItems(project_id=project_id))
                if slow_conn.close_code is not None:
                    break
            async with asyncio.timeout(10):
                await slow_conn.wait_closing()

            assert_that(slow_conn.close_code, equal_to(CloseCode.SLOW_CONSUMER))
            assert slow_conn.outbox is not None
            assert_that(slow_conn.outbox.queued_bytes, equal_to(0))
            page = await alice.ok(
                "list_work_items", msg.ListWorkItems(project_id=project_id, page_size=1)
            )
            assert_that(page.work_items, has_length(1))
        finally:
            await alice.close()
            slow.ws.transport.abort()


async def test_given_items_larger_than_a_frame_when_listing_then_pages_fit_and_hold_them_all(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, max_message_bytes=LIMIT)) as running:
        alice = await open_client(running.ws_url, running.token(), max_size=LIMIT)
        try:
            project_id = await create_project(alice, "PM")
            created = [
                (await create_item(alice, project_id, TASK, f"Big {n}", description=BIG)).id
                for n in range(12)
            ]

            listed: list[str] = []
            sizes: list[int] = []
            pages = 0
            token = ""
            while True:
                command = msg.ListWorkItems(project_id=project_id, page_size=500, page_token=token)
                sizes += await _frame_sizes(alice, "list_work_items", command)
                page = (await alice.response(alice.backlog[-1].response.request_id)).list_work_items
                listed += [item.id for item in page.work_items]
                pages += 1
                token = page.next_page_token
                if not token:
                    break

            assert_that(listed, equal_to(created))
            assert_that(pages, equal_to(4))  # three 64 KiB items per 256 KiB frame
            assert_that(max(sizes), less_than_or_equal_to(LIMIT))
        finally:
            await alice.close()


async def test_given_a_tree_larger_than_a_frame_when_paging_then_depth_first_across_pages(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, max_message_bytes=LIMIT)) as running:
        alice = await open_client(running.ws_url, running.token(), max_size=LIMIT)
        try:
            project_id = await create_project(alice, "PM")
            epic = await create_item(alice, project_id, EPIC, "Epic")
            order = [epic.id]
            for s in range(3):
                story = await create_item(alice, project_id, STORY, f"S{s}", parent_id=epic.id)
                order.append(story.id)
                for t in range(2):
                    task = await create_item(
                        alice, project_id, TASK, f"T{s}{t}", parent_id=story.id, description=BIG
                    )
                    order.append(task.id)

            seen: list[str] = []
            token = ""
            first = True
            pages = 0
            while first or token:
                pages += 1
                page = await alice.ok(
                    "get_work_item_tree",
                    msg.GetWorkItemTree(work_item_id=epic.id, page_token=token),
                )
                seen += [item.id for item in page.work_items]
                if first:
                    # Added after the first page, under the first story: pages do not shift.
                    await create_item(alice, project_id, TASK, "Late", parent_id=order[1])
                first = False
                token = page.next_page_token

            assert_that(pages, equal_to(2))  # six 64 KiB tasks, three to a 256 KiB frame
            assert_that(seen, equal_to(order))
        finally:
            await alice.close()


async def test_given_an_event_too_large_for_a_frame_when_published_then_refs_only(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, max_message_bytes=LIMIT)) as running:
        alice = await open_client(running.ws_url, running.token(), max_size=LIMIT)
        watcher = await open_client(running.ws_url, running.token(user="bob"), max_size=LIMIT)
        try:
            project_id = await create_project(alice, "PM")
            epic = await create_item(alice, project_id, EPIC, "Epic", description=BIG)
            children = [
                await create_item(
                    alice, project_id, TASK, f"T{n}", parent_id=epic.id, description=BIG
                )
                for n in range(4)
            ]
            await alice.ok(
                "delete_work_item", msg.DeleteWorkItem(work_item_id=epic.id, expected_version=1)
            )
            await watcher.subscribe(project_id)

            response = await alice.request(
                "restore_work_item", msg.RestoreWorkItem(work_item_id=epic.id)
            )
            event = await watcher.event()

            assert_that(event.truncated, equal_to(True))
            assert_that(event.WhichOneof("change"), equal_to("work_item_restored"))
            assert_that(list(event.work_item_restored.work_items), equal_to([]))
            assert_that(
                sorted((r.type, r.id, r.version) for r in event.refs),
                # each created (1), deleted (2), restored (3)
                equal_to(sorted(("work_item", i.id, 3) for i in [epic, *children])),
            )
            assert_that(list(event.project_ids), contains_exactly(project_id))
            assert_that(response.truncated, equal_to(True))
            assert_that(response.WhichOneof("result"), equal_to("restore_work_item"))
            assert_that(len(response.refs), equal_to(5))
        finally:
            await alice.close()
            await watcher.close()


async def test_given_more_events_than_the_replay_limit_when_resuming_then_resync_required(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path, max_replay_events=3)) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            project_id = await create_project(alice, "PM")  # seq 1
            for n in range(3):  # seqs 2..4
                await create_item(alice, project_id, TASK, f"T{n}")

            refused = await alice.error(
                "subscribe",
                session_pb2.Subscribe(
                    project_ids=[project_id], since_seq=0, epoch=alice.welcome.epoch
                ),
            )
            allowed = await alice.subscribe(project_id, since_seq=1)

            assert_that(refused.code, equal_to(env.ERROR_CODE_RESYNC_REQUIRED))
            assert_that(allowed.replay_to_seq, equal_to(4))
            assert_that([e.seq for e in await alice.events_until_quiet()], equal_to([2, 3, 4]))
        finally:
            await alice.close()


async def test_given_more_bytes_than_the_replay_limit_when_resuming_then_resync_required(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, max_message_bytes=LIMIT, max_replay_bytes=LIMIT)
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        try:
            project_id = await create_project(alice, "PM")  # seq 1
            for n in range(4):  # 64 KiB each: 256 KiB of events in all
                await create_item(alice, project_id, TASK, f"T{n}", description=BIG)

            refused = await alice.error(
                "subscribe",
                session_pb2.Subscribe(
                    project_ids=[project_id], since_seq=0, epoch=alice.welcome.epoch
                ),
            )

            assert_that(refused.code, equal_to(env.ERROR_CODE_RESYNC_REQUIRED))
            assert_that(await alice.events_until_quiet(), equal_to([]))
        finally:
            await alice.close()
