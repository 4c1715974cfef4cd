"""Each entity kind on the wire: its pm.v1 message, its conversion from the record, and the
Error.current field that carries it (named as the kind is: work_item, project, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from server.wire.comments import comment_to_proto
from server.wire.dependencies import dependency_to_proto
from server.wire.projects import lane_to_proto, project_to_proto
from server.wire.sprints import sprint_to_proto
from server.wire.time_entries import time_entry_to_proto
from server.wire.work_items import work_item_to_proto
from tenants.entities import BY_NAME, EntityKind


@dataclass(frozen=True)
class WireKind:
    kind: EntityKind
    message: type[Message]
    to_proto: Callable[[Any], Message]

    @property
    def name(self) -> str:
        return self.kind.name


WIRE_KINDS: tuple[WireKind, ...] = (
    WireKind(BY_NAME["project"], pb.Project, project_to_proto),
    WireKind(BY_NAME["swim_lane"], pb.SwimLane, lane_to_proto),
    WireKind(BY_NAME["work_item"], pb.WorkItem, work_item_to_proto),
    WireKind(BY_NAME["sprint"], pb.Sprint, sprint_to_proto),
    WireKind(BY_NAME["comment"], pb.Comment, comment_to_proto),
    WireKind(BY_NAME["time_entry"], pb.TimeEntry, time_entry_to_proto),
    WireKind(BY_NAME["dependency"], pb.Dependency, dependency_to_proto),
)

# A message type -> its kind's name (Error.current's field, EntityRef.type).
NAME_OF_MESSAGE: dict[type[Message], str] = {w.message: w.name for w in WIRE_KINDS}
