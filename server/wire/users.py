"""User records as pm.v1 messages."""

from __future__ import annotations

from pm.v1 import entities_pb2 as pb
from tenants.users import UserRecord


def user_to_proto(record: UserRecord) -> pb.User:
    return pb.User(
        id=record.id,
        name=record.name,
        email=record.email,
        first_seen_at_ms=record.first_seen_at_ms,
        updated_at_ms=record.updated_at_ms,
    )
