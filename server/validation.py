"""Field checks shared by the handlers; each failure names the command's field."""

from __future__ import annotations

from tenants.errors import InvalidArgument

MAX_TEXT_BYTES = 64 * 1024


def text(value: str, field: str, *, min_chars: int = 1, max_chars: int) -> str:
    """A title or name: counted in characters, surrounding blanks dropped."""
    value = value.strip()
    if len(value) < min_chars:
        raise InvalidArgument(f"{field} must not be empty", field=field)
    if len(value) > max_chars:
        raise InvalidArgument(f"{field} is longer than {max_chars} characters", field=field)
    return value


def body(value: str, field: str, *, min_bytes: int = 0, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A description or comment: counted in UTF-8 bytes."""
    size = len(value.encode("utf-8"))
    if size < min_bytes:
        raise InvalidArgument(f"{field} must not be empty", field=field)
    if size > max_bytes:
        raise InvalidArgument(f"{field} is larger than {max_bytes} bytes", field=field)
    return value
