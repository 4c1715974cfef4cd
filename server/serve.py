"""How pm-server runs under uvicorn: one place for the settings `python -m server` and the
tests share, so the tests exercise the same protocol classes and limits as production.

uvicorn's websockets-sansio implementation with per-message deflate off: deflate costs
about 120 KiB per idle connection (26 KiB without) and defeats encoding an event once
for all receivers. Frames over PM_MAX_MESSAGE_BYTES are refused with 1009.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from starlette.applications import Starlette

from server.config import Config


def uvicorn_config(app: Starlette, config: Config, **overrides: Any) -> uvicorn.Config:
    settings: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": "h11",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "ws_max_size": config.max_message_bytes,
        "lifespan": "on",
        "timeout_graceful_shutdown": config.graceful_shutdown_seconds,
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)
