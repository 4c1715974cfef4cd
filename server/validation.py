"""Field checks shared by the handlers; each failure names the command's field."""

from __future__ import annotations

import re

from tenants.errors import InvalidArgument

MAX_TEXT_BYTES = 64 * 1024

# C0, DEL and C1 (Unicode category Cc): invisible, and they break terminals, logs and
# clients that treat U+0000 as the end of a string. A title or name is one line: no tabs
# or newlines either.
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Markdown bodies keep tab, newline and carriage return.
_BODY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(value: str, field: str, *, min_chars: int = 1, max_chars: int) -> str:
    """A title or name: counted in characters, surrounding blanks dropped."""
    value = value.strip()
    if _LINE_CONTROLS.search(value):
        raise InvalidArgument(f"{field} must not contain control characters", field=field)
    if len(value) < min_chars:
        raise InvalidArgument(f"{field} must not be empty", field=field)
    if len(value) > max_chars:
        raise InvalidArgument(f"{field} is longer than {max_chars} characters", field=field)
    return value


def body(value: str, field: str, *, min_bytes: int = 0, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A description or comment: counted in UTF-8 bytes."""
    if _BODY_CONTROLS.search(value):
        raise InvalidArgument(
            f"{field} must not contain control characters other than tab and newlines",
            field=field,
        )
    size = len(value.encode("utf-8"))
    if size < min_bytes:
        raise InvalidArgument(f"{field} must not be empty", field=field)
    if size > max_bytes:
        raise InvalidArgument(f"{field} is larger than {max_bytes} bytes", field=field)
    return value
