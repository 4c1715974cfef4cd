"""FieldChange lists: which fields of an entity a command changed, in proto3 JSON.

Computed from the entity's message before and after the change, so events and the
activity log carry exactly the same values a JSON client would see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from google.protobuf import json_format
from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from server.commands import WriteContext

# Bookkeeping fields that change with every update and are not worth a history row.
_IGNORED = frozenset({"version", "updated_at_ms", "updated_by"})


def as_json(message: Message) -> dict[str, object]:
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def field_changes(
    before: Message, after: Message, fields: Iterable[str] | None = None
) -> list[pb.FieldChange]:
    old, new = as_json(before), as_json(after)
    names = list(fields) if fields is not None else list(dict.fromkeys([*old, *new]))
    changes = []
    for name in names:
        if name in _IGNORED:
            continue
        if old.get(name) != new.get(name):
            changes.append(
                pb.FieldChange(
                    field=name,
                    old_json=json.dumps(old.get(name)),
                    new_json=json.dumps(new.get(name)),
                )
            )
    return changes


def log_changes(
    ctx: WriteContext,
    entity_type: str,
    entity_id: str,
    project_id: str | None,
    changes: list[pb.FieldChange],
    action: str = "updated",
) -> None:
    """One activity row per changed field."""
    for change in changes:
        ctx.log(
            entity_type,
            entity_id,
            project_id,
            action,
            change.field,
            change.old_json,
            change.new_json,
        )
