"""Fuzzing the handlers over a real socket: every command of the contract, with valid-but-
wrong content drawn from its descriptor, sent as a real frame to a running server.

The commands come from ClientMessage's `payload` oneof, so a command added to the proto is
fuzzed without touching this file. Each field gets values of its type that a handler must
survive: ids of deleted entities, of another tenant, unknown, not UUIDs, user ids too long;
empty, boundary-length and over-long strings, control characters; zero, negative and extreme
numbers; unknown enum values; repeated fields empty, at their limit, over it and huge.

For every case: only typed errors come back (a known ErrorCode, never INTERNAL); a refused
command, and any query, writes nothing in either tenant (row counts, versions, stamps and the
event seq compared before and after); a success writes only its own tenant; no frame names
the other tenant's ids or text; the connection stays open, or a frame over
PM_MAX_MESSAGE_BYTES closes it with 1009; the server keeps running.

A few cases per command in the normal suite; PM_FUZZ=1 runs 100,000 (PM_FUZZ_CASES=n picks
another total).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hamcrest import assert_that, equal_to, is_in, less_than_or_equal_to
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from pm.v1 import activity_pb2 as activity_msg
from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import dependencies_pb2 as deps_msg
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from server.config import MIN_MESSAGE_BYTES
from server.handlers import command_table
from server.tokens import mint_token
from tests.model import RecordingClient, ServerThread, fingerprint
from tests.server_fixture import make_config
from tests.tenant_state import read_only
from tests.wire import new_request_id

COMMANDS = [f.name for f in env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields]
TABLE = command_table()
# Commands that may write when they succeed; queries and session commands never do.
MUTATIONS = frozenset(
    name for name in COMMANDS if (spec := TABLE.get(name)) is not None and spec.mutation
)
KNOWN_CODES: list[Any] = sorted(
    set(env.ErrorCode.values()) - {env.ERROR_CODE_UNSPECIFIED, env.ERROR_CODE_INTERNAL}
)
TARGET, FOREIGN = "fz-a", "fz-b"
MAX_FRAME = MIN_MESSAGE_BYTES  # small, so an oversize frame is cheap to build


def _cases_per_command() -> int:
    total = os.environ.get("PM_FUZZ_CASES")
    if total is None and os.environ.get("PM_FUZZ") == "1":
        total = "100000"
    if total is None:
        return 8
    return max(1, math.ceil(int(total) / len(COMMANDS)))


CASES = _cases_per_command()
FUZZ = settings(
    max_examples=CASES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("PM_FUZZ_SHRINK") == "1"],
)
# (command, outcome) -> how often; PM_FUZZ_SUMMARY=1 prints it at the end (pytest -s).
OUTCOMES: dict[tuple[str, str], int] = {}
LONG_RUN = os.environ.get("PM_FUZZ") == "1" or "PM_FUZZ_CASES" in os.environ


# ---------------------------------------------------------------------------------------
# The seeded tenants
# ---------------------------------------------------------------------------------------


@dataclass
class Seed:
    """What the fuzz aims at: the target tenant's ids (live and deleted), the other
    tenant's, the versions they are at, page tokens, and the marker of the other's text."""

    target_ids: list[str] = field(default_factory=list)
    foreign_ids: list[str] = field(default_factory=list)
    # The target's ids by table, live and deleted ones alike.
    by_table: dict[str, list[str]] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    foreign_secrets: list[bytes] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


class Fuzzer:
    def __init__(self, live: ServerThread) -> None:
        self.live = live
        self.clients: dict[str, RecordingClient] = {}
        self.seed = Seed()
        self.cases = 0

    @property
    def data_dir(self) -> Any:
        return self.live.server.config.data_dir

    def open(self, role: str) -> RecordingClient:
        user = {"admin": "ada", "member": "mel", "viewer": "vic"}[role]
        client = self.live.open(TARGET, user, [role])
        self.clients[role] = client
        return client

    def setup(self) -> None:
        for role in ("admin", "member", "viewer"):
            self.open(role)
        foreign = self.live.open(FOREIGN, "fay", ["admin"])
        self.populate(foreign, "zqforeignq")
        self.live.call(foreign.close())
        self.populate(self.clients["admin"], "target")
        listed = self.ok(
            self.clients["admin"], "list_projects", projects_msg.ListProjects(page_size=1)
        )
        self.seed.tokens.append(listed.next_page_token)
        self.refresh()
        with closing(read_only(self.data_dir, FOREIGN)) as conn:
            self.seed.foreign_ids = sorted(all_ids(conn))
        self.seed.foreign_secrets = [b"zqforeignq", *(i.encode() for i in self.seed.foreign_ids)]

    def ok(self, client: RecordingClient, name: str, cmd: Message) -> Any:
        return self.live.call(client.ok(name, cmd))

    def populate(self, client: RecordingClient, tag: str) -> None:
        """Two boards, the second deleted with everything in it; on the first, one entity of
        each kind and, beside it, a deleted one; page tokens of a few lists."""
        for key, deleted in (("PM", False), ("OLD", True)):
            project = self.ok(
                client, "create_project", projects_msg.CreateProject(key=key, name=f"{tag} {key}")
            ).project
            self.populate_board(client, tag, project.id)
            if deleted:
                current = self.ok(
                    client, "get_project", projects_msg.GetProject(project_id=project.id)
                ).project
                self.ok(
                    client,
                    "delete_project",
                    projects_msg.DeleteProject(
                        project_id=project.id, expected_version=current.version
                    ),
                )

    def populate_board(self, client: RecordingClient, tag: str, project_id: str) -> None:
        now = int(time.time() * 1000)
        day = 86_400_000

        def ok(name: str, cmd: Message) -> Any:
            return self.ok(client, name, cmd)

        def item(type_: Any, parent: str = "", title: str = "item") -> pb.WorkItem:
            cmd = items_msg.CreateWorkItem(
                project_id=project_id, type=type_, title=f"{tag} {title}", parent_id=parent
            )
            made: pb.WorkItem = ok("create_work_item", cmd).work_item
            return made

        def sprint(name: str, end: int) -> pb.Sprint:
            cmd = sprints_msg.CreateSprint(
                project_id=project_id, name=f"{tag} {name}", start_date_ms=now, end_date_ms=end
            )
            made: pb.Sprint = ok("create_sprint", cmd).sprint
            return made

        def comment(item_id: str, parent: str = "") -> pb.Comment:
            cmd = comments_msg.CreateComment(
                work_item_id=item_id, content=f"{tag} c", parent_comment_id=parent
            )
            made: pb.Comment = ok("create_comment", cmd).comment
            return made

        def entry(item_id: str) -> pb.TimeEntry:
            cmd = time_msg.CreateTimeEntry(
                work_item_id=item_id,
                started_at_ms=now - 7_200_000,
                ended_at_ms=now - 3_600_000,
                note=f"{tag} n",
            )
            made: pb.TimeEntry = ok("create_time_entry", cmd).time_entry
            return made

        def link(a: str, b: str, type_: Any) -> pb.Dependency:
            cmd = deps_msg.CreateDependency(from_item_id=a, to_item_id=b, type=type_)
            made: pb.Dependency = ok("create_dependency", cmd).dependency
            return made

        ok(
            "create_swim_lane",
            projects_msg.CreateSwimLane(project_id=project_id, name=f"{tag} QA", status_value="qa"),
        )
        epic = item(pb.WORK_ITEM_TYPE_EPIC)
        story = item(pb.WORK_ITEM_TYPE_STORY, epic.id)
        task = item(pb.WORK_ITEM_TYPE_TASK, story.id)
        bug = item(pb.WORK_ITEM_TYPE_BUG, epic.id)
        gone = item(pb.WORK_ITEM_TYPE_TASK, story.id, "gone")
        link(task.id, bug.id, pb.DEPENDENCY_TYPE_BLOCKS)
        dead_link = link(epic.id, gone.id, pb.DEPENDENCY_TYPE_RELATES_TO)
        planned = sprint("s1", now + day)
        active = sprint("s2", now + day)
        dropped = sprint("s3", now + 1)
        ok("start_sprint", sprints_msg.StartSprint(sprint_id=active.id, expected_version=1))
        ok(
            "assign_to_sprint",
            sprints_msg.AssignToSprint(sprint_id=planned.id, work_item_ids=[task.id]),
        )
        comment(task.id, comment(task.id).id)
        doomed = comment(bug.id)
        entry(task.id)
        second = entry(bug.id)
        ok("start_timer", time_msg.StartTimer(work_item_id=bug.id, note=f"{tag} t"))
        ok("delete_comment", comments_msg.DeleteComment(comment_id=doomed.id, expected_version=1))
        ok("delete_sprint", sprints_msg.DeleteSprint(sprint_id=dropped.id, expected_version=1))
        ok(
            "delete_dependency",
            deps_msg.DeleteDependency(dependency_id=dead_link.id, expected_version=1),
        )
        ok(
            "delete_time_entry",
            time_msg.DeleteTimeEntry(time_entry_id=second.id, expected_version=1),
        )
        ok("delete_work_item", items_msg.DeleteWorkItem(work_item_id=gone.id, expected_version=1))
        for name, cmd in [
            ("list_work_items", items_msg.ListWorkItems(project_id=project_id, page_size=1)),
            ("list_comments", comments_msg.ListComments(work_item_id=task.id, page_size=1)),
            ("get_activity", activity_msg.GetActivity(project_id=project_id, page_size=1)),
        ]:
            self.seed.tokens.append(ok(name, cmd).next_page_token)

    def refresh(self) -> None:
        """The target's ids and versions as they are now (successes change them)."""
        with closing(read_only(self.data_dir, TARGET)) as conn:
            self.seed.target_ids = sorted(all_ids(conn))
            versions: set[int] = set()
            for table in ENTITY_TABLES:
                ids = conn.execute(f"SELECT id, version FROM {table}").fetchall()
                self.seed.by_table[table] = sorted(row[0] for row in ids)
                versions |= {row[1] for row in ids}
            self.seed.versions = sorted(versions)
            self.seed.statuses = sorted(
                {row[0] for row in conn.execute("SELECT DISTINCT status_value FROM swim_lanes")}
            )

    # -- one case ------------------------------------------------------------------------

    def case(self, role: str, message: env.ClientMessage) -> None:
        self.cases += 1
        name = message.WhichOneof("payload")
        assert name is not None
        client = self.clients[role]
        frame = message.SerializeToString()
        before = {t: fingerprint(self.data_dir, t) for t in (TARGET, FOREIGN)}
        response = self.live.call(self.exchange(client, name, message.request_id, frame))
        if response is None:
            # Closed: only for a frame over the limit, and with the documented code.
            code = client.ws.close_code
            assert_that((len(frame) > MAX_FRAME, code), equal_to((True, 1009)))
            self.open(role)
        elif response.HasField("error"):
            error = response.error
            assert_that(error.code, is_in(KNOWN_CODES), f"{name}: {error}")
            assert_that(len(frame), less_than_or_equal_to(MAX_FRAME))
        if response is None:
            outcome = "closed"
        elif response.HasField("error"):
            outcome = env.ErrorCode.Name(response.error.code)[11:]
        else:
            outcome = "ok"
        OUTCOMES[(name, outcome)] = OUTCOMES.get((name, outcome), 0) + 1
        after = {t: fingerprint(self.data_dir, t) for t in (TARGET, FOREIGN)}
        assert_that(after[FOREIGN], equal_to(before[FOREIGN]))
        wrote = after[TARGET] != before[TARGET]
        if wrote:
            succeeded = response is not None and not response.HasField("error")
            assert_that((name, succeeded and name in MUTATIONS), equal_to((name, True)))
            self.refresh()
        self.check_frames(client, frame)
        assert_that(self.live.alive(), equal_to(True))

    async def exchange(
        self, client: RecordingClient, name: str, request_id: str, frame: bytes
    ) -> env.Response | None:
        """Send one frame; its answer (a Pong stands in for Ping and Pong), None if the
        server closed the connection."""
        try:
            await client.send_raw(frame)
            if name in ("ping", "pong"):
                barrier = await client.send("ping", env.ClientMessage().ping)
                await client._wait_for(
                    lambda m: m.WhichOneof("payload") == "pong" and m.pong.request_id == barrier
                )
                return env.Response(request_id=request_id)
            return await client.response(request_id)
        except ConnectionClosed:
            return None

    def check_frames(self, client: RecordingClient, sent: bytes) -> None:
        """No frame names the other tenant's ids or text, unless this request did."""
        # A create may take another tenant's id as its own (each tenant has a file of its
        # own, so the id is free here): from then on it names this tenant's entity.
        own = set(self.seed.target_ids)
        for frame in client.frames:
            for secret in self.seed.foreign_secrets:
                if secret in frame and secret not in sent and secret.decode() not in own:
                    raise AssertionError(
                        f"a frame of {TARGET} holds {secret!r} of {FOREIGN}: {frame!r}"
                    )
        client.frames.clear()
        client.backlog.clear()


