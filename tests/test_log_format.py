"""PM_LOG_FORMAT=json: one JSON object a line (ts, level, logger, message), with the tenant,
user, session and request id of the connection and command a line was logged for; uvicorn's
own lines too. And the command-rate refusals' log: one line a second per reason."""

from __future__ import annotations

import contextvars
import dataclasses
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hamcrest import (
    assert_that,
    contains_exactly,
    equal_to,
    has_entries,
    has_item,
    matches_regexp,
    only_contains,
)

from pm.v1 import projects_pb2 as projects_msg
from server.commands import CommandTable
from server.config import Config, ConfigError
from server.logs import JsonFormatter, bind_session, uvicorn_log_config
from server.tokens import mint_token
from tests.server_fixture import RunningServer
from tests.test_shutdown import SECRET
from tests.test_transport_process import _server
from tests.wire import open_client

ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "server.test",
        logging.ERROR,
        __file__,
        1,
        message,
        args,
        (type(exc), exc, exc.__traceback__) if exc is not None else None,
    )


def test_given_json_format_when_a_record_is_formatted_then_one_object_with_its_fields() -> None:
    try:
        raise ValueError("boom")
    except ValueError as error:
        record = _record("it %s", "failed", exc=error)

    line = JsonFormatter().format(record)

    assert_that(line.count("\n"), equal_to(0))  # the traceback is escaped inside the object
    parsed = json.loads(line)
    assert_that(
        parsed,
        has_entries(
            ts=matches_regexp(ISO_MS),
            level="ERROR",
            logger="server.test",
            message="it failed",
            exception=matches_regexp(r"(?s)Traceback.*ValueError: boom"),
        ),
    )
    assert_that(sorted(parsed), equal_to(["exception", "level", "logger", "message", "ts"]))


def test_given_a_bound_session_when_formatted_then_the_line_names_tenant_user_and_session() -> None:
    def in_a_session() -> str:
        bind_session("acme", "alice", "s-1")
        return JsonFormatter().format(_record("hello"))

    parsed = json.loads(contextvars.copy_context().run(in_a_session))

    assert_that(parsed, has_entries(tenant="acme", user="alice", session="s-1"))
    assert_that("request_id" in parsed, equal_to(False))


def test_given_the_log_format_setting_when_configuring_then_text_or_json_only() -> None:
    assert_that(Config.from_env({}).log_format, equal_to("text"))
    assert_that(Config.from_env({"PM_LOG_FORMAT": "json"}).log_format, equal_to("json"))
    with pytest.raises(ConfigError, match="PM_LOG_FORMAT"):
        Config.from_env({"PM_LOG_FORMAT": "xml"})


def test_given_json_when_building_uvicorns_log_config_then_both_formatters_are_json() -> None:
    text = uvicorn_log_config()
    json_config = uvicorn_log_config("json")

    formatter = f"{JsonFormatter.__module__}.{JsonFormatter.__name__}"
    assert_that([f.get("()") for f in json_config["formatters"].values()], only_contains(formatter))
    assert_that(
        [f.get("()") for f in text["formatters"].values()],
        has_item("uvicorn.logging.DefaultFormatter"),
    )
    assert_that(json_config["handlers"]["default"]["filters"], has_item("drop_ws_query"))


@contextmanager
def _json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every record reaching the root logger, formatted as PM_LOG_FORMAT=json formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    connection = logging.getLogger("server.connection")
    level = connection.level
    connection.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        connection.setLevel(level)


async def test_given_a_session_when_its_command_fails_then_json_lines_name_its_context(
    server: RunningServer,
) -> None:
    runner = server.services.runner
    table = runner.table

    def boom(*_: object) -> Any:
        raise RuntimeError("the query broke")

    runner.table = CommandTable(
        dataclasses.replace(table[name], query=boom) if name == "list_projects" else table[name]
        for name in table.names()
    )
    with _json_lines() as lines:
        client = await open_client(server.ws_url, server.token())
        await client.error("list_projects", projects_msg.ListProjects(), request_id="req-broken")
        await client.close()
        await server.app_tasks_done()
        logged = lines()

    session = client.welcome.session_id
    fields = ("logger", "level", "tenant", "user", "session", "request_id")
    ours = [line for line in logged if line["logger"] in ("server.runner", "server.connection")]
    assert_that(
        [tuple(line.get(key) for key in fields) for line in ours],
        equal_to(
            [
                ("server.connection", "INFO", "acme", "alice", session, None),
                ("server.runner", "ERROR", "acme", "alice", session, "req-broken"),
                ("server.connection", "INFO", "acme", "alice", session, None),
            ]
        ),
    )
    assert_that(
        [line["message"] for line in ours],
        contains_exactly(
            f"session {session} opened: user alice tenant acme",
            "command list_projects (request req-broken) failed",
            matches_regexp(r"closed \(code 1000\) after .* s, 1 commands$"),
        ),
    )
    assert_that([bool(re.match(ISO_MS, line["ts"])) for line in ours], only_contains(True))


async def test_given_pm_log_format_json_when_the_server_runs_then_every_line_is_a_json_object(
    tmp_path: Path,
) -> None:
    async with _server(tmp_path, PM_LOG_FORMAT="json") as server:
        client = await open_client(
            server.ws_url, mint_token(SECRET, tenant_id="acme", user_id="al")
        )
        await client.close()
    process = server.process

    lines: list[dict[str, str]] = [
        json.loads(line) for line in server.log_text().splitlines() if line.strip()
    ]
    session = client.welcome.session_id
    uvicorn_lines = [
        (line["logger"], line["message"].split(" ")[0])
        for line in lines
        if line["logger"].startswith("uvicorn")
    ]
    closed = [
        (line["level"], line["tenant"], line["user"], line["session"])
        for line in lines
        if line["logger"] == "server.connection" and " closed " in line["message"]
    ]
    assert_that(process.returncode, equal_to(0))
    assert_that(uvicorn_lines, has_item(("uvicorn.error", "Uvicorn")))  # "Uvicorn running on"
    # and uvicorn.access's "127.0.0.1:<port> - \"GET /healthz HTTP/1.1\" 200"
    assert_that([m.startswith("127.0.0.1:") for _, m in uvicorn_lines], has_item(True))
    assert_that(closed, equal_to([("INFO", "acme", "al", session)]))
