"""Rank keys that moves made long are rewritten evenly, after the move, in the same order."""

from __future__ import annotations

from hamcrest import assert_that, contains_exactly, equal_to, greater_than, less_than_or_equal_to

from pm.v1 import work_items_pb2 as items_msg
from tenants.ranks import REBALANCE_AT
from tests.boards import TASK, board, create_item
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.tenant_state import rows


async def test_given_moves_into_one_gap_when_a_key_grows_long_then_the_lane_is_reranked(
    connect: ClientFactory, server: RunningServer
) -> None:
    b = await board(connect, items=0)
    anchor = await create_item(b.alice, b.project_id, TASK, "Anchor")
    movers = [
        await create_item(b.alice, b.project_id, TASK, "X"),
        await create_item(b.alice, b.project_id, TASK, "Y"),
    ]
    versions = {m.id: m.version for m in movers}
    await b.watcher.events_until_quiet()

    # Each move squeezes an item right after the anchor, halving the same gap again.
    moves = 0
    while True:
        mover = movers[moves % 2]
        moved = await b.alice.ok(
            "move_work_item",
            items_msg.MoveWorkItem(
                work_item_id=mover.id, expected_version=versions[mover.id], after_id=anchor.id
            ),
        )
        versions[mover.id] = moved.work_item.version
        moves += 1
        if len(moved.work_item.rank) > REBALANCE_AT:
            break
    # alice's connection answers her Ping only after the move's follow-up has published.
    await b.alice.events_until_quiet()
    events = await b.watcher.events_until_quiet()
    listed = await b.alice.ok(
        "list_work_items", items_msg.ListWorkItems(project_id=b.project_id, status="backlog")
    )

    reranked = events[-1]
    assert_that(moves, greater_than(REBALANCE_AT))
    assert_that(events[-2].WhichOneof("change"), equal_to("work_item_moved"))
    assert_that(reranked.WhichOneof("change"), equal_to("work_items_reranked"))
    assert_that(reranked.seq, equal_to(events[-2].seq + 1))
    last, other = (movers[(moves - 1) % 2], movers[moves % 2])
    assert_that(
        [item.id for item in listed.work_items], contains_exactly(anchor.id, last.id, other.id)
    )
    assert_that(max(len(item.rank) for item in listed.work_items), less_than_or_equal_to(4))
    by_id = {item.id: item for item in listed.work_items}
    assert_that(
        {c.work_item_id: (c.rank, c.version) for c in reranked.work_items_reranked.ranks},
        equal_to(
            {
                c.work_item_id: (by_id[c.work_item_id].rank, by_id[c.work_item_id].version)
                for c in reranked.work_items_reranked.ranks
            }
        ),
    )
    logged = rows(
        server,
        "SELECT COUNT(*) FROM activity_log WHERE action = 'reranked' AND seq = ?",
        reranked.seq,
    )
    assert_that(logged[0][0], equal_to(len(reranked.work_items_reranked.ranks)))
