"""Runs one command against its tenant's database and prepares what goes out.

frame -> decode -> permission -> handler: a query on one of the tenant's read connections,
a mutation on its writer (on the event loop, in the group-committed transaction, together
with the activity rows, the event row and the idempotency record) -> commit -> the response
frame for the sender and the event frame for the hub.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from pm.v1 import envelope_pb2 as env
from server import protocol
from server.auth import Principal, Role
from server.commands import (
    Change,
    CommandSpec,
    CommandTable,
    FollowUp,
    ReadContext,
    Unchanged,
    WriteContext,
    now_ms,
    snake_case,
)
from server.hub import PublishedEvent
from server.logs import request_scope
from server.paging import Paging
from tenants import processed_requests
from tenants.changes import ChangeSet
from tenants.database import DatabaseClosed, TenantDatabase
from tenants.errors import FailedPrecondition, Internal, InvalidArgument, PmError
from tenants.event_log import StoredEvent
from tenants.manager import TenantDatabases

log = logging.getLogger(__name__)

DEFAULT_MESSAGE_BYTES = 1_048_576

# Commands on the slow path, kept alive until they finish (a closed connection drops them).
_running: set[asyncio.Task[Outcome]] = set()


@dataclass(frozen=True)
class Outcome:
    """A command's answer frame and, for a fresh mutation, its event ready to publish."""

    response: bytes
    event: PublishedEvent | None = None
    follow_up: FollowUp | None = None
    request_id: str = ""
    # OK or the ErrorCode's name, for the metrics.
    code: str = "OK"


@dataclass(frozen=True)
class _Applied:
    response: bytes
    stored: StoredEvent | None
    follow_up: FollowUp | None = None


class CommandRunner:
    def __init__(
        self,
        databases: TenantDatabases,
        table: CommandTable,
        *,
        max_message_bytes: int = DEFAULT_MESSAGE_BYTES,
    ) -> None:
        self._databases = databases
        self.table = table
        self._max_message_bytes = max_message_bytes

    def role_of(self, name: str) -> Role:
        spec = self.table.get(name)
        if spec is None:
            raise InvalidArgument(f"command {name} is not supported by this server")
        return spec.role

    def is_mutation(self, name: str) -> bool:
        """Whether the command writes (unknown commands do not: they are refused)."""
        spec = self.table.get(name)
        return spec is not None and spec.mutation is not None

    def _paging(self, db: TenantDatabase) -> Paging:
        return Paging.for_frames(db.meta.page_token_key, self._max_message_bytes)

    async def run(
        self, principal: Principal, request_id: str, name: str, command: Message
    ) -> Outcome:
        try:
            return await self._run(principal, request_id, name, command)
        except Exception as exc:
            return self._refused(principal, request_id, name, exc)

    def submit(
        self,
        principal: Principal,
        request_id: str,
        name: str,
        command: Message,
        done: Callable[[Outcome], None],
    ) -> None:
        """Queue a mutation; `done` gets its Outcome once it has committed or failed, in the
        tenant's commit order. While the tenant's database is open this takes no task or
        future: the write's completion calls `done` itself."""
        spec = self.table.get(name)
        db = self._databases.open_database(principal.tenant_id)
        if spec is None or spec.mutation is None or db is None or db.closed:
            self._run_later(principal, request_id, name, command, done)
            return
        try:
            principal.require(spec.role)
        except PmError as error:
            done(Outcome(protocol.encode_error(request_id, error), code=error.code.value))
            return
        paging = self._paging(db)
        fingerprint = protocol.fingerprint(name, command)

        def settle(applied: _Applied | None, error: BaseException | None) -> None:
            if error is not None or applied is None:
                done(self._refused(principal, request_id, name, error or RuntimeError("no result")))
                return
            done(
                Outcome(
                    applied.response,
                    self._published(principal, applied.stored),
                    applied.follow_up,
                    request_id,
                )
            )

        try:
            db.write_then(
                lambda conn: _apply(
                    conn, spec, principal, request_id, command, fingerprint, paging
                ),
                settle,
            )
        except DatabaseClosed:
            self._run_later(principal, request_id, name, command, done)

    def _run_later(
        self,
        principal: Principal,
        request_id: str,
        name: str,
        command: Message,
        done: Callable[[Outcome], None],
    ) -> None:
        """The slow path: the tenant's database must be opened first (or the command is
        refused); a task of its own, kept alive until it is done."""
        task = asyncio.ensure_future(self.run(principal, request_id, name, command))
        _running.add(task)
        task.add_done_callback(_running.discard)

        def answer(finished: asyncio.Task[Outcome]) -> None:
            if not finished.cancelled():
                done(finished.result())

        task.add_done_callback(answer)

    def _refused(
        self, principal: Principal, request_id: str, name: str, exc: BaseException
    ) -> Outcome:
        """The Outcome of a command that raised: its error frame, never a stack trace."""
        if isinstance(exc, PmError):
            return Outcome(protocol.encode_error(request_id, exc), code=exc.code.value)
        if isinstance(exc, Unchanged):
            return Outcome(
                protocol.encode_result(
                    request_id, name, exc.result, max_bytes=self._max_message_bytes
                )
            )
        # A write is answered from its batch's callback, in no connection's context.
        with request_scope(principal.tenant_id, principal.user_id, request_id):
            if isinstance(exc, sqlite3.IntegrityError):
                # A constraint the handler's own checks should have caught (another process
                # won a race): refuse without leaking SQL.
                log.warning("constraint refused %s request %s", name, request_id)
                refused = FailedPrecondition("the change conflicts with the current state; retry")
                return Outcome(protocol.encode_error(request_id, refused), code=refused.code.value)
            log.error("command %s (request %s) failed", name, request_id, exc_info=exc)
        return Outcome(
            protocol.encode_error(request_id, Internal("internal error")),
            code=Internal.code.value,
        )

    async def _run(
        self, principal: Principal, request_id: str, name: str, command: Message
    ) -> Outcome:
        spec = self.table.get(name)
        if spec is None:
            raise InvalidArgument(f"command {name} is not supported by this server")
        principal.require(spec.role)
        async with self._databases.lease(principal.tenant_id) as db:
            paging = self._paging(db)
            if spec.query is not None:
                query = spec.query
                max_bytes = self._max_message_bytes

                def read(conn: sqlite3.Connection) -> bytes:
                    # Encoded on the read thread too: a page of 500 items is milliseconds of
                    # work the event loop (and every write) need not wait for.
                    result = query(ReadContext(conn, principal, now_ms(), paging), command)
                    return protocol.encode_result(request_id, name, result, max_bytes=max_bytes)

                return Outcome(await db.read(read))
            fp = protocol.fingerprint(name, command)
            applied: _Applied = await db.write(
                lambda conn: _apply(conn, spec, principal, request_id, command, fp, paging)
            )
        return Outcome(
            applied.response,
            self._published(principal, applied.stored),
            applied.follow_up,
            request_id,
        )

    async def follow_up(
        self, principal: Principal, request_id: str, work: FollowUp
    ) -> PublishedEvent | None:
        """Run a change's housekeeping as a change of its own; its event, if any.

        Not recorded for idempotency: it answers no request. Failures are logged, not raised:
        the command that asked for it has already succeeded.
        """
        follow_request = f"{request_id}:follow-up"
        try:
            async with self._databases.lease(principal.tenant_id) as db:
                paging = self._paging(db)
                stored = await db.write(
                    lambda conn: _store(conn, principal, follow_request, work, paging)[0]
                )
        except Exception:
            log.exception("follow-up of request %s failed", request_id)
            return None
        return self._published(principal, stored)

    def _published(self, principal: Principal, stored: StoredEvent | None) -> PublishedEvent | None:
        if stored is None:
            return None
        return PublishedEvent(
            tenant_id=principal.tenant_id,
            seq=stored.seq,
            project_ids=stored.project_ids,
            tenant_level=stored.tenant_level,
            frame=protocol.event_frame(
                stored.seq, stored.payload, max_bytes=self._max_message_bytes
            ),
        )


