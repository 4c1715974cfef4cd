"""The dependency cycle check on the tenants layer: small graphs, then 10,000 edges."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    contains_string,
    ends_with,
    equal_to,
    has_length,
    is_in,
    none,
    starts_with,
)

from scripts.bench_cycle_check import (
    add_blocks,
    build_graph,
    make_items,
    open_tenant,
    refused_pairs,
)
from server.handlers.dependencies import MAX_CYCLE_KEYS, describe_cycle
from tenants import dependencies


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_tenant(tmp_path / "tenant.sqlite3")
    yield connection
    connection.close()


def chain(conn: sqlite3.Connection, items: list[str]) -> None:
    for source, target in zip(items, items[1:], strict=False):
        add_blocks(conn, source, target)


def cycle_of(conn: sqlite3.Connection, source: str, target: str) -> list[str]:
    cycle = dependencies.find_cycle(conn, source, target)
    assert cycle is not None, "expected a cycle"
    return cycle


def is_walk_along_edges(path: list[str], edges: set[tuple[str, str]]) -> bool:
    return all((a, b) in edges for a, b in zip(path, path[1:], strict=False))


def test_given_no_edges_when_checking_then_there_is_no_cycle(conn: sqlite3.Connection) -> None:
    a, b = make_items(conn, 2)

    assert_that(dependencies.find_cycle(conn, a, b), none())


def test_given_a_blocks_b_when_b_would_block_a_then_the_cycle_is_a_b_a(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)
    add_blocks(conn, a, b)

    assert_that(cycle_of(conn, b, a), contains_exactly(b, a, b))


def test_given_a_chain_of_six_when_the_last_would_block_the_first_then_the_whole_chain_is_named(
    conn: sqlite3.Connection,
) -> None:
    items = make_items(conn, 6)
    chain(conn, items)

    cycle = cycle_of(conn, items[-1], items[0])

    assert_that(cycle, contains_exactly(items[-1], *items))


def test_given_a_chain_when_a_forward_shortcut_is_checked_then_it_is_accepted(
    conn: sqlite3.Connection,
) -> None:
    items = make_items(conn, 6)
    chain(conn, items)

    assert_that(dependencies.find_cycle(conn, items[0], items[-1]), none())


def test_given_two_routes_when_a_cycle_is_named_then_the_shorter_route_is_used(
    conn: sqlite3.Connection,
) -> None:
    a, b, c, d, e = make_items(conn, 5)
    chain(conn, [a, b, c, d, e])
    add_blocks(conn, a, e)

    assert_that(cycle_of(conn, e, a), contains_exactly(e, a, e))


def test_given_a_diamond_when_its_sink_would_block_its_source_then_one_path_is_named(
    conn: sqlite3.Connection,
) -> None:
    top, left, right, bottom = make_items(conn, 4)
    for source, target in [(top, left), (top, right), (left, bottom), (right, bottom)]:
        add_blocks(conn, source, target)

    cycle = cycle_of(conn, bottom, top)

    assert_that(cycle, has_length(4))
    assert_that(cycle[2], is_in([left, right]))
    assert_that([cycle[0], cycle[1], cycle[3]], contains_exactly(bottom, top, bottom))


def test_given_relates_to_edges_when_checking_then_they_never_form_a_cycle(
    conn: sqlite3.Connection,
) -> None:
    a, b = make_items(conn, 2)
    dependencies.insert(
        conn,
        dependency_id=str(uuid.uuid4()),
        from_item_id=a,
        to_item_id=b,
        type=dependencies.RELATES_TO,
        actor_id="alice",
        now_ms=1,
    )

    assert_that(dependencies.find_cycle(conn, b, a), none())


def test_given_a_deleted_edge_when_checking_then_it_no_longer_counts(
    conn: sqlite3.Connection,
) -> None:
    a, b, c = make_items(conn, 3)
    add_blocks(conn, a, b)
    add_blocks(conn, b, c)
    middle = conn.execute("SELECT id FROM dependencies WHERE from_item_id = ?", (b,)).fetchone()[0]
    dependencies.soft_delete(conn, middle, actor_id="alice", now_ms=2, batch="req-1")

    assert_that(dependencies.find_cycle(conn, c, a), none())


def test_given_10000_edges_when_checking_forward_and_backward_edges_then_answers_are_right(
    conn: sqlite3.Connection,
) -> None:
    graph = build_graph(conn, items=2000, edges=10_000)

    for source, target in refused_pairs(graph, 20):
        cycle = cycle_of(conn, source, target)
        assert_that(cycle[0], equal_to(source))
        assert_that(cycle[-1], equal_to(source))
        assert_that(cycle[1], equal_to(target))
        assert_that(is_walk_along_edges(cycle[1:], graph.edges), equal_to(True))
        assert_that(len(set(cycle[1:])), equal_to(len(cycle) - 1))
    forward = [
        (graph.items[i], graph.items[j]) for i, j in [(0, 1999), (5, 6), (1000, 1500), (1998, 1999)]
    ]
    for source, target in forward:
        assert_that(dependencies.find_cycle(conn, source, target), none())


def test_given_a_10000_edge_chain_when_the_end_would_block_the_start_then_all_items_are_named(
    conn: sqlite3.Connection,
) -> None:
    graph = build_graph(conn, items=10_001, edges=10_000)

    cycle = cycle_of(conn, graph.items[-1], graph.items[0])

    assert_that(cycle, equal_to([graph.items[-1], *graph.items]))


def test_given_a_short_cycle_when_described_then_every_key_is_named() -> None:
    assert_that(describe_cycle(["PM-3", "PM-7", "PM-3"]), equal_to("PM-3 -> PM-7 -> PM-3"))


def test_given_a_cycle_of_61_keys_when_described_then_the_middle_is_elided() -> None:
    keys = [f"PM-{n}" for n in range(1, 61)] + ["PM-1"]

    text = describe_cycle(keys)

    assert_that(text.split(" -> "), has_length(MAX_CYCLE_KEYS + 1))
    assert_that(text, starts_with("PM-1 -> PM-2 -> "))
    assert_that(text, contains_string("... (11 more) ..."))
    assert_that(text, ends_with("PM-60 -> PM-1"))
