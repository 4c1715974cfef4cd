"""Presence without sockets: seats, the latest view, coalescing windows on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length

from pm.v1 import session_pb2
from server.presence import Entries, Presence, merge

WINDOW = 0.1


class FakeClock:
    """Timers that fire only when the test advances time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._count = 0

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        self._count += 1
        self._timers.append((self.now + delay, self._count, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while True:
            due = sorted(t for t in self._timers if t[0] <= self.now)
            if not due:
                return
            self._timers.remove(due[0])
            due[0][2]()

    @property
    def pending(self) -> int:
        return len(self._timers)


@dataclass(eq=False)
class Member:
    user_id: str
    received: list[session_pb2.PresenceUpdate] = field(default_factory=list)

    def deliver_presence(self, frame: bytes) -> None:
        update = session_pb2.PresenceUpdate()
        update.ParseFromString(frame)
        self.received.append(update)


def _presence(clock: FakeClock) -> Presence:
    ticks = iter(range(1, 1_000_000))
    return Presence(
        WINDOW, clock.schedule, lambda u: u.SerializeToString(), clock_ms=lambda: next(ticks)
    )


def _settle(presence: Presence, clock: FakeClock, *members: Member) -> None:
    """Members joined p1 of acme, their joins sent and forgotten."""
    for member in members:
        presence.join("acme", "p1", member)
        presence.snapshot("acme", "p1", member)
    clock.advance(WINDOW)
    for member in members:
        member.received.clear()


def _entries(update: session_pb2.PresenceUpdate) -> list[tuple[str, int, str]]:
    return [(e.user_id, e.connections, e.viewing_work_item_id) for e in update.entries]


def test_given_two_users_when_they_join_then_the_snapshot_lists_both_with_their_connections() -> (
    None
):
    clock = FakeClock()
    presence = _presence(clock)
    alice_tab, alice_phone, bob = Member("alice"), Member("alice"), Member("bob")

    for member in (alice_tab, alice_phone, bob):
        presence.join("acme", "p1", member)
    snapshot = presence.snapshot("acme", "p1", bob)

    assert_that(_entries(snapshot), contains_exactly(("alice", 2, ""), ("bob", 1, "")))
    assert_that(snapshot.project_id, equal_to("p1"))


def test_given_a_join_when_the_window_closes_then_others_get_one_update_and_the_joiner_none() -> (
    None
):
    clock = FakeClock()
    presence = _presence(clock)
    alice, bob = Member("alice"), Member("bob")
    presence.join("acme", "p1", alice)
    presence.snapshot("acme", "p1", alice)
    clock.advance(WINDOW)

    presence.join("acme", "p1", bob)
    presence.snapshot("acme", "p1", bob)  # bob's SubscribeResult already shows him
    clock.advance(WINDOW)

    assert_that(alice.received, has_length(1))
    assert_that(_entries(alice.received[0]), contains_exactly(("alice", 1, ""), ("bob", 1, "")))
    assert_that(bob.received, empty())


def test_given_a_join_and_a_leave_in_one_window_when_it_closes_then_nothing_is_sent() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    alice, bob = Member("alice"), Member("bob")
    presence.join("acme", "p1", alice)
    presence.snapshot("acme", "p1", alice)
    clock.advance(WINDOW)

    presence.join("acme", "p1", bob)
    presence.leave("acme", "p1", bob)
    clock.advance(WINDOW)

    assert_that(alice.received, empty())
    assert_that(bob.received, empty())


def test_given_fifty_view_changes_in_one_window_when_it_closes_then_one_update_the_latest() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    alice, bob = Member("alice"), Member("bob")
    _settle(presence, clock, alice, bob)

    for n in range(50):
        presence.view("acme", "p1", bob, f"item-{n}")
    clock.advance(WINDOW)

    assert_that(alice.received, has_length(1))
    assert_that(
        _entries(alice.received[0]), contains_exactly(("alice", 1, ""), ("bob", 1, "item-49"))
    )
    assert_that(bob.received, has_length(1))  # bob's own answers were not taken: he is told too


def test_given_view_changes_spread_over_windows_when_time_passes_then_one_update_per_window() -> (
    None
):
    clock = FakeClock()
    presence = _presence(clock)
    alice, bob = Member("alice"), Member("bob")
    _settle(presence, clock, alice, bob)

    for n in range(40):  # 40 changes, 4 per window: 10 windows
        presence.view("acme", "p1", bob, f"item-{n}")
        clock.advance(WINDOW / 4)
    clock.advance(WINDOW)

    assert_that(alice.received, has_length(10))
    assert_that(_entries(alice.received[-1])[1], equal_to(("bob", 1, "item-39")))
    assert_that(clock.pending, equal_to(0))


def test_given_a_change_and_its_undo_in_one_window_when_it_closes_then_nothing_is_sent() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    alice, bob = Member("alice"), Member("bob")
    _settle(presence, clock, alice, bob)

    presence.view("acme", "p1", bob, "item-1")
    presence.view("acme", "p1", bob, "")
    clock.advance(WINDOW)

    assert_that(alice.received, empty())


def test_given_two_connections_of_a_user_when_each_sets_a_view_then_the_latest_set_wins() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    tab, phone, bob = Member("alice"), Member("alice"), Member("bob")
    for member in (tab, phone, bob):
        presence.join("acme", "p1", member)

    presence.view("acme", "p1", tab, "item-1")
    presence.view("acme", "p1", phone, "item-2")
    after_phone = _entries(presence.snapshot("acme", "p1", bob))
    presence.leave("acme", "p1", phone)
    after_leave = _entries(presence.snapshot("acme", "p1", bob))

    assert_that(after_phone, contains_exactly(("alice", 2, "item-2"), ("bob", 1, "")))
    assert_that(after_leave, contains_exactly(("alice", 1, "item-1"), ("bob", 1, "")))


def test_given_a_member_when_it_leaves_twice_then_the_others_hear_one_leave() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    alice, bob = Member("alice"), Member("bob")
    _settle(presence, clock, alice, bob)

    presence.leave("acme", "p1", bob)
    clock.advance(WINDOW)
    presence.leave_all("acme", ["p1"], bob)  # the close noticed it too
    clock.advance(WINDOW)

    assert_that(alice.received, has_length(1))
    assert_that(_entries(alice.received[0]), contains_exactly(("alice", 1, "")))


def test_given_projects_and_tenants_when_one_changes_then_only_its_members_hear() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    here, other_project, other_tenant = Member("alice"), Member("carol"), Member("dave")
    presence.join("acme", "p1", here)
    presence.join("acme", "p2", other_project)
    presence.join("globex", "p1", other_tenant)
    for tenant, project, member in (
        ("acme", "p1", here),
        ("acme", "p2", other_project),
        ("globex", "p1", other_tenant),
    ):
        presence.snapshot(tenant, project, member)
    clock.advance(WINDOW)

    presence.join("acme", "p1", Member("bob"))
    clock.advance(WINDOW)

    assert_that(here.received, has_length(1))
    assert_that(other_project.received, empty())
    assert_that(other_tenant.received, empty())


def test_given_the_last_member_when_it_leaves_then_the_project_is_forgotten() -> None:
    clock = FakeClock()
    presence = _presence(clock)
    alice = Member("alice")
    presence.join("acme", "p1", alice)

    presence.leave("acme", "p1", alice)
    clock.advance(WINDOW)

    assert_that(presence.project_count(), equal_to(0))


def test_given_entries_of_two_processes_when_merged_then_counts_add_and_the_latest_view_wins() -> (
    None
):
    here: Entries = (("alice", 1, "item-1", 5), ("bob", 2, "", 0))
    there: Entries = (("alice", 2, "item-2", 9), ("carol", 1, "item-3", 3))

    merged = merge(here, there)

    assert_that(
        list(merged),
        contains_exactly(("alice", 3, "item-2", 9), ("bob", 2, "", 0), ("carol", 1, "item-3", 3)),
    )


@dataclass
class FakeExchange:
    """Another process's entries, and what this one published."""

    others: dict[tuple[str, str], Entries] = field(default_factory=dict)
    published: list[tuple[str, str, Entries]] = field(default_factory=list)

    def publish(self, tenant_id: str, project_id: str, entries: Entries) -> None:
        self.published.append((tenant_id, project_id, entries))

    def remote(self, tenant_id: str, project_id: str) -> Entries:
        return self.others.get((tenant_id, project_id), ())


def test_given_another_process_when_presence_changes_here_and_there_then_both_are_merged() -> None:
    clock = FakeClock()
    exchange = FakeExchange({("acme", "p1"): (("alice", 1, "item-9", 10**12),)})
    presence = Presence(WINDOW, clock.schedule, lambda u: u.SerializeToString(), exchange=exchange)
    alice, bob = Member("alice"), Member("bob")

    presence.join("acme", "p1", alice)
    presence.join("acme", "p1", bob)
    presence.view("acme", "p1", bob, "item-1")
    snapshot = _entries(presence.snapshot("acme", "p1", bob))
    clock.advance(WINDOW)
    exchange.others[("acme", "p1")] = (("carol", 1, "", 0),)
    presence.remote_changed("acme", "p1")
    clock.advance(WINDOW)

    assert_that(snapshot, contains_exactly(("alice", 2, "item-9"), ("bob", 1, "item-1")))
    # Published once per window, the settled local state (ids and order, no other process).
    assert_that(exchange.published, has_length(1))
    assert_that(
        [e[:3] for e in exchange.published[0][2]],
        contains_exactly(("alice", 1, ""), ("bob", 1, "item-1")),
    )
    assert_that(
        [_entries(u) for u in bob.received],
        contains_exactly([("alice", 1, ""), ("bob", 1, "item-1"), ("carol", 1, "")]),
    )
