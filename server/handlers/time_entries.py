"""Time tracking: timers (start, stop, running) and entries (create, update, delete, list,
totals).

A user has at most one running timer in the tenant; starting one stops the running one in
the same change, so the response and the one TimerStarted event carry both entries. Users
change only their own entries. Events go to the subscribers of the item's project.
"""

from __future__ import annotations

from typing import Any

from pm.v1 import time_entries_pb2 as msg
from server.commands import (
    Change,
    Commands,
    ReadContext,
    Unchanged,
    WriteContext,
    expect_version,
    fresh_id,
    load,
)
from server.field_changes import field_changes, log_changes
from server.handlers.work_items import load_item
from server.paging import page_size
from server.validation import body
from server.wire.time_entries import time_entry_to_proto, time_total_to_proto
from tenants import time_entries
from tenants.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from tenants.time_entries import TimeEntryRecord

commands = Commands()

MAX_ENTRY_MS = 24 * 60 * 60 * 1000
MAX_USER_ID_CHARS = 128
_TIME_FIELDS = ["started_at_ms", "ended_at_ms", "duration_seconds", "note"]


def load_entry(ctx: ReadContext, entry_id: str, field: str = "time_entry_id") -> TimeEntryRecord:
    """A live time entry of this tenant, or NOT_FOUND."""
    return load(ctx, time_entries.get, entry_id, field, "time entry")


def require_own(ctx: ReadContext, entry: TimeEntryRecord) -> None:
    if entry.user_id != ctx.user_id:
        raise PermissionDenied(
            "only the user who tracked a time entry may change it", field="time_entry_id"
        )


def check_version(entry: TimeEntryRecord, expected_version: int) -> None:
    expect_version(entry, expected_version, "time entry", time_entry_to_proto)


def check_started(started_at: int, now_ms: int) -> int:
    if started_at <= 0:
        raise InvalidArgument("started_at_ms is required", field="started_at_ms")
    if started_at > now_ms:
        raise InvalidArgument("started_at_ms must not be in the future", field="started_at_ms")
    return started_at


def check_span(started_at: int, ended_at: int, now_ms: int, blame: str) -> None:
    """A finished entry: started < ended <= now, at most 24 hours long.

    `blame` is the field the caller set, so the error points at what to fix.
    """
    check_started(started_at, now_ms)
    if ended_at <= 0:
        raise InvalidArgument("ended_at_ms is required", field="ended_at_ms")
    if ended_at <= started_at:
        raise InvalidArgument("ended_at_ms must be after started_at_ms", field=blame)
    if ended_at > now_ms:
        raise InvalidArgument("ended_at_ms must not be in the future", field="ended_at_ms")
    if ended_at - started_at > MAX_ENTRY_MS:
        raise InvalidArgument("a time entry is at most 24 hours long", field=blame)


def stop_time(entry: TimeEntryRecord, now_ms: int) -> int:
    # started_at < ended_at is a table CHECK; a timer stopped within its first
    # millisecond ends one millisecond after it started.
    return max(now_ms, entry.started_at + 1)


