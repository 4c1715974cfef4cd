"""Page tokens are opaque to clients and checked before use."""

from __future__ import annotations

import base64

import pytest
from hamcrest import assert_that, equal_to

from server.paging import decode_cursor, decode_token, encode_token
from tenants.errors import InvalidArgument


def test_given_a_cursor_when_encoded_and_decoded_then_it_round_trips() -> None:
    token = encode_token({"k": "PM", "n": 7})

    assert_that(decode_cursor(token, k=str, n=int), equal_to({"k": "PM", "n": 7}))


@pytest.mark.parametrize(
    "token",
    [
        "!!not base64!!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),  # JSON, but not an object
        "A" * 5000,  # longer than any token the server issues
        base64.urlsafe_b64encode(b"[" * 700).decode(),  # deep nesting
    ],
)
def test_given_a_forged_token_when_decoded_then_invalid_argument_on_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_token(token)

    assert_that(refused.value.field, equal_to("page_token"))
