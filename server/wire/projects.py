"""Project and swim-lane records as pm.v1 messages."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.projects import ProjectRecord
from tenants.swim_lanes import SwimLaneRecord


def project_to_proto(record: ProjectRecord) -> pb.Project:
    return pb.Project(
        id=record.id,
        key=record.key,
        name=record.name,
        description=record.description,
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
    )


def lane_to_proto(record: SwimLaneRecord) -> pb.SwimLane:
    return pb.SwimLane(
        id=record.id,
        project_id=record.project_id,
        name=record.name,
        status_value=record.status_value,
        position=record.position,
        is_default=bool(record.is_default),
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
    )
