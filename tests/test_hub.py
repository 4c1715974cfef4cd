"""The in-process hub and the per-connection outbox, as units."""

from __future__ import annotations

import asyncio

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

from server.hub import InProcessHub, PublishedEvent, SubscriptionIndex, create_hub
from server.outbox import Outbox


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.frames: list[bytes] = []

    def deliver(self, event: PublishedEvent) -> None:
        self.frames.append(event.frame)

    def __repr__(self) -> str:
        return f"Recorder({self.name})"


def _event(
    *project_ids: str, tenant: str = "acme", tenant_level: bool = False, seq: int = 1
) -> PublishedEvent:
    return PublishedEvent(tenant, seq, project_ids, tenant_level, f"frame-{seq}".encode())


# --- SubscriptionIndex / InProcessHub ---------------------------------------------------------


def test_given_a_subscriber_of_two_projects_when_an_event_touches_both_then_it_receives_once() -> (
    None
):
    index = SubscriptionIndex()
    alice = Recorder("alice")
    index.add("acme", alice, ["p1", "p2"], feed=True)

    receivers = index.receivers(_event("p1", "p2", tenant_level=True))

    assert_that(receivers, equal_to({alice}))


def test_given_the_same_project_id_in_another_tenant_when_published_then_not_received() -> None:
    index = SubscriptionIndex()
    dora = Recorder("dora")
    index.add("globex", dora, ["p1"], feed=True)

    assert_that(index.receivers(_event("p1", tenant="acme", tenant_level=True)), empty())


def test_given_a_tenant_feed_when_events_arrive_then_only_project_level_ones_reach_it() -> None:
    index = SubscriptionIndex()
    feed = Recorder("feed")
    index.add("acme", feed, [], feed=True)

    assert_that(index.receivers(_event("p1", tenant_level=True)), equal_to({feed}))
    assert_that(index.receivers(_event("p1", tenant_level=False)), empty())


def test_given_subscriptions_when_all_removed_then_nothing_is_left() -> None:
    index = SubscriptionIndex()
    alice, bob = Recorder("alice"), Recorder("bob")
    index.add("acme", alice, ["p1", "p2"], feed=True)
    index.add("acme", bob, ["p2"], feed=False)

    index.remove("acme", alice, ["p1", "p2"], feed=True)
    assert_that(index.receivers(_event("p2")), equal_to({bob}))
    index.remove("acme", bob, ["p2"], feed=False)
    index.remove("unknown-tenant", bob, ["p2"], feed=True)

    assert_that(index.subscriber_count(), equal_to(0))
    assert_that(index.receivers(_event("p1", "p2", tenant_level=True)), empty())


def test_given_a_partial_removal_when_publishing_then_the_rest_still_delivers() -> None:
    index = SubscriptionIndex()
    alice = Recorder("alice")
    index.add("acme", alice, ["p1", "p2"], feed=False)

    index.remove("acme", alice, ["p1"], feed=False)

    assert_that(index.receivers(_event("p1")), empty())
    assert_that(index.receivers(_event("p2")), equal_to({alice}))
    assert_that(index.subscriber_count(), equal_to(1))


async def test_given_several_subscribers_when_publishing_then_each_gets_the_same_frame_object() -> (
    None
):
    hub = InProcessHub()
    receivers = [Recorder(f"r{n}") for n in range(3)]
    for receiver in receivers:
        hub.subscribe("acme", receiver, project_ids=["p1"])
    event = _event("p1", seq=7)

    hub.publish(event)

    for receiver in receivers:
        assert_that(receiver.frames, has_length(1))
        assert_that(receiver.frames[0], same_instance(event.frame))


async def test_given_a_closed_hub_when_publishing_then_nobody_receives() -> None:
    hub = InProcessHub()
    alice = Recorder("alice")
    hub.subscribe("acme", alice, project_ids=["p1"])

    await hub.close()
    hub.publish(_event("p1"))

    assert_that(alice.frames, empty())


