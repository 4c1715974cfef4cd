"""What the network side writes to the log, and what it must never write.

- `RefusalLog`: refused connections (and failed accepts) counted per reason, at most one WARNING
  line a second for each, so that a flood of refusals cannot become a flood of log lines.
- `log_accept_failures`: asyncio reports every failed `accept()` (EMFILE at the descriptor
  limit) with a traceback, once per attempt; those reports become RefusalLog counts.
- `uvicorn_log_config`: uvicorn's logging configuration plus a filter that drops the query
  string of `/ws` from every uvicorn line: a token put there must never reach a log file.
  It goes through uvicorn's own dictConfig, so each worker process installs it too.
- PM_LOG_FORMAT=json: `JsonFormatter` writes one JSON object a line (ts, level, logger,
  message, and tenant, user, session and request_id when the line was logged for one), for
  uvicorn's loggers and ours alike. The fields come from context variables: a connection
  binds its session in its own task (`bind_session`), each command its request id in the
  context its task runs in (`command_context`), a rarer path for a moment (`request_scope`).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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

    def command_refused(self, reason: str) -> None:
        """A command refused by the rate limit (RESOURCE_EXHAUSTED), or the 4029 close."""
        self._note(("refused a command: %s", "refused %d commands in the last second: %s", reason))

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


@dataclass(frozen=True, slots=True)
class LogContext:
    tenant: str = ""
    user: str = ""
    session: str = ""


_context: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar(
    "pm_log_context", default=None
)
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("pm_request_id", default="")


def bind_session(tenant: str, user: str, session: str) -> None:
    """For the rest of the calling task (and the tasks it starts)."""
    _context.set(LogContext(tenant, user, session))


def command_context(request_id: str) -> contextvars.Context:
    """A copy of the current context with the command's request id, to run its task in."""
    context = contextvars.copy_context()
    context.run(_request_id.set, request_id)
    return context


@contextmanager
def request_scope(tenant: str, user: str, request_id: str) -> Iterator[None]:
    """For lines logged outside the command's own context (a write's batch callback)."""
    outer = _context.get()
    session = outer.session if outer is not None and outer.tenant == tenant else ""
    token = _context.set(LogContext(tenant, user, session))
    request = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(request)
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the context's fields only when set."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        if context is not None:
            if context.tenant:
                line["tenant"] = context.tenant
            if context.user:
                line["user"] = context.user
            if context.session:
                line["session"] = context.session
        request_id = _request_id.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def apply_log_format(log_format: str, logger: logging.Logger | None = None) -> None:
    """PM_LOG_FORMAT on the root logger's handlers (uvicorn's own: uvicorn_log_config)."""
    if log_format != "json":
        return
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    if log_format == "json":
        json_formatter = {"()": f"{__name__}.{JsonFormatter.__name__}"}
        config["formatters"] = {"default": json_formatter, "access": dict(json_formatter)}
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
