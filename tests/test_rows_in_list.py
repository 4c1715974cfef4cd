"""IN lists are padded to a few lengths so each connection caches a few statements."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from hamcrest import assert_that, equal_to, less_than
from hypothesis import given
from hypothesis import strategies as st

from tenants.rows import in_list


@given(st.lists(st.integers(0, 50), min_size=1, max_size=600))
def test_given_any_ids_when_padded_then_the_in_list_matches_exactly_the_same_rows(
    ids: list[int],
) -> None:
    marks, bound = in_list(ids)
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(0, 60, 2)])
        found = [row[0] for row in conn.execute(f"SELECT id FROM t WHERE id IN ({marks})", bound)]

    assert_that(found, equal_to(sorted({i for i in ids if i % 2 == 0 and i < 60})))
    assert_that(marks.count("?"), equal_to(len(bound)))
    assert_that(len(bound) & (len(bound) - 1), equal_to(0))  # a power of two
    assert_that(len(bound), less_than(2 * len(ids)))


def test_given_lists_of_every_length_up_to_500_when_padded_then_ten_statements_at_most() -> None:
    shapes = {in_list(list(range(n)))[0] for n in range(1, 501)}

    assert_that(len(shapes), equal_to(10))  # 1, 2, 4, ..., 512
