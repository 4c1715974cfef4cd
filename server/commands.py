"""Declaring commands: each handler module declares its own in a `Commands`, and
server/handlers/__init__.py gathers them into the one `CommandTable` the runner is given.

A command is either a query (runs on one of the tenant's read connections, in a read
transaction of its own) or a mutation (runs inside the tenant's write transaction, in a
savepoint, and returns a `Change`: its result, and the one event it emits). Handlers are
synchronous: they call the repositories of tenants/ directly, with no awaits, so a command
is one step on its connection.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from server.auth import Principal, Role
from server.paging import Paging
from tenants.changes import ChangeSet
from tenants.errors import AlreadyExists, Conflict, InvalidArgument, NotFound

C = TypeVar("C", bound=Message)
R = TypeVar("R")


@dataclass
class ReadContext:
    conn: sqlite3.Connection
    principal: Principal
    now_ms: int
    # The tenant's page tokens, and the bytes a result may take to fit one frame.
    paging: Paging

    @property
    def user_id(self) -> str:
        return self.principal.user_id


@dataclass
class WriteContext(ReadContext):
    request_id: str
    changes: ChangeSet

    def log(
        self,
        entity_type: str,
        entity_id: str,
        project_id: str | None,
        action: str,
        field: str | None = None,
        old_json: str | None = None,
        new_json: str | None = None,
    ) -> None:
        self.changes.log(entity_type, entity_id, project_id, action, field, old_json, new_json)


@dataclass
class Change:
    """What a mutation produced: the Response result and the one Event change."""

    result: Message
    event: Message | None
    project_ids: Iterable[str] = ()
    # Project-level events also reach tenant-feed subscribers.
    tenant_level: bool = False
    # Housekeeping to run after this change is answered and published, in a transaction of
    # its own (never on the hot path); it may return a Change of its own, or None.
    follow_up: FollowUp | None = None


FollowUp = Callable[["WriteContext"], "Change | None"]


class Unchanged(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by a mutation whose command would change nothing.

    The savepoint rolls back (no version bump, no activity, no event, no idempotency record:
    nothing committed) and the sender gets `result`, which shows the entity as it is.
    """

    def __init__(self, result: Message) -> None:
        super().__init__("unchanged")
        self.result = result


QueryFn = Callable[[ReadContext, Any], Message]
MutationFn = Callable[[WriteContext, Any], Change]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    role: Role
    query: QueryFn | None = None
    mutation: MutationFn | None = None
    doc: str = field(default="", compare=False)


class Commands:
    """One handler module's commands, declared with its decorators; the app gathers every
    module's into one CommandTable (server/handlers/__init__.py), as Starlette takes
    routes=[...]: nothing registers itself by being imported."""

    def __init__(self) -> None:
        self.specs: list[CommandSpec] = []

    def query(
        self, name: str, role: Role = Role.VIEWER
    ) -> Callable[[Callable[[ReadContext, C], Message]], Callable[[ReadContext, C], Message]]:
        def declare(fn: Callable[[ReadContext, C], Message]) -> Callable[[ReadContext, C], Message]:
            self.specs.append(CommandSpec(name, role, query=fn, doc=fn.__doc__ or ""))
            return fn

        return declare

    def mutation(
        self, name: str, role: Role = Role.MEMBER
    ) -> Callable[[Callable[[WriteContext, C], Change]], Callable[[WriteContext, C], Change]]:
        def declare(fn: Callable[[WriteContext, C], Change]) -> Callable[[WriteContext, C], Change]:
            self.specs.append(CommandSpec(name, role, mutation=fn, doc=fn.__doc__ or ""))
            return fn

        return declare

    def session(self, name: str, role: Role = Role.VIEWER, doc: str = "") -> None:
        """A command the connection itself runs (Subscribe, Unsubscribe): the table holds
        its role, checked like any other's."""
        self.specs.append(CommandSpec(name, role, doc=doc))


class CommandTable:
    """Every command the server runs, by name."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise RuntimeError(f"command {spec.name} declared twice")
            self._specs[spec.name] = spec

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def __getitem__(self, name: str) -> CommandSpec:
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> set[str]:
        return set(self._specs)


def now_ms() -> int:
    return int(time.time() * 1000)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def snake_case(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def random_id() -> str:
    """A fresh version-4 UUID string, as uuid.uuid4() makes it, for a third of the cost
    (one per created entity, on the write path)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_id(client_id: str, field_name: str = "id") -> str:
    """A fresh UUID, or the client's own (optimistic or offline creation), normalised."""
    if not client_id:
        return random_id()
    return parse_id(client_id, field_name)


def fresh_id(
    ctx: ReadContext,
    client_id: str,
    exists: Callable[[sqlite3.Connection, str], bool],
    entity_name: str,
) -> str:
    """`new_id`, or ALREADY_EXISTS when a row (even a deleted one) has the client's id."""
    if not client_id:
        return random_id()  # nobody else holds a fresh random id: no need to look
    entity_id = parse_id(client_id, "id")
    if exists(ctx.conn, entity_id):
        raise AlreadyExists(f"a {entity_name} with this id exists", field="id")
    return entity_id


def parse_id(value: str, field_name: str, *, required: bool = True) -> str:
    """A UUID string in canonical form; anything else is INVALID_ARGUMENT."""
    if not value:
        if required:
            raise InvalidArgument(f"{field_name} is required", field=field_name)
        return ""
    if _CANONICAL_ID.fullmatch(value):
        return value  # already as str(uuid.UUID(value)) would write it
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(f"{field_name} is not a UUID", field=field_name) from None


def require_version(expected_version: int) -> int:
    if expected_version <= 0:
        raise InvalidArgument("expected_version is required", field="expected_version")
    return expected_version


def load(
    ctx: ReadContext,
    get: Callable[[sqlite3.Connection, str], R | None],
    entity_id: str,
    field: str,
    entity_name: str,
) -> R:
    """The live record `get` finds for the id (a UUID), or NOT_FOUND naming the entity."""
    record = get(ctx.conn, parse_id(entity_id, field))
    if record is None:
        raise NotFound(f"{entity_name} not found", field=field)
    return record


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


def expect_version(
    record: V, expected_version: int, entity_name: str, to_proto: Callable[[V], Message]
) -> None:
    """CONFLICT carrying the current entity unless the record is at expected_version."""
    if record.version != require_version(expected_version):
        raise Conflict(
            f"{entity_name} is at version {record.version}, not {expected_version}",
            field="expected_version",
            current=to_proto(record),
        )
