"""Work-item records as pm.v1 messages, and the enum names both sides use."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.errors import InvalidArgument
from tenants.work_items import WorkItemRecord

TYPES = {
    "epic": pb.WORK_ITEM_TYPE_EPIC,
    "story": pb.WORK_ITEM_TYPE_STORY,
    "task": pb.WORK_ITEM_TYPE_TASK,
    "bug": pb.WORK_ITEM_TYPE_BUG,
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}

PRIORITIES = {
    "low": pb.PRIORITY_LOW,
    "medium": pb.PRIORITY_MEDIUM,
    "high": pb.PRIORITY_HIGH,
    "critical": pb.PRIORITY_CRITICAL,
}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}


def type_name(value: int, field: str = "type") -> str:
    name = TYPE_NAMES.get(value)  # type: ignore[call-overload]
    if name is None:
        raise InvalidArgument("type must be epic, story, task or bug", field=field)
    return str(name)


def priority_name(value: int, field: str = "priority") -> str:
    """PRIORITY_UNSPECIFIED means the default, medium."""
    if value == pb.PRIORITY_UNSPECIFIED:
        return "medium"
    name = PRIORITY_NAMES.get(value)  # type: ignore[call-overload]
    if name is None:
        raise InvalidArgument("priority must be low, medium, high or critical", field=field)
    return str(name)


def work_item_to_proto(record: WorkItemRecord) -> pb.WorkItem:
    item = pb.WorkItem(
        id=record.id,
        project_id=record.project_id,
        number=record.number,
        key=record.key,
        type=TYPES[record.type],
        parent_id=record.parent_id or "",
        status=record.status,
        rank=record.rank,
        title=record.title,
        description=record.description,
        priority=PRIORITIES[record.priority],
        assignee_id=record.assignee_id or "",
        sprint_id=record.sprint_id or "",
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
    )
    if record.story_points is not None:
        item.story_points = record.story_points
    return item
