"""The hub, the tenant's ordered stream and the connection's outbox, as units."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    empty,
    equal_to,
    has_length,
    instance_of,
    same_instance,
)

from server.hub import InProcessHub, PublishedEvent, create_hub
from server.outbox import Outbox
from server.session import TENANT_FEED
from server.stream import TenantStream


def _event(
    *project_ids: str, tenant: str = "acme", tenant_level: bool = False, seq: int = 1
) -> PublishedEvent:
    return PublishedEvent(tenant, seq, project_ids, tenant_level, f"frame-{seq}".encode())


class Received:
    def __init__(self) -> None:
        self.events: list[PublishedEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: PublishedEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def until(self, seq: int) -> None:
        """Returns once an event of this seq (or later) has been received."""
        async with asyncio.timeout(5):
            while not self.events or self.events[-1].seq < seq:
                self._arrived.clear()
                await self._arrived.wait()

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]


# --- InProcessHub -------------------------------------------------------------------------------


async def test_given_receivers_of_a_tenant_when_publishing_then_each_gets_the_same_event() -> None:
    hub = InProcessHub()
    first, second, other = Received(), Received(), Received()
    await hub.subscribe("acme", first)
    await hub.subscribe("acme", second)
    await hub.subscribe("globex", other)
    event = _event("p1", seq=7)

    hub.publish(event)

    assert_that(first.events, has_length(1))
    assert_that(first.events[0], same_instance(event))
    assert_that(second.events[0], same_instance(event))
    assert_that(other.events, empty())


async def test_given_an_unsubscribed_receiver_when_publishing_then_it_gets_nothing() -> None:
    hub = InProcessHub()
    gone = Received()
    await hub.subscribe("acme", gone)

    await hub.unsubscribe("acme", gone)
    hub.publish(_event("p1"))

    assert_that((gone.events, hub.receiver_count()), equal_to(([], 0)))


def test_given_broker_urls_when_creating_the_hub_then_memory_or_refused() -> None:
    assert_that(create_hub(""), instance_of(InProcessHub))
    assert_that(create_hub("memory://"), instance_of(InProcessHub))
    with pytest.raises(ValueError):
        create_hub("carrier-pigeon://coop")


def test_given_an_event_when_framed_for_websockets_then_once_for_every_receiver() -> None:
    event = _event("p1", seq=3)

    assert_that(event.ws_frame, same_instance(event.ws_frame))
    assert_that(event.ws_frame[2:], equal_to(event.frame))


# --- TenantStream -------------------------------------------------------------------------------


class FakeLog:
    """The tenant's log for gap fills: every event ever committed, by seq."""

    def __init__(self, events: list[PublishedEvent]) -> None:
        self.events = {e.seq: e for e in events}
        self.fills: list[tuple[int, int]] = []

    async def fill(self, tenant_id: str, after: int, up_to: int) -> list[PublishedEvent]:
        self.fills.append((after, up_to))
        return [self.events[s] for s in sorted(self.events) if after < s <= up_to]


def _stream(log: FakeLog, gap_fill_s: float = 0.01) -> tuple[TenantStream, Received]:
    stream = TenantStream("acme", log.fill, gap_fill_s)
    received = Received()
    stream.listen(received, ["p1"])
    return stream, received


async def test_given_events_in_order_when_received_then_released_at_once() -> None:
    stream, received = _stream(FakeLog([]))
    stream.start(0)

    for seq in (1, 2, 3):
        stream.receive(_event("p1", seq=seq))

    assert_that((received.seqs, stream.position), equal_to(([1, 2, 3], 3)))


async def test_given_duplicates_and_late_copies_when_received_then_each_seq_released_once() -> None:
    stream, received = _stream(FakeLog([]))
    stream.start(0)

    for seq in (1, 2, 2, 1, 3, 3):
        stream.receive(_event("p1", seq=seq))

    assert_that(received.seqs, equal_to([1, 2, 3]))


async def test_given_events_out_of_order_when_the_gap_closes_then_released_in_seq_order() -> None:
    stream, received = _stream(FakeLog([]), gap_fill_s=60)
    stream.start(0)

    for seq in (3, 1, 4):
        stream.receive(_event("p1", seq=seq))
    before = list(received.seqs)
    stream.receive(_event("p1", seq=2))

    assert_that(before, equal_to([1]))
    assert_that(received.seqs, equal_to([1, 2, 3, 4]))


async def test_given_a_gap_that_stays_open_when_the_fill_time_passes_then_filled_from_the_log() -> (
    None
):
    log = FakeLog([_event("p1", seq=s) for s in (1, 2, 3, 4)])
    stream, received = _stream(log)
    stream.start(0)
    stream.receive(_event("p1", seq=1))
    stream.receive(_event("p1", seq=4))  # 2 and 3 never arrive from the hub

    await received.until(4)

    assert_that(received.seqs, equal_to([1, 2, 3, 4]))
    assert_that(log.fills, equal_to([(1, 4)]))


class FailingOnceLog(FakeLog):
    """A log whose first read fails (a busy or briefly broken file)."""

    async def fill(self, tenant_id: str, after: int, up_to: int) -> list[PublishedEvent]:
        if not self.fills:
            self.fills.append((after, up_to))
            raise OSError("disk I/O error")
        return await super().fill(tenant_id, after, up_to)


