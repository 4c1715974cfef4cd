"""Titles, names and keys made of (or holding) control characters are refused, and a
refused command changes nothing; markdown bodies keep tabs and newlines but not U+0000."""

from __future__ import annotations

import time

import pytest
from google.protobuf.message import Message

from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer

INVALID = env.ERROR_CODE_INVALID_ARGUMENT
DAY_MS = 24 * 3600 * 1000


@pytest.mark.parametrize(
    "value", ["\x00", "\x00\x00\x00", "Fix\x00it", "a\tb", "one\ntwo", "\x7f", "\x85"]
)
async def test_given_a_title_with_control_characters_when_creating_an_item_then_refused(
    server: RunningServer, connect: ClientFactory, value: str
) -> None:
    alice = await connect(roles=["admin"])
    project_id = await create_project(alice, "PM")

    await assert_refused(
        server,
        alice,
        "create_work_item",
        items_msg.CreateWorkItem(project_id=project_id, type=TASK, title=value),
        INVALID,
        "title",
    )


async def test_given_names_with_u0000_when_creating_or_renaming_then_each_is_refused(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect(roles=["admin"])
    project_id = await create_project(alice, "PM")
    item = await create_item(alice, project_id, TASK, "Item")
    now = int(time.time() * 1000)
    refused: list[tuple[str, Message, str]] = [
        ("create_project", projects_msg.CreateProject(key="QA", name="\x00"), "name"),
        (
            "update_project",
            projects_msg.UpdateProject(project_id=project_id, expected_version=1, name="\x00"),
            "name",
        ),
        (
            "create_swim_lane",
            projects_msg.CreateSwimLane(project_id=project_id, name="\x00", status_value="qa"),
            "name",
        ),
        (
            "create_swim_lane",
            projects_msg.CreateSwimLane(project_id=project_id, name="QA", status_value="qa\x00"),
            "status_value",
        ),
        (
            "create_sprint",
            sprints_msg.CreateSprint(
                project_id=project_id, name="\x00", start_date_ms=now, end_date_ms=now + DAY_MS
            ),
            "name",
        ),
        (
            "update_work_item",
            items_msg.UpdateWorkItem(work_item_id=item.id, expected_version=1, title="\x00"),
            "title",
        ),
        ("create_project", projects_msg.CreateProject(key="Q\x00", name="Q"), "key"),
    ]
    for name, command, field in refused:
        await assert_refused(server, alice, name, command, INVALID, field)


async def test_given_a_description_with_u0000_when_creating_then_refused_but_newlines_are_kept(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect()
    project_id = await create_project(alice, "PM")

    await assert_refused(
        server,
        alice,
        "create_work_item",
        items_msg.CreateWorkItem(project_id=project_id, type=TASK, title="T", description="a\x00b"),
        INVALID,
        "description",
    )
    kept = await create_item(alice, project_id, TASK, "T", description="# Notes\n\n\t- one\r\n")
    assert kept.description == "# Notes\n\n\t- one\r\n"
