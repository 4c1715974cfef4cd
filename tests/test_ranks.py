"""Rank keys: a key strictly between any two, always valid, so a move writes one row."""

from __future__ import annotations

import pytest
from hamcrest import assert_that, equal_to, greater_than, has_length, less_than
from hypothesis import assume, given
from hypothesis import strategies as st

from tenants import ranks

keys = st.text(alphabet=ranks.DIGITS, min_size=1, max_size=12).filter(ranks.is_valid)


def test_given_an_empty_lane_when_ranking_then_the_first_key_is_used() -> None:
    assert_that(ranks.between(None, None), equal_to(ranks.FIRST))


def test_given_appends_when_ranking_at_the_end_then_keys_grow_and_stay_short() -> None:
    key = ranks.between(None, None)
    appended = []
    for _ in range(1000):
        key = ranks.between(key, None)
        appended.append(key)

    assert_that(appended, equal_to(sorted(appended)))
    assert_that(max(len(k) for k in appended), equal_to(6))


def test_given_keys_in_the_wrong_order_when_ranking_between_then_it_is_refused() -> None:
    with pytest.raises(ValueError):
        ranks.between("b", "a")
    with pytest.raises(ValueError):
        ranks.between("a", "a")


def test_given_repeated_inserts_at_the_top_when_ranking_then_order_holds() -> None:
    top = ranks.between(None, None)
    for _ in range(200):
        new = ranks.between(None, top)
        assert_that(new, less_than(top))
        assert_that(ranks.is_valid(new), equal_to(True))
        top = new


def test_given_repeated_inserts_at_one_spot_when_ranking_then_order_holds() -> None:
    low, high = "U", "V"
    for _ in range(200):
        middle = ranks.between(low, high)
        assert_that(middle, greater_than(low))
        assert_that(middle, less_than(high))
        high = middle


@pytest.mark.parametrize("key", ["", "a0", "a-b", "ä"])
def test_given_malformed_keys_when_validating_then_they_are_invalid(key: str) -> None:
    assert_that(ranks.is_valid(key), equal_to(False))


@given(keys, keys)
def test_given_two_valid_keys_when_ranking_between_then_the_key_is_strictly_between(
    a: str, b: str
) -> None:
    assume(a != b)
    low, high = min(a, b), max(a, b)

    middle = ranks.between(low, high)

    assert_that(low < middle < high, equal_to(True))
    assert_that(ranks.is_valid(middle), equal_to(True))


@given(keys)
def test_given_a_valid_key_when_ranking_after_or_before_then_the_key_is_outside_it(
    key: str,
) -> None:
    after = ranks.between(key, None)
    before = ranks.between(None, key)

    assert_that(after > key and ranks.is_valid(after), equal_to(True))
    assert_that(before < key and ranks.is_valid(before), equal_to(True))


@pytest.mark.parametrize("count", [0, 1, 2, 61, 62, 1000, 20_000])
def test_given_a_lane_size_when_spreading_keys_evenly_then_short_valid_increasing_with_room(
    count: int,
) -> None:
    keys = ranks.evenly(count)

    assert_that(keys, equal_to(sorted(set(keys))))
    assert_that(keys, has_length(count))
    assert_that(all(ranks.is_valid(key) for key in keys), equal_to(True))
    assert_that(all(len(key) <= 4 for key in keys), equal_to(True))
    for before, after in zip([None, *keys], [*keys, None], strict=True):
        middle = ranks.between(before, after)
        assert_that((before or "") < middle and (after is None or middle < after), equal_to(True))