async def test_given_a_gap_fill_that_fails_when_retried_then_nothing_is_lost() -> None:
    log = FailingOnceLog([_event("p1", seq=s) for s in (1, 2, 3)])
    stream, received = _stream(log)
    stream.start(0)
    stream.receive(_event("p1", seq=1))
    stream.receive(_event("p1", seq=3))  # 2 never arrives from the hub

    await received.until(3)

    assert_that(received.seqs, equal_to([1, 2, 3]))
    assert_that(log.fills, equal_to([(1, 3), (1, 3)]))


async def test_given_a_seq_the_log_lacks_when_filling_then_it_is_skipped() -> None:
    log = FakeLog([_event("p1", seq=s) for s in (1, 3)])  # seq 2 was pruned
    stream, received = _stream(log)
    stream.start(0)
    stream.receive(_event("p1", seq=3))

    await received.until(3)

    assert_that(received.seqs, equal_to([1, 3]))


async def test_given_events_before_the_start_when_started_then_history_is_not_released() -> None:
    stream, received = _stream(FakeLog([]))
    for seq in (5, 6, 7):
        stream.receive(_event("p1", seq=seq))

    stream.start(6)

    assert_that((received.seqs, stream.position), equal_to(([7], 7)))


async def test_given_listeners_of_projects_and_the_feed_when_released_then_each_gets_its_own() -> (
    None
):
    stream = TenantStream("acme", FakeLog([]).fill, 60)
    both, feed, other = Received(), Received(), Received()
    stream.listen(both, ["p1", TENANT_FEED])
    stream.listen(feed, [TENANT_FEED])
    stream.listen(other, ["p2"])
    stream.start(0)

    stream.receive(_event("p1", tenant_level=True, seq=1))
    stream.receive(_event("p1", seq=2))

    assert_that((both.seqs, feed.seqs, other.seqs), equal_to(([1, 2], [1], [])))
    stream.forget(both, ["p1", TENANT_FEED])
    stream.forget(feed, [TENANT_FEED])
    stream.forget(other, ["p2"])
    assert_that(stream.idle, equal_to(True))


# --- Outbox -------------------------------------------------------------------------------------


class Sink:
    """A socket that takes frames while `open` is set, and pushes back while it is not."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.open = True
        self._callbacks: list[Callable[[], None]] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writable(self) -> bool:
        return self.open

    def on_writable(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def resume(self) -> None:
        self.open = True
        for callback in self._callbacks:
            callback()


def test_given_a_writable_socket_when_pushing_then_written_at_once_and_nothing_queued() -> None:
    sink = Sink()
    outbox = Outbox(sink, limit=2, byte_limit=100)

    pushed = [outbox.push(f"f{n}".encode()) for n in range(10)]

    assert_that(pushed, equal_to([True] * 10))
    assert_that((len(sink.written), len(outbox)), equal_to((10, 0)))


def test_given_a_socket_pushing_back_when_frames_pile_up_then_refused_past_the_frame_limit() -> (
    None
):
    sink = Sink()
    sink.open = False
    outbox = Outbox(sink, limit=2, byte_limit=1000)

    pushed = [outbox.push(b"1"), outbox.push(b"2"), outbox.push(b"3")]

    assert_that(pushed, contains_exactly(True, True, False))
    assert_that(sink.written, empty())


def test_given_a_socket_pushing_back_when_bytes_pile_up_then_refused_past_the_byte_limit() -> None:
    sink = Sink()
    sink.open = False
    outbox = Outbox(sink, limit=100, byte_limit=1000)

    pushed = [outbox.push(b"x" * 400), outbox.push(b"x" * 400), outbox.push(b"x" * 400)]

    assert_that(pushed, contains_exactly(True, True, False))
    assert_that(outbox.queued_bytes, equal_to(800))


def test_given_queued_frames_when_the_socket_resumes_then_sent_in_order_and_room_again() -> None:
    sink = Sink()
    sink.open = False
    outbox = Outbox(sink, limit=2, byte_limit=1000)
    outbox.push(b"a")
    outbox.push(b"b")

    sink.resume()
    pushed = outbox.push(b"c")

    assert_that(sink.written, contains_exactly(b"a", b"b", b"c"))
    assert_that((pushed, len(outbox)), equal_to((True, 0)))


def test_given_a_replay_when_pushed_behind_a_full_queue_then_queued_outside_the_bounds() -> None:
    sink = Sink()
    sink.open = False
    outbox = Outbox(sink, limit=1, byte_limit=10)
    outbox.push(b"live")

    for n in range(50):
        outbox.push_replay(f"replayed {n}".encode())

    assert_that(len(outbox), equal_to(51))
    assert_that(outbox.push(b"more live"), equal_to(False))


async def test_given_queued_frames_when_waiting_for_the_drain_then_it_returns_once_sent() -> None:
    sink = Sink()
    sink.open = False
    outbox = Outbox(sink, limit=10, byte_limit=1000)
    outbox.push_replay(b"r1")
    draining = asyncio.ensure_future(outbox.drained())
    await asyncio.sleep(0)
    waited = not draining.done()

    sink.resume()
    async with asyncio.timeout(5):
        await draining

    assert_that((waited, sink.written), equal_to((True, [b"r1"])))


def test_given_a_closed_outbox_when_pushing_then_dropped_silently() -> None:
    sink = Sink()
    outbox = Outbox(sink, limit=1, byte_limit=10)

    outbox.close()

    assert_that(outbox.push(b"2"), equal_to(True))
    outbox.push_replay(b"3")
    assert_that((sink.written, len(outbox)), equal_to(([], 0)))
