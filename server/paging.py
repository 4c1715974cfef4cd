"""Page sizes and opaque page tokens for list commands.

A token is the urlsafe base64 of a small JSON cursor (e.g. the last key seen); clients must
treat it as opaque. A token that does not decode is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tenants.errors import InvalidArgument

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", field="page_size")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_token(cursor: dict[str, Any]) -> str:
    raw = json.dumps(cursor, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_TOKEN_CHARS = 1024


def decode_token(token: str) -> dict[str, Any]:
    """The cursor of a token; {} for the first page."""
    if not token:
        return {}
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid_token()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise invalid_token() from None
    if not isinstance(cursor, dict):
        raise invalid_token()
    return cursor


def decode_cursor(token: str, **fields: type) -> dict[str, Any] | None:
    """The cursor of a token, each named field present with the given type; None for the
    first page (an empty token or cursor). Other keys are ignored.
    """
    cursor = decode_token(token)
    if not cursor:
        return None
    for name, kind in fields.items():
        if not isinstance(cursor.get(name), kind):
            raise invalid_token()
    return cursor


def invalid_token() -> InvalidArgument:
    """The error of a page token that is not one this server issued."""
    return InvalidArgument("page_token is not valid", field="page_token")
