"""PurgeDeleted: soft-deleted rows removed for good once past the restore window (admins).

No event: the purged rows were already invisible to every read and every client, so there
is nothing for a board to update, and an event on the tenant feed would only wake every
project list to redraw the same thing. The operation itself is logged (server log, with
the admin's id and the counts); the rows' own history stays in the activity log.
"""

from __future__ import annotations

import logging

from pm.v1 import activity_pb2 as msg
from server.auth import Role
from server.commands import Change, Commands, Unchanged, WriteContext
from tenants import purge
from tenants.errors import InvalidArgument

log = logging.getLogger(__name__)

commands = Commands()

# RestoreWorkItem brings an item back within 30 days: nothing younger may go.
MIN_DAYS = 30
DAY_MS = 24 * 3600 * 1000


@commands.mutation("purge_deleted", role=Role.ADMIN)
def purge_deleted(ctx: WriteContext, cmd: msg.PurgeDeleted) -> Change:
    """Removes the rows deleted more than older_than_days ago (at least 30), for good."""
    days = cmd.older_than_days
    if days < MIN_DAYS:
        raise InvalidArgument(
            f"older_than_days must be at least {MIN_DAYS}, beyond the restore window",
            field="older_than_days",
        )
    cutoff = ctx.now_ms - days * DAY_MS
    purged = purge.purge_deleted(ctx.conn, cutoff_ms=cutoff, now_ms=ctx.now_ms)
    result = msg.PurgeDeletedResult(
        cutoff_ms=cutoff,
        projects=purged.projects,
        swim_lanes=purged.swim_lanes,
        sprints=purged.sprints,
        work_items=purged.work_items,
        comments=purged.comments,
        time_entries=purged.time_entries,
        dependencies=purged.dependencies,
    )
    if purged.total == 0:
        raise Unchanged(result)
    log.info(
        "purge of deletions before %d by %s (request %s): %s",
        cutoff,
        ctx.user_id,
        ctx.request_id,
        purged,
    )
    return Change(result=result, event=None)
