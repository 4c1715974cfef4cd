"""Every kind of entity a tenant holds, in one table: its name (as the activity log and the
API name it), its table, its record, and how a project's delete reaches it.

The lists that used to be kept apart (the activity log's tables, the project cascade, the
wire's Error.current fields) are read from here, and a test fails when a kind is
incomplete (tests/test_entity_kinds.py), so a new entity cannot be half-added.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenants.comments import CommentRecord
from tenants.dependencies import DependencyRecord
from tenants.projects import ProjectRecord
from tenants.sprints import SprintRecord
from tenants.swim_lanes import SwimLaneRecord
from tenants.time_entries import TimeEntryRecord
from tenants.work_items import WorkItemRecord

_ITEMS_OF_PROJECT = "SELECT id FROM work_items WHERE project_id = ?"


@dataclass(frozen=True, slots=True)
class EntityKind:
    # snake_case, as the activity log, the API and Error.current name it
    name: str
    table: str
    record: type
    # The live rows a project's delete takes with it: a condition on this table with
    # `cascade_params` project-id parameters; None for the project itself (deleted last).
    cascade: str | None
    cascade_params: int = 1


# In cascade order: children before their parents, the project last.
KINDS: tuple[EntityKind, ...] = (
    EntityKind("comment", "comments", CommentRecord, f"work_item_id IN ({_ITEMS_OF_PROJECT})"),
    EntityKind(
        "time_entry", "time_entries", TimeEntryRecord, f"work_item_id IN ({_ITEMS_OF_PROJECT})"
    ),
    EntityKind(
        "dependency",
        "dependencies",
        DependencyRecord,
        f"(from_item_id IN ({_ITEMS_OF_PROJECT}) OR to_item_id IN ({_ITEMS_OF_PROJECT}))",
        2,
    ),
    EntityKind("work_item", "work_items", WorkItemRecord, "project_id = ?"),
    EntityKind("sprint", "sprints", SprintRecord, "project_id = ?"),
    EntityKind("swim_lane", "swim_lanes", SwimLaneRecord, "project_id = ?"),
    EntityKind("project", "projects", ProjectRecord, None),
)

BY_NAME: dict[str, EntityKind] = {kind.name: kind for kind in KINDS}
