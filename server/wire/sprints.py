"""Sprint records as pm.v1 messages, and the state names both sides use."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.errors import InvalidArgument
from tenants.sprints import SprintRecord

STATES = {
    "planned": pb.SPRINT_STATE_PLANNED,
    "active": pb.SPRINT_STATE_ACTIVE,
    "completed": pb.SPRINT_STATE_COMPLETED,
    "cancelled": pb.SPRINT_STATE_CANCELLED,
}
STATE_NAMES = {v: k for k, v in STATES.items()}


def state_filter(value: int, field: str = "state") -> str | None:
    """SPRINT_STATE_UNSPECIFIED means any state."""
    if value == pb.SPRINT_STATE_UNSPECIFIED:
        return None
    name = STATE_NAMES.get(value)  # type: ignore[call-overload]
    if name is None:
        raise InvalidArgument("state must be planned, active, completed or cancelled", field=field)
    return str(name)


def sprint_to_proto(record: SprintRecord) -> pb.Sprint:
    return pb.Sprint(
        id=record.id,
        project_id=record.project_id,
        name=record.name,
        goal=record.goal,
        state=STATES[record.state],
        start_date_ms=record.start_date,
        end_date_ms=record.end_date,
        started_at_ms=record.started_at or 0,
        completed_at_ms=record.completed_at or 0,
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
    )
