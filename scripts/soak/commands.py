"""The command mix: what a simulated client sends next. Mostly valid commands of the pm.v1
proto on entities its tenant's world knows; about one in twelve deliberately invalid, each
with the error codes that may answer it (NOT_FOUND too where another client may have
deleted the target meanwhile). A viewer reads, and now and then tries a write."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from google.protobuf.message import Message

from pm.v1 import activity_pb2 as activity
from pm.v1 import comments_pb2 as comments
from pm.v1 import dependencies_pb2 as deps
from pm.v1 import entities_pb2 as pb
from pm.v1 import session_pb2 as session
from pm.v1 import time_entries_pb2 as time_entries
from pm.v1 import users_pb2 as users
from pm.v1 import work_items_pb2 as items
from scripts.soak.world import TenantWorld

# Past this many live items a project gets deletes instead of creates: the tenant's data
# stays about the same size, so the server's memory has a level to reach.
ITEMS_PER_PROJECT = 120
_TYPES = (pb.WORK_ITEM_TYPE_STORY, pb.WORK_ITEM_TYPE_TASK, pb.WORK_ITEM_TYPE_BUG)
_PRIORITIES = (pb.PRIORITY_LOW, pb.PRIORITY_MEDIUM, pb.PRIORITY_HIGH, pb.PRIORITY_CRITICAL)
_HOUR_MS = 3_600_000
_MUTATIONS = frozenset(
    {"update_work_item", "move_work_item", "create_dependency", "create_comment"}
    | {"create_time_entry", "create_work_item"}
)
# Another client may delete the target between the pick and the command.
_GONE = ("NOT_FOUND",)


@dataclass(frozen=True)
class Planned:
    """One frame to send. `name` is the ClientMessage field ("" for `raw`, sent as is)."""

    kind: str
    name: str
    command: Message | None = None
    raw: bytes | None = None
    # Non-empty: deliberately invalid, and these codes (ErrorCode names) may answer it.
    refusal: frozenset[str] = frozenset()


@dataclass
class View:
    """The client as the mix sees it."""

    user_id: str
    writer: bool
    subscribed: set[str]
    world: TenantWorld
    rng: random.Random
    refresh_token: Callable[[], str]
    sent: int = field(default=0)


def _id() -> str:
    return str(uuid.uuid4())


def _now_ms() -> int:
    return int(time.time() * 1000)


def _refused(kind: str, name: str, command: Message, *codes: str) -> Planned:
    return Planned(kind, name, command, refusal=frozenset(codes))


# --- valid commands ----------------------------------------------------------------------


def create_item(v: View) -> Planned | None:
    project = v.rng.choice(sorted(v.subscribed) or v.world.projects)
    if v.world.items_per_project[project] >= ITEMS_PER_PROJECT:
        return delete_item(v, project)
    lanes = v.world.lanes[project]
    command = items.CreateWorkItem(
        id=_id(),
        project_id=project,
        type=v.rng.choice(_TYPES),
        title=f"soak item {v.rng.randrange(1_000_000)}",
        status=v.rng.choice(lanes),
        priority=v.rng.choice(_PRIORITIES),
    )
    if v.rng.random() < 0.3:
        command.story_points = v.rng.randrange(0, 14)
    return Planned("create_item", "create_work_item", command)


def update_item(v: View) -> Planned | None:
    item_id = v.world.item(v.rng, sorted(v.subscribed))
    if item_id is None:
        return None
    ref = v.world.items[item_id]
    command = items.UpdateWorkItem(work_item_id=item_id, expected_version=ref.version)
    choice = v.rng.randrange(3)
    if choice == 0:
        command.title = f"soak item renamed {v.rng.randrange(1_000_000)}"
    elif choice == 1:
        command.priority = v.rng.choice(_PRIORITIES)
    else:
        command.assignee_id = v.user_id
    return Planned("update_item", "update_work_item", command)


def move_item(v: View) -> Planned | None:
    item_id = v.world.item(v.rng, sorted(v.subscribed))
    if item_id is None:
        return None
    ref = v.world.items[item_id]
    command = items.MoveWorkItem(
        work_item_id=item_id,
        expected_version=ref.version,
        status=v.rng.choice(v.world.lanes[ref.project_id]),
    )
    neighbour = v.world.item(v.rng, [ref.project_id])
    neighbour_ref = v.world.items.get(neighbour or "")
    if neighbour_ref is not None and neighbour != item_id and v.rng.random() < 0.5:
        command.status = neighbour_ref.status
        if v.rng.random() < 0.5:
            command.before_id = str(neighbour)
        else:
            command.after_id = str(neighbour)
    return Planned("move_item", "move_work_item", command)


def delete_item(v: View, project: str | None = None) -> Planned | None:
    item_id = v.world.item(v.rng, [project] if project else sorted(v.subscribed))
    if item_id is None:
        return None
    command = items.DeleteWorkItem(
        work_item_id=item_id, expected_version=v.world.items[item_id].version
    )
    return Planned("delete_item", "delete_work_item", command)


def create_comment(v: View) -> Planned | None:
    item_id = v.world.item(v.rng, sorted(v.subscribed))
    if item_id is None:
        return None
    command = comments.CreateComment(
        id=_id(), work_item_id=item_id, content=f"soak comment {v.rng.randrange(1_000_000)}"
    )
    return Planned("create_comment", "create_comment", command)


def update_comment(v: View) -> Planned | None:
    comment_id = v.world.comment(v.rng, v.user_id)
    if comment_id is None:
        return None
    command = comments.UpdateComment(
        comment_id=comment_id,
        expected_version=v.world.comments[comment_id].version,
        content=f"soak comment edited {v.rng.randrange(1_000_000)}",
    )
    return Planned("update_comment", "update_comment", command)


def delete_comment(v: View) -> Planned | None:
    comment_id = v.world.comment(v.rng, v.user_id)
    if comment_id is None:
        return None
    command = comments.DeleteComment(
        comment_id=comment_id, expected_version=v.world.comments[comment_id].version
    )
    return Planned("delete_comment", "delete_comment", command)


def start_timer(v: View) -> Planned | None:
    item_id = v.world.item(v.rng, sorted(v.subscribed))
    if item_id is None:
        return None
    return Planned("start_timer", "start_timer", time_entries.StartTimer(work_item_id=item_id))


def stop_timer(v: View) -> Planned | None:
    # Empty id: the caller's running timer; FAILED_PRECONDITION when none runs (a real
    # client's race, not a refusal planned here).
    return Planned("stop_timer", "stop_timer", time_entries.StopTimer())


def create_entry(v: View) -> Planned | None:
    item_id = v.world.item(v.rng, sorted(v.subscribed))
    if item_id is None:
        return None
    ended = _now_ms() - v.rng.randrange(1_000, _HOUR_MS)
    command = time_entries.CreateTimeEntry(
        id=_id(),
        work_item_id=item_id,
        started_at_ms=ended - v.rng.randrange(60_000, 2 * _HOUR_MS),
        ended_at_ms=ended,
        note="soak",
    )
    return Planned("create_entry", "create_time_entry", command)


def update_entry(v: View) -> Planned | None:
    entry_id = v.world.entry(v.rng, v.user_id)
    if entry_id is None:
        return None
    command = time_entries.UpdateTimeEntry(
        time_entry_id=entry_id,
        expected_version=v.world.entries[entry_id].version,
        note=f"soak note {v.rng.randrange(1_000)}",
    )
    return Planned("update_entry", "update_time_entry", command)


def delete_entry(v: View) -> Planned | None:
    entry_id = v.world.entry(v.rng, v.user_id)
    if entry_id is None:
        return None
    command = time_entries.DeleteTimeEntry(
        time_entry_id=entry_id, expected_version=v.world.entries[entry_id].version
    )
    return Planned("delete_entry", "delete_time_entry", command)


def create_dependency(v: View) -> Planned | None:
    first, second = v.world.item(v.rng), v.world.item(v.rng)
    if first is None or second is None or first == second:
        return None
    kind = pb.DEPENDENCY_TYPE_BLOCKS if v.rng.random() < 0.7 else pb.DEPENDENCY_TYPE_RELATES_TO
    command = deps.CreateDependency(id=_id(), from_item_id=first, to_item_id=second, type=kind)
    return Planned("create_dependency", "create_dependency", command)


def delete_dependency(v: View) -> Planned | None:
    dependency_id = v.world.dependency(v.rng)
    if dependency_id is None:
        return None
    command = deps.DeleteDependency(
        dependency_id=dependency_id, expected_version=v.world.dependencies[dependency_id]
    )
    return Planned("delete_dependency", "delete_dependency", command)


def read(v: View) -> Planned | None:
    project = v.rng.choice(sorted(v.subscribed) or v.world.projects)
    item_id = v.world.item(v.rng, [project])
    choice = v.rng.randrange(7)
    if item_id is None or choice == 0:
        command: Message = items.ListWorkItems(project_id=project, page_size=50)
        return Planned("list_items", "list_work_items", command)
    if choice == 1:
        return Planned("get_item", "get_work_item", items.GetWorkItem(work_item_id=item_id))
    if choice == 2:
        return Planned(
            "list_comments", "list_comments", comments.ListComments(work_item_id=item_id)
        )
    if choice == 3:
        command = deps.ListDependencies(work_item_id=item_id)
        return Planned("list_dependencies", "list_dependencies", command)
    if choice == 4:
        command = activity.GetActivity(project_id=project, page_size=20)
        return Planned("get_activity", "get_activity", command)
    if choice == 5:
        command = time_entries.GetTimeTotals(work_item_id=item_id)
        return Planned("time_totals", "get_time_totals", command)
    return Planned("list_users", "list_users", users.ListUsers())


def set_viewing(v: View) -> Planned | None:
    if not v.subscribed:
        return None
    project = v.rng.choice(sorted(v.subscribed))
    item_id = v.world.item(v.rng, [project]) if v.rng.random() < 0.7 else ""
    command = session.SetViewing(project_id=project, work_item_id=item_id or "")
    return Planned("set_viewing", "set_viewing", command)


def ping(v: View) -> Planned | None:
    return Planned("ping", "ping", session.Ping())


def change_subscriptions(v: View) -> Planned | None:
    others = [p for p in v.world.projects if p not in v.subscribed]
    if v.subscribed and (not others or v.rng.random() < 0.5) and len(v.subscribed) > 1:
        project = v.rng.choice(sorted(v.subscribed))
        return Planned("unsubscribe", "unsubscribe", session.Unsubscribe(project_ids=[project]))
    if not others:
        return None
    project = v.rng.choice(others)
    return Planned("subscribe", "subscribe", session.Subscribe(project_ids=[project]))


def refresh_token(v: View) -> Planned | None:
    command = session.RefreshToken(token=v.refresh_token())
    return Planned("refresh_token", "refresh_token", command)


# --- deliberately invalid ----------------------------------------------------------------


def invalid(v: View) -> Planned | None:
    item_id = v.world.item(v.rng)
    choice = v.rng.randrange(10)
    if choice == 0 and item_id is not None:
        command: Message = items.UpdateWorkItem(work_item_id=item_id, title="no version")
        return _refused("bad_version", "update_work_item", command, "INVALID_ARGUMENT")
    if choice == 1 and item_id is not None:
        version = v.world.items[item_id].version + 1_000
        command = items.UpdateWorkItem(work_item_id=item_id, expected_version=version, title="x")
        return _refused("stale_version", "update_work_item", command, "CONFLICT", "NOT_FOUND")
    if choice == 2 and item_id is not None:
        command = items.MoveWorkItem(
            work_item_id=item_id,
            expected_version=v.world.items[item_id].version,
            status="no_such_lane",
        )
        # The version is checked before the lane: another client's move may come first.
        codes = ("FAILED_PRECONDITION", "CONFLICT", *_GONE)
        return _refused("unknown_lane", "move_work_item", command, *codes)
    if choice == 3 and item_id is not None:
        command = deps.CreateDependency(
            from_item_id=item_id, to_item_id=item_id, type=pb.DEPENDENCY_TYPE_BLOCKS
        )
        return _refused("self_dependency", "create_dependency", command, "INVALID_ARGUMENT")
    if choice == 4 and item_id is not None:
        command = comments.CreateComment(work_item_id=item_id, content="")
        return _refused("empty_comment", "create_comment", command, "INVALID_ARGUMENT")
    if choice == 5 and item_id is not None:
        start = _now_ms() + _HOUR_MS
        command = time_entries.CreateTimeEntry(
            work_item_id=item_id, started_at_ms=start, ended_at_ms=start + 1_000
        )
        return _refused("future_entry", "create_time_entry", command, "INVALID_ARGUMENT")
    if choice == 6:
        project = v.rng.choice(v.world.projects)
        command = items.CreateWorkItem(project_id=project, title="no type")
        return _refused("no_type", "create_work_item", command, "INVALID_ARGUMENT")
    if choice == 7:
        return _refused(
            "unknown_item", "get_work_item", items.GetWorkItem(work_item_id=_id()), *_GONE
        )
    if choice == 8:
        # A frame with no command in it, then one that is no protobuf at all.
        return Planned("empty_frame", "", refusal=frozenset({"INVALID_ARGUMENT"}))
    return Planned(
        "garbage_frame", "", raw=b"\xff\xfe not protobuf", refusal=frozenset({"INVALID_ARGUMENT"})
    )


def forbidden(v: View) -> Planned | None:
    """A viewer's write: PERMISSION_DENIED (or NOT_FOUND, should the item be gone)."""
    item_id = v.world.item(v.rng)
    if item_id is None:
        return None
    command = comments.CreateComment(work_item_id=item_id, content="a viewer writes")
    return _refused("viewer_write", "create_comment", command, "PERMISSION_DENIED", *_GONE)


