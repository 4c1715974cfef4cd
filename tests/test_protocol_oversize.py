"""Frames that would not fit PM_MAX_MESSAGE_BYTES go out truncated: the kind of change or
result, its ids, and refs to the entities it held (none when even those would not fit)."""

from __future__ import annotations

import uuid

from hamcrest import assert_that, contains_exactly, equal_to, has_length, less_than_or_equal_to

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from server import protocol

LIMIT = 10_000


def _item(n: int, description: str = "") -> pb.WorkItem:
    return pb.WorkItem(id=f"item-{n}", number=n, version=n + 1, description=description)


def _event_frame(change: str, message: object, seq: int = 7) -> bytes:
    event = env.Event(project_ids=["p1"], actor_id="alice", request_id="r1")
    getattr(event, change).CopyFrom(message)
    return protocol.event_frame(seq, event.SerializeToString(), max_bytes=LIMIT)


def _parse(frame: bytes) -> env.ServerMessage:
    message = env.ServerMessage()
    message.ParseFromString(frame)
    return message


def test_given_a_small_event_when_framed_then_it_goes_out_whole() -> None:
    frame = _event_frame("work_item_created", items_msg.WorkItemCreated(work_item=_item(1, "d")))

    event = _parse(frame).event

    assert_that((event.seq, event.truncated), equal_to((7, False)))
    assert_that(event.work_item_created.work_item.description, equal_to("d"))


def test_given_an_event_over_the_limit_when_framed_then_refs_with_versions() -> None:
    restored = items_msg.WorkItemRestored(work_items=[_item(n, "x" * 4000) for n in range(4)])

    frame = _event_frame("work_item_restored", restored)

    event = _parse(frame).event
    assert_that(len(frame), less_than_or_equal_to(LIMIT))
    assert_that((event.seq, event.truncated, event.actor_id), equal_to((7, True, "alice")))
    assert_that(event.WhichOneof("change"), equal_to("work_item_restored"))
    assert_that(event.work_item_restored.work_items, has_length(0))
    assert_that(
        [(r.type, r.id, r.version) for r in event.refs],
        contains_exactly(*[("work_item", f"item-{n}", n + 1) for n in range(4)]),
    )


def test_given_nested_entities_when_truncated_then_each_is_named_once() -> None:
    entry = pb.TimeEntry(id="t1", version=2, note="n" * 20_000)
    started = time_msg.TimerStarted(started=entry, stopped=pb.TimeEntry(id="t0", version=5))

    event = _parse(_event_frame("timer_started", started)).event

    assert_that(
        [(r.type, r.id, r.version) for r in event.refs],
        contains_exactly(("time_entry", "t1", 2), ("time_entry", "t0", 5)),
    )


def test_given_more_ids_than_fit_when_truncated_then_the_ids_of_the_change_and_no_refs() -> None:
    project_id = str(uuid.uuid4())
    deleted = projects_msg.ProjectDeleted(
        project_id=project_id,
        deleted_at_ms=5,
        work_item_ids=[str(uuid.uuid4()) for _ in range(500)],
    )

    frame = _event_frame("project_deleted", deleted)

    event = _parse(frame).event
    assert_that(len(frame), less_than_or_equal_to(LIMIT))
    assert_that(event.truncated, equal_to(True))
    assert_that(
        (event.project_deleted.project_id, event.project_deleted.deleted_at_ms),
        equal_to((project_id, 5)),
    )
    assert_that((len(event.project_deleted.work_item_ids), len(event.refs)), equal_to((0, 0)))


def test_given_a_result_over_the_limit_when_encoded_then_a_truncated_response() -> None:
    result = items_msg.RestoreWorkItemResult(work_items=[_item(n, "y" * 5000) for n in range(3)])

    frame = protocol.encode_result("r9", "restore_work_item", result, max_bytes=LIMIT)

    response = _parse(frame).response
    assert_that((response.request_id, response.truncated), equal_to(("r9", True)))
    assert_that(response.WhichOneof("result"), equal_to("restore_work_item"))
    assert_that([r.id for r in response.refs], equal_to(["item-0", "item-1", "item-2"]))