ENTITY_TABLES = (
    "projects",
    "swim_lanes",
    "work_items",
    "sprints",
    "comments",
    "time_entries",
    "dependencies",
)
# Which table an id field names, by the field's stem (`work_item_ids` -> work_item).
ID_TABLES = {
    "project": "projects",
    "lane": "swim_lanes",
    "work_item": "work_items",
    "parent": "work_items",
    "before": "work_items",
    "after": "work_items",
    "from_item": "work_items",
    "to_item": "work_items",
    "sprint": "sprints",
    "carry_over_sprint": "sprints",
    "comment": "comments",
    "parent_comment": "comments",
    "time_entry": "time_entries",
    "dependency": "dependencies",
    "user": "users",
    "assignee": "users",
}


def all_ids(conn: Any) -> set[str]:
    found: set[str] = set()
    for table in (
        "projects",
        "swim_lanes",
        "work_items",
        "sprints",
        "comments",
        "time_entries",
        "dependencies",
    ):
        found |= {row[0] for row in conn.execute(f"SELECT id FROM {table}")}
    return found


# ---------------------------------------------------------------------------------------
# Valid-but-wrong values, from the descriptors
# ---------------------------------------------------------------------------------------

NOW_MS = int(time.time() * 1000)
_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_TEXT = st.characters(codec="utf-8", exclude_categories=["Cs"])