Choice = Callable[[View], "Planned | None"]
WRITER_MIX: list[tuple[float, Choice]] = [
    (12, create_item),
    (14, update_item),
    (14, move_item),
    (2, delete_item),
    (8, create_comment),
    (3, update_comment),
    (2, delete_comment),
    (3, start_timer),
    (2, stop_timer),
    (3, create_entry),
    (1, update_entry),
    (1, delete_entry),
    (4, create_dependency),
    (2, delete_dependency),
    (16, read),
    (3, set_viewing),
    (2, ping),
    (2, change_subscriptions),
    (0.5, refresh_token),
    (8, invalid),
]
VIEWER_MIX: list[tuple[float, Choice]] = [
    (50, read),
    (6, set_viewing),
    (4, ping),
    (4, change_subscriptions),
    (1, refresh_token),
    (5, forbidden),
    (3, invalid),
]


def plan(v: View) -> Planned:
    mix = WRITER_MIX if v.writer else VIEWER_MIX
    weights = [weight for weight, _ in mix]
    for _ in range(8):
        (choose,) = v.rng.choices([choice for _, choice in mix], weights)
        planned = choose(v)
        if planned is not None:
            v.sent += 1
            if planned.refusal and not v.writer and planned.name in _MUTATIONS:
                # The role is checked first: a viewer's invalid write is refused for that.
                planned = replace(planned, refusal=planned.refusal | {"PERMISSION_DENIED"})
            return planned
    # Nothing known yet to act on: a read always works.
    return read(v) or ping(v) or Planned("ping", "ping", session.Ping())
