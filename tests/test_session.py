"""The Session without a socket or a database: scopes, what is sent once, the replay's
buffer and its overflow."""

from __future__ import annotations

from hamcrest import assert_that, contains_exactly, empty, equal_to

from server.hub import PublishedEvent
from server.session import TENANT_FEED, Session


def _event(seq: int, *project_ids: str, tenant_level: bool = False) -> PublishedEvent:
    return PublishedEvent("acme", seq, project_ids, tenant_level, f"e{seq}".encode())


def _live(session: Session, *events: PublishedEvent) -> list[int]:
    return [e.seq for e in events if session.live(e)]


def test_given_a_project_scope_when_events_arrive_then_only_its_events_after_since_go_out() -> None:
    session = Session()
    session.add(["p1"], since=5)

    sent = _live(session, _event(5, "p1"), _event(6, "p2"), _event(7, "p1"), _event(8, "p1", "p2"))

    assert_that(sent, contains_exactly(7, 8))


def test_given_a_duplicate_delivery_when_it_arrives_again_then_it_is_not_sent_twice() -> None:
    session = Session()
    session.add(["p1", "p2"], since=0)

    sent = _live(
        session,
        _event(1, "p1"),
        _event(2, "p1", "p2"),
        _event(2, "p1", "p2"),
        _event(1, "p1"),
        _event(3, "p2"),
    )

    assert_that(sent, contains_exactly(1, 2, 3))


def test_given_the_tenant_feed_when_events_arrive_then_only_project_level_ones_go_out() -> None:
    session = Session()
    session.add([TENANT_FEED], since=0)

    sent = _live(session, _event(1, "p1", tenant_level=True), _event(2, "p1"))

    assert_that(sent, contains_exactly(1))
    assert_that((session.tenant_feed, session.project_ids), equal_to((True, [])))


def test_given_a_removed_scope_when_its_events_arrive_then_nothing_goes_out() -> None:
    session = Session()
    session.add(["p1", "p2"], since=0)

    session.remove(["p1"])

    assert_that(_live(session, _event(1, "p1"), _event(2, "p2")), contains_exactly(2))
    assert_that(session.project_ids, equal_to(["p2"]))


def test_given_a_replay_when_live_events_arrive_meanwhile_then_they_follow_it_in_order() -> None:
    session = Session()
    session.add(["p1"], since=0)
    _live(session, _event(1, "p1"), _event(2, "p1"))
    # Subscribe p2 with since 0: its events up to 4 come from the log, 5 and 6 live.
    session.begin_replay()
    session.add(["p2"], since=0)
    held = _live(session, _event(5, "p1"), _event(6, "p2"))

    replayed = [
        seq
        for seq, projects in ((1, ("p1",)), (2, ("p1", "p2")), (3, ("p2",)), (4, ("p2",)))
        if session.replayed(seq, projects, False)
    ]
    after = [e.seq for e in session.finish_replay()]

    assert_that(held, empty())
    # 2 touches p2 too but went out live through p1 already: once per event.
    assert_that(replayed, contains_exactly(3, 4))
    assert_that(after, contains_exactly(5, 6))
    assert_that(_live(session, _event(7, "p2")), contains_exactly(7))


def test_given_more_live_events_than_the_buffer_when_replaying_then_it_overflows() -> None:
    session = Session(buffer_limit=2)
    session.add(["p1"], since=0)
    session.begin_replay()

    _live(session, _event(1, "p1"), _event(2, "p1"), _event(3, "p1"))

    assert_that(session.overflowed, equal_to(True))
    # The caller reads them from the log instead, with a buffer from now on.
    session.restart_buffer()
    read = [seq for seq in (1, 2, 3) if session.replayed(seq, ("p1",), False)]
    _live(session, _event(4, "p1"))
    assert_that(read, contains_exactly(1, 2, 3))
    assert_that([e.seq for e in session.finish_replay()], contains_exactly(4))


def test_given_events_of_other_scopes_when_replaying_then_they_take_no_buffer_room() -> None:
    session = Session(buffer_limit=1)
    session.add(["p1"], since=0)
    session.begin_replay()

    _live(session, _event(1, "p2"), _event(2, "p3"), _event(3, "p1"))

    assert_that(session.overflowed, equal_to(False))
    assert_that([e.seq for e in session.finish_replay()], contains_exactly(3))


def test_given_a_scope_already_held_when_added_again_then_its_range_is_kept() -> None:
    session = Session()
    session.add(["p1"], since=0)
    _live(session, _event(1, "p1"), _event(2, "p1"))

    added = session.add(["p1", "p2"], since=0)

    assert_that(added, contains_exactly("p2"))
    assert_that([s for s in (1, 2) if session.replayed(s, ("p1",), False)], empty())
