"""The bare stack: four small Starlette apps, each run alone under pm-server's own uvicorn
settings (server.serve.uvicorn_config: the same protocol classes, no per-message deflate,
the same frame size limit), so a ratio compares our Python with the stack beneath it.

    python -m scripts.bench.baselines {echo,push,fanout-sequential,fanout-queued} --port N

- echo: every binary frame straight back (commands per second, idle memory).
- push: after a text frame {"count": N} and one binary frame, that frame N times (resume).
- fanout-sequential: each frame from a `?role=pub` connection sent to every `?role=sub`
  connection, awaiting each send in turn: the plain Starlette way.
- fanout-queued: the same through a bounded queue and a writer task per subscriber, as
  pm-server's hub and outboxes do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.config import Config
from server.serve import uvicorn_config

# As many frames as pm-server queues for one connection by default.
QUEUE_LIMIT = 1024

Endpoint = Callable[[WebSocket], Awaitable[None]]


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_bytes(await websocket.receive_bytes())
    except WebSocketDisconnect:
        pass


async def push(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        count = int(json.loads(await websocket.receive_text())["count"])
        frame = await websocket.receive_bytes()
        for _ in range(count):
            await websocket.send_bytes(frame)
        await _until_disconnect(websocket)
    except WebSocketDisconnect:
        pass


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def sequential_fanout() -> Endpoint:
    subscribers: set[WebSocket] = set()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.query_params.get("role") == "sub":
            subscribers.add(websocket)
            try:
                await _until_disconnect(websocket)
            finally:
                subscribers.discard(websocket)
            return
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = message.get("bytes")
                if frame is None:
                    await websocket.send_text("ok")  # every earlier frame has gone out
                    continue
                for subscriber in list(subscribers):
                    try:
                        await subscriber.send_bytes(frame)
                    except (WebSocketDisconnect, RuntimeError, OSError):
                        subscribers.discard(subscriber)
        except WebSocketDisconnect:
            pass

    return endpoint


def queued_fanout() -> Endpoint:
    queues: dict[WebSocket, asyncio.Queue[bytes]] = {}

    async def write(websocket: WebSocket, queue: asyncio.Queue[bytes]) -> None:
        while True:
            await websocket.send_bytes(await queue.get())

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.query_params.get("role") == "sub":
            queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
            queues[websocket] = queue
            writer = asyncio.create_task(write(websocket, queue))
            try:
                await _until_disconnect(websocket)
            finally:
                queues.pop(websocket, None)
                writer.cancel()
            return
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = message.get("bytes")
                if frame is None:
                    await websocket.send_text("ok")  # every earlier frame is queued
                    continue
                for subscriber, queue in list(queues.items()):
                    try:
                        queue.put_nowait(frame)
                    except asyncio.QueueFull:
                        # A slow consumer is dropped, as pm-server closes it with 4008.
                        queues.pop(subscriber, None)
                        await subscriber.close(4008)
        except WebSocketDisconnect:
            pass

    return endpoint


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(kind: str) -> Starlette:
    endpoints: dict[str, Callable[[], Endpoint]] = {
        "echo": lambda: echo,
        "push": lambda: push,
        "fanout-sequential": sequential_fanout,
        "fanout-queued": queued_fanout,
    }
    return Starlette(routes=[Route("/healthz", healthz), WebSocketRoute("/ws", endpoints[kind]())])


KINDS = ("echo", "push", "fanout-sequential", "fanout-queued")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-message-bytes", type=int, default=Config.max_message_bytes)
    args = parser.parse_args(argv)
    config = Config(host="127.0.0.1", port=args.port, max_message_bytes=args.max_message_bytes)
    uvicorn.Server(uvicorn_config(create_app(args.kind), config)).run()


if __name__ == "__main__":
    main()
