"""Dependency records as pm.v1 messages, and the type names both sides use."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.dependencies import BLOCKS, RELATES_TO, DependencyRecord
from tenants.errors import InvalidArgument

TYPES = {BLOCKS: pb.DEPENDENCY_TYPE_BLOCKS, RELATES_TO: pb.DEPENDENCY_TYPE_RELATES_TO}
TYPE_NAMES = {v: k for k, v in TYPES.items()}


def dependency_type_name(value: int, field: str = "type") -> str:
    name = TYPE_NAMES.get(value)  # type: ignore[call-overload]
    if name is None:
        raise InvalidArgument("type must be blocks or relates_to", field=field)
    return str(name)


def dependency_to_proto(record: DependencyRecord) -> pb.Dependency:
    return pb.Dependency(
        id=record.id,
        from_item_id=record.from_item_id,
        to_item_id=record.to_item_id,
        type=TYPES[record.type],
        version=record.version,
        created_at_ms=record.created_at,
        updated_at_ms=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
    )