def pooled(seed: Seed, name: str, default: Any = "x") -> st.SearchStrategy[Any]:
    """One value of a seed pool that grows while the fuzz runs: an index is drawn (always
    the same kind of draw, as hypothesis requires), the value read at draw time. A name
    `by_table.<table>` is one table's ids."""

    def take(index: int) -> Any:
        if name.startswith("by_table."):
            pool = seed.by_table.get(name.split(".", 1)[1], [])
        else:
            pool = getattr(seed, name)
        return pool[index % len(pool)] if pool else default

    return st.integers(0, 1 << 16).map(take)


def _clip(low: int, high: int, values: list[int]) -> list[int]:
    return [v for v in values if low <= v <= high]


def numbers(fd: Any, seed: Seed) -> st.SearchStrategy[int]:
    low, high = _INT_BOUNDS[fd.type]
    special = _clip(
        low,
        high,
        [0, 1, -1, 2, 3, 4, 49, 50, 100, 101, 499, 500, 501, low, high, low + 1, high - 1],
    )
    times = _clip(
        low,
        high,
        [NOW_MS, NOW_MS - 3_600_000, NOW_MS + 3_600_000, NOW_MS - 86_400_000, NOW_MS - 86_400_001],
    )
    return st.one_of(
        st.sampled_from(special),
        st.sampled_from(times or [high]),
        pooled(seed, "versions", 1),
        st.integers(low, high),
    )


