"""A model-based random run: users of every role in two tenants send random commands, some
of them wrong on purpose (another tenant's ids, deleted entities, stale versions, bad values),
some of them at once from two connections; after every step the server must equal the model.

The model (tests/model.py) predicts each answer before reading it: the refusals the rules
allow, or the entity after a success. After each step:
- each tenant's file holds exactly what the model holds (entities with their fields, versions
  and deleted state; one event and one idempotency record per committed change);
- a step that changed nothing left every row of the file as it was;
- the watcher of each tenant got one event per committed change, in seq order, naming the
  projects it touches, and nothing else;
- no frame a client of one tenant received holds an id or the text marker of the other.

One real server for the whole run; every example starts two fresh tenants, so examples never
depend on each other. Size: PM_FUZZ=1 runs 10,000 steps (PM_FUZZ_STEPS=n picks another
total); the normal suite runs a few hundred, derandomized.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf.message import Message
from hamcrest import assert_that, empty, equal_to, greater_than
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import dependencies_pb2 as deps_msg
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from tenants import ranks
from tests.model import (
    ADMIN,
    CHANGED,
    IA,
    MEMBER,
    NF,
    ROLE_NAMES,
    VIEWER,
    Item,
    Mismatch,
    RecordingClient,
    ServerThread,
    TenantModel,
    Verdict,
    code_name,
    db_state,
    fingerprint,
    norm_id,
    now_ms,
)
from tests.server_fixture import make_config
from tests.tenant_state import snapshot
from tests.wire import new_request_id

USERS = {"ada": ADMIN, "mel": MEMBER, "moe": MEMBER, "vic": VIEWER}
# Connections per tenant: one per user, and a second one of mel's (two writers, one user).
CONNECTIONS = {"ada": "ada", "mel": "mel", "mel2": "mel", "moe": "moe", "vic": "vic"}
SIDES = ("a", "b")
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
SPRINT_START = 1_767_225_600_000  # 2026-01-01
# Enum numbers as sent: the known ones and some the contract does not name (Any: protobuf's
# stubs type these fields as their enums).
TYPE_VALUES: list[Any] = [1, 2, 3, 4, 0, 9, -2]
PRIORITY_VALUES: list[Any] = [0, 1, 2, 3, 4, 7]


def _run_size() -> tuple[int, int]:
    """(examples, steps per example): a few hundred steps, or 10,000 under PM_FUZZ=1."""
    total = os.environ.get("PM_FUZZ_STEPS")
    if total is None and os.environ.get("PM_FUZZ") == "1":
        total = "10000"
    if total is None:
        return 6, 50
    steps = 100
    return max(1, int(total) // steps), steps


EXAMPLES, STEPS = _run_size()
RUN = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
    # Shrinking replays steps against the real server for minutes; PM_FUZZ_SHRINK=1 asks.
    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("PM_FUZZ_SHRINK") == "1"],
)

_examples = itertools.count(1)
# (command, outcome) -> how often, for the run's summary (pytest -s shows it).
OUTCOMES: dict[tuple[str, str], int] = {}


@dataclass
class Plan:
    """One command to send: the tenant side, the connection, and the message."""

    side: str
    conn: str
    name: str
    cmd: Message

    @property
    def actor(self) -> str:
        return CONNECTIONS[self.conn]


@dataclass
class Sent:
    plan: Plan
    request_id: str
    response: env.Response
    verdict: Verdict | None = None


def other(side: str) -> str:
    return "b" if side == "a" else "a"


def state_diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    """The rows where the server's file and the model differ, readably."""
    lines = []
    for table in want:
        g, w = got.get(table, {}), want[table]
        if g == w:
            continue
        if not isinstance(w, dict):
            lines.append(f"{table}: server {g!r}, model {w!r}")
            continue
        for key in sorted(set(g) | set(w)):
            if g.get(key) != w.get(key):
                lines.append(f"{table} {key}:\n  server {g.get(key)!r}\n  model  {w.get(key)!r}")
    return "\n".join(lines)


