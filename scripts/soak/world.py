"""What the clients of one tenant know of it, learnt from responses and events: its
projects and lanes, and the live work items, comments, time entries and dependencies with
their versions. Shared by the tenant's clients, so most commands name live entities at
their current version; the rest meet CONFLICT or NOT_FOUND, as real clients do."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pm.v1 import comments_pb2 as comments
from pm.v1 import dependencies_pb2 as deps
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import time_entries_pb2 as time_entries


@dataclass
class ItemRef:
    project_id: str
    version: int
    status: str
    type: int


@dataclass
class CommentRef:
    work_item_id: str
    version: int
    author_id: str


@dataclass
class EntryRef:
    work_item_id: str
    version: int
    user_id: str
    running: bool


@dataclass
class TenantWorld:
    tenant_id: str
    # Project id -> the status values of its lanes.
    lanes: dict[str, list[str]]
    items: dict[str, ItemRef] = field(default_factory=dict)
    items_per_project: Counter[str] = field(default_factory=Counter)
    comments: dict[str, CommentRef] = field(default_factory=dict)
    entries: dict[str, EntryRef] = field(default_factory=dict)
    dependencies: dict[str, int] = field(default_factory=dict)
    # Ids known to be deleted: a late event must not bring them back, and commands on
    # them are deliberate NOT_FOUNDs.
    deleted: set[str] = field(default_factory=set)

    @property
    def projects(self) -> list[str]:
        return list(self.lanes)

    # --- picking ------------------------------------------------------------------------

    def item(self, rng: random.Random, project_ids: list[str] | None = None) -> str | None:
        if project_ids:
            wanted = set(project_ids)
            ids = [i for i, ref in self.items.items() if ref.project_id in wanted]
        else:
            ids = list(self.items)
        return rng.choice(ids) if ids else None

    def comment(self, rng: random.Random, author_id: str | None = None) -> str | None:
        ids = [c for c, ref in self.comments.items() if author_id in (None, ref.author_id)]
        return rng.choice(ids) if ids else None

    def entry(self, rng: random.Random, user_id: str, *, running: bool = False) -> str | None:
        ids = [
            e
            for e, ref in self.entries.items()
            if ref.user_id == user_id and ref.running == running
        ]
        return rng.choice(ids) if ids else None

    def dependency(self, rng: random.Random) -> str | None:
        return rng.choice(list(self.dependencies)) if self.dependencies else None

    # --- learning -----------------------------------------------------------------------

    def learn_item(self, item: pb.WorkItem) -> None:
        if not item.id or item.id in self.deleted:
            return
        known = self.items.get(item.id)
        if known is None:
            self.items[item.id] = ItemRef(item.project_id, item.version, item.status, item.type)
            self.items_per_project[item.project_id] += 1
        elif item.version > known.version:
            known.version, known.status, known.type = item.version, item.status, item.type

    def forget_item(self, item_id: str) -> None:
        self.deleted.add(item_id)
        known = self.items.pop(item_id, None)
        if known is not None:
            self.items_per_project[known.project_id] -= 1

    def learn_comment(self, comment: pb.Comment) -> None:
        if not comment.id or comment.id in self.deleted or comment.deleted:
            return
        known = self.comments.get(comment.id)
        if known is None:
            self.comments[comment.id] = CommentRef(
                comment.work_item_id, comment.version, comment.author_id
            )
        elif comment.version > known.version:
            known.version = comment.version

    def forget(self, table: dict[str, Any], entity_id: str) -> None:
        self.deleted.add(entity_id)
        table.pop(entity_id, None)

    def learn_entry(self, entry: pb.TimeEntry) -> None:
        if not entry.id or entry.id in self.deleted:
            return
        known = self.entries.get(entry.id)
        if known is None:
            self.entries[entry.id] = EntryRef(
                entry.work_item_id, entry.version, entry.user_id, entry.running
            )
        elif entry.version > known.version:
            known.version, known.running = entry.version, entry.running

    def learn_dependency(self, dependency: pb.Dependency) -> None:
        if dependency.id and dependency.id not in self.deleted:
            self.dependencies[dependency.id] = max(
                dependency.version, self.dependencies.get(dependency.id, 0)
            )

    def learn_result(self, result: Any) -> None:
        """Whatever entities a command's result (or an Error's `current`) carries."""
        for name in ("work_item", "comment", "time_entry", "started", "stopped", "dependency"):
            if _has(result, name):
                self._learn_entity(getattr(result, name))
        for name in ("work_items", "ancestors"):
            if hasattr(result, name):
                for item in getattr(result, name):
                    self.learn_item(item)
        if hasattr(result, "work_item_ids"):  # DeleteWorkItemResult
            for item_id in result.work_item_ids:
                self.forget_item(item_id)
            for dependency_id in result.dependency_ids:
                self.forget(self.dependencies, dependency_id)
        if isinstance(result, comments.DeleteCommentResult):
            self.forget(self.comments, result.comment_id)
        elif isinstance(result, time_entries.DeleteTimeEntryResult):
            self.forget(self.entries, result.time_entry_id)
        elif isinstance(result, deps.DeleteDependencyResult):
            self.forget(self.dependencies, result.dependency_id)

    def _learn_entity(self, entity: Any) -> None:
        if isinstance(entity, pb.WorkItem):
            self.learn_item(entity)
        elif isinstance(entity, pb.Comment):
            self.learn_comment(entity)
        elif isinstance(entity, pb.TimeEntry):
            self.learn_entry(entity)
        elif isinstance(entity, pb.Dependency):
            self.learn_dependency(entity)

    def learn_event(self, event: env.Event) -> None:
        kind = event.WhichOneof("change")
        if kind is None or event.truncated:
            return
        change = getattr(event, kind)
        if kind == "work_item_deleted":
            self.learn_result(change)
        elif kind == "comment_deleted":
            self.forget(self.comments, change.comment_id)
        elif kind == "time_entry_deleted":
            self.forget(self.entries, change.time_entry_id)
        elif kind == "dependency_deleted":
            self.forget(self.dependencies, change.dependency_id)
        elif kind == "work_items_reranked":
            for rank in change.ranks:
                known = self.items.get(rank.work_item_id)
                if known is not None and rank.version > known.version:
                    known.version = rank.version
        else:
            self.learn_result(change)


def _has(message: Any, name: str) -> bool:
    try:
        return bool(message.HasField(name))
    except ValueError:
        return False  # not a field of this message