def test_given_broker_urls_when_creating_the_hub_then_memory_or_refused() -> None:
    assert_that(create_hub(""), instance_of(InProcessHub))
    assert_that(create_hub("memory://"), instance_of(InProcessHub))
    with pytest.raises(ValueError):
        create_hub("carrier-pigeon://coop")


# --- Outbox -----------------------------------------------------------------------------------


def _outbox(frames: int, byte_limit: int = 1 << 20, replay_bytes: int = 1 << 20) -> Outbox:
    return Outbox(frames, byte_limit, replay_bytes)


def test_given_a_full_outbox_when_pushing_then_refused_until_drained() -> None:
    outbox = _outbox(2)

    pushed = [outbox.push(b"1"), outbox.push(b"2"), outbox.push(b"3")]

    assert_that(pushed, contains_exactly(True, True, False))
    assert_that(len(outbox), equal_to(2))


def test_given_a_full_outbox_when_a_replay_pushes_then_it_is_queued() -> None:
    outbox = _outbox(1)
    outbox.push(b"1")

    queued = outbox.push_replay(b"replayed")

    assert_that((queued, len(outbox)), equal_to((True, 2)))


def test_given_a_long_replay_queued_when_live_frames_follow_then_the_replay_takes_no_room() -> None:
    outbox = _outbox(2)
    for n in range(100):
        outbox.push_replay(f"replayed {n}".encode())

    pushed = [outbox.push(b"live 1"), outbox.push(b"live 2"), outbox.push(b"live 3")]

    assert_that(pushed, contains_exactly(True, True, False))
    assert_that(len(outbox), equal_to(102))


def test_given_a_closed_outbox_when_pushing_then_dropped_silently() -> None:
    outbox = _outbox(1)
    outbox.push(b"1")

    outbox.close()

    assert_that(outbox.push(b"2"), equal_to(True))
    outbox.push_replay(b"3")
    assert_that(len(outbox), equal_to(0))


def test_given_frames_over_the_byte_limit_when_pushing_then_refused_though_few() -> None:
    outbox = _outbox(100, byte_limit=1000)

    pushed = [outbox.push(b"x" * 400), outbox.push(b"x" * 400), outbox.push(b"x" * 400)]

    assert_that(pushed, contains_exactly(True, True, False))
    assert_that(outbox.queued_bytes, equal_to(800))


def test_given_a_replay_over_its_byte_bound_when_pushing_then_refused() -> None:
    outbox = _outbox(1, byte_limit=1000, replay_bytes=1000)

    pushed = [outbox.push_replay(b"r" * 600), outbox.push_replay(b"r" * 600)]

    assert_that(pushed, contains_exactly(True, False))


async def test_given_sent_frames_when_drained_then_their_bytes_are_free_again() -> None:
    outbox = _outbox(100, byte_limit=1000)
    sent = asyncio.Event()

    async def send(frame: bytes) -> None:
        sent.set()

    outbox.push(b"x" * 900)
    draining = asyncio.create_task(outbox.drain(send))
    async with asyncio.timeout(5):
        await sent.wait()
    pushed = outbox.push(b"y" * 900)
    outbox.close()
    await draining

    assert_that(pushed, equal_to(True))


async def test_given_queued_frames_when_draining_then_sent_in_order_until_closed() -> None:
    outbox = _outbox(10)
    sent: list[bytes] = []
    third = asyncio.Event()

    async def send(frame: bytes) -> None:
        sent.append(frame)
        if len(sent) == 3:
            third.set()

    for frame in (b"a", b"b"):
        outbox.push(frame)
    draining = asyncio.create_task(outbox.drain(send))
    outbox.push(b"c")
    async with asyncio.timeout(5):
        await third.wait()
        outbox.close()
        await draining

    assert_that(sent, contains_exactly(b"a", b"b", b"c"))
