"""Page sizes, signed page tokens, and pages that fit in one frame.

A token is `<cursor>.<mac>`: the urlsafe base64 of a small JSON cursor (the last key seen)
and an HMAC over it and the list it was issued for (the command's type and every field but
the page fields), keyed by the tenant's own page-token key. So a token the server did not
issue, or issued for another list, project, filter or tenant, is INVALID_ARGUMENT on
`page_token`; the cursor's values are checked by type and range as well, so nothing a
client crafts reaches SQLite out of range. Clients treat tokens as opaque.

A page also stops early, at the first item that would take the result past the frame
budget (at least one item per page), with the token of the last item it holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from tenants.errors import InvalidArgument
from tenants.readers import yield_gil

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_TOKEN_CHARS = 1024
# The envelope around a result: request_id (at most 128), tags, lengths, next_page_token.
FRAME_OVERHEAD_BYTES = 4096
_MAC_BYTES = 16
_INT64 = (-(2**63), 2**63 - 1)
_MAX_CURSOR_STRING = 512
_MAX_CURSOR_LIST = 16
_PAGE_FIELDS = ("page_token", "page_size")

R = TypeVar("R")
M = TypeVar("M", bound=Message)


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", field="page_size")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def _list_of(command: Message) -> bytes:
    """What a command's tokens are bound to: its type and every field but the page fields."""
    filters = type(command)()
    filters.CopyFrom(command)
    for name in _PAGE_FIELDS:
        filters.ClearField(name)
    return (
        command.DESCRIPTOR.full_name.encode()
        + b"\0"
        + filters.SerializeToString(deterministic=True)
    )


def invalid_token() -> InvalidArgument:
    """The error of a page token that is not one this server issued for this list."""
    return InvalidArgument("page_token is not valid", field="page_token")


class Paging:
    """Signs and checks one tenant's page tokens; fits pages into `max_result_bytes`."""

    def __init__(self, key: bytes, max_result_bytes: int) -> None:
        self._key = key
        self.max_result_bytes = max_result_bytes
        # What a whole frame may take (PM_MAX_MESSAGE_BYTES).
        self.max_frame_bytes = max_result_bytes + FRAME_OVERHEAD_BYTES

    @classmethod
    def for_frames(cls, key: bytes, max_message_bytes: int) -> Paging:
        return cls(key, max_message_bytes - FRAME_OVERHEAD_BYTES)

    # --- tokens ---------------------------------------------------------------------------

    def token(self, command: Message, cursor: dict[str, Any]) -> str:
        return self.scoped_token(_list_of(command), cursor)

    def cursor(self, command: Message, **fields: type) -> dict[str, Any] | None:
        """The cursor of the command's page_token, each named field present with its type
        and in range; None for the first page. Anything else is INVALID_ARGUMENT."""
        token = str(getattr(command, "page_token"))  # noqa: B009  (every list command has it)
        return self.scoped_cursor(_list_of(command), token, **fields)

    def scoped_token(self, scope: bytes, cursor: dict[str, Any]) -> str:
        """A token for a list named by `scope` (its kind and filters) rather than by a
        command: the REST views' cursors."""
        raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(raw)}.{_b64(self._mac(scope, raw))}"

    def scoped_cursor(self, scope: bytes, token: str, **fields: type) -> dict[str, Any] | None:
        if not token:
            return None
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise invalid_token()
        body, _, mac = token.partition(".")
        try:
            raw = _unb64(body)
            given = _unb64(mac)
        except (binascii.Error, ValueError):
            raise invalid_token() from None
        if not hmac.compare_digest(given, self._mac(scope, raw)):
            raise invalid_token()
        try:
            cursor = json.loads(raw)
        except (ValueError, RecursionError):
            raise invalid_token() from None
        if not isinstance(cursor, dict):
            raise invalid_token()
        for name, kind in fields.items():
            if not _fits(cursor.get(name), kind):
                raise invalid_token()
        return cursor

    def _mac(self, scope: bytes, raw: bytes) -> bytes:
        digest = hmac.new(self._key, digestmod=hashlib.sha256)
        digest.update(scope)
        digest.update(b"\0")
        digest.update(raw)
        return digest.digest()[:_MAC_BYTES]

    # --- pages ----------------------------------------------------------------------------

    def page(
        self,
        command: Message,
        found: Sequence[R],
        size: int,
        to_proto: Callable[[R], M],
        cursor_of: Callable[[R], dict[str, Any]],
    ) -> tuple[list[M], str]:
        """The messages of one page and its next_page_token ("" on the last page).

        `found` holds up to size + 1 records (one more tells there is a next page). The page
        takes records in order while the result fits the frame budget, at least one.
        """
        out: list[M] = []
        used = 0
        for index, record in enumerate(found[:size]):
            yield_gil(index)  # pages are built on read threads
            message = to_proto(record)
            # A repeated field's element: its bytes, a tag and a length prefix.
            cost = message.ByteSize() + 6
            if out and used + cost > self.max_result_bytes:
                break
            out.append(message)
            used += cost
        more = len(out) < len(found)
        if not more:
            return out, ""
        return out, self.token(command, cursor_of(found[len(out) - 1]))


def _fits(value: object, kind: type) -> bool:
    if kind is int:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _INT64[0] <= value <= _INT64[1]
        )
    if kind is str:
        return isinstance(value, str) and len(value) <= _MAX_CURSOR_STRING
    if kind is list:
        return (
            isinstance(value, list)
            and 0 < len(value) <= _MAX_CURSOR_LIST
            and all(_fits(v, int) for v in value)
        )
    return False


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
