"""A model of tenants' boards for the random (model-based) run, and a real server for
synchronous tests.

Two parts:

- `ServerThread` and `RecordingClient`: one real pm-server (tests/server_fixture.py's
  run_server) on an event loop of its own thread, so that hypothesis' synchronous state
  machines and @given tests drive it with `call(coroutine)`; clients that keep every frame
  they receive, for the cross-tenant checks.
- `TenantModel`: what one tenant holds, kept from acknowledged responses. For each command it
  predicts the answer before looking at it: the refusals the rules allow (code and field, a
  set, since the server checks in an order of its own), or success with the entity as it must
  be afterwards; then it takes the server's values (ids, ranks, times) into itself.
  `db_state` and `TenantModel.expected_state` render the server's file and the model the
  same way, so a test compares them after every step.

Nothing here sleeps: every wait is for a frame, under a timeout.
"""

from __future__ import annotations

import asyncio
import copy
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message
from websockets.asyncio.client import connect

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from server.config import Config
from tenants import ranks
from tests.server_fixture import RunningServer, run_server
from tests.tenant_state import read_only
from tests.wire import TIMEOUT, WsClient

T = TypeVar("T")

# ---------------------------------------------------------------------------------------
# A real server on a thread of its own
# ---------------------------------------------------------------------------------------


class ServerThread:
    """run_server on a private event loop in a daemon thread; `call` runs a coroutine there
    and returns its result (or raises its exception) in the calling thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="pm-server-loop", daemon=True)
        self.running: RunningServer | None = None

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the server did not start within 30 s")
        if self._failure is not None:
            raise RuntimeError("the server failed to start") from self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        forget_figures(self.config.data_dir)
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._failure is not None and exc[0] is None:
            raise RuntimeError("the server's loop failed") from self._failure

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by __enter__/__exit__
            self._failure = exc
            self._ready.set()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with run_server(self.config) as running:
            self.running = running
            self._ready.set()
            await self._stop.wait()

    @property
    def server(self) -> RunningServer:
        assert self.running is not None
        return self.running

    def alive(self) -> bool:
        """The loop thread runs and uvicorn has not stopped serving."""
        return (
            self._thread.is_alive()
            and self.running is not None
            and not self.running.uvicorn_server.should_exit
        )

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def open(
        self, tenant: str, user: str, roles: list[str] | None = None, **kwargs: Any
    ) -> RecordingClient:
        token = self.server.token(tenant=tenant, user=user, roles=roles)
        return self.call(open_recording_client(self.server.ws_url, token, tenant, **kwargs))


class RecordingClient(WsClient):
    """A WsClient that keeps the raw bytes of every frame it receives, in order."""

    def __init__(self, ws: Any, welcome: env.ServerMessage, tenant: str) -> None:
        super().__init__(ws, welcome)
        self.tenant = tenant
        self.frames: list[bytes] = []

    async def _read(self, limit: float) -> env.ServerMessage:
        async with asyncio.timeout(limit):
            frame = await self.ws.recv()
        assert isinstance(frame, bytes), "the server sent a text frame"
        self.frames.append(frame)
        message = env.ServerMessage()
        message.ParseFromString(frame)
        return message

    async def responses(self, request_ids: Iterable[str]) -> dict[str, env.Response]:
        """The responses to these requests, whatever their order of arrival."""
        return {rid: await self.response(rid) for rid in request_ids}


async def open_recording_client(
    url: str, token: str, tenant: str, **kwargs: Any
) -> RecordingClient:
    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        open_timeout=TIMEOUT,
        # websockets' keepalive draws its payload from the global `random` on this loop's
        # thread; one landing inside a Hypothesis draw fails the run as a flaky strategy.
        ping_interval=None,
        **kwargs,
    )
    client = RecordingClient(ws, env.ServerMessage(), tenant)
    first = await client._read(TIMEOUT)
    assert first.WhichOneof("payload") == "welcome", f"expected Welcome first, got {first}"
    client.welcome = first.welcome
    return client


# ---------------------------------------------------------------------------------------
# Reading a tenant's file
# ---------------------------------------------------------------------------------------


# The columns the model keeps, per table, in the order `expected_state` renders them.
STATE_SQL = {
    "projects": "SELECT id, key, name, description, next_item_number, version,"
    " deleted_at IS NOT NULL FROM projects",
    "swim_lanes": "SELECT id, project_id, name, status_value,"
    " CASE WHEN deleted_at IS NULL THEN position END, is_default, version,"
    " deleted_at IS NOT NULL FROM swim_lanes",
    "work_items": "SELECT id, project_id, number, type, parent_id, status, rank, title,"
    " description, priority, assignee_id, sprint_id, story_points, version,"
    " deleted_at IS NOT NULL, deleted_by FROM work_items",
    "sprints": "SELECT id, project_id, name, goal, state, start_date, end_date, version,"
    " deleted_at IS NOT NULL FROM sprints",
    "comments": "SELECT id, work_item_id, parent_comment_id, author_id, content, version,"
    " deleted_at IS NOT NULL FROM comments",
    "time_entries": "SELECT id, work_item_id, user_id, started_at, ended_at, duration_seconds,"
    " note, version, deleted_at IS NOT NULL FROM time_entries",
    "dependencies": "SELECT id, from_item_id, to_item_id, type, version,"
    " deleted_at IS NOT NULL FROM dependencies",
}
COUNTS_SQL = {
    "events": "SELECT COUNT(*) FROM events",
    "processed_requests": "SELECT COUNT(*) FROM processed_requests",
    # Every event has its activity rows; every activity row belongs to a stored event.
    "events_without_activity": "SELECT COUNT(*) FROM events e"
    " WHERE NOT EXISTS (SELECT 1 FROM activity_log a WHERE a.seq = e.seq)",
    "activity_without_event": "SELECT COUNT(*) FROM activity_log a"
    " WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = a.seq)",
}

State = dict[str, Any]


def db_state(data_dir: Path, tenant: str) -> State:
    """The modelled columns of every entity row, by table and id, and the counts."""
    with closing(read_only(data_dir, tenant)) as conn:
        state: State = {}
        for table, sql in STATE_SQL.items():
            state[table] = {row[0]: tuple(row[1:]) for row in conn.execute(sql)}
        for name, sql in COUNTS_SQL.items():
            state[name] = conn.execute(sql).fetchone()[0]
        return state


def _figure_queries(conn: sqlite3.Connection) -> dict[str, str]:
    queries = {}
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE '%VIRTUAL%' ORDER BY name"
        )
    ]
    for table in tables:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        parts = ["COUNT(*)"]
        for column in ("version", "updated_at", "updated_at_ms", "seq"):
            if column in columns:
                parts.append(f"TOTAL({column})")
        if "deleted_at" in columns:
            parts.append("COUNT(deleted_at)")
        queries[table] = f"SELECT {', '.join(parts)} FROM {table}"
    return queries


class Figures:
    """Cheap figures that any write changes: per table its rows and the sums of its
    versions, stamps and seqs, read on one read-only connection kept open (each query
    sees the latest commit)."""

    def __init__(self, data_dir: Path, tenant: str) -> None:
        self.conn = read_only(data_dir, tenant)
        self.queries = _figure_queries(self.conn)

    def read(self) -> dict[str, tuple[Any, ...]]:
        return {
            table: tuple(self.conn.execute(sql).fetchone()) for table, sql in self.queries.items()
        }

    def close(self) -> None:
        self.conn.close()


_figures: dict[tuple[str, str], Figures] = {}


def fingerprint(data_dir: Path, tenant: str) -> dict[str, tuple[Any, ...]]:
    """The tenant's Figures now (its connection is opened once, then reused)."""
    key = (str(data_dir), tenant)
    if key not in _figures:
        _figures[key] = Figures(data_dir, tenant)
    return _figures[key].read()


def forget_figures(data_dir: Path) -> None:
    """Close the connections `fingerprint` opened on a data directory's tenants."""
    for key in [k for k in _figures if k[0] == str(data_dir)]:
        _figures.pop(key).close()


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------

IA = env.ERROR_CODE_INVALID_ARGUMENT
NF = env.ERROR_CODE_NOT_FOUND
AE = env.ERROR_CODE_ALREADY_EXISTS
CONFLICT = env.ERROR_CODE_CONFLICT
FP = env.ERROR_CODE_FAILED_PRECONDITION
PD = env.ERROR_CODE_PERMISSION_DENIED

VIEWER, MEMBER, ADMIN = 1, 2, 3
ROLE_NAMES = {VIEWER: "viewer", MEMBER: "member", ADMIN: "admin"}

