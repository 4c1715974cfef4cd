"""A frame far over PM_MAX_MESSAGE_BYTES closes with 1009, and nothing resets the connection.

The server used to close its socket with the rest of the frame still arriving, and the
kernel answers that with a RST. Linux keeps what the client had received, so this client
still reads the 1009; other stacks drop it on a RST, and so does a client that stops at its
first failed write: they saw 1006. Now the server half-closes and drops the rest of the
frame until the client's EOF, so the client's send completes and no reset happens.
"""

from __future__ import annotations

import asyncio

import pytest
from hamcrest import assert_that, equal_to

from server.protocol import CloseCode
from tests.helpers_foundation import close_code
from tests.server_fixture import RunningServer
from tests.wire import TIMEOUT, open_client

ATTEMPTS = 3


async def _send_oversized(server: RunningServer, size: int) -> tuple[int, str | None]:
    """The close code the client reads, and how its send of the frame failed (None: sent)."""
    client = await open_client(server.ws_url, server.token())
    sending = asyncio.ensure_future(client.ws.send(b"\x00" * size))
    try:
        code, _ = await close_code(client.ws)
    finally:
        async with asyncio.timeout(TIMEOUT):
            await asyncio.wait([sending])
    error = sending.exception()
    return code, None if error is None else repr(error.__cause__ or error)


@pytest.mark.parametrize("mib", [4, 8, 16])
async def test_given_a_frame_of_several_mib_when_sent_then_1009_every_time_and_no_reset(
    server: RunningServer, mib: int
) -> None:
    outcomes = [await _send_oversized(server, mib * 1_048_576) for _ in range(ATTEMPTS)]

    assert_that(outcomes, equal_to([(CloseCode.MESSAGE_TOO_BIG, None)] * ATTEMPTS))
