"""Activity-log records as pm.v1 messages."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.activity import ActivityRecord


def activity_to_proto(record: ActivityRecord) -> pb.ActivityEntry:
    return pb.ActivityEntry(
        id=record.id,
        entity_type=record.entity_type,
        entity_id=record.entity_id,
        project_id=record.project_id or "",
        action=record.action,
        field=record.field or "",
        old_json=record.old_json or "",
        new_json=record.new_json or "",
        actor_id=record.actor_id,
        occurred_at_ms=record.occurred_at,
        request_id=record.request_id,
        seq=record.seq,
    )