TYPES = {
    pb.WORK_ITEM_TYPE_EPIC: "epic",
    pb.WORK_ITEM_TYPE_STORY: "story",
    pb.WORK_ITEM_TYPE_TASK: "task",
    pb.WORK_ITEM_TYPE_BUG: "bug",
}
TYPE_NUMBERS = {v: k for k, v in TYPES.items()}
PRIORITIES = {
    pb.PRIORITY_LOW: "low",
    pb.PRIORITY_MEDIUM: "medium",
    pb.PRIORITY_HIGH: "high",
    pb.PRIORITY_CRITICAL: "critical",
}
PRIORITY_NUMBERS = {v: k for k, v in PRIORITIES.items()}
SPRINT_STATES = {
    "planned": pb.SPRINT_STATE_PLANNED,
    "active": pb.SPRINT_STATE_ACTIVE,
    "completed": pb.SPRINT_STATE_COMPLETED,
    "cancelled": pb.SPRINT_STATE_CANCELLED,
}
DEP_TYPES = {pb.DEPENDENCY_TYPE_BLOCKS: "blocks", pb.DEPENDENCY_TYPE_RELATES_TO: "relates_to"}
DEP_NUMBERS = {v: k for k, v in DEP_TYPES.items()}
# Which parent types each type accepts (domain.md, Work items).
ALLOWED_PARENTS: dict[str, frozenset[str]] = {
    "epic": frozenset(),
    "story": frozenset({"epic"}),
    "task": frozenset({"story", "epic"}),
    "bug": frozenset({"story", "epic"}),
}
DEFAULT_LANES = [
    ("Backlog", "backlog"),
    ("In Progress", "in_progress"),
    ("In Review", "in_review"),
    ("Done", "done"),
]
KEY = re.compile(r"[A-Z][A-Z0-9]{1,9}")
STATUS_VALUE = re.compile(r"[a-z][a-z0-9_]{0,39}")
LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BODY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_BODY_BYTES = 64 * 1024
MAX_ENTRY_MS = 24 * 3600 * 1000
MAX_LANES = 50
MAX_ASSIGN = 500
MAX_ID_CHARS = 128

# Which role each modelled command needs (docs/commands: viewers read, admins delete
# projects and manage lanes, members do the rest).
ADMIN_COMMANDS = frozenset(
    {
        "delete_project",
        "create_swim_lane",
        "update_swim_lane",
        "reorder_swim_lanes",
        "delete_swim_lane",
    }
)
READ_COMMANDS = frozenset(
    {
        "get_project",
        "list_projects",
        "list_swim_lanes",
        "get_work_item",
        "list_work_items",
        "get_work_item_tree",
        "get_ancestors",
        "list_sprints",
        "get_sprint_stats",
        "list_comments",
        "list_time_entries",
        "get_running_timer",
        "get_time_totals",
        "list_dependencies",
    }
)


def required_role(name: str) -> int:
    if name in ADMIN_COMMANDS:
        return ADMIN
    if name in READ_COMMANDS:
        return VIEWER
    return MEMBER


class Mismatch(AssertionError):
    """The server's answer or state differs from what the model predicts."""


def code_name(code: int) -> str:
    try:
        return env.ErrorCode.Name(code)
    except ValueError:
        return str(code)


def norm_id(raw: str) -> str | None:
    """A UUID in canonical form as the server writes it; None when not a UUID."""
    if CANONICAL_ID.fullmatch(raw):
        return raw
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def text_value(value: str, max_chars: int) -> str | None:
    """A title or name after trimming, or None when refused."""
    value = value.strip()
    if LINE_CONTROLS.search(value) or not 1 <= len(value) <= max_chars:
        return None
    return value


def body_ok(value: str, min_bytes: int = 0) -> bool:
    size = len(value.encode("utf-8"))
    return not BODY_CONTROLS.search(value) and min_bytes <= size <= MAX_BODY_BYTES


@dataclass
class Project:
    id: str
    key: str
    name: str
    description: str
    version: int = 1
    deleted: bool = False
    next_number: int = 1


@dataclass
class Lane:
    id: str
    project_id: str
    name: str
    status_value: str
    position: int
    is_default: bool
    version: int = 1
    deleted: bool = False


@dataclass
class Item:
    id: str
    project_id: str
    number: int
    type: str
    parent_id: str | None
    status: str
    rank: str
    title: str
    description: str
    priority: str
    assignee_id: str | None
    sprint_id: str | None
    story_points: int | None
    version: int = 1
    deleted: bool = False
    deleted_by: str | None = None
    # The delete that removed it: (request id, user).
    batch: tuple[str, str] | None = None


@dataclass
class Sprint:
    id: str
    project_id: str
    name: str
    goal: str
    state: str
    start: int
    end: int
    version: int = 1
    deleted: bool = False


@dataclass
class Comment:
    id: str
    item_id: str
    parent_id: str | None
    author: str
    content: str
    version: int = 1
    deleted: bool = False


@dataclass
class Entry:
    id: str
    item_id: str
    user: str
    started: int
    ended: int | None
    duration: int | None
    note: str
    version: int = 1
    deleted: bool = False


@dataclass
class Dep:
    id: str
    from_id: str
    to_id: str
    type: str
    version: int = 1
    deleted: bool = False
    batch: tuple[str, str] | None = None


REFUSED, UNCHANGED, CHANGED = "refused", "unchanged", "changed"


@dataclass
class Verdict:
    """What one command did, as the model sees it."""

    outcome: str
    # For a change: the projects its event must name.
    projects: set[str] = field(default_factory=set)
    # Lanes (project, status) whose keys a follow-up rewrites (WorkItemsReranked).
    reranks: list[tuple[str, str]] = field(default_factory=list)


Allowed = list[tuple[int, str]]


def refuse(response: env.Response, allowed: Allowed, what: str) -> Verdict:
    """The response must be an Error with one of the allowed (code, field) pairs."""
    if not response.HasField("error"):
        raise Mismatch(
            f"{what}: succeeded, but the model expected a refusal among "
            f"{[(code_name(c), f) for c, f in allowed]}\n{response}"
        )
    got = (response.error.code, response.error.field)
    if got not in allowed:
        raise Mismatch(
            f"{what}: refused with {code_name(got[0])} on {got[1]!r} ({response.error.message}),"
            f" the model expected one of {[(code_name(c), f) for c, f in allowed]}"
        )
    return Verdict(REFUSED)


def success(response: env.Response, name: str, what: str) -> Any:
    if response.HasField("error"):
        error = response.error
        raise Mismatch(
            f"{what}: refused with {code_name(error.code)} on {error.field!r}"
            f" ({error.message}), the model expected success"
        )
    if response.WhichOneof("result") != name:
        raise Mismatch(f"{what}: answered {response.WhichOneof('result')}, not {name}")
    return getattr(response, name)


