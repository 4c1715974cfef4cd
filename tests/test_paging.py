"""Page tokens: signed for one list of one tenant, checked fully before use; pages that
fit in one frame."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hamcrest import assert_that, equal_to, has_length, is_not
from hypothesis import given
from hypothesis import strategies as st

from pm.v1 import entities_pb2 as pb
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import work_items_pb2 as items_msg
from server.paging import Paging, _list_of
from tenants.errors import InvalidArgument

KEY = b"k" * 32
PROJECT = "6f8c3a1e-2b9d-4c5e-8f7a-1b2c3d4e5f60"
OTHER_PROJECT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _list(project_id: str = PROJECT, token: str = "", **filters: object) -> Any:
    return items_msg.ListWorkItems(project_id=project_id, page_token=token, **filters)  # type: ignore[arg-type]


def _refused(paging: Paging, command: object, **fields: type) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as refused:
        paging.cursor(command, **fields)  # type: ignore[arg-type]
    return refused.value


def test_given_a_token_when_decoded_for_the_same_list_then_the_cursor_round_trips() -> None:
    paging = Paging(KEY, 10_000)
    token = paging.token(_list(), {"l": 1, "r": "m", "i": "x"})

    cursor = paging.cursor(_list(token=token, page_size=7), l=int, r=str, i=str)

    assert_that(cursor, equal_to({"l": 1, "r": "m", "i": "x"}))


def test_given_a_token_of_another_project_or_filter_when_decoded_then_invalid_argument() -> None:
    paging = Paging(KEY, 10_000)
    token = paging.token(_list(), {"l": 1, "r": "m", "i": "x"})

    other_project = _refused(paging, _list(OTHER_PROJECT, token), l=int, r=str, i=str)
    other_filter = _refused(paging, _list(token=token, status="done"), l=int, r=str, i=str)

    assert_that((other_project.field, other_filter.field), equal_to(("page_token", "page_token")))


def test_given_a_token_of_another_list_when_decoded_then_invalid_argument() -> None:
    paging = Paging(KEY, 10_000)
    token = paging.token(projects_msg.ListProjects(), {"key": "PM"})

    error = _refused(paging, items_msg.GetWorkItemTree(work_item_id="", page_token=token), p=list)

    assert_that(error.field, equal_to("page_token"))


def test_given_a_token_of_another_tenant_when_decoded_then_invalid_argument() -> None:
    token = Paging(b"another tenant's key", 10_000).token(projects_msg.ListProjects(), {"key": "A"})

    error = _refused(Paging(KEY, 10_000), projects_msg.ListProjects(page_token=token), key=str)

    assert_that(error.field, equal_to("page_token"))


def _signed(cursor: object) -> str:
    """A token the server would sign, holding whatever cursor a client might craft."""
    paging = Paging(KEY, 10_000)
    raw = json.dumps(cursor).encode()
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    mac = paging._mac(_list_of(projects_msg.ListProjects()), raw)
    return f"{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


@pytest.mark.parametrize(
    "token",
    [
        "!!not base64!!",
        "eyJrZXkiOiJQTSJ9",  # a cursor without its signature
        "eyJrZXkiOiJQTSJ9.",
        ".AAAA",
        "a.b.c",
        "A" * 5000,
        _signed([1, 2]),  # signed, but not an object
        _signed({"key": 10**30}),
        _signed({"key": ["PM"]}),
        _signed({"key": "x" * 600}),
        _signed({}),
    ],
)
def test_given_a_forged_or_malformed_token_when_decoded_then_invalid_argument(token: str) -> None:
    error = _refused(Paging(KEY, 10_000), projects_msg.ListProjects(page_token=token), key=str)

    assert_that(error.field, equal_to("page_token"))


@pytest.mark.parametrize("value", [10**30, -(10**30), True, 1.5, "1"])
def test_given_an_out_of_range_or_mistyped_int_when_decoded_then_invalid_argument(
    value: object,
) -> None:
    paging = Paging(KEY, 10_000)
    command = projects_msg.ListProjects()
    raw = json.dumps({"before": value}).encode()
    token = (
        base64.urlsafe_b64encode(raw).decode().rstrip("=")
        + "."
        + base64.urlsafe_b64encode(paging._mac(_list_of(command), raw)).decode().rstrip("=")
    )

    error = _refused(paging, projects_msg.ListProjects(page_token=token), before=int)

    assert_that(error.field, equal_to("page_token"))


def _items(count: int, description_bytes: int) -> list[pb.WorkItem]:
    return [
        pb.WorkItem(id=f"id-{n}", number=n, description="d" * description_bytes)
        for n in range(count)
    ]


def test_given_items_over_the_budget_when_paging_then_the_page_stops_early_with_a_token() -> None:
    paging = Paging(KEY, max_result_bytes=25_000)
    found = _items(11, 10_000)

    page, token = paging.page(_list(), found, 10, lambda m: m, lambda m: {"n": m.number})

    assert_that(page, has_length(2))
    assert_that(token, is_not(equal_to("")))
    assert_that(paging.cursor(_list(token=token), n=int), equal_to({"n": 1}))


def test_given_one_item_larger_than_the_budget_when_paging_then_the_page_holds_it() -> None:
    paging = Paging(KEY, max_result_bytes=1_000)

    page, token = paging.page(_list(), _items(2, 5_000), 10, lambda m: m, lambda m: {"n": m.number})

    assert_that(page, has_length(1))
    assert_that(paging.cursor(_list(token=token), n=int), equal_to({"n": 0}))


def test_given_the_last_page_when_paging_then_no_token() -> None:
    paging = Paging(KEY, max_result_bytes=1_000_000)

    page, token = paging.page(_list(), _items(3, 10), 3, lambda m: m, lambda m: {"n": m.number})

    assert_that((len(page), token), equal_to((3, "")))


@given(st.text(max_size=300) | st.binary(max_size=200).map(lambda raw: _b64(raw)))
def test_given_any_text_as_a_token_when_decoded_then_only_invalid_argument(token: str) -> None:
    paging = Paging(KEY, 10_000)

    try:
        cursor = paging.cursor(items_msg.ListWorkItems(page_token=token), l=int, r=str, i=str)
    except InvalidArgument as refused:
        assert_that(refused.field, equal_to("page_token"))
    else:
        assert_that(cursor, equal_to(None))  # only the empty token is a (first) page
        assert_that(token, equal_to(""))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
