"""The harness CLI, run as a subprocess against a real server (issue 7, item 12)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hamcrest import (
    any_of,
    assert_that,
    contains_string,
    empty,
    equal_to,
    greater_than,
    has_entries,
    has_item,
    has_length,
    is_not,
)
from hamcrest.core.matcher import Matcher

from scripts.harness.__main__ import build_parser
from server.tokens import mint_token
from tests.server_fixture import RunningServer

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 20.0


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout_lines]


def harness_env() -> dict[str, str]:
    """The test's environment without PM_URL / PM_TOKEN: every run names its own."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PM_")}


async def start_harness(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.harness",
        *argv,
        cwd=REPO_ROOT,
        env=harness_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> Ran:
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def harness(*argv: str) -> Ran:
    return await finish(await start_harness(*argv))


def connection(server: RunningServer, token: str | None = None) -> list[str]:
    """The global options (--url, --token), placed before the subcommand except where a test
    is about placing them after it."""
    return ["--url", server.ws_url, "--token", token if token is not None else server.token()]


def assert_one_line_failure(ran: Ran, *matchers: Matcher[str]) -> str:
    """Exited non-zero with one line on stderr (no traceback) that matches every matcher."""
    no_traceback: Matcher[str] = is_not(contains_string("Traceback"))
    assert_that(ran.returncode, greater_than(0))
    assert_that(ran.stderr, no_traceback)
    assert_that(ran.stderr_lines, has_length(1))
    line = ran.stderr_lines[0]
    for matcher in matchers:
        assert_that(line, matcher)
    return line


@contextmanager
def port_nobody_listens_on() -> Iterator[int]:
    """A port bound (so no one else takes it) but not listening: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def create_project(server: RunningServer, key: str) -> None:
    ran = await harness(
        *connection(server), "create-project", "--key", key, "--name", f"Project {key}"
    )
    assert_that(ran.returncode, equal_to(0))


# --- global options after the subcommand ------------------------------------------------


async def test_given_a_project_when_json_follows_list_projects_then_it_prints_json(
    server: RunningServer,
) -> None:
    await create_project(server, "PM")

    after = await harness("list-projects", "--json", *connection(server))
    before = await harness("--json", *connection(server), "list-projects")

    assert_that(after.returncode, equal_to(0))
    assert_that(after.stdout_lines, has_length(1))
    projects = after.json_lines()[0]["projects"]
    assert_that([project["key"] for project in projects], equal_to(["PM"]))
    assert_that(before.stdout, equal_to(after.stdout))


async def test_given_a_bad_url_before_the_subcommand_when_a_good_one_follows_it_then_the_later_wins(
    server: RunningServer,
) -> None:
    with port_nobody_listens_on() as port:
        ran = await harness(
            "--url", f"ws://127.0.0.1:{port}/ws", "--json", "ping", *connection(server)
        )

    assert_that(ran.returncode, equal_to(0))
    assert_that(ran.json_lines()[0], has_entries(pong=True))


# --- help -----------------------------------------------------------------------------------


def subcommand_names() -> list[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("the harness has no subcommands")


def help_lines(text: str) -> dict[str, str]:
    """Each subcommand listed by --help with its help text (which may wrap to the next line)."""
    listed: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^ {4}(\S+)(?: +(\S.*))?$", line)
        if not match:
            continue
        help_text = match.group(2)
        if help_text is None and index + 1 < len(lines) and lines[index + 1].startswith(" " * 6):
            help_text = lines[index + 1].strip()
        listed[match.group(1)] = help_text or ""
    return listed


async def test_given_the_harness_when_help_is_printed_then_every_subcommand_has_a_help_line() -> (
    None
):
    names = subcommand_names()

    ran = await harness("--help")

    assert_that(ran.returncode, equal_to(0))
    listed = help_lines(ran.stdout)
    without_help = [name for name in names if not listed.get(name)]
    assert_that(without_help, empty())
    assert_that(names, has_item("call"))


# --- connection problems: one line, non-zero, no traceback --------------------------------


def expired_token(server: RunningServer) -> str:
    return server.token(ttl=-3600)


def token_of_another_secret(server: RunningServer) -> str:
    return mint_token("another-secret-0123456789-0123456789", tenant_id="acme", user_id="alice")


def not_a_token(server: RunningServer) -> str:
    return "not-a-jwt"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (expired_token, "token expired"),
        (token_of_another_secret, "invalid token"),
        (not_a_token, "invalid token"),
    ],
    ids=["expired", "another-secret", "malformed"],
)
async def test_given_a_refused_token_when_the_harness_connects_then_one_line_gives_the_401_reason(
    server: RunningServer, make_token: Callable[[RunningServer], str], reason: str
) -> None:
    ran = await harness(*connection(server, make_token(server)), "list-projects")

    assert_one_line_failure(ran, contains_string("401"), contains_string(reason))
    assert_that(ran.stdout, equal_to(""))


async def test_given_no_server_listening_when_the_harness_connects_then_one_line_says_so() -> None:
    with port_nobody_listens_on() as port:
        ran = await harness("--url", f"ws://127.0.0.1:{port}/ws", "--token", "t", "ping")

    assert_one_line_failure(ran, contains_string("connection refused"), contains_string(str(port)))


async def test_given_a_wrong_path_when_the_harness_connects_then_one_line_gives_the_http_status(
    server: RunningServer,
) -> None:
    url = f"ws://127.0.0.1:{server.port}/nope"

    ran = await harness("--url", url, "--token", server.token(), "ping")

    assert_one_line_failure(ran, any_of(contains_string("HTTP 403"), contains_string("HTTP 404")))


@pytest.mark.parametrize(
    ("scheme", "says"),
    [("http", "use ws://"), ("https", "use wss://"), ("ftp", "not a WebSocket URL")],
)
async def test_given_a_wrong_scheme_when_the_harness_connects_then_one_line_says_what_to_use(
    server: RunningServer, scheme: str, says: str
) -> None:
    url = f"{scheme}://127.0.0.1:{server.port}/ws"

    ran = await harness("--url", url, "--token", server.token(), "ping")

    assert_one_line_failure(ran, contains_string(url), contains_string(says))


async def test_given_no_such_project_when_get_project_is_answered_with_an_error_then_one_line(
    server: RunningServer,
) -> None:
    ran = await harness(*connection(server), "get-project", "--project", str(uuid.uuid4()))

    assert_that(ran.returncode, equal_to(1))
    assert_one_line_failure(ran, contains_string("ERROR_CODE_NOT_FOUND"))


# --- call -----------------------------------------------------------------------------------


async def test_given_a_tenant_when_call_create_project_runs_then_list_projects_shows_it(
    server: RunningServer,
) -> None:
    created = await harness(*connection(server), "call", "CreateProject", '{"key":"PM","name":"P"}')
    listed = await harness(*connection(server), "call", "list_projects")

    assert_that(created.returncode, equal_to(0))
    assert_that(created.stdout_lines, has_length(1))
    response = created.json_lines()[0]
    assert_that(response["create_project"]["project"], has_entries(key="PM", name="P"))
    assert_that(listed.returncode, equal_to(0))
    projects = listed.json_lines()[0]["list_projects"]["projects"]
    created_id = response["create_project"]["project"]["id"]
    assert_that([(p["key"], p["id"]) for p in projects], equal_to([("PM", created_id)]))


async def test_given_json_after_an_option_when_call_runs_then_the_json_is_still_the_command(
    server: RunningServer,
) -> None:
    body = '{"key":"QA","name":"Q"}'
    ran = await harness(*connection(server), "call", "create-project", "--json", body)

    assert_that(ran.returncode, equal_to(0))
    assert_that(ran.json_lines()[0]["create_project"]["project"], has_entries(key="QA"))


async def test_given_no_such_project_when_call_get_project_runs_then_it_prints_the_error_response(
    server: RunningServer,
) -> None:
    body = json.dumps({"project_id": str(uuid.uuid4())})
    ran = await harness(*connection(server), "call", "GetProject", body)

    assert_that(ran.returncode, equal_to(1))
    assert_that(
        ran.json_lines()[0]["error"], has_entries(code="ERROR_CODE_NOT_FOUND", field="project_id")
    )
    assert_one_line_failure(ran, contains_string("ERROR_CODE_NOT_FOUND"))


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["NoSuchCommand"], "unknown command 'NoSuchCommand'"),
        (["CreatProject", "{}"], "did you mean CreateProject"),
        (["CreateProject", "{not json"], "bad JSON for CreateProject"),
        (["CreateProject", '{"no_such_field": 1}'], "no_such_field"),
        (["CreateProject", '["key"]'], "expected an object"),
    ],
    ids=["unknown", "misspelt", "not-json", "unknown-field", "not-an-object"],
)
async def test_given_an_unknown_command_or_bad_json_when_call_runs_then_one_line_and_nothing_sent(
    server: RunningServer, arguments: list[str], says: str
) -> None:
    ran = await harness(*connection(server), "call", *arguments)
    listed = await harness(*connection(server), "call", "ListProjects")

    assert_one_line_failure(ran, contains_string(says))
    assert_that(ran.stdout, equal_to(""))
    assert_that(listed.json_lines()[0]["list_projects"], equal_to({}))


# --- watch --since ----------------------------------------------------------------------------


async def test_given_one_project_when_watch_since_0_runs_then_it_prints_that_first_event(
    server: RunningServer,
) -> None:
    await create_project(server, "PM")

    ran = await harness(
        *connection(server), "watch", "--since", "0", "--count", "1", "--tenant-feed"
    )

    assert_that(ran.returncode, equal_to(0))
    [event] = ran.json_lines()
    assert_that(event["seq"], equal_to("1"))
    assert_that(event["project_created"]["project"], has_entries(key="PM"))


async def test_given_one_project_when_watch_runs_without_since_then_it_prints_live_events_only(
    server: RunningServer,
) -> None:
    await create_project(server, "OLD")
    watcher = await start_harness(*connection(server), "watch", "--count", "1", "--tenant-feed")
    try:
        assert watcher.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            subscribed = (await watcher.stderr.readline()).decode()
        assert_that(subscribed, contains_string("subscribed"))

        await create_project(server, "NEW")
        ran = await finish(watcher)
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()

    assert_that(ran.returncode, equal_to(0))
    [event] = ran.json_lines()
    assert_that(event["project_created"]["project"], has_entries(key="NEW"))
    assert_that(event["seq"], equal_to("2"))
