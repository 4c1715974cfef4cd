"""`call`: send any command of pm.v1 from its proto3 JSON and print the Response as JSON.

    python -m scripts.harness call CreateProject '{"key": "PM", "name": "Platform"}'
    python -m scripts.harness call list_projects

A command is named by its message (`CreateProject`) or its ClientMessage field
(`create_project`); the JSON is the message's proto3 JSON mapping (`{}` when omitted). New
commands of the proto are drivable this way before they get a subcommand of their own.
"""

from __future__ import annotations

import argparse
import difflib
import json
import textwrap
from collections.abc import Sequence
from typing import cast

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from pm.v1 import envelope_pb2 as env
from scripts.harness.client import Client, CommandFailed, UsageError, one_line
from scripts.harness.output import render

PACKAGE_PREFIX = "pm.v1."


def command_fields() -> list[FieldDescriptor]:
    """The commands of the proto: the fields of ClientMessage's `payload` oneof."""
    fields = env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
    return list(cast("Sequence[FieldDescriptor]", fields))


def message_name(field: FieldDescriptor) -> str:
    """The command's message name, e.g. `CreateProject` for `create_project`."""
    assert field.message_type is not None, field.name
    return str(field.message_type.name)


def resolve(name: str) -> FieldDescriptor:
    """`CreateProject`, `create_project`, `create-project` or `pm.v1.CreateProject`."""
    wanted = name.strip().removeprefix(PACKAGE_PREFIX).replace("-", "_").lower()
    for field in command_fields():
        if wanted in (field.name, message_name(field).lower()):
            return field
    known = [message_name(field) for field in command_fields()]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(
        f"unknown command {name!r}{hint} (`call --help` lists the {len(known)} commands)"
    )


def build_command(field: FieldDescriptor, text: str) -> Message:
    """The command message of `field` parsed from its proto3 JSON."""
    name = message_name(field)
    try:
        loaded = json.loads(text)
    except ValueError as problem:
        raise UsageError(f"bad JSON for {name}: {one_line(str(problem))}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"bad JSON for {name}: expected an object, got {type(loaded).__name__}")
    command: Message = getattr(env.ClientMessage(), field.name)
    try:
        json_format.ParseDict(loaded, command)
    except json_format.ParseError as problem:
        raise UsageError(f"bad JSON for {name}: {one_line(str(problem))}") from None
    return command


def prepare(args: argparse.Namespace) -> None:
    """Before connecting: an unknown command or bad JSON is a usage error, not a round trip."""
    field = resolve(args.command_name)
    args.command_field = field.name
    args.command_message = build_command(field, args.body if args.body is not None else "{}")


def adopt_extras(args: argparse.Namespace, extras: list[str]) -> list[str]:
    """`call CreateProject --json '{...}'`: argparse leaves the JSON after an option unplaced."""
    if args.body is None and extras and not extras[0].startswith("-"):
        args.body = extras[0]
        return extras[1:]
    return extras


async def call(client: Client, args: argparse.Namespace) -> Message | None:
    response = await client.call(args.command_field, args.command_message)
    print(render(response, True), flush=True)
    if response.HasField("error"):
        raise CommandFailed(response.error)
    return None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    names = textwrap.fill(
        "Commands: " + ", ".join(message_name(field) for field in command_fields()) + ".",
        width=88,
    )
    p = sub.add_parser(
        "call",
        help="send any command from its proto3 JSON; print the Response as JSON",
        description=f"{__doc__}\n{names}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command_name", metavar="COMMAND", help="CreateProject or create_project")
    p.add_argument("body", metavar="JSON", nargs="?", default=None, help="default: {}")
    p.set_defaults(run=call, prepare=prepare, adopt_extras=adopt_extras)