class BoardMachine(RuleBasedStateMachine):
    live: ServerThread

    def __init__(self) -> None:
        super().__init__()
        self.example = next(_examples)
        self.models: dict[str, TenantModel] = {}
        self.clients: dict[str, dict[str, RecordingClient]] = {}
        self.watchers: dict[str, RecordingClient] = {}
        self.checked: dict[int, int] = {}
        self.last_seq = {side: 0 for side in SIDES}
        self.keys = {side: itertools.count(1) for side in SIDES}
        self.last_changed: Sent | None = None
        self.hammered = False
        for side in SIDES:
            tenant = f"m{self.example}{side}"
            self.models[side] = TenantModel(tenant, f"zq{side}{self.example:05d}q", dict(USERS))
            self.clients[side] = {
                conn: self.live.open(tenant, user, [ROLE_NAMES[USERS[user]]])
                for conn, user in CONNECTIONS.items()
            }
            watcher = self.live.open(tenant, "wat", ["viewer"])
            self.live.call(watcher.subscribe(tenant_feed=True))
            self.watchers[side] = watcher

    def teardown(self) -> None:
        for side in SIDES:
            for client in [*self.clients[side].values(), self.watchers[side]]:
                self.live.call(client.close())

    # -- sending and checking ----------------------------------------------------------

    @property
    def server(self) -> Any:
        return self.live.server

    def run(self, plans: list[Plan], check_after: bool = True) -> list[Sent]:
        """Send the plans at once, check the answers against the model, then the rest
        (unless the caller checks a series of steps at its end: check_after=False)."""
        before = {side: self.figures(side) for side in SIDES}
        ids = [new_request_id() for _ in plans]

        async def send_all() -> list[env.Response]:
            for plan, rid in zip(plans, ids, strict=True):
                await self.clients[plan.side][plan.conn].send(plan.name, plan.cmd, rid)
            return [
                await self.clients[plan.side][plan.conn].response(rid)
                for plan, rid in zip(plans, ids, strict=True)
            ]

        responses = self.live.call(send_all())
        sent = [Sent(p, rid, r) for p, rid, r in zip(plans, ids, responses, strict=True)]
        self.reconcile(sent)
        for s in sent:
            assert s.verdict is not None
            outcome = s.verdict.outcome
            if s.response.HasField("error"):
                outcome = f"{code_name(s.response.error.code)[11:]} {s.response.error.field}"
            OUTCOMES[(s.plan.name, outcome)] = OUTCOMES.get((s.plan.name, outcome), 0) + 1
        if check_after:
            self.after_step(sent, before)
        return sent

    def reconcile(self, sent: list[Sent]) -> None:
        """Check the answers in an order the server may have applied them in."""
        for side in SIDES:
            mine = [s for s in sent if s.plan.side == side]
            if not mine:
                continue
            same_connection = len({s.plan.conn for s in mine}) == 1
            orders = [mine] if same_connection or len(mine) == 1 else [mine, mine[::-1]]
            failures: list[str] = []
            for order in orders:
                trial = self.models[side].copy()
                try:
                    verdicts = [
                        trial.check(s.plan.actor, s.plan.name, s.plan.cmd, s.response, s.request_id)
                        for s in order
                    ]
                except Mismatch as mismatch:
                    failures.append(str(mismatch))
                    continue
                for s, verdict in zip(order, verdicts, strict=True):
                    s.verdict = verdict
                self.models[side] = trial
                break
            else:
                raise Mismatch("\n--- or, in the other order ---\n".join(failures))

    def figures(self, side: str) -> dict[str, Any]:
        """Rows, versions and stamps of every table: any write changes them."""
        return fingerprint(self.server.config.data_dir, self.models[side].tenant)

    def after_step(self, sent: list[Sent], before: dict[str, Any]) -> None:
        for side in SIDES:
            mine = [s for s in sent if s.plan.side == side]
            changed = [s for s in mine if s.verdict is not None and s.verdict.outcome == CHANGED]
            if mine:
                self.check_events(side, changed)
            if not changed:
                # Refused or unchanged (or another tenant's command): nothing was written.
                assert_that(self.figures(side), equal_to(before[side]))
                continue
            self.last_changed = changed[-1]
            got = db_state(self.server.config.data_dir, self.models[side].tenant)
            want = self.models[side].expected_state()
            if got != want:
                raise Mismatch(f"tenant {side} differs from the model:\n{state_diff(got, want)}")
        self.check_no_leaks()

    def check_events(self, side: str, changed: list[Sent]) -> None:
        """One event per committed change, to the watcher, in seq order, and nothing else."""
        watcher = self.watchers[side]
        events = self.live.call(watcher.events_until_quiet())
        pending = {lane for s in changed for lane in s.verdict.reranks}  # type: ignore[union-attr]
        reranks = [e for e in events if e.WhichOneof("change") == "work_items_reranked"]
        while len(reranks) < len(pending):
            event = self.live.call(watcher.event())
            events.append(event)
            if event.WhichOneof("change") == "work_items_reranked":
                reranks.append(event)
        by_request = {s.request_id: s for s in changed}
        seen: list[str] = []
        model = self.models[side]
        for event in events:
            if event.seq <= self.last_seq[side]:
                raise Mismatch(f"event seq {event.seq} after {self.last_seq[side]}")
            self.last_seq[side] = event.seq
            if event.WhichOneof("change") == "work_items_reranked":
                lane = (event.work_items_reranked.project_id, event.work_items_reranked.status)
                if lane not in pending or not event.request_id.endswith(":follow-up"):
                    raise Mismatch(f"an unexpected rerank: {event}")
                model.apply_rerank(event.work_items_reranked)
                continue
            if event.request_id not in by_request:
                raise Mismatch(f"tenant {side}: an event of no committed change: {event}")
            verdict = by_request[event.request_id].verdict
            assert verdict is not None
            expect_projects = verdict.projects
            if set(event.project_ids) != expect_projects:
                raise Mismatch(
                    f"{event.WhichOneof('change')} names projects {sorted(event.project_ids)},"
                    f" the model {sorted(expect_projects)}"
                )
            seen.append(event.request_id)
        assert_that(sorted(seen), equal_to(sorted(by_request)))
        # The watcher follows every project the moment it exists.
        for s in changed:
            if s.plan.name == "create_project":
                self.live.call(watcher.subscribe(s.response.create_project.project.id))

    def check_no_leaks(self) -> None:
        """No frame of one tenant names an id or the marker of the other."""
        for side in SIDES:
            secrets = self.models[other(side)].secrets()
            for client in [*self.clients[side].values(), self.watchers[side]]:
                start = self.checked.get(id(client), 0)
                for frame in client.frames[start:]:
                    for secret in secrets:
                        if secret in frame:
                            raise Mismatch(
                                f"a frame of tenant {side} holds {secret!r} of the other tenant:"
                                f" {frame!r}"
                            )
                self.checked[id(client)] = len(client.frames)

    def read(self, plan: Plan) -> env.Response:
        """A query: its answer, after checking it changed nothing."""
        before = self.figures(plan.side)
        response = self.live.call(self.clients[plan.side][plan.conn].request(plan.name, plan.cmd))
        assert_that(self.figures(plan.side), equal_to(before))
        self.check_no_leaks()
        return response

    # -- drawing -----------------------------------------------------------------------

    def roll(self, data: st.DataObject) -> int:
        """0..99 for choosing among weighted cases. Hypothesis favours the ends of a range
        (and shrinks to 0); the permutation lands both ends on common cases, so that the
        rare, wrong ones come at the rate their thresholds say."""
        return (data.draw(st.integers(0, 99)) * 37 + 11) % 100

    def conn(self, data: st.DataObject, writers_only: bool = False) -> str:
        """A connection: mostly a writer, sometimes the viewer."""
        roll = self.roll(data)
        if roll >= 92 and not writers_only:
            return "vic"
        return data.draw(st.sampled_from(["mel", "ada", "mel2", "moe"]))

    def admin_conn(self, data: st.DataObject) -> str:
        """For admin commands: mostly the admin, sometimes a member or the viewer."""
        return "ada" if self.roll(data) < 75 else self.conn(data)

    def pick(
        self,
        data: st.DataObject,
        side: str,
        table: str,
        prefer: list[str] | None = None,
        optional: bool = False,
    ) -> str:
        """An id: mostly a live one of this tenant (of `prefer` when given), sometimes a
        deleted one, another tenant's, an unknown one, another spelling or no UUID at all."""
        model, foreign_model = self.models[side], self.models[other(side)]
        rows = getattr(model, table)
        live: list[str] = [i for i, e in rows.items() if not e.deleted]
        dead: list[str] = [i for i, e in rows.items() if e.deleted]
        foreign: list[str] = list(getattr(foreign_model, table))
        roll = self.roll(data)
        if prefer and roll < 45:
            return data.draw(st.sampled_from(prefer))
        if roll < 75 and live:
            return data.draw(st.sampled_from(live))
        if roll < 85 and dead:
            return data.draw(st.sampled_from(dead))
        if roll < 91 and foreign:
            return data.draw(st.sampled_from(foreign))
        if roll < 94:
            return str(data.draw(st.uuids(version=4)))
        if roll < 97 and live:
            return data.draw(st.sampled_from(live)).upper()
        return data.draw(st.sampled_from(["" if optional else "x", "not-a-uuid", "{1}"]))

    def client_id(self, data: st.DataObject, side: str, table: str) -> str:
        """A client-chosen id for a create: one this tenant already used (live or deleted),
        a fresh one, or no UUID. Never another tenant's: tenants have files of their own,
        so that id would be free here, and the cross-tenant check would flag it."""
        used: list[str] = list(getattr(self.models[side], table))
        roll = self.roll(data)
        if roll < 50 and used:
            return data.draw(st.sampled_from(used))
        if roll < 85:
            return str(data.draw(st.uuids(version=4)))
        return data.draw(st.sampled_from(["bad", "1234"]))

    def entity(self, side: str, table: str, raw: str) -> Any:
        entity_id = norm_id(raw) if raw else None
        return getattr(self.models[side], table).get(entity_id) if entity_id else None

    def version(self, data: st.DataObject, entity: Any) -> int:
        current = entity.version if entity is not None else 1
        roll = self.roll(data)
        if roll < 82:
            return int(current)
        if roll < 90:
            return int(current) - 1
        if roll < 96:
            return int(current) + 1
        return data.draw(st.sampled_from([0, -1]))

    def title(self, data: st.DataObject, side: str, limit: int = 255) -> str:
        tag = self.models[side].tag
        roll = self.roll(data)
        if roll < 88:
            words = data.draw(
                st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=10)
            )
            return f"{tag} {words}"
        return data.draw(
            st.sampled_from(
                [
                    "",
                    "   ",
                    tag + "x" * (limit - len(tag)),
                    tag + "x" * (limit + 1 - len(tag)),
                    f"{tag}\x00",
                    f"  {tag} padded  ",
                    f"{tag}\ttab",
                ]
            )
        )

    def body(self, data: st.DataObject, side: str, empty_ok: bool = True) -> str:
        tag = self.models[side].tag
        roll = self.roll(data)
        if roll < 85:
            words = data.draw(
                st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
            )
            return f"{tag}\n{words}"
        if roll < 95:
            return "" if empty_ok or roll < 90 else tag
        return data.draw(
            st.sampled_from(
                [
                    tag + "é" * ((64 * 1024 - len(tag)) // 2),  # at the limit, or one under
                    tag + "é" * ((64 * 1024 - len(tag)) // 2) + "xx",  # over by a byte or two
                    f"{tag}\x00nul",
                    f"{tag}\ttab\r\nline",
                ]
            )
        )

    # -- planners: one command each ----------------------------------------------------

    def side(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(SIDES))

    def plan_create_project(self, data: st.DataObject, side: str) -> Plan:
        model = self.models[side]
        roll = self.roll(data)
        if roll < 75 or not model.projects:
            key = f"P{next(self.keys[side])}"
        elif roll < 88:
            key = data.draw(st.sampled_from(sorted(p.key for p in model.projects.values())))
        else:
            key = data.draw(st.sampled_from(["p1", "A", "ABCDEFGHIJK", "9AB", " PAD ", "A-B"]))
        client_id = ""
        if self.roll(data) < 10:
            client_id = self.client_id(data, side, "projects")
        name = self.title(data, side, 120)
        description = self.body(data, side)
        return Plan(
            side,
            self.conn(data),
            "create_project",
            projects_msg.CreateProject(id=client_id, key=key, name=name, description=description),
        )

    def plan_update_project(self, data: st.DataObject, side: str) -> Plan:
        project_id = self.pick(data, side, "projects")
        cmd = projects_msg.UpdateProject(
            project_id=project_id,
            expected_version=self.version(data, self.entity(side, "projects", project_id)),
        )
        roll = self.roll(data)
        if roll < 60:
            cmd.name = self.title(data, side, 120)
        if roll > 40:
            cmd.description = self.body(data, side)
        return Plan(side, self.conn(data), "update_project", cmd)

    def plan_delete_project(self, data: st.DataObject, side: str) -> Plan:
        project_id = self.pick(data, side, "projects")
        project = self.entity(side, "projects", project_id)
        return Plan(
            side,
            self.admin_conn(data),
            "delete_project",
            projects_msg.DeleteProject(
                project_id=project_id, expected_version=self.version(data, project)
            ),
        )

    def project_lanes(self, side: str, project_id: str) -> list[str]:
        project = self.entity(side, "projects", project_id)
        model = self.models[side]
        return [lane.id for lane in model.live_lanes(project.id)] if project else []

    def plan_create_swim_lane(self, data: st.DataObject, side: str) -> Plan:
        project_id = self.pick(data, side, "projects")
        roll = self.roll(data)
        if roll < 70:
            status = f"s{data.draw(st.integers(1, 6))}"
        elif roll < 85:
            status = data.draw(st.sampled_from(["backlog", "done", "in_review"]))
        else:
            status = data.draw(st.sampled_from(["", "Bad", "9lane", "a" * 41, "a" * 40]))
        cmd = projects_msg.CreateSwimLane(
            project_id=project_id, name=self.title(data, side, 60), status_value=status
        )
        if self.roll(data) < 40:
            cmd.position = data.draw(st.integers(-1, 8))
        return Plan(side, self.admin_conn(data), "create_swim_lane", cmd)

    def plan_update_swim_lane(self, data: st.DataObject, side: str) -> Plan:
        lane_id = self.pick(data, side, "lanes")
        cmd = projects_msg.UpdateSwimLane(
            lane_id=lane_id,
            expected_version=self.version(data, self.entity(side, "lanes", lane_id)),
        )
        if self.roll(data) < 90:
            cmd.name = self.title(data, side, 60)
        return Plan(side, self.admin_conn(data), "update_swim_lane", cmd)

    def plan_reorder_swim_lanes(self, data: st.DataObject, side: str) -> Plan:
        project_id = self.pick(data, side, "projects")
        lanes = self.project_lanes(side, project_id)
        order = list(data.draw(st.permutations(lanes))) if lanes else []
        roll = self.roll(data)
        if roll < 8 and order:
            order.pop()
        elif roll < 14 and order:
            order.append(order[0])
        elif roll < 18:
            order.append(self.pick(data, side, "lanes"))
        project = self.entity(side, "projects", project_id)
        return Plan(
            side,
            self.admin_conn(data),
            "reorder_swim_lanes",
            projects_msg.ReorderSwimLanes(
                project_id=project_id, lane_ids=order, expected_version=self.version(data, project)
            ),
        )

    def plan_delete_swim_lane(self, data: st.DataObject, side: str) -> Plan:
        custom = [
            lane.id
            for lane in self.models[side].lanes.values()
            if not lane.is_default and not lane.deleted
        ]
        lane_id = self.pick(data, side, "lanes", prefer=custom)
        return Plan(
            side,
            self.admin_conn(data),
            "delete_swim_lane",
            projects_msg.DeleteSwimLane(
                lane_id=lane_id,
                expected_version=self.version(data, self.entity(side, "lanes", lane_id)),
            ),
        )

    def status_for(self, data: st.DataObject, side: str, project_id: str | None) -> str:
        model = self.models[side]
        statuses = sorted(
            {
                lane.status_value
                for lane in model.lanes.values()
                if project_id is None or lane.project_id == project_id
            }
        )
        roll = self.roll(data)
        if roll < 80 and statuses:
            return data.draw(st.sampled_from(statuses))
        return data.draw(st.sampled_from(["", "nowhere", "backlog"]))

    def item_type(self, data: st.DataObject) -> Any:
        if self.roll(data) < 96:
            return data.draw(st.sampled_from(TYPE_VALUES[:4]))
        return data.draw(st.sampled_from(TYPE_VALUES[4:]))

    def items_of(self, side: str, raw_project: str) -> list[str]:
        project = self.entity(side, "projects", raw_project)
        return [i.id for i in self.models[side].live_items(project.id)] if project else []

    def plan_create_work_item(self, data: st.DataObject, side: str) -> Plan:
        project_id = self.pick(data, side, "projects")
        same_project = self.items_of(side, project_id)
        project = self.entity(side, "projects", project_id)
        cmd = items_msg.CreateWorkItem(
            project_id=project_id,
            type=self.item_type(data),
            title=self.title(data, side),
            description=self.body(data, side) if self.roll(data) < 30 else "",
        )
        if self.roll(data) < 55:
            cmd.parent_id = self.pick(data, side, "items", prefer=same_project)
        if self.roll(data) < 40:
            cmd.status = self.status_for(data, side, project.id if project else None)
        if self.roll(data) < 25:
            cmd.sprint_id = self.pick(data, side, "sprints")
        roll = self.roll(data)
        if roll < 40:
            cmd.story_points = data.draw(st.sampled_from([0, 1, 3, 8, 100, 101, -1]))
        if self.roll(data) < 25:
            cmd.priority = data.draw(st.sampled_from(PRIORITY_VALUES))
        if self.roll(data) < 20:
            cmd.assignee_id = data.draw(st.sampled_from(["mel", "moe", "ada", "u" * 129]))
        roll = self.roll(data)
        if roll < 8:
            cmd.id = str(data.draw(st.uuids(version=4)))
        elif roll < 11:
            cmd.id = self.client_id(data, side, "items")
        return Plan(side, self.conn(data), "create_work_item", cmd)

    def plan_update_work_item(self, data: st.DataObject, side: str) -> Plan:
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        cmd = items_msg.UpdateWorkItem(
            work_item_id=item_id, expected_version=self.version(data, item)
        )
        for name in data.draw(
            st.lists(
                st.sampled_from(
                    ["title", "description", "type", "priority", "assignee", "sprint", "points"]
                ),
                min_size=1 if self.roll(data) < 95 else 0,
                max_size=3,
                unique=True,
            )
        ):
            clear = self.roll(data) < 30
            both = self.roll(data) < 5
            if name == "title":
                cmd.title = self.title(data, side)
            elif name == "description":
                cmd.description = self.body(data, side)
            elif name == "type":
                cmd.type = self.item_type(data)
            elif name == "priority":
                cmd.priority = data.draw(st.sampled_from(PRIORITY_VALUES))
            elif name == "assignee":
                if clear or both:
                    cmd.clear_assignee_id = True
                if not clear or both:
                    cmd.assignee_id = data.draw(st.sampled_from(["mel", "moe", "", "u" * 129]))
            elif name == "sprint":
                if clear or both:
                    cmd.clear_sprint_id = True
                if not clear or both:
                    cmd.sprint_id = self.pick(data, side, "sprints", optional=True)
            else:
                if clear or both:
                    cmd.clear_story_points = True
                if not clear or both:
                    cmd.story_points = data.draw(st.sampled_from([0, 2, 5, 100, 101, -3]))
        return Plan(side, self.conn(data), "update_work_item", cmd)

    def plan_move_work_item(self, data: st.DataObject, side: str) -> Plan:
        model = self.models[side]
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        cmd = items_msg.MoveWorkItem(
            work_item_id=item_id, expected_version=self.version(data, item)
        )
        if self.roll(data) < 60:
            cmd.status = self.status_for(data, side, item.project_id if item else None)
        target_status = cmd.status or (item.status if item else "")
        lane = (
            [i.id for i in model.lane_items(item.project_id, target_status) if i.id != item.id]
            if item
            else []
        )
        roll = self.roll(data)
        if roll < 35:
            cmd.before_id = self.pick(data, side, "items", prefer=lane)
        elif roll < 70:
            cmd.after_id = self.pick(data, side, "items", prefer=lane)
        elif roll < 74:
            cmd.before_id = self.pick(data, side, "items", prefer=lane)
            cmd.after_id = self.pick(data, side, "items", prefer=lane)
        elif roll < 77:
            cmd.before_id = item_id
        roll = self.roll(data)
        if roll < 25:
            same_project = self.items_of(side, item.project_id) if item else []
            cmd.parent_id = self.pick(data, side, "items", prefer=same_project)
        elif roll < 35:
            cmd.clear_parent_id = True
            if roll < 27:
                cmd.parent_id = ""
        return Plan(side, self.conn(data), "move_work_item", cmd)

    def plan_delete_work_item(self, data: st.DataObject, side: str) -> Plan:
        item_id = self.pick(data, side, "items")
        return Plan(
            side,
            self.conn(data),
            "delete_work_item",
            items_msg.DeleteWorkItem(
                work_item_id=item_id,
                expected_version=self.version(data, self.entity(side, "items", item_id)),
            ),
        )

    def plan_restore_work_item(self, data: st.DataObject, side: str) -> Plan:
        dead = [i.id for i in self.models[side].items.values() if i.deleted]
        item_id = self.pick(data, side, "items", prefer=dead)
        return Plan(
            side,
            self.conn(data),
            "restore_work_item",
            items_msg.RestoreWorkItem(work_item_id=item_id),
        )

    def plan_create_sprint(self, data: st.DataObject, side: str) -> Plan:
        start = SPRINT_START + data.draw(st.integers(0, 20)) * DAY_MS
        roll = self.roll(data)
        end = start + 14 * DAY_MS
        if roll < 5:
            end = start
        elif roll < 8:
            start, end = 0, start
        cmd = sprints_msg.CreateSprint(
            project_id=self.pick(data, side, "projects"),
            name=self.title(data, side, 120),
            goal=self.body(data, side) if self.roll(data) < 30 else "",
            start_date_ms=start,
            end_date_ms=end,
        )
        if self.roll(data) < 6:
            cmd.id = self.client_id(data, side, "sprints")
        return Plan(side, self.conn(data), "create_sprint", cmd)

    def plan_update_sprint(self, data: st.DataObject, side: str) -> Plan:
        sprint_id = self.pick(data, side, "sprints")
        sprint = self.entity(side, "sprints", sprint_id)
        cmd = sprints_msg.UpdateSprint(
            sprint_id=sprint_id, expected_version=self.version(data, sprint)
        )
        roll = self.roll(data)
        if roll < 50:
            cmd.name = self.title(data, side, 120)
        elif roll < 70:
            cmd.goal = self.body(data, side)
        elif roll < 85:
            cmd.end_date_ms = SPRINT_START + data.draw(st.integers(-5, 40)) * DAY_MS
        elif roll < 95:
            cmd.start_date_ms = SPRINT_START + data.draw(st.integers(-5, 40)) * DAY_MS
        return Plan(side, self.conn(data), "update_sprint", cmd)

    def plan_sprint_transition(self, data: st.DataObject, side: str) -> Plan:
        name = data.draw(
            st.sampled_from(["start_sprint", "complete_sprint", "cancel_sprint", "delete_sprint"])
        )
        wanted = {
            "start_sprint": ("planned",),
            "complete_sprint": ("active",),
            "cancel_sprint": ("planned", "active"),
            "delete_sprint": ("planned", "active", "completed", "cancelled"),
        }[name]
        fitting = [
            s.id for s in self.models[side].sprints.values() if s.state in wanted and not s.deleted
        ]
        sprint_id = self.pick(data, side, "sprints", prefer=fitting)
        version = self.version(data, self.entity(side, "sprints", sprint_id))
        messages = {
            "start_sprint": sprints_msg.StartSprint,
            "complete_sprint": sprints_msg.CompleteSprint,
            "cancel_sprint": sprints_msg.CancelSprint,
            "delete_sprint": sprints_msg.DeleteSprint,
        }
        cmd = messages[name](sprint_id=sprint_id, expected_version=version)
        if name == "complete_sprint" and self.roll(data) < 40:
            planned = [
                s.id
                for s in self.models[side].sprints.values()
                if s.state == "planned" and not s.deleted
            ]
            cmd.carry_over_sprint_id = self.pick(data, side, "sprints", prefer=planned)
        return Plan(side, self.conn(data), name, cmd)

    def plan_assign_to_sprint(self, data: st.DataObject, side: str) -> Plan:
        sprint_id = "" if self.roll(data) < 20 else self.pick(data, side, "sprints")
        sprint = self.entity(side, "sprints", sprint_id)
        same_project = [
            i.id
            for i in self.models[side].live_items(sprint.project_id if sprint else None)
            if i.type != "epic" or self.roll(data) < 10
        ]
        count = data.draw(st.integers(1, 4)) if self.roll(data) < 95 else 0
        ids = [self.pick(data, side, "items", prefer=same_project) for _ in range(count)]
        if self.roll(data) < 3:
            ids = [ids[0] if ids else "x"] * 501
        return Plan(
            side,
            self.conn(data),
            "assign_to_sprint",
            sprints_msg.AssignToSprint(sprint_id=sprint_id, work_item_ids=ids),
        )

    def plan_create_comment(self, data: st.DataObject, side: str) -> Plan:
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        on_item = (
            [c.id for c in self.models[side].comments.values() if c.item_id == item.id]
            if item
            else []
        )
        cmd = comments_msg.CreateComment(
            work_item_id=item_id, content=self.body(data, side, empty_ok=False)
        )
        if self.roll(data) < 45:
            cmd.parent_comment_id = self.pick(data, side, "comments", prefer=on_item)
        if self.roll(data) < 5:
            cmd.id = self.client_id(data, side, "comments")
        return Plan(side, self.conn(data), "create_comment", cmd)

    def plan_update_comment(self, data: st.DataObject, side: str) -> Plan:
        comment_id = self.pick(data, side, "comments")
        comment = self.entity(side, "comments", comment_id)
        conn = self.conn(data)
        if comment is not None and self.roll(data) < 60:
            conn = "mel2" if comment.author == "mel" and self.roll(data) < 50 else comment.author
        return Plan(
            side,
            conn,
            "update_comment",
            comments_msg.UpdateComment(
                comment_id=comment_id,
                expected_version=self.version(data, comment),
                content=self.body(data, side, empty_ok=False)
                if self.roll(data) < 90 or comment is None
                else comment.content,
            ),
        )

    def plan_delete_comment(self, data: st.DataObject, side: str) -> Plan:
        comment_id = self.pick(data, side, "comments")
        comment = self.entity(side, "comments", comment_id)
        conn = self.conn(data)
        if comment is not None and self.roll(data) < 50:
            conn = comment.author
        return Plan(
            side,
            conn,
            "delete_comment",
            comments_msg.DeleteComment(
                comment_id=comment_id, expected_version=self.version(data, comment)
            ),
        )

    def plan_timer(self, data: st.DataObject, side: str) -> Plan:
        conn = self.conn(data)
        if self.roll(data) < 60:
            cmd: Message = time_msg.StartTimer(
                work_item_id=self.pick(data, side, "items"),
                note=self.body(data, side) if self.roll(data) < 30 else "",
            )
            return Plan(side, conn, "start_timer", cmd)
        entry_id = "" if self.roll(data) < 60 else self.pick(data, side, "entries")
        return Plan(side, conn, "stop_timer", time_msg.StopTimer(time_entry_id=entry_id))

    def span(self, data: st.DataObject) -> tuple[int, int]:
        now = now_ms()
        roll = self.roll(data)
        start = now - 2 * HOUR_MS - data.draw(st.integers(0, HOUR_MS))
        if roll < 80:
            return start, start + data.draw(st.integers(1, HOUR_MS))
        if roll < 84:
            return now - 26 * HOUR_MS, now - 2 * HOUR_MS  # exactly 24 h: accepted
        if roll < 88:
            return now - 26 * HOUR_MS, now - 2 * HOUR_MS + 1  # a millisecond too long
        if roll < 92:
            return start, now + HOUR_MS  # ends in the future
        if roll < 96:
            return start, start  # no length
        return 0, start

    def plan_create_time_entry(self, data: st.DataObject, side: str) -> Plan:
        start, end = self.span(data)
        cmd = time_msg.CreateTimeEntry(
            work_item_id=self.pick(data, side, "items"),
            started_at_ms=start,
            ended_at_ms=end,
            note=self.body(data, side) if self.roll(data) < 30 else "",
        )
        if self.roll(data) < 5:
            cmd.id = self.client_id(data, side, "entries")
        return Plan(side, self.conn(data), "create_time_entry", cmd)

    def own_entry(self, data: st.DataObject, side: str) -> tuple[str, Any, str]:
        entry_id = self.pick(data, side, "entries")
        entry = self.entity(side, "entries", entry_id)
        conn = self.conn(data)
        if entry is not None and self.roll(data) < 70:
            conn = entry.user
        return entry_id, entry, conn

    def plan_update_time_entry(self, data: st.DataObject, side: str) -> Plan:
        entry_id, entry, conn = self.own_entry(data, side)
        cmd = time_msg.UpdateTimeEntry(
            time_entry_id=entry_id, expected_version=self.version(data, entry)
        )
        roll = self.roll(data)
        start, end = self.span(data)
        if roll < 40:
            cmd.note = self.body(data, side)
        elif roll < 60:
            cmd.started_at_ms = start
        elif roll < 80:
            cmd.ended_at_ms = end
        elif roll < 95:
            cmd.started_at_ms, cmd.ended_at_ms = start, end
        return Plan(side, conn, "update_time_entry", cmd)

    def plan_delete_time_entry(self, data: st.DataObject, side: str) -> Plan:
        entry_id, entry, conn = self.own_entry(data, side)
        return Plan(
            side,
            conn,
            "delete_time_entry",
            time_msg.DeleteTimeEntry(
                time_entry_id=entry_id, expected_version=self.version(data, entry)
            ),
        )

    def plan_create_dependency(self, data: st.DataObject, side: str) -> Plan:
        model = self.models[side]
        from_id = self.pick(data, side, "items")
        roll = self.roll(data)
        blocked = [d.from_id for d in model.deps.values() if not d.deleted and d.type == "blocks"]
        if roll < 30 and blocked:
            # Towards a cycle: an edge back into a chain that already exists.
            to_id = data.draw(st.sampled_from(blocked))
        else:
            to_id = self.pick(data, side, "items")
        if self.roll(data) < 4:
            to_id = from_id
        dep_type: Any = (
            pb.DEPENDENCY_TYPE_BLOCKS if self.roll(data) < 75 else pb.DEPENDENCY_TYPE_RELATES_TO
        )
        if self.roll(data) < 3:
            dep_type = data.draw(st.sampled_from([0, 5]))
        cmd = deps_msg.CreateDependency(from_item_id=from_id, to_item_id=to_id, type=dep_type)
        if self.roll(data) < 4:
            cmd.id = self.client_id(data, side, "deps")
        return Plan(side, self.conn(data), "create_dependency", cmd)

    def plan_delete_dependency(self, data: st.DataObject, side: str) -> Plan:
        dep_id = self.pick(data, side, "deps")
        return Plan(
            side,
            self.conn(data),
            "delete_dependency",
            deps_msg.DeleteDependency(
                dependency_id=dep_id,
                expected_version=self.version(data, self.entity(side, "deps", dep_id)),
            ),
        )

    PLANNERS: dict[str, Callable[[BoardMachine, st.DataObject, str], Plan]] = {}

    def planners(self) -> dict[str, Callable[[st.DataObject, str], Plan]]:
        return {
            name[len("plan_") :]: getattr(self, name)
            for name in dir(self)
            if name.startswith("plan_")
        }

    # -- rules -------------------------------------------------------------------------

    @initialize()
    def given_a_project_with_items_and_sprints_in_each_tenant(self) -> None:
        for side in SIDES:
            tag = self.models[side].tag
            (created,) = self.run(
                [
                    Plan(
                        side,
                        "mel",
                        "create_project",
                        projects_msg.CreateProject(
                            key=f"P{next(self.keys[side])}", name=f"{tag} one"
                        ),
                    )
                ]
            )
            project_id = created.response.create_project.project.id
            for type_ in (pb.WORK_ITEM_TYPE_EPIC, pb.WORK_ITEM_TYPE_STORY, pb.WORK_ITEM_TYPE_TASK):
                self.run(
                    [
                        Plan(
                            side,
                            "moe",
                            "create_work_item",
                            items_msg.CreateWorkItem(
                                project_id=project_id, type=type_, title=f"{tag} seed"
                            ),
                        )
                    ]
                )
            for name in ("sprint one", "sprint two"):
                cmd = sprints_msg.CreateSprint(
                    project_id=project_id,
                    name=f"{tag} {name}",
                    start_date_ms=SPRINT_START,
                    end_date_ms=SPRINT_START + 14 * DAY_MS,
                )
                self.run([Plan(side, "moe", "create_sprint", cmd)])

    def _one(self, data: st.DataObject, kind: str) -> None:
        self.run([self.planners()[kind](data, self.side(data))])

    @rule(data=st.data())
    def create_project(self, data: st.DataObject) -> None:
        self._one(data, "create_project")

    @rule(data=st.data())
    def update_project(self, data: st.DataObject) -> None:
        self._one(data, "update_project")

    @rule(data=st.data())
    def delete_project(self, data: st.DataObject) -> None:
        if self.roll(data) < 35:  # rarer than the rest: it takes everything with it
            self._one(data, "delete_project")

    @rule(data=st.data())
    def manage_lanes(self, data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(
                ["create_swim_lane", "update_swim_lane", "reorder_swim_lanes", "delete_swim_lane"]
            )
        )
        self._one(data, kind)

    @rule(data=st.data())
    def create_work_item(self, data: st.DataObject) -> None:
        self._one(data, "create_work_item")

    @rule(data=st.data())
    def create_another_work_item(self, data: st.DataObject) -> None:
        self._one(data, "create_work_item")

    @rule(data=st.data())
    def update_work_item(self, data: st.DataObject) -> None:
        self._one(data, "update_work_item")

    @rule(data=st.data())
    def move_work_item(self, data: st.DataObject) -> None:
        self._one(data, "move_work_item")

    @rule(data=st.data())
    def move_another_work_item(self, data: st.DataObject) -> None:
        self._one(data, "move_work_item")

    @rule(data=st.data())
    def delete_work_item(self, data: st.DataObject) -> None:
        self._one(data, "delete_work_item")

    @rule(data=st.data())
    def restore_work_item(self, data: st.DataObject) -> None:
        self._one(data, "restore_work_item")

    @rule(data=st.data())
    def sprint_planning(self, data: st.DataObject) -> None:
        self._one(data, data.draw(st.sampled_from(["create_sprint", "update_sprint"])))

    @rule(data=st.data())
    def create_sprint(self, data: st.DataObject) -> None:
        self._one(data, "create_sprint")

    @rule(data=st.data())
    def create_comment(self, data: st.DataObject) -> None:
        self._one(data, "create_comment")

    @rule(data=st.data())
    def start_a_timer_or_log_time(self, data: st.DataObject) -> None:
        self._one(data, data.draw(st.sampled_from(["timer", "create_time_entry"])))

    @rule(data=st.data())
    def sprint_transition(self, data: st.DataObject) -> None:
        self._one(data, "sprint_transition")

    @rule(data=st.data())
    def another_sprint_transition(self, data: st.DataObject) -> None:
        self._one(data, "sprint_transition")

    @rule(data=st.data())
    def assign_to_sprint(self, data: st.DataObject) -> None:
        self._one(data, "assign_to_sprint")

    @rule(data=st.data())
    def comment(self, data: st.DataObject) -> None:
        self._one(
            data, data.draw(st.sampled_from(["create_comment", "update_comment", "delete_comment"]))
        )

    @rule(data=st.data())
    def track_time(self, data: st.DataObject) -> None:
        self._one(
            data,
            data.draw(
                st.sampled_from(
                    ["timer", "create_time_entry", "update_time_entry", "delete_time_entry"]
                )
            ),
        )

    @rule(data=st.data())
    def create_dependency(self, data: st.DataObject) -> None:
        self._one(data, "create_dependency")

    @rule(data=st.data())
    def delete_dependency(self, data: st.DataObject) -> None:
        self._one(data, "delete_dependency")

    @rule(data=st.data())
    def two_writers_at_once(self, data: st.DataObject) -> None:
        """Two commands pipelined from two connections (or two tenants) before either answer."""
        planners = self.planners()
        near_threshold = any(
            len(i.rank) > ranks.REBALANCE_AT - 8
            for m in self.models.values()
            for i in m.items.values()
        )
        kinds = [k for k in planners if not (near_threshold and k == "move_work_item")]
        first_kind = data.draw(st.sampled_from(kinds))
        second_kind = first_kind if self.roll(data) < 55 else data.draw(st.sampled_from(kinds))
        first_side = self.side(data)
        second_side = first_side if self.roll(data) < 80 else other(first_side)
        first = planners[first_kind](data, first_side)
        second = planners[second_kind](data, second_side)
        if first.name == "create_project" or second.name == "create_project":
            # The watcher subscribes to a project after its creation answered; creations race
            # nothing else a model could predict either.
            second = planners["create_work_item"](data, second_side)
        if second.side == first.side and second.conn == first.conn and self.roll(data) < 80:
            second.conn = {"mel": "mel2", "mel2": "mel"}.get(first.conn, "mel")
        self.run([first, second])

    @rule(data=st.data())
    def retry_the_last_change(self, data: st.DataObject) -> None:
        """A retried mutation answers its first response and changes nothing; the same
        request id with another command is refused."""
        last = self.last_changed
        if last is None:
            return
        plan = last.plan
        conn = (
            {"mel": "mel2", "mel2": "mel"}.get(plan.conn, plan.conn)
            if self.roll(data) < 50
            else plan.conn
        )
        client = self.clients[plan.side][conn]
        tenant = self.models[plan.side].tenant
        before = snapshot(self.server, tenant)
        if self.roll(data) < 70:
            response = self.live.call(client.request(plan.name, plan.cmd, last.request_id))
            assert_that(response, equal_to(last.response))
        else:
            response = self.live.call(
                client.request(
                    "get_running_timer" if plan.name != "stop_timer" else "start_timer",
                    time_msg.GetRunningTimer()
                    if plan.name != "stop_timer"
                    else time_msg.StartTimer(),
                    last.request_id,
                )
            )
            if plan.name == "stop_timer":
                assert_that(code_name(response.error.code), equal_to(code_name(IA)))
        assert_that(snapshot(self.server, tenant), equal_to(before))
        assert_that(self.live.call(self.watchers[plan.side].events_until_quiet()), empty())
        self.check_no_leaks()

    @rule(data=st.data())
    def hammer_one_gap(self, data: st.DataObject) -> None:
        """Moves that keep landing in the same gap until the lane's keys are rewritten."""
        if self.hammered or self.roll(data) < 70:
            return
        side = self.side(data)
        model = self.models[side]
        lanes: dict[tuple[str, str], list[Item]] = {}
        for item in model.items.values():
            if not item.deleted:
                lanes.setdefault((item.project_id, item.status), []).append(item)
        full = [lane for lane in lanes.values() if len(lane) >= 3]
        if not full:
            return
        self.hammered = True
        lane = sorted(data.draw(st.sampled_from(full)), key=lambda i: i.rank)
        first = lane[0].id
        movers = [lane[-1].id, lane[-2].id]
        before = {s: self.figures(s) for s in SIDES}
        moves: list[Sent] = []
        for turn in range(400):
            mover = self.models[side].items[movers[turn % 2]]
            plan = Plan(
                side,
                "ada",
                "move_work_item",
                items_msg.MoveWorkItem(
                    work_item_id=mover.id, expected_version=mover.version, after_id=first
                ),
            )
            moves.extend(self.run([plan], check_after=False))
            if moves[-1].verdict is not None and moves[-1].verdict.reranks:
                # The follow-up rewrites the lane after this move: check it all now.
                self.after_step(moves, before)
                return
        raise AssertionError("400 moves into one gap never made a key long enough to rebalance")

    # -- reads -------------------------------------------------------------------------

    @rule(data=st.data())
    def read_the_board(self, data: st.DataObject) -> None:
        """ListWorkItems, page by page, is the model's board order with the filter applied."""
        side = self.side(data)
        model = self.models[side]
        project_id = self.pick(data, side, "projects")
        project = self.entity(side, "projects", project_id)
        cmd = items_msg.ListWorkItems(
            project_id=project_id, page_size=data.draw(st.sampled_from([0, 1, 2, 3, 500]))
        )
        keep: Callable[[Item], bool] = lambda i: True  # noqa: E731
        roll = self.roll(data)
        if roll < 15:
            cmd.status = self.status_for(data, side, project.id if project else None)
            keep = lambda i: i.status == cmd.status or not cmd.status  # noqa: E731
        elif roll < 30:
            cmd.type = data.draw(st.sampled_from(TYPE_VALUES[:4]))
            keep = lambda i: i.type == {1: "epic", 2: "story", 3: "task", 4: "bug"}[cmd.type]  # noqa: E731
        elif roll < 40:
            cmd.parent_id = self.pick(data, side, "items", optional=True)
            parent = norm_id(cmd.parent_id) if cmd.parent_id else ""
            keep = lambda i: not cmd.parent_id or i.parent_id == parent  # noqa: E731
        elif roll < 50:
            cmd.sprint_id = self.pick(data, side, "sprints", optional=True)
            sprint = norm_id(cmd.sprint_id) if cmd.sprint_id else ""
            keep = lambda i: not cmd.sprint_id or i.sprint_id == sprint  # noqa: E731
        elif roll < 55:
            cmd.assignee_id = data.draw(st.sampled_from(["mel", "moe", ""]))
            keep = lambda i: not cmd.assignee_id or i.assignee_id == cmd.assignee_id  # noqa: E731
        plan = Plan(side, self.conn(data), "list_work_items", cmd)
        listed: list[pb.WorkItem] = []
        while True:
            response = self.read(plan)
            if response.HasField("error"):
                bad_filter = any(
                    getattr(cmd, f) and norm_id(getattr(cmd, f)) is None
                    for f in ("parent_id", "sprint_id")
                )
                allowed = {(NF, "project_id"), (IA, "project_id")}
                if bad_filter:
                    allowed |= {(IA, "parent_id"), (IA, "sprint_id")}
                assert_that(
                    project is None or project.deleted or bad_filter,
                    equal_to(True),
                    str(response.error),
                )
                assert_that(
                    (response.error.code, response.error.field) in allowed,
                    equal_to(True),
                    str(response.error),
                )
                return
            page = response.list_work_items
            listed.extend(page.work_items)
            if not page.next_page_token:
                break
            assert_that(len(page.work_items), greater_than(0))
            plan.cmd.page_token = page.next_page_token  # type: ignore[attr-defined]
        assert project is not None
        want = [i for i in model.board(project.id) if keep(i)]
        assert_that([w.id for w in listed], equal_to([i.id for i in want]))
        for wire, item in zip(listed, want, strict=True):
            model.expect_item("ListWorkItems", wire, item)

    @rule(data=st.data())
    def read_one_item(self, data: st.DataObject) -> None:
        """GetWorkItem, GetWorkItemTree and GetAncestors agree with the model's tree."""
        side = self.side(data)
        model = self.models[side]
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        name = data.draw(st.sampled_from(["get_work_item", "get_work_item_tree", "get_ancestors"]))
        cmd = {
            "get_work_item": items_msg.GetWorkItem,
            "get_work_item_tree": items_msg.GetWorkItemTree,
            "get_ancestors": items_msg.GetAncestors,
        }[name](work_item_id=item_id)
        response = self.read(Plan(side, self.conn(data), name, cmd))
        if item is None or item.deleted:
            want_code = IA if norm_id(item_id) is None or not item_id else NF
            assert_that(code_name(response.error.code), equal_to(code_name(want_code)))
            return
        if name == "get_work_item":
            model.expect_item(name, response.get_work_item.work_item, item)
        elif name == "get_work_item_tree":
            tree = response.get_work_item_tree
            assert_that(
                [w.id for w in tree.work_items], equal_to([i.id for i in model.subtree(item.id)])
            )
        else:
            path = []
            node = item
            while node.parent_id is not None:
                node = model.items[node.parent_id]
                path.append(node.id)
            assert_that([w.id for w in response.get_ancestors.ancestors], equal_to(path[::-1]))

    @rule(data=st.data())
    def read_dependencies(self, data: st.DataObject) -> None:
        side = self.side(data)
        model = self.models[side]
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        response = self.read(
            Plan(
                side,
                self.conn(data),
                "list_dependencies",
                deps_msg.ListDependencies(work_item_id=item_id, page_size=500),
            )
        )
        if item is None or item.deleted:
            assert_that(response.HasField("error"), equal_to(True))
            return
        result = response.list_dependencies
        live = [d for d in model.deps.values() if not d.deleted]
        want = (
            sorted(d.id for d in live if d.type == "blocks" and d.to_id == item.id),
            sorted(d.id for d in live if d.type == "blocks" and d.from_id == item.id),
            sorted(
                d.id for d in live if d.type == "relates_to" and item.id in (d.from_id, d.to_id)
            ),
            any(
                d.type == "blocks"
                and d.to_id == item.id
                and model.items[d.from_id].status != "done"
                for d in live
            ),
        )
        got = (
            sorted(d.id for d in result.blocked_by),
            sorted(d.id for d in result.blocks),
            sorted(d.id for d in result.relates_to),
            result.is_blocked,
        )
        assert_that(got, equal_to(want))

    @rule(data=st.data())
    def read_comments(self, data: st.DataObject) -> None:
        side = self.side(data)
        model = self.models[side]
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        response = self.read(
            Plan(
                side,
                self.conn(data),
                "list_comments",
                comments_msg.ListComments(work_item_id=item_id, page_size=500),
            )
        )
        if item is None or item.deleted:
            assert_that(response.HasField("error"), equal_to(True))
            return
        comments = [c for c in model.comments.values() if c.item_id == item.id]
        want = []
        for top in comments:
            if top.parent_id is not None:
                continue
            replies = [c.id for c in comments if c.parent_id == top.id and not c.deleted]
            if not top.deleted or replies:
                want.append((top.id, top.deleted, replies))
        got = [
            (t.comment.id, t.comment.deleted, [r.id for r in t.replies])
            for t in response.list_comments.threads
        ]
        assert_that(got, equal_to(want))
        for thread in response.list_comments.threads:
            model.expect_comment("ListComments", thread.comment, model.comments[thread.comment.id])

    @rule(data=st.data())
    def read_sprint_stats(self, data: st.DataObject) -> None:
        side = self.side(data)
        model = self.models[side]
        sprint_id = self.pick(data, side, "sprints")
        sprint = self.entity(side, "sprints", sprint_id)
        response = self.read(
            Plan(
                side,
                self.conn(data),
                "get_sprint_stats",
                sprints_msg.GetSprintStats(sprint_id=sprint_id),
            )
        )
        if sprint is None or sprint.deleted:
            assert_that(response.HasField("error"), equal_to(True))
            return
        items = model.sprint_items(sprint.id, unfinished_only=False)
        done = [i for i in items if i.status == "done"]
        stats = response.get_sprint_stats
        assert_that(
            (stats.items_total, stats.items_done, stats.points_total, stats.points_done),
            equal_to(
                (
                    len(items),
                    len(done),
                    sum(i.story_points or 0 for i in items),
                    sum(i.story_points or 0 for i in done),
                )
            ),
        )
        model.expect_sprint("GetSprintStats", stats.sprint, sprint)

    @rule(data=st.data())
    def read_projects_and_timers(self, data: st.DataObject) -> None:
        side = self.side(data)
        model = self.models[side]
        conn = self.conn(data)
        listed = self.read(
            Plan(side, conn, "list_projects", projects_msg.ListProjects(page_size=500))
        )
        assert_that(
            [p.id for p in listed.list_projects.projects],
            equal_to([p.id for p in sorted(model.live_projects(), key=lambda p: p.key)]),
        )
        for project in model.live_projects():
            got = self.read(
                Plan(side, conn, "get_project", projects_msg.GetProject(project_id=project.id))
            )
            model.expect_lanes("GetProject", got.get_project.lanes, project.id)
            assert_that(got.get_project.project.version, equal_to(project.version))
        running = self.read(Plan(side, conn, "get_running_timer", time_msg.GetRunningTimer()))
        entry = model.running_entry(CONNECTIONS[conn])
        assert_that(running.get_running_timer.time_entry.id, equal_to(entry.id if entry else ""))
        item_id = self.pick(data, side, "items")
        item = self.entity(side, "items", item_id)
        totals = self.read(
            Plan(side, conn, "get_time_totals", time_msg.GetTimeTotals(work_item_id=item_id))
        )
        if item is None or item.deleted:
            assert_that(totals.HasField("error"), equal_to(True))
            return
        sums: dict[str, list[int]] = {}
        for e in model.entries.values():
            if e.item_id == item.id and not e.deleted and e.ended is not None:
                sums.setdefault(e.user, [0, 0])
                sums[e.user][0] += e.duration or 0
                sums[e.user][1] += 1
        got_totals = sorted(
            (t.user_id, t.duration_seconds, t.entries) for t in totals.get_time_totals.totals
        )
        assert_that(got_totals, equal_to(sorted((u, s, n) for u, (s, n) in sums.items())))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    config = make_config(
        tmp_path_factory.mktemp("model"),
        # Thousands of commands from a handful of connections, many refused on purpose.
        commands_per_second=100_000.0,
        command_burst=100_000,
        max_refused_commands=1_000_000,
        retention_interval_seconds=3600.0,
        # The run's connections are idle between their turns and answer no server Ping: a
        # long run must not see them closed for a missed heartbeat (4001).
        heartbeat_interval_ms=24 * 3_600_000,
    )
    with ServerThread(config) as running:
        yield running
        assert_that(running.alive(), equal_to(True))


@pytest.mark.timeout(
    0 if os.environ.get("PM_FUZZ") == "1" or "PM_FUZZ_STEPS" in os.environ else 120
)
def test_given_two_tenants_and_all_roles_when_random_commands_run_then_server_equals_model(
    live: ServerThread,
) -> None:
    BoardMachine.live = live
    started = time.monotonic()
    run_state_machine_as_test(BoardMachine, settings=RUN)
    assert_that(live.alive(), equal_to(True))
    if os.environ.get("PM_FUZZ_SUMMARY"):
        print(f"\n{sum(OUTCOMES.values())} commands in {time.monotonic() - started:.1f} s")
        for (name, outcome), count in sorted(OUTCOMES.items()):
            print(f"  {name:22} {outcome:34} {count}")