def enums(fd: Any) -> st.SearchStrategy[int]:
    known = [v.number for v in fd.enum_type.values]
    return st.one_of(
        st.sampled_from(known), st.sampled_from([max(known) + 1, 99, -1, 2**31 - 1, -(2**31)])
    )


def strings(fd: Any, seed: Seed) -> st.SearchStrategy[str]:
    name = fd.name
    boundary = st.sampled_from(
        [
            "",
            " ",
            "\t\n",
            "x",
            "x" * 2,
            "X" * 10,
            "X" * 11,
            "y" * 40,
            "y" * 41,
            "z" * 60,
            "z" * 61,
            "w" * 120,
            "w" * 121,
            "v" * 128,
            "v" * 129,
            "u" * 200,
            "u" * 201,
            "t" * 255,
            "t" * 256,
            "é" * 32_768,  # 64 KiB of UTF-8
            "é" * 32_768 + "x",
            "s" * (MAX_FRAME + 1),  # a frame over the limit
            "\x00",
            "a\x00b",
            "\x7f\x85",
            "\u202e\u200b\ufeff",
            "\U0001f600" * 3,
            "../../etc/passwd",
            "'; DROP TABLE work_items; --",
        ]
    )
    free = st.text(_TEXT, max_size=30)
    ids = st.one_of(
        pooled(seed, "target_ids"),
        pooled(seed, "foreign_ids"),
        pooled(seed, "target_ids").map(str.upper),
        pooled(seed, "target_ids").map(lambda i: "{" + i + "}"),
        st.uuids().map(str),
        st.sampled_from(["", "not-a-uuid", str(uuid.UUID(int=0)), "ada", "mel", "vic", "fay"]),
    )
    if name == "id" or name.endswith("_id") or name.endswith("_ids"):
        stem = name.removesuffix("s").removesuffix("_id")
        table = ID_TABLES.get(stem)
        if table == "users":
            return st.one_of(
                st.sampled_from(["ada", "mel", "vic", "fay", "", "x" * 129, "x" * 201]), ids
            )
        if table is not None:
            # Mostly an id of the right kind, so that a handler goes past its first lookup.
            right = pooled(seed, f"by_table.{table}")
            return st.one_of(right, right, right, ids, boundary)
        return st.one_of(ids, ids, ids, boundary)
    if name in ("status", "status_value"):
        return st.one_of(pooled(seed, "statuses", "backlog"), boundary, free)
    if name == "key":
        return st.one_of(
            st.sampled_from(["PM", "OLD", "NEW", "AB", "A", "pm", " QA ", "A1B2C3D4E5"]), boundary
        )
    if name == "entity_type":
        return st.one_of(
            st.sampled_from(
                [
                    "project",
                    "swim_lane",
                    "work_item",
                    "sprint",
                    "comment",
                    "time_entry",
                    "dependency",
                    "user",
                ]
            ),
            boundary,
        )
    if name in ("page_token", "epoch"):
        return st.one_of(pooled(seed, "tokens"), boundary, free)
    if name == "token":
        return st.one_of(st.sampled_from(TOKENS), boundary, free)
    return st.one_of(boundary, free, st.text(_TEXT, min_size=1, max_size=300))


