"""Turning a view into response bytes without stalling the event loop.

A project's context is megabytes of JSON. One `json.dumps` of it holds the GIL from start to
end (the C encoder never lets go), so on the loop, or even on another thread, it stops every
write of every tenant for tens of milliseconds. Here a large body is encoded on a worker
thread in slices of a few dozen list elements, letting the GIL go between slices, and
markdown is rendered on a worker thread too (its loops call `yield_gil`). The bytes are the
same as Starlette's JSONResponse would have made.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tenants.readers import give_way

# List elements per json.dumps call: a few dozen work items, well under a millisecond.
_SLICE = 64
# Below this many list elements in all, encoding is quicker than handing it to a thread.
_INLINE_ELEMENTS = 256

_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
).encode


def _elements(body: dict[str, Any]) -> int:
    return sum(len(value) for value in body.values() if isinstance(value, list))


def encode_sliced(body: dict[str, Any]) -> bytes:
    """`body` as compact UTF-8 JSON, each long top-level list encoded a slice at a time
    with the GIL given up between slices."""
    parts: list[str] = []
    for key, value in body.items():
        head = _dumps(key) + ":"
        if isinstance(value, list) and len(value) > _SLICE:
            slices = []
            for start in range(0, len(value), _SLICE):
                slices.append(_dumps(value[start : start + _SLICE])[1:-1])
                give_way()
            parts.append(head + "[" + ",".join(s for s in slices if s) + "]")
        else:
            parts.append(head + _dumps(value))
    return ("{" + ",".join(parts) + "}").encode()


async def json_bytes(body: dict[str, Any]) -> bytes:
    if _elements(body) <= _INLINE_ELEMENTS:
        return _dumps(body).encode()
    return await asyncio.to_thread(encode_sliced, body)


async def rendered(render: Callable[[], str]) -> str:
    """A markdown rendering, made on a worker thread: its loops yield the GIL as they go."""
    return await asyncio.to_thread(render)
