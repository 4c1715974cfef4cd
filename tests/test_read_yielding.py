"""Large reads off the event loop: the sliced JSON encoder, chunked fetches and the selector
that tells read threads when the loop is busy (docs/architecture.md, "Read threads stand
aside for a busy loop")."""

from __future__ import annotations

import asyncio
import selectors
import socket
import sqlite3
import threading
import time

from hamcrest import assert_that, contains_exactly, equal_to, has_length
from starlette.responses import JSONResponse

from server.eventloop import SignallingSelector, new_loop
from server.rest.encoding import encode_sliced, json_bytes
from tenants import readers
from tenants.readers import fetch_all

BODY = {
    "project": {"id": "p1", "name": "Ünïcode ✓", "description": 'quotes " and \\ and \n'},
    "work_items": [
        {"id": f"w{i}", "title": f"Task {i}", "points": i, "x": None} for i in range(1000)
    ],
    "empty": [],
    "short": [1, 2, 3],
    "seq": 12,
    "epoch": "e1",
}


def test_given_a_large_body_when_encoded_in_slices_then_bytes_equal_starlettes() -> None:
    assert_that(encode_sliced(BODY), equal_to(JSONResponse(BODY).body))


def test_given_a_list_of_exactly_a_slice_boundary_when_encoded_then_bytes_equal() -> None:
    for size in (63, 64, 65, 128, 129):
        body = {"items": list(range(size))}
        assert_that(encode_sliced(body), equal_to(JSONResponse(body).body))


async def test_given_small_and_large_bodies_when_encoded_then_both_match_starlette() -> None:
    small = {"projects": [{"id": "p1"}], "seq": 1}
    assert_that(await json_bytes(small), equal_to(JSONResponse(small).body))
    assert_that(await json_bytes(BODY), equal_to(JSONResponse(BODY).body))


def test_given_more_rows_than_a_chunk_when_fetched_on_a_thread_then_all_come_in_order() -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("CREATE TABLE t (n INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
    found: list[list[int]] = []
    thread = threading.Thread(
        target=lambda: found.append(
            [row[0] for row in fetch_all(conn.execute("SELECT n FROM t ORDER BY n"), chunk=64)]
        )
    )
    thread.start()
    thread.join(timeout=10)
    assert_that(found, has_length(1))
    assert_that(found[0], equal_to(list(range(1000))))


def test_given_the_servers_selector_when_it_blocks_then_read_threads_see_it_waiting() -> None:
    selector = SignallingSelector()
    a, b = socket.socketpair()
    seen_waiting: list[bool] = []

    def watch_then_wake() -> None:
        # Poll (bounded) until the selector's wait has begun, then end it.
        for _ in range(5000):
            if readers._Loop.waiting:
                seen_waiting.append(True)
                break
            time.sleep(0.001)
        b.send(b"x")

    try:
        selector.register(a, selectors.EVENT_READ)
        readers.loop_waiting(False)
        watcher = threading.Thread(target=watch_then_wake)
        watcher.start()
        ready = selector.select(timeout=10)
        after = readers._Loop.waiting
        polled = selector.select(timeout=0)  # a poll between callbacks leaves it busy
        after_poll = readers._Loop.waiting
        watcher.join(timeout=10)
    finally:
        selector.close()
        a.close()
        b.close()
        readers.loop_waiting(True)
    assert_that(seen_waiting, contains_exactly(True))
    assert_that(ready, has_length(1))
    assert_that(after, equal_to(False))
    assert_that(polled, has_length(1))
    assert_that(after_poll, equal_to(False))


def test_given_the_servers_loop_factory_when_called_then_it_uses_the_selector() -> None:
    loop = new_loop()
    try:
        assert_that(isinstance(loop._selector, SignallingSelector), equal_to(True))  # type: ignore[attr-defined]
    finally:
        loop.close()


def test_given_a_plain_loop_when_nothing_tells_then_read_threads_assume_it_waits() -> None:
    async def check() -> bool:
        return readers._Loop.waiting

    assert_that(asyncio.run(check()), equal_to(True))
