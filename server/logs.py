"""What the network side writes to the log, and what it must never write.

- `RefusalLog`: refused connections (and failed accepts) counted per reason, at most one WARNING
  line a second for each, so that a flood of refusals cannot become a flood of log lines.
- `log_accept_failures`: asyncio reports every failed `accept()` (EMFILE at the descriptor
  limit) with a traceback, once per attempt; those reports become RefusalLog counts.
- `uvicorn_log_config`: uvicorn's logging configuration plus a filter that drops the query
  string of `/ws` from every uvicorn line: a token put there must never reach a log file.
  It goes through uvicorn's own dictConfig, so each worker process installs it too.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import uvicorn.config

log = logging.getLogger(__name__)

_ACCEPT_FAILURE = "socket.accept() out of system resource"

Schedule = Callable[[float, Callable[[], None]], object]


def _call_later(delay: float, callback: Callable[[], None]) -> object:
    return asyncio.get_running_loop().call_later(delay, callback)


class RefusalLog:
    """The first refusal of a reason is logged at once; the ones after it are counted and
    logged as one line at the end of each second that had any."""

    def __init__(self, logger: logging.Logger = log, schedule: Schedule = _call_later) -> None:
        self._logger = logger
        self._schedule = schedule
        # (first line, count line, reason) -> occurrences since the last line; present while
        # the reason's second runs.
        self._counts: dict[tuple[str, str, str], int] = {}

    def refused(self, reason: str) -> None:
        self._note(
            ("refused a connection: %s", "refused %d connections in the last second: %s", reason)
        )

    def accept_failed(self, reason: str) -> None:
        """asyncio's failed accept(): the connection waits in the backlog, retried later."""
        self._note(
            ("accept() failed: %s", "accept() failed %d times in the last second: %s", reason)
        )

    def _note(self, key: tuple[str, str, str]) -> None:
        if key in self._counts:
            self._counts[key] += 1
            return
        first, _, reason = key
        self._logger.warning(first, reason)
        self._start_second(key)

    def _start_second(self, key: tuple[str, str, str]) -> None:
        self._counts[key] = 0
        self._schedule(1.0, lambda: self._end_second(key))

    def _end_second(self, key: tuple[str, str, str]) -> None:
        count = self._counts.pop(key, 0)
        if count:
            _, repeated, reason = key
            self._logger.warning(repeated, count, reason)
            self._start_second(key)


ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def log_accept_failures(
    loop: asyncio.AbstractEventLoop, refusals: RefusalLog
) -> Callable[[], None]:
    """Install the loop's exception handler; returns what puts the previous one back."""
    previous: ExceptionHandler | None = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if context.get("message") == _ACCEPT_FAILURE and isinstance(error, OSError):
            # asyncio retries the accept a second later by itself: nothing to do but count.
            refusals.accept_failed(os.strerror(error.errno or 0))
        elif _is_accept_retry(context) and isinstance(error, (ValueError, OSError)):
            # asyncio (3.11) schedules one retry per failed accept; at shutdown they find the
            # listening socket closed. Nothing was lost: the server is stopping anyway.
            pass
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    return lambda: loop.set_exception_handler(previous)


def _is_accept_retry(context: dict[str, Any]) -> bool:
    callback = getattr(context.get("handle"), "_callback", None)
    return getattr(callback, "__name__", None) == "_start_serving"


# The path of the WebSocket route, under any tenant prefix, and its query string.
_WS_QUERY = re.compile(r"(/ws/?)\?[^\s\"']*")


def _redacted(value: object) -> object:
    return _WS_QUERY.sub(r"\1", value) if isinstance(value, str) and "?" in value else value


class DropWsQuery(logging.Filter):
    """Drops the query string of /ws from a record's message and arguments, before any
    formatter (uvicorn's access formatter reads the arguments, not the message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redacted(arg) for key, arg in record.args.items()}
        return True


# What uvicorn and the websockets library log for every WebSocket, said better by our own
# lines: the app logs one line when a session opens and one when it closes, and a refused
# upgrade once with its reason (rate-limited, see RefusalLog).
_CHATTER = frozenset(
    {
        '%s - "WebSocket %s" [accepted]',
        '%s - "WebSocket %s" 403',
        '%s - "WebSocket %s" %d',
        "connection open",
        "connection closed",
        "connection rejected (%d %s)",
        "HTTP response sent (%d %s)",
    }
)


class DropWebSocketChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg in _CHATTER)


def uvicorn_log_config() -> dict[str, Any]:
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {
        "drop_ws_query": {"()": f"{__name__}.{DropWsQuery.__name__}"},
        "drop_ws_chatter": {"()": f"{__name__}.{DropWebSocketChatter.__name__}"},
    }
    # On the handlers for every record that reaches them (uvicorn.asgi and the like), and on
    # the loggers for handlers someone adds to them later.
    for handler in config["handlers"].values():
        handler["filters"] = ["drop_ws_query", "drop_ws_chatter"]
    for name in ("uvicorn.error", "uvicorn.access"):
        config["loggers"][name]["filters"] = ["drop_ws_query", "drop_ws_chatter"]
    return config
