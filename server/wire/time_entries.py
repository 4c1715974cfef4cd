"""Time-entry records as pm.v1 messages."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from pm.v1 import time_entries_pb2 as msg
from tenants.time_entries import TimeEntryRecord, TimeTotal


def time_entry_to_proto(record: TimeEntryRecord) -> pb.TimeEntry:
    return pb.TimeEntry(
        id=record.id,
        work_item_id=record.work_item_id,
        user_id=record.user_id,
        started_at_ms=record.started_at,
        ended_at_ms=record.ended_at or 0,
        duration_seconds=record.duration_seconds or 0,
        note=record.note,
        running=record.running,
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
    )


def time_total_to_proto(total: TimeTotal) -> msg.TimeTotal:
    return msg.TimeTotal(
        work_item_id=total.work_item_id,
        user_id=total.user_id,
        duration_seconds=total.duration_seconds,
        entries=total.entries,
    )
