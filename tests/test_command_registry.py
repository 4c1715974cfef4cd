"""Every command of the wire contract has a handler."""

from __future__ import annotations

from hamcrest import assert_that, empty

import server.handlers  # noqa: F401  (registers the commands)
from pm.v1 import envelope_pb2 as env
from server.commands import REGISTRY

# Answered by the connection itself, not by a tenant handler.
CONNECTION_COMMANDS = {"ping", "pong", "subscribe", "unsubscribe"}


def test_given_the_proto_when_loading_the_handlers_then_every_command_is_registered() -> None:
    payload = env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
    names = {field.name for field in payload} - CONNECTION_COMMANDS

    assert_that(sorted(names - set(REGISTRY)), empty())


def test_given_the_registry_when_compared_with_the_proto_then_no_handler_is_orphaned() -> None:
    payload = {
        field.name for field in env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
    }

    assert_that(sorted(set(REGISTRY) - payload), empty())
