"""Comments on work items: create, update, delete, list as threads.

One level of replies: a reply to a reply attaches to the same top-level comment. A deleted
comment that still has replies stays in its thread as a tombstone (deleted, no content).
Events go to the subscribers of the item's project.
"""

from __future__ import annotations

from pm.v1 import comments_pb2 as msg
from server.auth import Role
from server.commands import (
    Change,
    Commands,
    ReadContext,
    Unchanged,
    WriteContext,
    expect_version,
    fresh_id,
    parse_id,
)
from server.field_changes import field_changes, log_changes
from server.handlers.work_items import load_item
from server.paging import page_size
from server.validation import body
from server.wire.comments import comment_to_proto, thread_to_proto
from tenants import comments, work_items
from tenants.comments import CommentRecord
from tenants.errors import FailedPrecondition, NotFound, PermissionDenied
from tenants.work_items import WorkItemRecord

commands = Commands()


def content(value: str) -> str:
    return body(value, "content", min_bytes=1)


def load_comment(
    ctx: ReadContext, comment_id: str, field: str = "comment_id"
) -> tuple[CommentRecord, WorkItemRecord]:
    """A live comment on a live item, with that item; otherwise NOT_FOUND."""
    comment = comments.get(ctx.conn, parse_id(comment_id, field))
    item = work_items.get(ctx.conn, comment.work_item_id) if comment is not None else None
    if comment is None or item is None:
        raise NotFound("comment not found", field=field)
    return comment, item


def check_version(comment: CommentRecord, expected_version: int) -> None:
    expect_version(comment, expected_version, "comment", comment_to_proto)


def thread_parent(ctx: ReadContext, item: WorkItemRecord, parent_id: str) -> str | None:
    """The top-level comment a new reply belongs to (None: a new thread)."""
    field = "parent_comment_id"
    if not parent_id:
        return None
    parent, _ = load_comment(ctx, parent_id, field)
    if parent.work_item_id != item.id:
        raise FailedPrecondition("the parent comment is on another work item", field=field)
    # One level only: a reply to a reply joins the thread of its parent, even a tombstone.
    return parent.parent_comment_id or parent.id


@commands.mutation("create_comment")
def create_comment(ctx: WriteContext, cmd: msg.CreateComment) -> Change:
    """Comments on a work item, or replies in a thread."""
    text = content(cmd.content)
    item = load_item(ctx, cmd.work_item_id)
    parent_id = thread_parent(ctx, item, cmd.parent_comment_id)
    comment_id = fresh_id(ctx, cmd.id, comments.id_exists, "comment")
    comment = comments.insert(
        ctx.conn,
        comment_id=comment_id,
        work_item_id=item.id,
        parent_comment_id=parent_id,
        content=text,
        actor_id=ctx.user_id,
        now_ms=ctx.now_ms,
    )
    ctx.log("comment", comment.id, item.project_id, "created")
    wire = comment_to_proto(comment)
    return Change(
        result=msg.CreateCommentResult(comment=wire),
        event=msg.CommentCreated(comment=wire),
        project_ids=[item.project_id],
    )


@commands.mutation("update_comment")
def update_comment(ctx: WriteContext, cmd: msg.UpdateComment) -> Change:
    """Edits a comment's content; only its author may."""
    text = content(cmd.content)
    comment, item = load_comment(ctx, cmd.comment_id)
    if comment.author_id != ctx.user_id:
        raise PermissionDenied("only the author edits a comment", field="comment_id")
    check_version(comment, cmd.expected_version)
    before = comment_to_proto(comment)
    after = comment_to_proto(
        comments.update(
            ctx.conn, comment.id, {"content": text}, actor_id=ctx.user_id, now_ms=ctx.now_ms
        )
    )
    changes = field_changes(before, after, ["content"])
    if not changes:
        raise Unchanged(msg.UpdateCommentResult(comment=before))
    log_changes(ctx, "comment", comment.id, item.project_id, changes)
    return Change(
        result=msg.UpdateCommentResult(comment=after, changes=changes),
        event=msg.CommentUpdated(comment=after, changes=changes),
        project_ids=[item.project_id],
    )


@commands.mutation("delete_comment")
def delete_comment(ctx: WriteContext, cmd: msg.DeleteComment) -> Change:
    """Deletes a comment (its author, or an admin); with replies it stays as a tombstone."""
    comment, item = load_comment(ctx, cmd.comment_id)
    if comment.author_id != ctx.user_id and ctx.principal.role < Role.ADMIN:
        raise PermissionDenied("only the author or an admin deletes a comment", field="comment_id")
    check_version(comment, cmd.expected_version)
    tombstone = comments.has_live_replies(ctx.conn, comment.id)
    comments.soft_delete(
        ctx.conn, comment.id, actor_id=ctx.user_id, now_ms=ctx.now_ms, batch=ctx.request_id
    )
    ctx.log("comment", comment.id, item.project_id, "deleted")
    return Change(
        result=msg.DeleteCommentResult(comment_id=comment.id, tombstone=tombstone),
        event=msg.CommentDeleted(comment_id=comment.id, work_item_id=item.id, tombstone=tombstone),
        project_ids=[item.project_id],
    )


def _list_cursor(ctx: ReadContext, cmd: msg.ListComments) -> tuple[int, int] | None:
    cursor = ctx.paging.cursor(cmd, c=int, r=int)
    return (cursor["c"], cursor["r"]) if cursor else None


@commands.query("list_comments")
def list_comments(ctx: ReadContext, cmd: msg.ListComments) -> msg.ListCommentsResult:
    """An item's threads, oldest first, each with its replies oldest first; paged by thread."""
    item = load_item(ctx, cmd.work_item_id)
    size = page_size(cmd.page_size)
    found = comments.list_threads(ctx.conn, item.id, after=_list_cursor(ctx, cmd), limit=size + 1)
    page, token = ctx.paging.page(
        cmd,
        found,
        size,
        thread_to_proto,
        lambda thread: {"c": thread.comment.created_at, "r": thread.comment.row_order},
    )
    return msg.ListCommentsResult(threads=page, next_page_token=token)
