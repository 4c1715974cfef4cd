"""A client cannot write tracebacks or ERROR lines into the log: invalid UTF-8 and refused
upgrades are one INFO or WARNING line each. Also the refusal log's rate limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length, matches_regexp

from server.logs import RefusalLog
from tests.helpers_foundation import bearer, close_code, refused_status
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import open_client

ORIGIN = "https://app.example.com"
INVALID_DATA = 1007  # the transport's close code, not one of the app's


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def loud(self) -> list[str]:
        """What no client may cause: ERROR lines and tracebacks."""
        return [
            f"{r.name} {r.levelname} {r.getMessage()}"
            for r in self.records
            if r.levelno >= logging.ERROR or r.exc_info
        ]


@contextmanager
def _captured() -> Iterator[_Records]:
    """Every record of uvicorn's loggers (which do not propagate to the root) and ours.
    Only once the server runs: uvicorn's dictConfig drops the handlers it finds."""
    handler = _Records()
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access", "")]
    ours = [logging.getLogger(name) for name in ("server.transport", "server.connection")]
    levels = [logger.level for logger in ours]
    for logger in ours:
        logger.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        for logger, level in zip(ours, levels, strict=True):
            logger.setLevel(level)


async def test_given_a_text_frame_with_invalid_utf8_when_sent_then_1007_and_one_info_line(
    server: RunningServer,
) -> None:
    client = await open_client(server.ws_url, server.token())

    with _captured() as records:
        await client.ws.send(b"\xff\xfe not UTF-8", text=True)
        code, _ = await close_code(client.ws)
        await server.app_tasks_done()
    assert_that(code, equal_to(INVALID_DATA))
    assert_that(records.loud(), empty())
    peer = f"127.0.0.1:{client.ws.local_address[1]}"
    info = [r.getMessage() for r in records.records if r.name == "server.transport"]
    assert_that(
        info, contains_exactly(f"{peer} - closing with 1007: invalid UTF-8 in a text frame")
    )


async def test_given_refused_upgrades_when_the_app_returns_then_no_error_is_logged(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, allowed_origins=(ORIGIN,))
    async with run_server(config) as running:
        with _captured() as records:
            statuses = [
                await refused_status(running.ws_url),
                await refused_status(running.ws_url, additional_headers=bearer("not-a-jwt")),
                await refused_status(
                    running.ws_url,
                    additional_headers=bearer(running.token()),
                    origin="https://evil.example.com",
                ),
                await refused_status(f"{running.ws_url}?token={running.token()}"),
            ]
            await running.app_tasks_done()

    assert_that(statuses, equal_to([401, 401, 403, 401]))
    assert_that(records.loud(), empty())
    # One line each, with its reason; nothing else of uvicorn's or websockets' own.
    assert_that(
        [r.getMessage() for r in records.records],
        contains_exactly(
            "refused a connection: upgrade 401: missing bearer token",
            "refused a connection: upgrade 401: invalid token: DecodeError",
            "refused a connection: upgrade 403: origin not allowed",
            "refused a connection: upgrade 401: tokens are not accepted in the query string",
        ),
    )


async def test_given_a_session_when_it_opens_and_closes_then_two_lines_and_no_others(
    server: RunningServer,
) -> None:
    with _captured() as records:
        client = await open_client(server.ws_url, server.token())
        await client.events_until_quiet()  # one Ping: one command
        await client.close()
        await server.app_tasks_done()

    session = client.welcome.session_id
    assert_that(
        [r.getMessage() for r in records.records],
        contains_exactly(
            f"session {session} opened: user alice tenant acme",
            matches_regexp(
                rf"^session {session} closed \(code 1000\) after \d+\.\d{{3}} s, 1 commands$"
            ),
        ),
    )


class _Clock:
    """Stands in for loop.call_later: the test decides when a second has passed."""

    def __init__(self) -> None:
        self.due: list[Callable[[], None]] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> object:
        assert_that(delay, equal_to(1.0))
        self.due.append(callback)
        return None

    def tick(self) -> None:
        due, self.due = self.due, []
        for callback in due:
            callback()


def test_given_a_flood_of_refusals_when_seconds_pass_then_one_line_per_reason_per_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    refusals = RefusalLog(logging.getLogger("test.refusals"), clock.call_later)
    caplog.set_level(logging.WARNING, logger="test.refusals")

    for _ in range(38):
        refusals.refused("descriptor limit")
        refusals.accept_failed("Too many open files")
    refusals.refused("request head too large")
    clock.tick()
    clock.tick()  # a second without refusals: nothing to say
    refusals.refused("descriptor limit")

    lines = [r.getMessage() for r in caplog.records]
    assert_that(
        lines,
        contains_exactly(
            "refused a connection: descriptor limit",
            "accept() failed: Too many open files",
            "refused a connection: request head too large",
            "refused 37 connections in the last second: descriptor limit",
            "accept() failed 37 times in the last second: Too many open files",
            "refused a connection: descriptor limit",
        ),
    )
    assert_that(clock.due, has_length(1))
    assert_that({r.levelname for r in caplog.records}, equal_to({"WARNING"}))


def test_given_a_flood_of_command_refusals_when_a_second_passes_then_one_line_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    refusals = RefusalLog(logging.getLogger("test.commands"), clock.call_later)
    caplog.set_level(logging.WARNING, logger="test.commands")

    for _ in range(50):
        refusals.command_refused("RESOURCE_EXHAUSTED: more than 500 commands a second")
    refusals.command_refused("closing with 4029: kept on past 500 commands a second")
    clock.tick()
    clock.tick()

    assert_that(
        [r.getMessage() for r in caplog.records],
        equal_to(
            [
                "refused a command: RESOURCE_EXHAUSTED: more than 500 commands a second",
                "refused a command: closing with 4029: kept on past 500 commands a second",
                "refused 49 commands in the last second:"
                " RESOURCE_EXHAUSTED: more than 500 commands a second",
            ]
        ),
    )
