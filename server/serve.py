"""How pm-server runs under uvicorn: one place for the settings `python -m server` and the
tests share, so the tests exercise the same protocol classes and limits as production.

uvicorn's h11 and websockets-sansio implementations, subclassed in server/transport.py to
bound closes, request heads and descriptors; per-message deflate off: deflate costs about
120 KiB per idle connection (26 KiB without) and defeats encoding an event once for all
receivers. Frames over PM_MAX_MESSAGE_BYTES are refused with 1009. uvicorn's log lines go
through server/logs.py, which keeps the query string of /ws out of them.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from starlette.applications import Starlette

from server.config import Config
from server.logs import uvicorn_log_config
from server.transport import MAX_HEAD_BYTES, SocketStats, protocols


def uvicorn_config(app: Starlette, config: Config, **overrides: Any) -> uvicorn.Config:
    stats = SocketStats()
    # /healthz counts the sockets; the lifespan logs refused accepts through stats.refusals.
    app.state.socket_stats = stats
    http, ws = protocols(config, stats)
    settings: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": http,
        "ws": ws,
        "ws_per_message_deflate": False,
        "ws_max_size": config.max_message_bytes,
        # The protocol's own Ping/Pong is the heartbeat (4001 on silence, docs/protocol.md);
        # uvicorn's WebSocket pings would be a second one, closing with 1011 on its own clock.
        "ws_ping_interval": None,
        # h11's own limit, for heads arriving in pieces, agrees with ours for whole ones.
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "log_config": uvicorn_log_config(config.log_format),
        "lifespan": "on",
        # The plain asyncio loop, even where uvloop happens to be installed (measured, uvloop
        # gave the server nothing: docs/architecture.md), with a selector that tells read
        # threads when the loop is busy (server/eventloop.py).
        "loop": "server.eventloop:new_loop",
        "timeout_graceful_shutdown": config.graceful_shutdown_seconds,
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)