# Tokens a RefreshToken may carry: none of them valid for the caller.
TOKENS = [
    mint_token("another-secret-0123456789-0123456789-abcdef", tenant_id=TARGET, user_id="ada"),
    mint_token("test-secret-0123456789-0123456789-abcdef", tenant_id=FOREIGN, user_id="ada"),
    mint_token("test-secret-0123456789-0123456789-abcdef", tenant_id=TARGET, user_id="eve"),
    mint_token(
        "test-secret-0123456789-0123456789-abcdef",
        tenant_id=TARGET,
        user_id="ada",
        ttl_seconds=-100,
    ),
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEiLCJ0ZW5hbnRfaWQiOiJmei1hIn0.",
]


def scalar(fd: Any, seed: Seed) -> st.SearchStrategy[Any]:
    if fd.type in _INT_BOUNDS:
        return numbers(fd, seed)
    if fd.type == FieldDescriptor.TYPE_STRING:
        return strings(fd, seed)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return enums(fd)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True)
    raise AssertionError(f"no values for {fd.full_name} of type {fd.type}")


def fill(draw: st.DrawFn, message: Message, seed: Seed, depth: int = 0) -> None:
    """Every field set or not (optional ones really absent), with wrong-ish values."""
    for fd in message.DESCRIPTOR.fields:
        if draw(st.integers(0, 3)) == 0:
            continue
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            assert fd.message_type is not None
            if depth >= 2 or fd.message_type.GetOptions().map_entry:
                continue
            if fd.is_repeated:
                for _ in range(draw(st.integers(0, 3))):
                    fill(draw, getattr(message, fd.name).add(), seed, depth + 1)
            else:
                fill(draw, getattr(message, fd.name), seed, depth + 1)
                getattr(message, fd.name).SetInParent()
        elif fd.is_repeated:
            values = scalar(fd, seed)
            size = draw(st.sampled_from([0, 1, 2, 3, 499, 500, 501, 2_000, 12_000]))
            if size <= 3:
                getattr(message, fd.name).extend(
                    draw(st.lists(values, min_size=size, max_size=size))
                )
            else:
                # Many copies of a few values: cheap to draw, as heavy on the wire.
                few = draw(st.lists(values, min_size=1, max_size=3))
                getattr(message, fd.name).extend(few[i % len(few)] for i in range(size))
        else:
            setattr(message, fd.name, draw(scalar(fd, seed)))


