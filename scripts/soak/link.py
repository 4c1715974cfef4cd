"""One WebSocket of a simulated client: a reader task routes responses to their callers,
answers the server's pings, follows events (seq order, the tenant's world), and notes how
the connection ended: as the client chose (a clean close, a dropped socket, a stall, a
silence the server ends with 4001) or not (any other close: a finding)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Literal

from google.protobuf.message import DecodeError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from scripts.soak.commands import Planned
from scripts.soak.tally import Tally
from scripts.soak.world import TenantWorld

HEARTBEAT_TIMEOUT_CODE = 4001
Ending = Literal["clean", "drop", "reset", "silent", "stall"]
# The code a close is tallied under when the socket ended without a close frame.
NO_CLOSE_FRAME = "1006"


class LinkClosed(Exception):
    """The connection ended while a command waited for its answer."""


class Link:
    def __init__(
        self, ws: ClientConnection, welcome: session_pb2.Welcome, tally: Tally, world: TenantWorld
    ) -> None:
        self.ws = ws
        self.welcome = welcome
        self.tally = tally
        self.world = world
        self.ending: Ending | None = None
        # The highest event seq this connection received (they must come in order).
        self.highest_seq = 0
        self.close_code: int | None = None
        self._pending: dict[str, asyncio.Future[env.Response]] = {}
        self._done = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())
        tally.open_links += 1

    @classmethod
    async def open(
        cls, url: str, token: str, tally: Tally, world: TenantWorld, limit_s: float
    ) -> Link:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            max_size=None,
            open_timeout=limit_s,
            # The protocol's own Ping/Pong is the heartbeat; WebSocket pings are noise here.
            ping_interval=None,
            close_timeout=limit_s,
        )
        try:
            async with asyncio.timeout(limit_s):
                frame = await ws.recv()
            first = env.ServerMessage.FromString(_as_bytes(frame))
        except BaseException:
            ws.transport.abort()
            raise
        if first.WhichOneof("payload") != "welcome":
            ws.transport.abort()
            raise LinkClosed(f"the first frame was {first.WhichOneof('payload')}, not Welcome")
        return cls(ws, first.welcome, tally, world)

    @property
    def is_open(self) -> bool:
        return not self._done.is_set()

    async def call(self, planned: Planned, request_id: str, limit_s: float) -> env.Response:
        """Send one frame and wait for its answer (a Pong comes back as an empty Response)."""
        if planned.raw is not None:
            key, frame = "", planned.raw  # unparseable: answered with an empty request_id
        else:
            key = request_id
            message = env.ClientMessage(request_id=request_id)
            if planned.name and planned.command is not None:
                getattr(message, planned.name).CopyFrom(planned.command)
            frame = message.SerializeToString()
        if self._done.is_set():
            raise LinkClosed("closed before sending")
        future: asyncio.Future[env.Response] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self.ws.send(frame)
            async with asyncio.timeout(limit_s):
                return await future
        except ConnectionClosed:
            raise LinkClosed("closed while sending") from None
        finally:
            self._pending.pop(key, None)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                try:
                    message = env.ServerMessage.FromString(_as_bytes(frame))
                except DecodeError:
                    self.tally.anomaly("bad_frame", f"{len(frame)} bytes that do not parse")
                    continue
                self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            received = self.ws.protocol.close_rcvd
            self.close_code = received.code if received is not None else None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LinkClosed("the connection ended"))
            self._pending.clear()
            self._done.set()
            self.tally.open_links -= 1
            self._tally_close()

    def _dispatch(self, message: env.ServerMessage) -> None:
        kind = message.WhichOneof("payload")
        if kind == "response":
            self._answer(message.response.request_id, message.response)
        elif kind == "pong":
            self._answer(message.pong.request_id, env.Response(request_id=message.pong.request_id))
        elif kind == "event":
            event = message.event
            self.tally.events += 1
            if event.seq <= self.highest_seq:
                self.tally.anomaly(
                    "event_out_of_order", f"seq {event.seq} after {self.highest_seq}"
                )
            self.highest_seq = max(self.highest_seq, event.seq)
            self.world.learn_event(event)
        elif kind == "ping" and self.ending != "silent":
            asyncio.ensure_future(self._pong())

    def _answer(self, request_id: str, response: env.Response) -> None:
        future = self._pending.get(request_id)
        if future is None:
            self.tally.anomaly("unmatched_response", f"request id {request_id!r}")
        elif not future.done():
            future.set_result(response)

    async def _pong(self) -> None:
        try:
            await self.ws.send(env.ClientMessage(pong={}).SerializeToString())
        except ConnectionClosed:
            pass

    def _tally_close(self) -> None:
        code = str(self.close_code) if self.close_code is not None else NO_CLOSE_FRAME
        if self.ending == "silent":
            target = (
                self.tally.expected_closes
                if self.close_code == HEARTBEAT_TIMEOUT_CODE
                else self.tally.unexpected_closes
            )
            target[code] += 1
        elif self.ending is None:
            # The server (or the network) ended a connection the client meant to keep.
            self.tally.unexpected_closes[code] += 1

    # --- endings ------------------------------------------------------------------------

    async def close(self, limit_s: float) -> None:
        """The closing handshake (1000); a server that does not answer is cut off."""
        self.ending = self.ending or "clean"
        try:
            async with asyncio.timeout(limit_s):
                await self.ws.close()
        except TimeoutError:
            self.ws.transport.abort()
        await self.wait_closed(limit_s)

    def drop(self, reset: bool) -> None:
        """The socket goes away without a close frame: FIN, or with `reset` an RST (what a
        vanished host or a killed process looks like to the server)."""
        self.ending = self.ending or ("reset" if reset else "drop")
        transport = self.ws.transport
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def go_silent(self) -> None:
        """Send nothing more, pongs included: the server's heartbeat must close it (4001)."""
        self.ending = "silent"

    def stall(self) -> None:
        """Stop reading the socket and sending: the server closes it for silence and, as its
        close frame is never answered, must tear it down within its close timeout."""
        self.ending = "stall"
        self.ws.transport.pause_reading()

    async def wait_closed(self, limit_s: float) -> bool:
        try:
            async with asyncio.timeout(limit_s):
                await self._done.wait()
            return True
        except TimeoutError:
            return False

    async def finish(self, limit_s: float) -> None:
        """However it ended, leave nothing behind: the socket and the reader task."""
        if not self._done.is_set():
            # Cut off by the client: a silence it no longer waits out is a drop too.
            if self.ending in (None, "silent"):
                self.ending = "drop"
            self.ws.transport.abort()
            await self.wait_closed(limit_s)
        if not self._reader.done():
            self._reader.cancel()


def _as_bytes(frame: str | bytes) -> bytes:
    return frame if isinstance(frame, bytes) else frame.encode()