def stop_running(ctx: WriteContext, entry: TimeEntryRecord) -> TimeEntryRecord:
    """Stops a running entry, with one activity row per changed field."""
    stopped = time_entries.stop(
        ctx.conn,
        entry,
        ended_at=stop_time(entry, ctx.now_ms),
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    changes = field_changes(time_entry_to_proto(entry), time_entry_to_proto(stopped), _TIME_FIELDS)
    log_changes(ctx, "time_entry", entry.id, entry.project_id, changes, action="stopped")
    return stopped


@commands.mutation("start_timer")
def start_timer(ctx: WriteContext, cmd: msg.StartTimer) -> Change:
    """Starts the caller's timer on a live item, stopping the running one first."""
    item = load_item(ctx, cmd.work_item_id)
    note = body(cmd.note, "note")
    entry_id = fresh_id(ctx, cmd.id, time_entries.id_exists, "time entry")
    running = time_entries.running_for_user(ctx.conn, ctx.user_id)
    stopped = stop_running(ctx, running) if running is not None else None
    started_at = max(ctx.now_ms, stopped.ended_at or 0) if stopped else ctx.now_ms
    started = time_entries.insert(
        ctx.conn,
        entry_id=entry_id,
        work_item_id=item.id,
        user_id=ctx.user_id,
        started_at=started_at,
        ended_at=None,
        note=note,
        now_ms=ctx.now_ms,
    )
    ctx.log("time_entry", started.id, started.project_id, "created")
    wire_started = time_entry_to_proto(started)
    wire_stopped = time_entry_to_proto(stopped) if stopped else None
    projects = [started.project_id] + ([stopped.project_id] if stopped else [])
    return Change(
        result=msg.StartTimerResult(started=wire_started, stopped=wire_stopped),
        event=msg.TimerStarted(started=wire_started, stopped=wire_stopped),
        project_ids=projects,
    )


@commands.mutation("stop_timer")
def stop_timer(ctx: WriteContext, cmd: msg.StopTimer) -> Change:
    """Stops one of the caller's running timers (empty id: the running one)."""
    if cmd.time_entry_id:
        entry = load_entry(ctx, cmd.time_entry_id)
        require_own(ctx, entry)
        if not entry.running:
            raise FailedPrecondition("this time entry is not running", field="time_entry_id")
    else:
        running = time_entries.running_for_user(ctx.conn, ctx.user_id)
        if running is None:
            raise FailedPrecondition("no timer is running", field="time_entry_id")
        entry = running
    wire = time_entry_to_proto(stop_running(ctx, entry))
    return Change(
        result=msg.StopTimerResult(time_entry=wire),
        event=msg.TimerStopped(time_entry=wire),
        project_ids=[entry.project_id],
    )


@commands.mutation("create_time_entry")
def create_time_entry(ctx: WriteContext, cmd: msg.CreateTimeEntry) -> Change:
    """Records a finished entry for the caller by hand."""
    item = load_item(ctx, cmd.work_item_id)
    check_span(cmd.started_at_ms, cmd.ended_at_ms, ctx.now_ms, blame="ended_at_ms")
    note = body(cmd.note, "note")
    entry = time_entries.insert(
        ctx.conn,
        entry_id=fresh_id(ctx, cmd.id, time_entries.id_exists, "time entry"),
        work_item_id=item.id,
        user_id=ctx.user_id,
        started_at=cmd.started_at_ms,
        ended_at=cmd.ended_at_ms,
        note=note,
        now_ms=ctx.now_ms,
    )
    ctx.log("time_entry", entry.id, entry.project_id, "created")
    wire = time_entry_to_proto(entry)
    return Change(
        result=msg.CreateTimeEntryResult(time_entry=wire),
        event=msg.TimeEntryCreated(time_entry=wire),
        project_ids=[entry.project_id],
    )


def entry_updates(
    ctx: ReadContext, entry: TimeEntryRecord, cmd: msg.UpdateTimeEntry
) -> dict[str, Any]:
    """The columns an update sets, after the same checks as a manual entry."""
    updates: dict[str, Any] = {}
    if cmd.HasField("note"):
        updates["note"] = body(cmd.note, "note")
    has_start, has_end = cmd.HasField("started_at_ms"), cmd.HasField("ended_at_ms")
    if entry.running:
        if has_end:
            raise FailedPrecondition(
                "a running timer ends with StopTimer, not with an update", field="ended_at_ms"
            )
        if has_start:
            started = check_started(cmd.started_at_ms, ctx.now_ms)
            # Moving a running timer's start back is a manual entry in disguise: same limit.
            if ctx.now_ms - started > MAX_ENTRY_MS:
                raise InvalidArgument(
                    "a running timer cannot start more than 24 hours ago", field="started_at_ms"
                )
            updates["started_at"] = started
    elif has_start or has_end:
        started = cmd.started_at_ms if has_start else entry.started_at
        ended = cmd.ended_at_ms if has_end else entry.ended_at or 0
        check_span(started, ended, ctx.now_ms, blame="ended_at_ms" if has_end else "started_at_ms")
        updates.update(
            started_at=started,
            ended_at=ended,
            duration_seconds=time_entries.duration_seconds(started, ended),
        )
    if not updates:
        raise InvalidArgument(
            "nothing to update: set started_at_ms, ended_at_ms or note", field="started_at_ms"
        )
    return updates


@commands.mutation("update_time_entry")
def update_time_entry(ctx: WriteContext, cmd: msg.UpdateTimeEntry) -> Change:
    """Changes the times or the note of one of the caller's entries."""
    entry = load_entry(ctx, cmd.time_entry_id)
    require_own(ctx, entry)
    check_version(entry, cmd.expected_version)
    updates = entry_updates(ctx, entry, cmd)
    before = time_entry_to_proto(entry)
    after_record = time_entries.update(
        ctx.conn, entry.id, updates, actor_id=ctx.user_id, now_ms=ctx.now_ms
    )
    after = time_entry_to_proto(after_record)
    changes = field_changes(before, after, _TIME_FIELDS)
    if not changes:
        raise Unchanged(msg.UpdateTimeEntryResult(time_entry=before))
    log_changes(ctx, "time_entry", entry.id, entry.project_id, changes)
    return Change(
        result=msg.UpdateTimeEntryResult(time_entry=after, changes=changes),
        event=msg.TimeEntryUpdated(time_entry=after, changes=changes),
        project_ids=[entry.project_id],
    )


@commands.mutation("delete_time_entry")
def delete_time_entry(ctx: WriteContext, cmd: msg.DeleteTimeEntry) -> Change:
    """Soft-deletes one of the caller's entries (a running one too: no timer runs after)."""
    entry = load_entry(ctx, cmd.time_entry_id)
    require_own(ctx, entry)
    check_version(entry, cmd.expected_version)
    time_entries.soft_delete(
        ctx.conn, entry.id, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
    )
    ctx.log("time_entry", entry.id, entry.project_id, "deleted")
    return Change(
        result=msg.DeleteTimeEntryResult(time_entry_id=entry.id),
        event=msg.TimeEntryDeleted(time_entry_id=entry.id, work_item_id=entry.work_item_id),
        project_ids=[entry.project_id],
    )


def check_user_id(user_id: str) -> str:
    if len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidArgument("user_id is too long", field="user_id")
    return user_id


def page_cursor(ctx: ReadContext, cmd: msg.ListTimeEntries) -> tuple[int, str] | None:
    cursor = ctx.paging.cursor(cmd, s=int, i=str)
    return (cursor["s"], cursor["i"]) if cursor else None


@commands.query("list_time_entries")
def list_time_entries(ctx: ReadContext, cmd: msg.ListTimeEntries) -> msg.ListTimeEntriesResult:
    """An item's and/or a user's live entries, newest start first, paged."""
    if not cmd.work_item_id and not cmd.user_id:
        raise InvalidArgument("set work_item_id, user_id or both", field="work_item_id")
    item_id = load_item(ctx, cmd.work_item_id).id if cmd.work_item_id else None
    user_id = check_user_id(cmd.user_id) or None
    size = page_size(cmd.page_size)
    found = time_entries.list_entries(
        ctx.conn,
        work_item_id=item_id,
        user_id=user_id,
        after=page_cursor(ctx, cmd),
        limit=size + 1,
    )
    page, token = ctx.paging.page(
        cmd, found, size, time_entry_to_proto, lambda e: {"s": e.started_at, "i": e.id}
    )
    return msg.ListTimeEntriesResult(time_entries=page, next_page_token=token)


@commands.query("get_running_timer")
def get_running_timer(ctx: ReadContext, cmd: msg.GetRunningTimer) -> msg.GetRunningTimerResult:
    """The caller's running timer; time_entry unset when none runs."""
    running = time_entries.running_for_user(ctx.conn, ctx.user_id)
    if running is None:
        return msg.GetRunningTimerResult()
    return msg.GetRunningTimerResult(time_entry=time_entry_to_proto(running))


@commands.query("get_time_totals")
def get_time_totals(ctx: ReadContext, cmd: msg.GetTimeTotals) -> msg.GetTimeTotalsResult:
    """Finished live entries summed per user (for an item) or per item (for a user)."""
    if bool(cmd.work_item_id) == bool(cmd.user_id):
        raise InvalidArgument("set exactly one of work_item_id and user_id", field="work_item_id")
    if cmd.work_item_id:
        totals = time_entries.totals_for_item(ctx.conn, load_item(ctx, cmd.work_item_id).id)
    else:
        totals = time_entries.totals_for_user(ctx.conn, check_user_id(cmd.user_id))
    return msg.GetTimeTotalsResult(
        total_seconds=sum(t.duration_seconds for t in totals),
        totals=[time_total_to_proto(t) for t in totals],
    )