def expect_equal(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise Mismatch(f"{what}: the server has {got!r}, the model {want!r}")


def changes_of(result: Any) -> list[str]:
    return [change.field for change in result.changes]


class TenantModel:
    """One tenant: its entities, its users' roles, and the events it must have stored."""

    def __init__(self, tenant: str, tag: str, users: dict[str, int]) -> None:
        self.tenant = tenant
        # A marker in every text of this tenant, so frames of another tenant can be searched.
        self.tag = tag
        self.users = users
        self.projects: dict[str, Project] = {}
        self.lanes: dict[str, Lane] = {}
        self.items: dict[str, Item] = {}
        self.sprints: dict[str, Sprint] = {}
        self.comments: dict[str, Comment] = {}
        self.entries: dict[str, Entry] = {}
        self.deps: dict[str, Dep] = {}
        self.events = 0
        self.recorded_requests = 0

    def copy(self) -> TenantModel:
        return copy.deepcopy(self)

    # -- what the file must hold -------------------------------------------------------

    def expected_state(self) -> State:
        lane_rows = {
            lane.id: (
                lane.project_id,
                lane.name,
                lane.status_value,
                None if lane.deleted else lane.position,
                int(lane.is_default),
                lane.version,
                int(lane.deleted),
            )
            for lane in self.lanes.values()
        }
        return {
            "projects": {
                p.id: (p.key, p.name, p.description, p.next_number, p.version, int(p.deleted))
                for p in self.projects.values()
            },
            "swim_lanes": lane_rows,
            "work_items": {
                i.id: (
                    i.project_id,
                    i.number,
                    i.type,
                    i.parent_id,
                    i.status,
                    i.rank,
                    i.title,
                    i.description,
                    i.priority,
                    i.assignee_id,
                    i.sprint_id,
                    i.story_points,
                    i.version,
                    int(i.deleted),
                    i.deleted_by,
                )
                for i in self.items.values()
            },
            "sprints": {
                s.id: (
                    s.project_id,
                    s.name,
                    s.goal,
                    s.state,
                    s.start,
                    s.end,
                    s.version,
                    int(s.deleted),
                )
                for s in self.sprints.values()
            },
            "comments": {
                c.id: (c.item_id, c.parent_id, c.author, c.content, c.version, int(c.deleted))
                for c in self.comments.values()
            },
            "time_entries": {
                e.id: (
                    e.item_id,
                    e.user,
                    e.started,
                    e.ended,
                    e.duration,
                    e.note,
                    e.version,
                    int(e.deleted),
                )
                for e in self.entries.values()
            },
            "dependencies": {
                d.id: (d.from_id, d.to_id, d.type, d.version, int(d.deleted))
                for d in self.deps.values()
            },
            "events": self.events,
            "processed_requests": self.recorded_requests,
            "events_without_activity": 0,
            "activity_without_event": 0,
        }

    def secrets(self) -> list[bytes]:
        """Byte strings no frame of another tenant may hold: every id, and the tag."""
        found = [self.tag.encode()]
        for table in (
            self.projects,
            self.lanes,
            self.items,
            self.sprints,
            self.comments,
            self.entries,
            self.deps,
        ):
            found.extend(entity_id.encode() for entity_id in table)
        return found

    # -- lookups -----------------------------------------------------------------------

    def role(self, user: str) -> int:
        return self.users[user]

    def live_projects(self) -> list[Project]:
        return [p for p in self.projects.values() if not p.deleted]

    def live_lanes(self, project_id: str) -> list[Lane]:
        found = [
            lane
            for lane in self.lanes.values()
            if lane.project_id == project_id and not lane.deleted
        ]
        return sorted(found, key=lambda lane: lane.position)

    def lane_of(self, project_id: str, status: str) -> Lane | None:
        for lane in self.live_lanes(project_id):
            if lane.status_value == status:
                return lane
        return None

    def live_items(self, project_id: str | None = None) -> list[Item]:
        return [
            i
            for i in self.items.values()
            if not i.deleted and (project_id is None or i.project_id == project_id)
        ]

    def lane_items(self, project_id: str, status: str, exclude: str = "") -> list[Item]:
        """A lane's live items by rank."""
        found = [
            i
            for i in self.items.values()
            if not i.deleted and i.project_id == project_id and i.status == status
            if i.id != exclude
        ]
        return sorted(found, key=lambda i: i.rank)

    def board(self, project_id: str) -> list[Item]:
        """A project's live items in board order: lane position, then rank, then id."""
        position = {lane.status_value: lane.position for lane in self.live_lanes(project_id)}
        return sorted(
            self.live_items(project_id),
            key=lambda i: (position.get(i.status, 1 << 30), i.rank, i.id),
        )

    def children(self, item_id: str) -> list[Item]:
        return sorted(
            (i for i in self.items.values() if i.parent_id == item_id and not i.deleted),
            key=lambda i: i.number,
        )

    def subtree(self, item_id: str) -> list[Item]:
        """The live item and its live descendants, depth first, siblings by number."""
        root = self.items[item_id]
        found = [root]
        for child in self.children(item_id):
            found.extend(self.subtree(child.id))
        return found

    def chain_has(self, start_id: str, target_id: str) -> bool:
        """Whether target is start or one of start's ancestors, deleted rows included."""
        seen = set()
        node: str | None = start_id
        while node is not None and node not in seen:
            if node == target_id:
                return True
            seen.add(node)
            found = self.items.get(node)
            node = found.parent_id if found is not None else None
        return False

    def running_entry(self, user: str) -> Entry | None:
        for entry in self.entries.values():
            if entry.user == user and entry.ended is None and not entry.deleted:
                return entry
        return None

    def live_dep_between(self, a: str, b: str) -> Dep | None:
        for dep in self.deps.values():
            if not dep.deleted and {dep.from_id, dep.to_id} == {a, b}:
                return dep
        return None

    def reaches(self, start: str, target: str) -> bool:
        """Whether target is reachable from start along live blocks edges."""
        successors: dict[str, list[str]] = {}
        for dep in self.deps.values():
            if not dep.deleted and dep.type == "blocks":
                successors.setdefault(dep.from_id, []).append(dep.to_id)
        seen = {start}
        todo = [start]
        while todo:
            node = todo.pop()
            if node == target:
                return True
            for nxt in successors.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    def item_key(self, item: Item) -> str:
        return f"{self.projects[item.project_id].key}-{item.number}"

    def find(
        self, table: dict[str, Any], raw: str, field_name: str, allowed: Allowed
    ) -> Any | None:
        """The live entity `raw` names; otherwise records the refusal it causes and None.
        An empty id is INVALID_ARGUMENT (required), as is one that is not a UUID."""
        if not raw:
            allowed.append((IA, field_name))
            return None
        entity_id = norm_id(raw)
        if entity_id is None:
            allowed.append((IA, field_name))
            return None
        entity = table.get(entity_id)
        if entity is None or entity.deleted:
            allowed.append((NF, field_name))
            return None
        return entity

    def find_item(self, raw: str, field_name: str, allowed: Allowed) -> Item | None:
        item = self.find(self.items, raw, field_name, allowed)
        if item is not None and self.projects[item.project_id].deleted:
            raise AssertionError("the model holds a live item of a deleted project")
        return item

    def find_lane(self, raw: str, field_name: str, allowed: Allowed) -> Lane | None:
        return self.find(self.lanes, raw, field_name, allowed)

    def find_comment(self, raw: str, field_name: str, allowed: Allowed) -> Comment | None:
        """A live comment on a live item (a comment of a deleted item is NOT_FOUND)."""
        comment = self.find(self.comments, raw, field_name, allowed)
        if comment is not None and self.items[comment.item_id].deleted:
            allowed.append((NF, field_name))
            return None
        return comment

    def client_id(self, raw: str, table: dict[str, Any], allowed: Allowed) -> str | None:
        """A create's optional client-chosen id: None means 'the server picks one'."""
        if not raw:
            return None
        entity_id = norm_id(raw)
        if entity_id is None:
            allowed.append((IA, "id"))
            return None
        if entity_id in table:
            allowed.append((AE, "id"))
        return entity_id

    def version_refusals(self, entity: Any, expected: int, allowed: Allowed) -> None:
        if expected <= 0:
            allowed.append((IA, "expected_version"))
        elif expected != entity.version:
            allowed.append((CONFLICT, "expected_version"))

    # -- checks against wire entities --------------------------------------------------

    def expect_item(self, what: str, wire: pb.WorkItem, item: Item) -> None:
        got = (
            wire.id,
            wire.project_id,
            wire.number,
            wire.key,
            TYPES.get(wire.type),
            wire.parent_id or None,
            wire.status,
            wire.rank,
            wire.title,
            wire.description,
            PRIORITIES.get(wire.priority),
            wire.assignee_id or None,
            wire.sprint_id or None,
            wire.story_points if wire.HasField("story_points") else None,
            wire.version,
        )
        want = (
            item.id,
            item.project_id,
            item.number,
            self.item_key(item),
            item.type,
            item.parent_id,
            item.status,
            item.rank,
            item.title,
            item.description,
            item.priority,
            item.assignee_id,
            item.sprint_id,
            item.story_points,
            item.version,
        )
        expect_equal(f"{what} {self.item_key(item)}", got, want)

    def expect_sprint(self, what: str, wire: pb.Sprint, sprint: Sprint) -> None:
        got = (
            wire.id,
            wire.project_id,
            wire.name,
            wire.goal,
            wire.state,
            wire.start_date_ms,
            wire.end_date_ms,
            wire.version,
        )
        want = (
            sprint.id,
            sprint.project_id,
            sprint.name,
            sprint.goal,
            SPRINT_STATES[sprint.state],
            sprint.start,
            sprint.end,
            sprint.version,
        )
        expect_equal(what, got, want)

    def expect_lanes(self, what: str, wires: Iterable[pb.SwimLane], project_id: str) -> None:
        got = [(w.id, w.name, w.status_value, w.position, w.is_default, w.version) for w in wires]
        want = [
            (lane.id, lane.name, lane.status_value, lane.position, lane.is_default, lane.version)
            for lane in self.live_lanes(project_id)
        ]
        expect_equal(what, got, want)

    def expect_dep(self, what: str, wire: pb.Dependency, dep: Dep) -> None:
        got = (wire.id, wire.from_item_id, wire.to_item_id, DEP_TYPES.get(wire.type), wire.version)
        want = (dep.id, dep.from_id, dep.to_id, dep.type, dep.version)
        expect_equal(what, got, want)

    def expect_entry(self, what: str, wire: pb.TimeEntry, entry: Entry) -> None:
        got = (
            wire.id,
            wire.work_item_id,
            wire.user_id,
            wire.started_at_ms,
            wire.ended_at_ms or None,
            wire.duration_seconds if wire.ended_at_ms else None,
            wire.note,
            wire.running,
            wire.version,
        )
        want = (
            entry.id,
            entry.item_id,
            entry.user,
            entry.started,
            entry.ended,
            entry.duration,
            entry.note,
            entry.ended is None,
            entry.version,
        )
        expect_equal(what, got, want)

    def expect_comment(self, what: str, wire: pb.Comment, comment: Comment) -> None:
        got = (
            wire.id,
            wire.work_item_id,
            wire.parent_comment_id or None,
            wire.author_id,
            wire.content,
            wire.deleted,
            wire.version,
        )
        want = (
            comment.id,
            comment.item_id,
            comment.parent_id,
            comment.author,
            "" if comment.deleted else comment.content,
            comment.deleted,
            comment.version,
        )
        expect_equal(what, got, want)

    # -- commands ----------------------------------------------------------------------

    def check(
        self, actor: str, name: str, cmd: Message, response: env.Response, rid: str
    ) -> Verdict:
        """Check one command's answer against the model and take its effect in."""
        what = f"{self.tenant}/{actor} {name}"
        if self.role(actor) < required_role(name):
            return refuse(response, [(PD, "")], what)
        handler: Callable[[str, Any, env.Response, str, str], Verdict] = getattr(self, f"_{name}")
        verdict = handler(actor, cmd, response, rid, what)
        if verdict.outcome == CHANGED:
            self.events += 1
            self.recorded_requests += 1
        return verdict

    # projects ----------------------------------------------------------------------

    def _create_project(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        key = cmd.key.strip()
        if not KEY.fullmatch(key):
            allowed.append((IA, "key"))
        elif any(p.key == key for p in self.projects.values()):
            allowed.append((AE, "key"))
        name = text_value(cmd.name, 120)
        if name is None:
            allowed.append((IA, "name"))
        if not body_ok(cmd.description):
            allowed.append((IA, "description"))
        chosen = self.client_id(cmd.id, self.projects, allowed)
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "create_project", what)
        project = Project(result.project.id, key, name or "", cmd.description)
        if chosen is not None:
            expect_equal(f"{what} id", project.id, chosen)
        expect_equal(
            f"{what} project",
            (result.project.key, result.project.name, result.project.description),
            (project.key, project.name, project.description),
        )
        expect_equal(f"{what} version", result.project.version, 1)
        self.projects[project.id] = project
        for position, (wire, (lane_name, status)) in enumerate(
            zip(result.lanes, DEFAULT_LANES, strict=True)
        ):
            self.lanes[wire.id] = Lane(wire.id, project.id, lane_name, status, position, True)
        self.expect_lanes(f"{what} lanes", result.lanes, project.id)
        return Verdict(CHANGED, {project.id})

    def _update_project(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        project = self.find(self.projects, cmd.project_id, "project_id", allowed)
        updates: dict[str, str] = {}
        if project is not None:
            self.version_refusals(project, cmd.expected_version, allowed)
            if cmd.HasField("name"):
                name = text_value(cmd.name, 120)
                if name is None:
                    allowed.append((IA, "name"))
                else:
                    updates["name"] = name
            if cmd.HasField("description"):
                if body_ok(cmd.description):
                    updates["description"] = cmd.description
                else:
                    allowed.append((IA, "description"))
            if not cmd.HasField("name") and not cmd.HasField("description"):
                allowed.append((IA, "name"))
        if allowed:
            return refuse(response, allowed, what)
        assert project is not None
        result = success(response, "update_project", what)
        changed = [
            f for f in ("name", "description") if f in updates and updates[f] != getattr(project, f)
        ]
        expect_equal(f"{what} changes", changes_of(result), changed)
        if changed:
            for f in changed:
                setattr(project, f, updates[f])
            project.version += 1
        expect_equal(
            f"{what} project",
            (result.project.name, result.project.description, result.project.version),
            (project.name, project.description, project.version),
        )
        return Verdict(CHANGED if changed else UNCHANGED, {project.id})

    def _delete_project(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        project = self.find(self.projects, cmd.project_id, "project_id", allowed)
        if project is not None:
            self.version_refusals(project, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert project is not None
        success(response, "delete_project", what)
        all_items = {i.id for i in self.items.values() if i.project_id == project.id}
        touched = {project.id}
        for comment in self.comments.values():
            if comment.item_id in all_items and not comment.deleted:
                comment.deleted = True
                comment.version += 1
        for entry in self.entries.values():
            if entry.item_id in all_items and not entry.deleted:
                entry.deleted = True
                entry.version += 1
        for dep in self.deps.values():
            if not dep.deleted and (dep.from_id in all_items or dep.to_id in all_items):
                touched |= {self.items[dep.from_id].project_id, self.items[dep.to_id].project_id}
                dep.deleted = True
                dep.version += 1
        for table in (self.items, self.sprints, self.lanes):
            for entity in table.values():
                if entity.project_id == project.id and not entity.deleted:
                    entity.deleted = True
                    entity.version += 1
                    if isinstance(entity, Item):
                        entity.deleted_by = actor
                        entity.batch = (rid, actor)
        project.deleted = True
        project.version += 1
        return Verdict(CHANGED, touched)

    # swim lanes --------------------------------------------------------------------

    def _create_swim_lane(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        project = self.find(self.projects, cmd.project_id, "project_id", allowed)
        name = text_value(cmd.name, 60)
        if name is None:
            allowed.append((IA, "name"))
        self.client_id(cmd.id, self.lanes, allowed)
        if not STATUS_VALUE.fullmatch(cmd.status_value):
            allowed.append((IA, "status_value"))
        lanes: list[Lane] = []
        if project is not None:
            lanes = self.live_lanes(project.id)
            if self.lane_of(project.id, cmd.status_value) is not None:
                allowed.append((AE, "status_value"))
            if len(lanes) >= MAX_LANES:
                allowed.append((FP, "project_id"))
            if cmd.HasField("position") and not 0 <= cmd.position <= len(lanes):
                allowed.append((IA, "position"))
        if allowed:
            return refuse(response, allowed, what)
        assert project is not None and name is not None
        result = success(response, "create_swim_lane", what)
        position = cmd.position if cmd.HasField("position") else len(lanes)
        lanes.insert(position, Lane(result.lane.id, project.id, name, cmd.status_value, 0, False))
        self.lanes[result.lane.id] = lanes[position]
        for index, lane in enumerate(lanes):
            lane.position = index
        self.expect_lanes(f"{what} lanes", result.lanes, project.id)
        return Verdict(CHANGED, {project.id})

    def _update_swim_lane(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        lane = self.find_lane(cmd.lane_id, "lane_id", allowed)
        name = None
        if lane is not None:
            self.version_refusals(lane, cmd.expected_version, allowed)
            if not cmd.HasField("name"):
                allowed.append((IA, "name"))
            else:
                name = text_value(cmd.name, 60)
                if name is None:
                    allowed.append((IA, "name"))
        if allowed:
            return refuse(response, allowed, what)
        assert lane is not None and name is not None
        result = success(response, "update_swim_lane", what)
        changed = name != lane.name
        if changed:
            lane.name = name
            lane.version += 1
        expect_equal(
            f"{what} lane", (result.lane.name, result.lane.version), (lane.name, lane.version)
        )
        return Verdict(CHANGED if changed else UNCHANGED, {lane.project_id})

    def _reorder_swim_lanes(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        project = self.find(self.projects, cmd.project_id, "project_id", allowed)
        wanted = [norm_id(raw) for raw in cmd.lane_ids]
        if project is not None:
            self.version_refusals(project, cmd.expected_version, allowed)
            current = [lane.id for lane in self.live_lanes(project.id)]
            if None in wanted or len(set(wanted)) != len(wanted) or set(wanted) != set(current):
                allowed.append((IA, "lane_ids"))
        if allowed:
            return refuse(response, allowed, what)
        assert project is not None
        result = success(response, "reorder_swim_lanes", what)
        changed = wanted != current
        if changed:
            for index, lane_id in enumerate(wanted):
                assert lane_id is not None
                self.lanes[lane_id].position = index
            project.version += 1
        self.expect_lanes(f"{what} lanes", result.lanes, project.id)
        expect_equal(f"{what} project version", result.project.version, project.version)
        return Verdict(CHANGED if changed else UNCHANGED, {project.id})

    def _delete_swim_lane(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        lane = self.find_lane(cmd.lane_id, "lane_id", allowed)
        if lane is not None:
            self.version_refusals(lane, cmd.expected_version, allowed)
            if lane.is_default:
                allowed.append((FP, "lane_id"))
            if self.lane_items(lane.project_id, lane.status_value):
                allowed.append((FP, "lane_id"))
        if allowed:
            return refuse(response, allowed, what)
        assert lane is not None
        result = success(response, "delete_swim_lane", what)
        lane.deleted = True
        lane.version += 1
        for index, other in enumerate(self.live_lanes(lane.project_id)):
            other.position = index
        self.expect_lanes(f"{what} lanes", result.lanes, lane.project_id)
        return Verdict(CHANGED, {lane.project_id})

    # work items ----------------------------------------------------------------------

    def sprint_refusals(
        self, raw: str, item_type: str | None, project_id: str, allowed: Allowed
    ) -> str | None:
        """A sprint an item may be in: planned or active, same project, not for an epic."""
        sprint = self.find(self.sprints, raw, "sprint_id", allowed)
        if sprint is None:
            return None
        if sprint.project_id != project_id:
            allowed.append((FP, "sprint_id"))
        if item_type == "epic":
            allowed.append((FP, "sprint_id"))
        if sprint.state not in ("planned", "active"):
            allowed.append((FP, "sprint_id"))
        return str(sprint.id)

    def parent_refusals(
        self, raw: str, item_type: str, project_id: str, allowed: Allowed
    ) -> Item | None:
        if not ALLOWED_PARENTS[item_type]:
            allowed.append((FP, "parent_id"))
            return None
        parent = self.find_item(raw, "parent_id", allowed)
        if parent is None:
            return None
        if parent.project_id != project_id:
            allowed.append((FP, "parent_id"))
        if parent.type not in ALLOWED_PARENTS[item_type]:
            allowed.append((FP, "parent_id"))
        return parent

    def _create_work_item(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        project = self.find(self.projects, cmd.project_id, "project_id", allowed)
        item_type = TYPES.get(cmd.type)
        if item_type is None:
            allowed.append((IA, "type"))
        title = text_value(cmd.title, 255)
        if title is None:
            allowed.append((IA, "title"))
        if not body_ok(cmd.description):
            allowed.append((IA, "description"))
        chosen = self.client_id(cmd.id, self.items, allowed)
        if cmd.priority != pb.PRIORITY_UNSPECIFIED and cmd.priority not in PRIORITIES:
            allowed.append((IA, "priority"))
        if len(cmd.assignee_id) > MAX_ID_CHARS:
            allowed.append((IA, "assignee_id"))
        if cmd.HasField("story_points") and not 0 <= cmd.story_points <= 100:
            allowed.append((IA, "story_points"))
        status = cmd.status or "backlog"
        parent = None
        sprint_id = None
        if project is not None:
            if item_type is not None and cmd.parent_id:
                parent = self.parent_refusals(cmd.parent_id, item_type, project.id, allowed)
            if self.lane_of(project.id, status) is None:
                allowed.append((FP, "status"))
            if cmd.sprint_id and item_type is not None:
                sprint_id = self.sprint_refusals(cmd.sprint_id, item_type, project.id, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert project is not None and item_type is not None and title is not None
        result = success(response, "create_work_item", what)
        lane = self.lane_items(project.id, status)
        item = Item(
            id=chosen or result.work_item.id,
            project_id=project.id,
            number=project.next_number,
            type=item_type,
            parent_id=parent.id if parent else None,
            status=status,
            rank=ranks.between(lane[-1].rank if lane else None, None),
            title=title,
            description=cmd.description,
            priority=PRIORITIES.get(cmd.priority, "medium"),
            assignee_id=cmd.assignee_id or None,
            sprint_id=sprint_id,
            story_points=cmd.story_points if cmd.HasField("story_points") else None,
        )
        project.next_number += 1
        self.items[item.id] = item
        self.expect_item(what, result.work_item, item)
        return Verdict(CHANGED, {project.id})

    def _update_work_item(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        item = self.find_item(cmd.work_item_id, "work_item_id", allowed)
        if item is None:
            return refuse(response, allowed, what)
        self.version_refusals(item, cmd.expected_version, allowed)
        values: dict[str, Any] = {}
        if cmd.HasField("title"):
            title = text_value(cmd.title, 255)
            if title is None:
                allowed.append((IA, "title"))
            values["title"] = title
        if cmd.HasField("description"):
            if not body_ok(cmd.description):
                allowed.append((IA, "description"))
            values["description"] = cmd.description
        new_type: str | None = item.type
        if cmd.HasField("type"):
            new_type = TYPES.get(cmd.type)
            if new_type is None:
                allowed.append((IA, "type"))
            elif new_type != item.type:
                parent = self.items.get(item.parent_id) if item.parent_id else None
                if parent is not None and parent.type not in ALLOWED_PARENTS[new_type]:
                    allowed.append((FP, "type"))
                for child in self.children(item.id):
                    if new_type not in ALLOWED_PARENTS[child.type]:
                        allowed.append((FP, "type"))
            values["type"] = new_type
        if cmd.HasField("priority"):
            if cmd.priority != pb.PRIORITY_UNSPECIFIED and cmd.priority not in PRIORITIES:
                allowed.append((IA, "priority"))
            values["priority"] = PRIORITIES.get(cmd.priority, "medium")
        for name in ("assignee_id", "sprint_id", "story_points"):
            if getattr(cmd, f"clear_{name}") and cmd.HasField(name):
                allowed.append((IA, name))
        if cmd.clear_assignee_id:
            values["assignee_id"] = None
        elif cmd.HasField("assignee_id"):
            if len(cmd.assignee_id) > MAX_ID_CHARS:
                allowed.append((IA, "assignee_id"))
            values["assignee_id"] = cmd.assignee_id or None
        if cmd.clear_sprint_id:
            values["sprint_id"] = None
        elif cmd.HasField("sprint_id"):
            values["sprint_id"] = (
                self.sprint_refusals(cmd.sprint_id, new_type, item.project_id, allowed)
                if cmd.sprint_id
                else None
            )
            if not cmd.sprint_id:
                pass  # an empty id sets "no sprint"
        if cmd.clear_story_points:
            values["story_points"] = None
        elif cmd.HasField("story_points"):
            if not 0 <= cmd.story_points <= 100:
                allowed.append((IA, "story_points"))
            values["story_points"] = cmd.story_points
        if new_type == "epic" and values.get("sprint_id", item.sprint_id) is not None:
            allowed.append((FP, "type"))
        if not values:
            allowed.append((IA, "title"))
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "update_work_item", what)
        changed = [f for f, v in values.items() if getattr(item, f if f != "type" else "type") != v]
        order = [
            "title",
            "description",
            "type",
            "priority",
            "assignee_id",
            "sprint_id",
            "story_points",
        ]
        changed.sort(key=order.index)
        expect_equal(f"{what} changes", changes_of(result), changed)
        for f in changed:
            setattr(item, f, values[f])
        if changed:
            item.version += 1
        self.expect_item(what, result.work_item, item)
        return Verdict(CHANGED if changed else UNCHANGED, {item.project_id})

    def _move_work_item(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        item = self.find_item(cmd.work_item_id, "work_item_id", allowed)
        if item is None:
            return refuse(response, allowed, what)
        self.version_refusals(item, cmd.expected_version, allowed)
        status = cmd.status or item.status
        if self.lane_of(item.project_id, status) is None:
            allowed.append((FP, "status"))
        parent_id = item.parent_id
        if cmd.clear_parent_id and cmd.HasField("parent_id"):
            allowed.append((IA, "parent_id"))
        elif cmd.clear_parent_id:
            parent_id = None
        elif cmd.HasField("parent_id"):
            target = norm_id(cmd.parent_id) if cmd.parent_id else None
            if target is None:
                allowed.append((IA, "parent_id"))
            else:
                if self.chain_has(target, item.id):
                    allowed.append((FP, "parent_id"))
                parent = self.parent_refusals(target, item.type, item.project_id, allowed)
                parent_id = parent.id if parent else None
        neighbour = None
        if cmd.before_id and cmd.after_id:
            allowed.append((IA, "before_id"))
        for name in ("before_id", "after_id"):
            raw = getattr(cmd, name)
            if not raw or (cmd.before_id and cmd.after_id):
                continue
            neighbour = self.find_item(raw, name, allowed)
            if neighbour is None:
                continue
            if neighbour.id == item.id:
                allowed.append((IA, name))
            elif neighbour.project_id != item.project_id or neighbour.status != status:
                allowed.append((FP, name))
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "move_work_item", what)
        lane = self.lane_items(item.project_id, status, exclude=item.id)
        ranks_in_lane = [i.rank for i in lane]
        if neighbour is not None and cmd.before_id:
            below = max((r for r in ranks_in_lane if r < neighbour.rank), default=None)
            rank = ranks.between(below, neighbour.rank)
        elif neighbour is not None:
            over = min((r for r in ranks_in_lane if r > neighbour.rank), default=None)
            rank = ranks.between(neighbour.rank, over)
        else:
            rank = ranks.between(ranks_in_lane[-1] if ranks_in_lane else None, None)
        # Independently of the key arithmetic: the item lands where it was asked to.
        placed = sorted([*lane, Item(**{**item.__dict__, "rank": rank})], key=lambda i: i.rank)
        index = [i.id for i in placed].index(item.id)
        if neighbour is not None and cmd.before_id:
            expect_equal(f"{what} placed before", placed[index + 1].id, neighbour.id)
        elif neighbour is not None:
            expect_equal(f"{what} placed after", placed[index - 1].id, neighbour.id)
        else:
            expect_equal(f"{what} placed last", index, len(placed) - 1)
        values = {"status": status, "parent_id": parent_id, "rank": rank}
        changed = [f for f in ("status", "parent_id", "rank") if getattr(item, f) != values[f]]
        expect_equal(f"{what} changes", changes_of(result), changed)
        for f in changed:
            setattr(item, f, values[f])
        if changed:
            item.version += 1
        self.expect_item(what, result.work_item, item)
        reranks = [(item.project_id, status)] if changed and len(rank) > ranks.REBALANCE_AT else []
        return Verdict(CHANGED if changed else UNCHANGED, {item.project_id}, reranks)

    def apply_rerank(self, event: Any) -> None:
        """A WorkItemsReranked follow-up: the lane's keys evenly, in the same order."""
        lane = self.lane_items(event.project_id, event.status)
        fresh = ranks.evenly(len(lane))
        expected = [
            (i.id, new, i.version + 1) for i, new in zip(lane, fresh, strict=True) if new != i.rank
        ]
        got = [(r.work_item_id, r.rank, r.version) for r in event.ranks]
        expect_equal("the rerank of a lane", got, expected)
        for item_id, rank, version in expected:
            self.items[item_id].rank = rank
            self.items[item_id].version = version
        self.events += 1

    def _delete_work_item(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        item = self.find_item(cmd.work_item_id, "work_item_id", allowed)
        if item is not None:
            self.version_refusals(item, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert item is not None
        result = success(response, "delete_work_item", what)
        removed = self.subtree(item.id)
        ids = {i.id for i in removed}
        deps = [
            d for d in self.deps.values() if not d.deleted and (d.from_id in ids or d.to_id in ids)
        ]
        expect_equal(f"{what} items", list(result.work_item_ids), [i.id for i in removed])
        expect_equal(
            f"{what} dependencies", sorted(result.dependency_ids), sorted(d.id for d in deps)
        )
        touched = {item.project_id}
        for removed_item in removed:
            removed_item.deleted = True
            removed_item.deleted_by = actor
            removed_item.batch = (rid, actor)
            removed_item.version += 1
        for dep in deps:
            touched |= {self.items[dep.from_id].project_id, self.items[dep.to_id].project_id}
            dep.deleted = True
            dep.batch = (rid, actor)
            dep.version += 1
        return Verdict(CHANGED, touched)

    def _restore_work_item(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        item_id = norm_id(cmd.work_item_id) if cmd.work_item_id else None
        root = self.items.get(item_id) if item_id else None
        if item_id is None:
            return refuse(response, [(IA, "work_item_id")], what)
        if root is None:
            return refuse(response, [(NF, "work_item_id")], what)
        if not root.deleted:
            return refuse(response, [(FP, "work_item_id")], what)
        if self.role(actor) < ADMIN and root.deleted_by != actor:
            allowed.append((PD, "work_item_id"))
        if self.projects[root.project_id].deleted:
            allowed.append((FP, "work_item_id"))
        if root.parent_id is not None:
            parent = self.items[root.parent_id]
            if parent.deleted or parent.type not in ALLOWED_PARENTS[root.type]:
                allowed.append((FP, "work_item_id"))
        batch = [i for i in self.items.values() if i.deleted and i.batch == root.batch]
        batch_ids = {i.id for i in batch}
        for restored in batch:
            if self.lane_of(restored.project_id, restored.status) is None:
                allowed.append((FP, "work_item_id"))
        links = [
            d
            for d in self.deps.values()
            if d.deleted
            and d.batch == root.batch
            and all(end in batch_ids or not self.items[end].deleted for end in (d.from_id, d.to_id))
        ]
        for link in links:
            if self.live_dep_between(link.from_id, link.to_id) is not None:
                allowed.append((FP, "work_item_id"))
        # The cycle check runs on the graph with the batch back.
        trial = self.copy()
        for link in links:
            trial.deps[link.id].deleted = False
        if any(d.type == "blocks" and trial.reaches(d.to_id, d.from_id) for d in links):
            allowed.append((FP, "work_item_id"))
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "restore_work_item", what)
        ordered = [root]

        # The root first, each item after its parent (depth first, siblings by number).
        def descend(node: Item) -> None:
            for child in sorted(
                (i for i in batch if i.parent_id == node.id), key=lambda i: i.number
            ):
                ordered.append(child)
                descend(child)

        descend(root)
        expect_equal(f"{what} items", [w.id for w in result.work_items], [i.id for i in ordered])
        for restored in ordered:
            restored.deleted = False
            restored.deleted_by = None
            restored.batch = None
            restored.version += 1
        for link in links:
            link.deleted = False
            link.batch = None
            link.version += 1
        # Settle what changed while they were away: a closed sprint, a rank given away.
        for restored in ordered:
            fixed = False
            if restored.sprint_id is not None:
                sprint = self.sprints[restored.sprint_id]
                ended = sprint.state in ("completed", "cancelled")
                if sprint.deleted or (ended and restored.status != "done"):
                    restored.sprint_id = None
                    fixed = True
            others = self.lane_items(restored.project_id, restored.status, exclude=restored.id)
            if any(o.rank == restored.rank for o in others):
                restored.rank = ranks.between(others[-1].rank, None)
                fixed = True
            if fixed:
                restored.version += 1
        for wire, restored in zip(result.work_items, ordered, strict=True):
            self.expect_item(what, wire, restored)
        expect_equal(
            f"{what} dependencies",
            sorted(d.id for d in result.dependencies),
            sorted(link.id for link in links),
        )
        touched = {root.project_id}
        for link in links:
            touched |= {self.items[link.from_id].project_id, self.items[link.to_id].project_id}
        return Verdict(CHANGED, touched)

    # sprints -------------------------------------------------------------------------

    def _create_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        project = self.find(self.projects, cmd.project_id, "project_id", allowed)
        name = text_value(cmd.name, 120)
        if name is None:
            allowed.append((IA, "name"))
        if not body_ok(cmd.goal):
            allowed.append((IA, "goal"))
        if cmd.start_date_ms <= 0:
            allowed.append((IA, "start_date_ms"))
        if cmd.end_date_ms <= 0:
            allowed.append((IA, "end_date_ms"))
        if cmd.start_date_ms >= cmd.end_date_ms:
            allowed.append((IA, "end_date_ms"))
        chosen = self.client_id(cmd.id, self.sprints, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert project is not None and name is not None
        result = success(response, "create_sprint", what)
        sprint = Sprint(
            chosen or result.sprint.id,
            project.id,
            name,
            cmd.goal,
            "planned",
            cmd.start_date_ms,
            cmd.end_date_ms,
        )
        self.sprints[sprint.id] = sprint
        self.expect_sprint(what, result.sprint, sprint)
        return Verdict(CHANGED, {project.id})

    def _update_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        sprint = self.find(self.sprints, cmd.sprint_id, "sprint_id", allowed)
        if sprint is None:
            return refuse(response, allowed, what)
        self.version_refusals(sprint, cmd.expected_version, allowed)
        if sprint.state not in ("planned", "active"):
            allowed.append((FP, "sprint_id"))
        values: dict[str, Any] = {}
        if cmd.HasField("name"):
            values["name"] = text_value(cmd.name, 120)
            if values["name"] is None:
                allowed.append((IA, "name"))
        if cmd.HasField("goal"):
            values["goal"] = cmd.goal
            if not body_ok(cmd.goal):
                allowed.append((IA, "goal"))
        if cmd.HasField("start_date_ms") or cmd.HasField("end_date_ms"):
            start = cmd.start_date_ms if cmd.HasField("start_date_ms") else sprint.start
            end = cmd.end_date_ms if cmd.HasField("end_date_ms") else sprint.end
            if start <= 0:
                allowed.append((IA, "start_date_ms"))
            if end <= 0:
                allowed.append((IA, "end_date_ms"))
            if start >= end:
                allowed.append(
                    (IA, "end_date_ms" if cmd.HasField("end_date_ms") else "start_date_ms")
                )
            values["start"] = start
            values["end"] = end
        if not values:
            allowed.append((IA, "name"))
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "update_sprint", what)
        names = {"name": "name", "goal": "goal", "start": "start_date_ms", "end": "end_date_ms"}
        changed = [
            f
            for f in ("name", "goal", "start", "end")
            if f in values and values[f] != getattr(sprint, f)
        ]
        expect_equal(f"{what} changes", changes_of(result), [names[f] for f in changed])
        for f in changed:
            setattr(sprint, f, values[f])
        if changed:
            sprint.version += 1
        self.expect_sprint(what, result.sprint, sprint)
        return Verdict(CHANGED if changed else UNCHANGED, {sprint.project_id})

    def sprint_items(self, sprint_id: str, unfinished_only: bool) -> list[Item]:
        return sorted(
            (
                i
                for i in self.items.values()
                if i.sprint_id == sprint_id and not i.deleted
                if not unfinished_only or i.status != "done"
            ),
            key=lambda i: i.number,
        )

    def move_to_sprint(self, items: list[Item], sprint_id: str | None) -> None:
        for item in items:
            item.sprint_id = sprint_id
            item.version += 1

    def _start_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        sprint = self.find(self.sprints, cmd.sprint_id, "sprint_id", allowed)
        if sprint is not None:
            self.version_refusals(sprint, cmd.expected_version, allowed)
            if sprint.state != "planned":
                allowed.append((FP, "sprint_id"))
            if any(
                s.state == "active" and not s.deleted and s.project_id == sprint.project_id
                for s in self.sprints.values()
            ):
                allowed.append((FP, "sprint_id"))
        if allowed:
            return refuse(response, allowed, what)
        assert sprint is not None
        result = success(response, "start_sprint", what)
        sprint.state = "active"
        sprint.version += 1
        self.expect_sprint(what, result.sprint, sprint)
        return Verdict(CHANGED, {sprint.project_id})

    def _complete_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        sprint = self.find(self.sprints, cmd.sprint_id, "sprint_id", allowed)
        target = None
        if sprint is not None:
            self.version_refusals(sprint, cmd.expected_version, allowed)
            if sprint.state != "active":
                allowed.append((FP, "sprint_id"))
            if cmd.carry_over_sprint_id:
                target = self.find(
                    self.sprints, cmd.carry_over_sprint_id, "carry_over_sprint_id", allowed
                )
                if target is not None and (
                    target.project_id != sprint.project_id or target.state != "planned"
                ):
                    allowed.append((FP, "carry_over_sprint_id"))
        if allowed:
            return refuse(response, allowed, what)
        assert sprint is not None
        result = success(response, "complete_sprint", what)
        moved = self.sprint_items(sprint.id, unfinished_only=True)
        expect_equal(f"{what} moved", list(result.moved_work_item_ids), [i.id for i in moved])
        expect_equal(f"{what} carry over", result.carry_over_sprint_id, target.id if target else "")
        self.move_to_sprint(moved, target.id if target else None)
        sprint.state = "completed"
        sprint.version += 1
        self.expect_sprint(what, result.sprint, sprint)
        return Verdict(CHANGED, {sprint.project_id})

    def _cancel_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        sprint = self.find(self.sprints, cmd.sprint_id, "sprint_id", allowed)
        if sprint is not None:
            self.version_refusals(sprint, cmd.expected_version, allowed)
            if sprint.state not in ("planned", "active"):
                allowed.append((FP, "sprint_id"))
        if allowed:
            return refuse(response, allowed, what)
        assert sprint is not None
        result = success(response, "cancel_sprint", what)
        moved = self.sprint_items(sprint.id, unfinished_only=True)
        expect_equal(f"{what} moved", list(result.moved_work_item_ids), [i.id for i in moved])
        self.move_to_sprint(moved, None)
        sprint.state = "cancelled"
        sprint.version += 1
        self.expect_sprint(what, result.sprint, sprint)
        return Verdict(CHANGED, {sprint.project_id})

    def _delete_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        sprint = self.find(self.sprints, cmd.sprint_id, "sprint_id", allowed)
        if sprint is not None:
            self.version_refusals(sprint, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert sprint is not None
        result = success(response, "delete_sprint", what)
        moved = self.sprint_items(sprint.id, unfinished_only=False)
        expect_equal(f"{what} moved", list(result.moved_work_item_ids), [i.id for i in moved])
        self.move_to_sprint(moved, None)
        sprint.deleted = True
        sprint.version += 1
        return Verdict(CHANGED, {sprint.project_id})

    def _assign_to_sprint(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        target = None
        if cmd.sprint_id:
            target = self.find(self.sprints, cmd.sprint_id, "sprint_id", allowed)
            if target is not None and target.state not in ("planned", "active"):
                allowed.append((FP, "sprint_id"))
        field_name = "work_item_ids"
        items: list[Item] = []
        if not cmd.work_item_ids or len(cmd.work_item_ids) > MAX_ASSIGN:
            allowed.append((IA, field_name))
        else:
            seen: set[str] = set()
            for raw in cmd.work_item_ids:
                item = self.find_item(raw, field_name, allowed)
                if item is None or item.id in seen:
                    continue
                seen.add(item.id)
                items.append(item)
                if item.type == "epic":
                    allowed.append((FP, field_name))
                if target is not None and item.project_id != target.project_id:
                    allowed.append((FP, field_name))
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "assign_to_sprint", what)
        target_id = target.id if target else None
        moving = [i for i in items if i.sprint_id != target_id]
        self.move_to_sprint(moving, target_id)
        expect_equal(f"{what} items", [w.id for w in result.work_items], [i.id for i in items])
        for wire, item in zip(result.work_items, items, strict=True):
            self.expect_item(what, wire, item)
        return Verdict(CHANGED if moving else UNCHANGED, {i.project_id for i in items})

    # comments ------------------------------------------------------------------------

    def _create_comment(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        if not body_ok(cmd.content, min_bytes=1):
            allowed.append((IA, "content"))
        item = self.find_item(cmd.work_item_id, "work_item_id", allowed)
        parent_id = None
        if item is not None and cmd.parent_comment_id:
            parent = self.find_comment(cmd.parent_comment_id, "parent_comment_id", allowed)
            if parent is not None:
                if parent.item_id != item.id:
                    allowed.append((FP, "parent_comment_id"))
                parent_id = parent.parent_id or parent.id
        chosen = self.client_id(cmd.id, self.comments, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert item is not None
        result = success(response, "create_comment", what)
        comment = Comment(chosen or result.comment.id, item.id, parent_id, actor, cmd.content)
        self.comments[comment.id] = comment
        self.expect_comment(what, result.comment, comment)
        return Verdict(CHANGED, {item.project_id})

    def _update_comment(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        if not body_ok(cmd.content, min_bytes=1):
            allowed.append((IA, "content"))
        comment = self.find_comment(cmd.comment_id, "comment_id", allowed)
        if comment is not None:
            if comment.author != actor:
                allowed.append((PD, "comment_id"))
            self.version_refusals(comment, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert comment is not None
        result = success(response, "update_comment", what)
        changed = cmd.content != comment.content
        if changed:
            comment.content = cmd.content
            comment.version += 1
        self.expect_comment(what, result.comment, comment)
        return Verdict(CHANGED if changed else UNCHANGED, {self.items[comment.item_id].project_id})

    def live_replies(self, comment_id: str) -> list[Comment]:
        return [c for c in self.comments.values() if c.parent_id == comment_id and not c.deleted]

    def _delete_comment(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        comment = self.find_comment(cmd.comment_id, "comment_id", allowed)
        if comment is not None:
            if comment.author != actor and self.role(actor) < ADMIN:
                allowed.append((PD, "comment_id"))
            self.version_refusals(comment, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert comment is not None
        result = success(response, "delete_comment", what)
        expect_equal(f"{what} tombstone", result.tombstone, bool(self.live_replies(comment.id)))
        comment.deleted = True
        comment.version += 1
        return Verdict(CHANGED, {self.items[comment.item_id].project_id})

    # time tracking -------------------------------------------------------------------

    def take_entry(self, wire: pb.TimeEntry, user: str, item_id: str, note: str) -> Entry:
        """A new entry as the server timed it (its times are the server's clock)."""
        entry = Entry(
            wire.id,
            item_id,
            user,
            wire.started_at_ms,
            wire.ended_at_ms or None,
            wire.duration_seconds if wire.ended_at_ms else None,
            note,
        )
        self.entries[entry.id] = entry
        return entry

    def stop_entry(self, what: str, entry: Entry, wire: pb.TimeEntry) -> None:
        if wire.ended_at_ms <= entry.started:
            raise Mismatch(
                f"{what}: the stopped entry ends at {wire.ended_at_ms}, not after its start"
            )
        entry.ended = wire.ended_at_ms
        entry.duration = (entry.ended - entry.started) // 1000
        entry.version += 1
        self.expect_entry(what, wire, entry)

    def _start_timer(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        item = self.find_item(cmd.work_item_id, "work_item_id", allowed)
        if not body_ok(cmd.note):
            allowed.append((IA, "note"))
        chosen = self.client_id(cmd.id, self.entries, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert item is not None
        result = success(response, "start_timer", what)
        running = self.running_entry(actor)
        touched = {item.project_id}
        expect_equal(f"{what} stopped", result.stopped.id, running.id if running else "")
        if running is not None:
            self.stop_entry(what, running, result.stopped)
            touched.add(self.items[running.item_id].project_id)
            if result.started.started_at_ms < running.ended:
                raise Mismatch(f"{what}: the new timer starts before the stopped one ended")
        entry = self.take_entry(result.started, actor, item.id, cmd.note)
        if chosen is not None:
            expect_equal(f"{what} id", entry.id, chosen)
        self.expect_entry(what, result.started, entry)
        return Verdict(CHANGED, touched)

    def _stop_timer(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        if cmd.time_entry_id:
            entry = self.find(self.entries, cmd.time_entry_id, "time_entry_id", allowed)
            if entry is not None:
                if entry.user != actor:
                    allowed.append((PD, "time_entry_id"))
                if entry.ended is not None:
                    allowed.append((FP, "time_entry_id"))
        else:
            entry = self.running_entry(actor)
            if entry is None:
                allowed.append((FP, "time_entry_id"))
        if allowed:
            return refuse(response, allowed, what)
        assert entry is not None
        result = success(response, "stop_timer", what)
        self.stop_entry(what, entry, result.time_entry)
        return Verdict(CHANGED, {self.items[entry.item_id].project_id})

    def span_refusals(self, start: int, end: int, now: int, blame: str, allowed: Allowed) -> None:
        if start <= 0 or start > now:
            allowed.append((IA, "started_at_ms"))
        if end <= 0 or end > now:
            allowed.append((IA, "ended_at_ms"))
        if end <= start or end - start > MAX_ENTRY_MS:
            allowed.append((IA, blame))

    def _create_time_entry(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        item = self.find_item(cmd.work_item_id, "work_item_id", allowed)
        self.span_refusals(cmd.started_at_ms, cmd.ended_at_ms, now_ms(), "ended_at_ms", allowed)
        if not body_ok(cmd.note):
            allowed.append((IA, "note"))
        chosen = self.client_id(cmd.id, self.entries, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert item is not None
        result = success(response, "create_time_entry", what)
        entry = Entry(
            chosen or result.time_entry.id,
            item.id,
            actor,
            cmd.started_at_ms,
            cmd.ended_at_ms,
            (cmd.ended_at_ms - cmd.started_at_ms) // 1000,
            cmd.note,
        )
        self.entries[entry.id] = entry
        self.expect_entry(what, result.time_entry, entry)
        return Verdict(CHANGED, {item.project_id})

    def _update_time_entry(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        entry = self.find(self.entries, cmd.time_entry_id, "time_entry_id", allowed)
        if entry is None:
            return refuse(response, allowed, what)
        if entry.user != actor:
            allowed.append((PD, "time_entry_id"))
        self.version_refusals(entry, cmd.expected_version, allowed)
        values: dict[str, Any] = {}
        now = now_ms()
        if cmd.HasField("note"):
            values["note"] = cmd.note
            if not body_ok(cmd.note):
                allowed.append((IA, "note"))
        has_start, has_end = cmd.HasField("started_at_ms"), cmd.HasField("ended_at_ms")
        if entry.ended is None:
            if has_end:
                allowed.append((FP, "ended_at_ms"))
            if has_start:
                start = cmd.started_at_ms
                if start <= 0 or start > now or now - start > MAX_ENTRY_MS:
                    allowed.append((IA, "started_at_ms"))
                values["started"] = start
        elif has_start or has_end:
            start = cmd.started_at_ms if has_start else entry.started
            end = cmd.ended_at_ms if has_end else entry.ended
            self.span_refusals(
                start, end, now, "ended_at_ms" if has_end else "started_at_ms", allowed
            )
            values.update(started=start, ended=end, duration=(end - start) // 1000)
        if not values:
            allowed.append((IA, "started_at_ms"))
        if allowed:
            return refuse(response, allowed, what)
        result = success(response, "update_time_entry", what)
        changed = [f for f, v in values.items() if getattr(entry, f) != v]
        for f in changed:
            setattr(entry, f, values[f])
        if changed:
            entry.version += 1
        self.expect_entry(what, result.time_entry, entry)
        return Verdict(CHANGED if changed else UNCHANGED, {self.items[entry.item_id].project_id})

    def _delete_time_entry(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        entry = self.find(self.entries, cmd.time_entry_id, "time_entry_id", allowed)
        if entry is not None:
            if entry.user != actor:
                allowed.append((PD, "time_entry_id"))
            self.version_refusals(entry, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert entry is not None
        success(response, "delete_time_entry", what)
        entry.deleted = True
        entry.version += 1
        return Verdict(CHANGED, {self.items[entry.item_id].project_id})

    # dependencies --------------------------------------------------------------------

    def _create_dependency(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        dep_type = DEP_TYPES.get(cmd.type)
        if dep_type is None:
            allowed.append((IA, "type"))
        source = self.find_item(cmd.from_item_id, "from_item_id", allowed)
        target = self.find_item(cmd.to_item_id, "to_item_id", allowed)
        if norm_id(cmd.from_item_id) is not None and norm_id(cmd.from_item_id) == norm_id(
            cmd.to_item_id
        ):
            allowed.append((IA, "to_item_id"))
        chosen = self.client_id(cmd.id, self.deps, allowed)
        cycle = False
        if source is not None and target is not None and source.id != target.id:
            if self.live_dep_between(source.id, target.id) is not None:
                allowed.append((AE, "to_item_id"))
            elif dep_type == "blocks" and self.reaches(target.id, source.id):
                allowed.append((FP, "to_item_id"))
                cycle = True
        if allowed:
            verdict = refuse(response, allowed, what)
            if cycle and response.error.code == FP:
                self.check_cycle_message(what, response.error.message, source, target)  # type: ignore[arg-type]
            return verdict
        assert source is not None and target is not None and dep_type is not None
        result = success(response, "create_dependency", what)
        dep = Dep(chosen or result.dependency.id, source.id, target.id, dep_type)
        self.deps[dep.id] = dep
        self.expect_dep(what, result.dependency, dep)
        return Verdict(CHANGED, {source.project_id, target.project_id})

    def check_cycle_message(self, what: str, message: str, source: Item, target: Item) -> None:
        """The message names a real cycle: from -> to -> ... -> from, by item keys."""
        _, _, path = message.partition(": ")
        keys = path.split(" -> ")
        by_key = {self.item_key(i): i.id for i in self.items.values() if not i.deleted}
        if "..." in path:
            return  # a long cycle is shown elided
        if len(keys) < 3 or keys[0] != keys[-1] or keys[0] != self.item_key(source):
            raise Mismatch(
                f"{what}: the cycle message {message!r} does not start and end with the from item"
            )
        if keys[1] != self.item_key(target):
            raise Mismatch(f"{what}: the cycle message {message!r} does not go to the to item next")
        edges = {
            (d.from_id, d.to_id) for d in self.deps.values() if not d.deleted and d.type == "blocks"
        }
        for a, b in zip(keys[1:], keys[2:], strict=False):
            if (by_key.get(a), by_key.get(b)) not in edges:
                raise Mismatch(f"{what}: {a} -> {b} in {message!r} is no live blocks edge")

    def _delete_dependency(
        self, actor: str, cmd: Any, response: env.Response, rid: str, what: str
    ) -> Verdict:
        allowed: Allowed = []
        dep = self.find(self.deps, cmd.dependency_id, "dependency_id", allowed)
        if dep is not None:
            self.version_refusals(dep, cmd.expected_version, allowed)
        if allowed:
            return refuse(response, allowed, what)
        assert dep is not None
        success(response, "delete_dependency", what)
        dep.deleted = True
        dep.version += 1
        return Verdict(
            CHANGED, {self.items[dep.from_id].project_id, self.items[dep.to_id].project_id}
        )


def now_ms() -> int:
    return int(time.time() * 1000)
