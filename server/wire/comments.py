"""Comment records as pm.v1 messages; a deleted comment travels without its content."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.comments import CommentRecord, Thread


def comment_to_proto(record: CommentRecord) -> pb.Comment:
    deleted = record.deleted_at is not None
    return pb.Comment(
        id=record.id,
        work_item_id=record.work_item_id,
        parent_comment_id=record.parent_comment_id or "",
        author_id=record.author_id,
        # A tombstone keeps its place in the thread, never its text.
        content="" if deleted else record.content,
        deleted=deleted,
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
        deleted_at_ms=record.deleted_at or 0,
        deleted_by=record.deleted_by or "",
    )


def thread_to_proto(thread: Thread) -> pb.CommentThread:
    return pb.CommentThread(
        comment=comment_to_proto(thread.comment),
        replies=[comment_to_proto(reply) for reply in thread.replies],
    )
