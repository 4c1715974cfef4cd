"""The command table: every command of the wire contract is in it, and nothing else."""

from __future__ import annotations

import pytest
from hamcrest import assert_that, contains_string, empty, equal_to

from pm.v1 import envelope_pb2 as env
from server.auth import Role
from server.commands import Commands, CommandSpec, CommandTable
from server.handlers import command_table, projects

# Answered by the connection itself, with no entry of their own: heartbeats.
HEARTBEATS = {"ping", "pong"}


def _payload() -> set[str]:
    return {field.name for field in env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields}


def test_given_the_proto_when_building_the_table_then_every_command_is_in_it() -> None:
    table = command_table()

    assert_that(sorted(_payload() - HEARTBEATS - table.names()), empty())


def test_given_the_table_when_compared_with_the_proto_then_no_command_is_orphaned() -> None:
    assert_that(sorted(command_table().names() - _payload()), empty())


def test_given_the_same_name_in_two_modules_when_building_a_table_then_refused() -> None:
    first, second = Commands(), Commands()
    first.session("subscribe")
    second.session("subscribe")

    with pytest.raises(RuntimeError) as refused:
        CommandTable([*first.specs, *second.specs])

    assert_that(str(refused.value), contains_string("subscribe"))


def test_given_a_table_of_one_module_when_built_then_it_holds_only_that_module() -> None:
    table = CommandTable(projects.commands.specs)

    assert_that("get_project" in table, equal_to(True))
    assert_that("create_work_item" in table, equal_to(False))


def test_given_a_spec_when_built_into_a_table_then_found_by_name() -> None:
    table = CommandTable([CommandSpec("get_project", Role.VIEWER)])

    assert_that(sorted(table.names()), equal_to(["get_project"]))
    assert_that(table["get_project"].role, equal_to(Role.VIEWER))
