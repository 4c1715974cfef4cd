"""Time tracking over the WebSocket, end to end: timers, manual entries, totals."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_inanyorder,
    empty,
    equal_to,
    greater_than,
    has_length,
)

from pm.v1 import envelope_pb2 as env
from pm.v1 import time_entries_pb2 as msg
from tests.boards import UNKNOWN_ID, board, create_item, create_project
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import rows, snapshot
from tests.wire import WsClient

MINUTE = 60_000
# A cursor as the server once encoded it (wrong types too), without the signature every
# token now carries.
UNSIGNED_CURSOR = base64.urlsafe_b64encode(b'{"s":"late","i":1}').decode().rstrip("=")
HOUR = 60 * MINUTE


def now_ms() -> int:
    return int(time.time() * 1000)


def running_count(server: RunningServer, user: str) -> int:
    found = rows(
        server,
        "SELECT COUNT(*) FROM time_entries WHERE user_id = ? AND ended_at IS NULL"
        " AND deleted_at IS NULL",
        user,
    )
    return int(found[0][0])


async def manual_entry(
    client: WsClient, item_id: str, started_at: int, ended_at: int, note: str = ""
) -> msg.CreateTimeEntryResult:
    result: msg.CreateTimeEntryResult = await client.ok(
        "create_time_entry",
        msg.CreateTimeEntry(
            work_item_id=item_id, started_at_ms=started_at, ended_at_ms=ended_at, note=note
        ),
    )
    return result


# --- timers ----------------------------------------------------------------------------


async def test_given_no_timer_when_starting_one_then_it_runs_and_subscribers_see_it(
    connect: ClientFactory,
) -> None:
    b = await board(connect)

    result = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id, note="dev"))

    assert_that(result.started.running, equal_to(True))
    assert_that(result.started.ended_at_ms, equal_to(0))
    assert_that(result.started.user_id, equal_to("alice"))
    assert_that(result.HasField("stopped"), equal_to(False))
    event = await b.watcher.event()
    assert_that(event.WhichOneof("change"), equal_to("timer_started"))
    assert_that(event.timer_started.started, equal_to(result.started))
    assert_that(list(event.project_ids), contains_exactly(b.project_id))
    running = await b.alice.ok("get_running_timer", msg.GetRunningTimer())
    assert_that(running.time_entry, equal_to(result.started))


async def test_given_a_running_timer_in_another_project_when_starting_then_one_event_has_both(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    other_project = await create_project(b.alice, "WEB")
    other_item = (await create_item(b.alice, other_project, title="Task")).id
    first = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    await b.watcher.events_until_quiet()

    result = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=other_item))

    assert_that(result.stopped.id, equal_to(first.started.id))
    assert_that(result.stopped.running, equal_to(False))
    assert_that(result.stopped.ended_at_ms, greater_than(result.stopped.started_at_ms))
    assert_that(
        result.stopped.duration_seconds,
        equal_to((result.stopped.ended_at_ms - result.stopped.started_at_ms) // 1000),
    )
    assert_that(result.started.started_at_ms >= result.stopped.ended_at_ms, equal_to(True))
    events = await b.watcher.events_until_quiet()
    assert_that(events, has_length(1))
    assert_that(events[0].timer_started.stopped, equal_to(result.stopped))
    assert_that(events[0].timer_started.started, equal_to(result.started))
    assert_that(list(events[0].project_ids), contains_inanyorder(b.project_id, other_project))
    assert_that(running_count(server, "alice"), equal_to(1))


async def test_given_a_running_timer_when_stopping_without_an_id_then_it_ends(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    await b.watcher.events_until_quiet()

    result = await b.alice.ok("stop_timer", msg.StopTimer())

    entry = result.time_entry
    assert_that(entry.id, equal_to(started.started.id))
    assert_that(entry.running, equal_to(False))
    assert_that(entry.version, equal_to(2))
    assert_that(entry.duration_seconds, equal_to((entry.ended_at_ms - entry.started_at_ms) // 1000))
    event = await b.watcher.event()
    assert_that(event.timer_stopped.time_entry, equal_to(entry))
    running = await b.alice.ok("get_running_timer", msg.GetRunningTimer())
    assert_that(running.HasField("time_entry"), equal_to(False))


async def test_given_a_running_timer_when_stopping_it_by_id_then_it_ends(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))

    result = await b.alice.ok("stop_timer", msg.StopTimer(time_entry_id=started.started.id))

    assert_that(result.time_entry.running, equal_to(False))


async def test_given_no_running_timer_when_stopping_then_failed_precondition_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)

    await assert_refused(
        server,
        b.alice,
        "stop_timer",
        msg.StopTimer(),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "time_entry_id",
        watcher=b.watcher,
    )


async def test_given_a_finished_entry_when_stopping_it_then_failed_precondition_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "stop_timer",
        msg.StopTimer(time_entry_id=entry.time_entry.id),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "time_entry_id",
        watcher=b.watcher,
    )


async def test_given_bobs_running_timer_when_alice_stops_it_then_permission_denied(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    started = await bob.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "stop_timer",
        msg.StopTimer(time_entry_id=started.started.id),
        env.ERROR_CODE_PERMISSION_DENIED,
        "time_entry_id",
        watcher=b.watcher,
    )


async def test_given_an_unknown_item_when_starting_a_timer_then_not_found_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)

    await assert_refused(
        server,
        b.alice,
        "start_timer",
        msg.StartTimer(work_item_id=UNKNOWN_ID),
        env.ERROR_CODE_NOT_FOUND,
        "work_item_id",
        watcher=b.watcher,
    )


async def test_given_a_running_timer_when_starting_on_an_unknown_item_then_it_keeps_running(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "start_timer",
        msg.StartTimer(work_item_id=UNKNOWN_ID),
        env.ERROR_CODE_NOT_FOUND,
        "work_item_id",
        watcher=b.watcher,
    )
    running = await b.alice.ok("get_running_timer", msg.GetRunningTimer())
    assert_that(running.time_entry, equal_to(started.started))


async def test_given_a_used_id_when_starting_a_timer_with_it_then_already_exists(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "start_timer",
        msg.StartTimer(id=entry.time_entry.id, work_item_id=b.item_id),
        env.ERROR_CODE_ALREADY_EXISTS,
        "id",
        watcher=b.watcher,
    )


async def test_given_a_viewer_when_starting_a_timer_then_permission_denied(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)

    await assert_refused(
        server,
        b.watcher,
        "start_timer",
        msg.StartTimer(work_item_id=b.item_id),
        env.ERROR_CODE_PERMISSION_DENIED,
        "",
        watcher=b.watcher,
    )


async def test_given_20_concurrent_starts_of_one_user_then_exactly_one_timer_runs(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    clients = [await connect(user="alice") for _ in range(20)]

    results = await asyncio.gather(
        *(c.ok("start_timer", msg.StartTimer(work_item_id=b.item_id)) for c in clients)
    )

    assert_that(running_count(server, "alice"), equal_to(1))
    stopped = [r.stopped.id for r in results if r.HasField("stopped")]
    assert_that(stopped, has_length(19))
    assert_that(set(stopped), has_length(19))
    assert_that(await b.watcher.events_until_quiet(), has_length(20))


async def test_given_a_retried_start_when_sent_again_then_the_first_answer_returns(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    first = await b.alice.ok(
        "start_timer", msg.StartTimer(work_item_id=b.item_id), request_id="start-1"
    )
    await b.watcher.events_until_quiet()
    before = snapshot(server)

    again = await b.alice.ok(
        "start_timer", msg.StartTimer(work_item_id=b.item_id), request_id="start-1"
    )

    assert_that(again, equal_to(first))
    assert_that(snapshot(server), equal_to(before))
    assert_that(await b.watcher.events_until_quiet(), empty())


# --- manual entries ----------------------------------------------------------------------


async def test_given_a_valid_span_when_creating_an_entry_then_its_duration_is_derived(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    ended = now_ms() - MINUTE

    result = await manual_entry(b.alice, b.item_id, ended - 90 * MINUTE, ended, note="review")

    entry = result.time_entry
    assert_that(entry.duration_seconds, equal_to(90 * 60))
    assert_that((entry.running, entry.note, entry.user_id), equal_to((False, "review", "alice")))
    event = await b.watcher.event()
    assert_that(event.time_entry_created.time_entry, equal_to(entry))


@pytest.mark.parametrize(
    ("start_offset", "end_offset", "field"),
    [
        (-HOUR, -2 * HOUR, "ended_at_ms"),  # ends before it starts
        (-HOUR, -HOUR, "ended_at_ms"),  # zero length
        (-HOUR, HOUR, "ended_at_ms"),  # ends in the future
        (-25 * HOUR, -MINUTE, "ended_at_ms"),  # longer than 24 hours
        (HOUR, 2 * HOUR, "started_at_ms"),  # starts in the future
    ],
)
async def test_given_a_bad_span_when_creating_an_entry_then_invalid_argument_and_no_change(
    server: RunningServer,
    connect: ClientFactory,
    start_offset: int,
    end_offset: int,
    field: str,
) -> None:
    b = await board(connect)
    now = now_ms()

    await assert_refused(
        server,
        b.alice,
        "create_time_entry",
        msg.CreateTimeEntry(
            work_item_id=b.item_id, started_at_ms=now + start_offset, ended_at_ms=now + end_offset
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        field,
        watcher=b.watcher,
    )


async def test_given_exactly_24_hours_when_creating_an_entry_then_it_is_accepted(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    ended = now_ms() - MINUTE

    result = await manual_entry(b.alice, b.item_id, ended - 24 * HOUR, ended)

    assert_that(result.time_entry.duration_seconds, equal_to(24 * 3600))


async def test_given_missing_times_when_creating_an_entry_then_invalid_argument(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)

    await assert_refused(
        server,
        b.alice,
        "create_time_entry",
        msg.CreateTimeEntry(work_item_id=b.item_id, ended_at_ms=now_ms() - MINUTE),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "started_at_ms",
        watcher=b.watcher,
    )


async def test_given_an_oversized_note_when_creating_an_entry_then_invalid_argument(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    now = now_ms()

    await assert_refused(
        server,
        b.alice,
        "create_time_entry",
        msg.CreateTimeEntry(
            work_item_id=b.item_id,
            started_at_ms=now - HOUR,
            ended_at_ms=now - MINUTE,
            note="x" * (64 * 1024 + 1),
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "note",
        watcher=b.watcher,
    )


# --- updates and deletes -------------------------------------------------------------


async def test_given_my_entry_when_updating_times_and_note_then_fields_change_and_are_logged(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    ended = now_ms() - HOUR
    created = await manual_entry(b.alice, b.item_id, ended - HOUR, ended)
    await b.watcher.events_until_quiet()

    result = await b.alice.ok(
        "update_time_entry",
        msg.UpdateTimeEntry(
            time_entry_id=created.time_entry.id,
            expected_version=1,
            ended_at_ms=ended + 30 * MINUTE,
            note="longer",
        ),
    )

    assert_that(result.time_entry.duration_seconds, equal_to(90 * 60))
    assert_that(result.time_entry.version, equal_to(2))
    assert_that(
        [c.field for c in result.changes],
        contains_exactly("ended_at_ms", "duration_seconds", "note"),
    )
    event = await b.watcher.event()
    assert_that(event.time_entry_updated.changes, equal_to(result.changes))


async def test_given_bobs_entry_when_alice_updates_it_then_permission_denied_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    entry = await manual_entry(bob, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(time_entry_id=entry.time_entry.id, expected_version=1, note="mine"),
        env.ERROR_CODE_PERMISSION_DENIED,
        "time_entry_id",
        watcher=b.watcher,
    )


async def test_given_a_stale_version_when_updating_then_conflict_with_the_current_entry(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    error = await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(time_entry_id=entry.time_entry.id, expected_version=7, note="x"),
        env.ERROR_CODE_CONFLICT,
        "expected_version",
        watcher=b.watcher,
    )

    assert_that(error.time_entry, equal_to(entry.time_entry))


async def test_given_no_version_when_updating_then_invalid_argument(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(time_entry_id=entry.time_entry.id, note="x"),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "expected_version",
        watcher=b.watcher,
    )


async def test_given_a_running_timer_when_setting_its_end_by_update_then_failed_precondition(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(
            time_entry_id=started.started.id, expected_version=1, ended_at_ms=now_ms()
        ),
        env.ERROR_CODE_FAILED_PRECONDITION,
        "ended_at_ms",
        watcher=b.watcher,
    )


async def test_given_a_running_timer_when_moving_its_start_back_then_it_keeps_running(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    earlier = started.started.started_at_ms - 10 * MINUTE

    result = await b.alice.ok(
        "update_time_entry",
        msg.UpdateTimeEntry(
            time_entry_id=started.started.id, expected_version=1, started_at_ms=earlier
        ),
    )

    assert_that(
        (result.time_entry.started_at_ms, result.time_entry.running), equal_to((earlier, True))
    )


async def test_given_a_running_timer_when_moving_its_start_over_a_day_back_then_refused(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(
            time_entry_id=started.started.id,
            expected_version=1,
            started_at_ms=now_ms() - 25 * HOUR,
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "started_at_ms",
        watcher=b.watcher,
    )


async def test_given_an_update_making_the_entry_too_long_then_invalid_argument_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    ended = now_ms() - MINUTE
    entry = await manual_entry(b.alice, b.item_id, ended - HOUR, ended)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(
            time_entry_id=entry.time_entry.id, expected_version=1, started_at_ms=ended - 25 * HOUR
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "started_at_ms",
        watcher=b.watcher,
    )


async def test_given_an_update_ending_before_the_start_then_invalid_argument_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    ended = now_ms() - MINUTE
    entry = await manual_entry(b.alice, b.item_id, ended - HOUR, ended)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(
            time_entry_id=entry.time_entry.id, expected_version=1, ended_at_ms=ended - 2 * HOUR
        ),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "ended_at_ms",
        watcher=b.watcher,
    )


async def test_given_an_empty_update_then_invalid_argument_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "update_time_entry",
        msg.UpdateTimeEntry(time_entry_id=entry.time_entry.id, expected_version=1),
        env.ERROR_CODE_INVALID_ARGUMENT,
        "started_at_ms",
        watcher=b.watcher,
    )


async def test_given_my_entry_when_deleting_it_then_it_disappears_from_lists(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await b.alice.ok(
        "delete_time_entry",
        msg.DeleteTimeEntry(time_entry_id=entry.time_entry.id, expected_version=1),
    )

    event = await b.watcher.event()
    assert_that(event.time_entry_deleted.time_entry_id, equal_to(entry.time_entry.id))
    assert_that(event.time_entry_deleted.work_item_id, equal_to(b.item_id))
    listed = await b.alice.ok("list_time_entries", msg.ListTimeEntries(work_item_id=b.item_id))
    assert_that(listed.time_entries, empty())
    totals = await b.alice.ok("get_time_totals", msg.GetTimeTotals(work_item_id=b.item_id))
    assert_that(totals.total_seconds, equal_to(0))


async def test_given_a_deleted_entry_when_deleting_again_then_not_found(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    entry = await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.alice.ok(
        "delete_time_entry",
        msg.DeleteTimeEntry(time_entry_id=entry.time_entry.id, expected_version=1),
    )
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "delete_time_entry",
        msg.DeleteTimeEntry(time_entry_id=entry.time_entry.id, expected_version=2),
        env.ERROR_CODE_NOT_FOUND,
        "time_entry_id",
        watcher=b.watcher,
    )


async def test_given_bobs_entry_when_alice_deletes_it_then_permission_denied_and_no_change(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    entry = await manual_entry(bob, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    await b.watcher.events_until_quiet()

    await assert_refused(
        server,
        b.alice,
        "delete_time_entry",
        msg.DeleteTimeEntry(time_entry_id=entry.time_entry.id, expected_version=1),
        env.ERROR_CODE_PERMISSION_DENIED,
        "time_entry_id",
        watcher=b.watcher,
    )


async def test_given_a_running_timer_when_deleting_it_then_no_timer_runs(
    server: RunningServer, connect: ClientFactory
) -> None:
    b = await board(connect)
    started = await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))

    await b.alice.ok(
        "delete_time_entry",
        msg.DeleteTimeEntry(time_entry_id=started.started.id, expected_version=1),
    )

    assert_that(running_count(server, "alice"), equal_to(0))


# --- lists and totals ------------------------------------------------------------------


async def test_given_entries_when_listing_by_item_in_pages_then_all_come_newest_first(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    base = now_ms() - 10 * HOUR
    created = [
        (
            await manual_entry(b.alice, b.item_id, base + n * HOUR, base + n * HOUR + MINUTE)
        ).time_entry.id
        for n in range(5)
    ]

    seen: list[str] = []
    token = ""
    for _ in range(3):
        page = await b.alice.ok(
            "list_time_entries",
            msg.ListTimeEntries(work_item_id=b.item_id, page_size=2, page_token=token),
        )
        seen.extend(e.id for e in page.time_entries)
        token = page.next_page_token
        if not token:
            break

    assert_that(seen, equal_to(created[::-1]))
    assert_that(token, equal_to(""))


async def test_given_two_users_when_listing_by_user_then_only_theirs_come(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    await manual_entry(b.alice, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)
    bobs = await manual_entry(bob, b.item_id, now_ms() - HOUR, now_ms() - MINUTE)

    listed = await b.alice.ok("list_time_entries", msg.ListTimeEntries(user_id="bob"))

    assert_that([e.id for e in listed.time_entries], contains_exactly(bobs.time_entry.id))


async def test_given_no_filter_when_listing_entries_then_invalid_argument(
    connect: ClientFactory,
) -> None:
    alice = await connect()

    error = await alice.error("list_time_entries", msg.ListTimeEntries())

    assert_that(
        (error.code, error.field), equal_to((env.ERROR_CODE_INVALID_ARGUMENT, "work_item_id"))
    )


async def test_given_a_bad_page_token_when_listing_entries_then_invalid_argument(
    connect: ClientFactory,
) -> None:
    alice = await connect()

    error = await alice.error(
        "list_time_entries",
        msg.ListTimeEntries(user_id="alice", page_token=UNSIGNED_CURSOR),
    )

    assert_that(
        (error.code, error.field), equal_to((env.ERROR_CODE_INVALID_ARGUMENT, "page_token"))
    )


async def test_given_entries_of_two_users_on_two_items_when_totalling_then_sums_are_grouped(
    connect: ClientFactory,
) -> None:
    b = await board(connect)
    bob = await connect(user="bob")
    second_item = (await create_item(b.alice, b.project_id, title="Second")).id
    end = now_ms() - HOUR
    await manual_entry(b.alice, b.item_id, end - 30 * MINUTE, end)
    await manual_entry(b.alice, b.item_id, end - 3 * HOUR, end - 2 * HOUR)
    await manual_entry(b.alice, second_item, end - 5 * HOUR, end - 4 * HOUR - 50 * MINUTE)
    await manual_entry(bob, b.item_id, end - 10 * MINUTE, end)
    await b.alice.ok("start_timer", msg.StartTimer(work_item_id=b.item_id))

    per_user = await b.alice.ok("get_time_totals", msg.GetTimeTotals(work_item_id=b.item_id))
    per_item = await b.alice.ok("get_time_totals", msg.GetTimeTotals(user_id="alice"))

    assert_that(per_user.total_seconds, equal_to(100 * 60))
    assert_that(
        [(t.user_id, t.duration_seconds, t.entries) for t in per_user.totals],
        contains_exactly(("alice", 90 * 60, 2), ("bob", 10 * 60, 1)),
    )
    assert_that(per_item.total_seconds, equal_to(100 * 60))
    assert_that(
        [(t.work_item_id, t.duration_seconds, t.entries) for t in per_item.totals],
        contains_exactly((b.item_id, 90 * 60, 2), (second_item, 10 * 60, 1)),
    )


@pytest.mark.parametrize("both", [True, False])
async def test_given_both_or_no_filter_when_totalling_then_invalid_argument(
    connect: ClientFactory, both: bool
) -> None:
    alice = await connect()
    command = (
        msg.GetTimeTotals(work_item_id=UNKNOWN_ID, user_id="alice") if both else msg.GetTimeTotals()
    )

    error = await alice.error("get_time_totals", command)

    assert_that(
        (error.code, error.field), equal_to((env.ERROR_CODE_INVALID_ARGUMENT, "work_item_id"))
    )