def _store(
    conn: sqlite3.Connection,
    principal: Principal,
    request_id: str,
    mutation: Callable[[WriteContext], Change | None],
    paging: Paging,
) -> tuple[StoredEvent | None, Change | None]:
    """Run a mutation with its ChangeSet and append its one event (if it made a change)."""
    timestamp = now_ms()
    changes = ChangeSet(conn, actor_id=principal.user_id, request_id=request_id, now_ms=timestamp)
    change = mutation(WriteContext(conn, principal, timestamp, paging, request_id, changes))
    if change is None or change.event is None:
        return None, change
    event = env.Event(
        project_ids=list(dict.fromkeys(change.project_ids)),
        occurred_at_ms=timestamp,
        actor_id=principal.user_id,
        request_id=request_id,
    )
    getattr(event, snake_case(type(change.event).__name__)).CopyFrom(change.event)
    stored = changes.append_event(
        project_ids=event.project_ids,
        tenant_level=change.tenant_level,
        payload=event.SerializeToString(),
    )
    return stored, change


def _apply(
    conn: sqlite3.Connection,
    spec: CommandSpec,
    principal: Principal,
    request_id: str,
    command: Message,
    fingerprint: bytes,
    paging: Paging,
) -> _Applied:
    """Runs on the tenant's writer inside the command's savepoint."""
    prior = processed_requests.find(conn, principal.user_id, request_id)
    if prior is not None:
        if prior.fingerprint != fingerprint:
            raise InvalidArgument(
                "request_id was already used for a different command", field="request_id"
            )
        return _Applied(prior.response, None)
    mutation = spec.mutation
    assert mutation is not None
    stored, change = _store(conn, principal, request_id, lambda ctx: mutation(ctx, command), paging)
    assert change is not None
    # What is recorded is what was sent: a retry gets the same (possibly truncated) frame.
    response = protocol.encode_result(
        request_id, spec.name, change.result, max_bytes=paging.max_frame_bytes
    )
    processed_requests.record(
        conn,
        user_id=principal.user_id,
        request_id=request_id,
        fingerprint=fingerprint,
        response=response,
        seq=stored.seq if stored else None,
        now_ms=now_ms(),
    )
    return _Applied(response, stored, change.follow_up)