@st.composite
def commands_of(draw: st.DrawFn, name: str, seed: Seed) -> tuple[str, env.ClientMessage]:
    role = draw(st.sampled_from(["admin", "admin", "member", "viewer"]))
    message = env.ClientMessage(request_id=new_request_id())
    command = getattr(message, name)
    command.SetInParent()
    fill(draw, command, seed)
    return role, message


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    config = make_config(
        tmp_path_factory.mktemp("handler-fuzz"),
        max_message_bytes=MAX_FRAME,
        commands_per_second=1_000_000.0,
        command_burst=1_000_000,
        max_refused_commands=10_000_000,
        retention_interval_seconds=3600.0,
        # The run's connections are idle between their turns and answer no server Ping: a
        # long run must not see them closed for a missed heartbeat (4001).
        heartbeat_interval_ms=24 * 3_600_000,
    )
    with ServerThread(config) as live:
        fuzz = Fuzzer(live)
        fuzz.setup()
        yield fuzz
        # Every connection still answers, and the server still serves new ones.
        for client in fuzz.clients.values():
            live.call(client.events_until_quiet())
        if os.environ.get("PM_FUZZ_SUMMARY"):
            print(f"\n{fuzz.cases} cases")
            for (name, outcome), count in sorted(OUTCOMES.items()):
                print(f"  {name:22} {outcome:20} {count}")
        fresh = live.open(TARGET, "zed", ["viewer"])
        live.call(fresh.ok("list_projects", projects_msg.ListProjects()))
        assert_that(live.alive(), equal_to(True))


@pytest.mark.timeout(0 if LONG_RUN else 120)
@pytest.mark.parametrize("name", COMMANDS)
def test_given_wrong_content_when_each_command_is_sent_then_typed_errors_and_no_writes(
    fuzzer: Fuzzer, name: str
) -> None:
    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        role, message = data.draw(commands_of(name, fuzzer.seed))
        fuzzer.case(role, message)

    run()


@pytest.mark.timeout(0 if LONG_RUN else 120)
def test_given_mangled_frames_when_sent_then_typed_errors_and_the_socket_stays(
    fuzzer: Fuzzer,
) -> None:
    admin = fuzzer.clients["admin"]

    @FUZZ
    @given(st.binary(max_size=200), st.sampled_from(COMMANDS), st.integers(0, 11))
    def run(noise: bytes, name: str, cut: int) -> None:
        message = env.ClientMessage(request_id=new_request_id())
        getattr(message, name).SetInParent()
        whole = message.SerializeToString()
        # A command this server does not know (a newer client's): a field number past the
        # contract's, inside the oneof's range of wire types.
        unknown = env.ClientMessage(request_id=message.request_id).SerializeToString()
        unknown += _key(1000 + cut * 37, 2) + bytes([len(noise[:100])]) + noise[:100]
        # A tail of noise after a real command, a command cut short, noise alone, or the
        # unknown command.
        frame = [whole + noise, whole[: max(0, len(whole) - cut)], noise, unknown][cut % 4]
        before = fingerprint(fuzzer.data_dir, TARGET)

        async def send_then_ping() -> list[env.ServerMessage]:
            await admin.send_raw(frame)
            barrier = await admin.send("ping", env.ClientMessage().ping)
            got: list[env.ServerMessage] = []
            while True:
                reply = await admin.receive()
                if reply.WhichOneof("payload") == "pong" and reply.pong.request_id == barrier:
                    return got
                got.append(reply)

        replies = [r.response for r in fuzzer.live.call(send_then_ping()) if r.HasField("response")]
        for reply in replies:
            if reply.HasField("error"):
                assert_that(reply.error.code, is_in(KNOWN_CODES))
        if frame is unknown:
            assert_that(
                [(r.request_id, r.error.code) for r in replies],
                equal_to([(message.request_id, env.ERROR_CODE_INVALID_ARGUMENT)]),
            )
        if any(not r.HasField("error") for r in replies):
            fuzzer.refresh()  # the noise happened to spell a valid command
        else:
            assert_that(fingerprint(fuzzer.data_dir, TARGET), equal_to(before))
        fuzzer.check_frames(admin, frame)

    run()
    assert_that(fuzzer.live.alive(), equal_to(True))


def _key(number: int, wire_type: int) -> bytes:
    """A protobuf field key as a varint."""
    value, out = number << 3 | wire_type, bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
