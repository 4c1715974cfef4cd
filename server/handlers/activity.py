"""The activity log over the wire: one entity's history or one project's recent activity.

Both come newest first and are paged by the log's own id, so rows appended while a client
pages do not shift the pages it has not read yet.
"""

from __future__ import annotations

from pm.v1 import activity_pb2 as msg
from pm.v1 import entities_pb2 as pb
from server.commands import Commands, ReadContext, parse_id
from server.handlers.projects import load_project
from server.paging import invalid_token, page_size
from server.wire.activity import activity_to_proto
from tenants import activity, entities
from tenants.activity import ActivityRecord
from tenants.errors import InvalidArgument, NotFound

commands = Commands()


def before_id(ctx: ReadContext, cmd: msg.GetActivity) -> int:
    """The log id the page starts below; 0 for the newest page."""
    cursor = ctx.paging.cursor(cmd, before=int)
    if cursor is None:
        return 0
    if cursor["before"] <= 0:
        raise invalid_token()
    return int(cursor["before"])


def entity_history(
    ctx: ReadContext, cmd: msg.GetActivity, before: int, limit: int
) -> list[ActivityRecord]:
    if cmd.entity_type not in entities.BY_NAME:
        raise InvalidArgument(
            f"entity_type must be one of {', '.join(entities.BY_NAME)}",
            field="entity_type",
        )
    entity_id = parse_id(cmd.entity_id, "entity_id")
    if not activity.entity_exists(ctx.conn, cmd.entity_type, entity_id):
        raise NotFound(f"{cmd.entity_type} not found", field="entity_id")
    return activity.entity_history(
        ctx.conn, cmd.entity_type, entity_id, before_id=before, limit=limit
    )


@commands.query("get_activity")
def get_activity(ctx: ReadContext, cmd: msg.GetActivity) -> msg.GetActivityResult:
    """An entity's history (deleted ones too) or a live project's activity, newest first."""
    by_entity = bool(cmd.entity_type or cmd.entity_id)
    if by_entity and cmd.project_id:
        raise InvalidArgument(
            "ask for an entity (entity_type, entity_id) or a project, not both",
            field="project_id",
        )
    if not by_entity and not cmd.project_id:
        raise InvalidArgument("set entity_type and entity_id, or project_id", field="entity_type")
    size = page_size(cmd.page_size)
    before = before_id(ctx, cmd)
    if by_entity:
        found = entity_history(ctx, cmd, before, size + 1)
    else:
        project = load_project(ctx, cmd.project_id)
        found = activity.project_activity(ctx.conn, project.id, before_id=before, limit=size + 1)
    erased = activity.deleted_comment_ids(
        ctx.conn, [r.entity_id for r in found[:size] if r.entity_type == "comment"]
    )

    def to_proto(record: ActivityRecord) -> pb.ActivityEntry:
        entry = activity_to_proto(record)
        # A deleted comment is a tombstone without content; its history must not keep it.
        if entry.entity_id in erased and entry.field == "content":
            entry.old_json = entry.new_json = "null"
        return entry

    entries, token = ctx.paging.page(cmd, found, size, to_proto, lambda r: {"before": r.id})
    return msg.GetActivityResult(entries=entries, next_page_token=token)
