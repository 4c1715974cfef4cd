"""Rank keys: strings that order items inside a lane by plain byte comparison.

Moving an item gives it a key strictly between its new neighbours, so a move writes one
row however long the lane. Keys use the digits 0-9A-Za-z (ASCII order) and never end in
'0', so there is always room between two of them. Appending at the end increments a
six-digit head, which keeps keys short for the common "add to the bottom" case.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {d: i for i, d in enumerate(DIGITS)}
_BASE = len(DIGITS)
_HEAD = 6
FIRST = "U00001"


def is_valid(key: str) -> bool:
    return bool(key) and all(c in _INDEX for c in key) and not key.endswith("0")


def between(before: str | None, after: str | None) -> str:
    """A key strictly between two keys (None: open end)."""
    if before is not None and after is not None and not before < after:
        raise ValueError(f"rank {before!r} is not below {after!r}")
    if after is None:
        return _after(before) if before else FIRST
    return _midpoint(before or "", after)


def _after(key: str) -> str:
    head = key[:_HEAD].ljust(_HEAD, "0")
    digits = [_INDEX[c] for c in head]
    for position in range(_HEAD - 1, -1, -1):
        if digits[position] < _BASE - 1:
            digits[position] += 1
            for rest in range(position + 1, _HEAD):
                digits[rest] = 0
            candidate = "".join(DIGITS[d] for d in digits).rstrip("0")
            if candidate > key:
                return candidate
            break
    return _midpoint(key, None)


def _midpoint(a: str, b: str | None) -> str:
    """The fractional-indexing midpoint: a < result < b, a may be '' and b None."""
    if b is not None:
        n = 0
        while n < len(b) and (a[n] if n < len(a) else "0") == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _INDEX[a[0]] if a else 0
    digit_b = _INDEX[b[0]] if b is not None else _BASE
    if digit_b - digit_a > 1:
        return DIGITS[(digit_a + digit_b + 1) // 2]
    if b is not None and len(b) > 1:
        return b[:1]
    return DIGITS[digit_a] + _midpoint(a[1:], None)


# A move that produces a key longer than this asks for its lane to be rewritten evenly.
REBALANCE_AT = 32


def evenly(count: int) -> list[str]:
    """`count` short keys in increasing order, spread evenly with room around each.

    The width is chosen so neighbours are at least 4 apart, and no key ends in '0', so
    later moves find space between any two of them.
    """
    width = 1
    while _BASE**width < 4 * (count + 1):
        width += 1
    step = _BASE**width // (count + 1)
    keys = []
    for index in range(1, count + 1):
        value = step * index
        if value % _BASE == 0:
            value += 1  # a key ending in '0' leaves no room below it; step >= 4 keeps order
        digits = []
        for _ in range(width):
            value, digit = divmod(value, _BASE)
            digits.append(DIGITS[digit])
        keys.append("".join(reversed(digits)))
    return keys
