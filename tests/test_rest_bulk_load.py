"""Bulk load over REST, then follow over a WebSocket: the context body and its current_seq
agree, so load + subscribe(since_seq) misses nothing and sees nothing twice while writers
keep changing the project."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hamcrest import assert_that, equal_to, greater_than

from pm.v1 import envelope_pb2 as env
from pm.v1 import work_items_pb2 as items_msg
from tests.boards import create_item, create_project
from tests.conftest import ClientFactory
from tests.rest import check_against_openapi, get, openapi
from tests.server_fixture import RunningServer
from tests.wire import WsClient

CONTEXT = "/api/v1/projects/{project_id}/context"
STATUSES = ("backlog", "in_progress", "in_review", "done")
WRITERS = 3
# Writes each writer makes before the load, and again after it (while the follower listens).
WRITES_BEFORE = 6
WRITES_AFTER = 6

Model = dict[str, tuple[str, str, int]]  # item id -> (title, status, version)


@dataclass
class Writer:
    """Keeps creating items, renaming and moving them until told to stop."""

    client: WsClient
    project_id: str
    name: str
    writes: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reached: dict[int, asyncio.Event] = field(default_factory=dict)

    def after(self, writes: int) -> asyncio.Event:
        """Set once this writer has made `writes` writes (counted from now)."""
        target = self.writes + writes
        event = self.reached.setdefault(target, asyncio.Event())
        if self.writes >= target:
            event.set()
        return event

    def _wrote(self) -> None:
        self.writes += 1
        for target, event in self.reached.items():
            if self.writes >= target:
                event.set()

    async def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            item = await create_item(self.client, self.project_id, title=f"{self.name} {n}")
            self._wrote()
            renamed = await self.client.ok(
                "update_work_item",
                items_msg.UpdateWorkItem(
                    work_item_id=item.id, expected_version=item.version, title=f"{self.name} {n}b"
                ),
            )
            self._wrote()
            await self.client.ok(
                "move_work_item",
                items_msg.MoveWorkItem(
                    work_item_id=item.id,
                    expected_version=renamed.work_item.version,
                    status=STATUSES[n % len(STATUSES)],
                ),
            )
            self._wrote()


def model_of(body: dict[str, Any]) -> Model:
    return {
        item["id"]: (item["title"], item["status"], item["version"]) for item in body["work_items"]
    }


def apply(model: Model, event: env.Event) -> None:
    kind = event.WhichOneof("change")
    assert not event.truncated, f"unexpected truncated {kind} event"
    if kind in ("work_item_created", "work_item_updated", "work_item_moved"):
        item = getattr(event, kind).work_item
        model[item.id] = (item.title, item.status, item.version)
    elif kind == "work_item_deleted":
        for item_id in event.work_item_deleted.work_item_ids:
            model.pop(item_id, None)
    elif kind == "work_item_restored":
        for item in event.work_item_restored.work_items:
            model[item.id] = (item.title, item.status, item.version)
    elif kind == "work_items_reranked":
        for change in event.work_items_reranked.ranks:
            if change.work_item_id in model:
                title, status, _ = model[change.work_item_id]
                model[change.work_item_id] = (title, status, change.version)


async def test_given_writers_busy_when_a_project_is_loaded_and_followed_then_the_model_matches(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice = await connect(user="alice")
    project_id = await create_project(alice, "PM")
    for n in range(5):
        await create_item(alice, project_id, title=f"seed {n}")
    writers = [
        Writer(await connect(user=f"writer{i}"), project_id, f"w{i}") for i in range(WRITERS)
    ]
    tasks = [asyncio.create_task(w.run()) for w in writers]
    try:
        await asyncio.gather(*(w.after(WRITES_BEFORE).wait() for w in writers))

        loaded = await get(server, f"/projects/{project_id}/context", server.token())
        assert_that(loaded.status_code, equal_to(200), loaded.text)
        body = loaded.json()
        model = model_of(body)
        follower = await connect(user="follower", roles=["viewer"])
        subscribed = await follower.subscribe(
            project_id, since_seq=body["current_seq"], epoch=body["epoch"]
        )
        assert_that(subscribed.epoch, equal_to(body["epoch"]))

        await asyncio.gather(*(w.after(WRITES_AFTER).wait() for w in writers))
    finally:
        for w in writers:
            w.stop.set()
        await asyncio.gather(*tasks)

    events = await follower.events_until_quiet()
    seqs = [e.seq for e in events]
    assert_that(seqs, equal_to(sorted(set(seqs))))  # increasing: no duplicate
    assert_that(min(seqs), greater_than(body["current_seq"]))
    for event in events:
        apply(model, event)
    final = await get(server, f"/projects/{project_id}/context", server.token())
    check_against_openapi(await openapi(server), CONTEXT, final)
    final_body = final.json()

    assert_that(max(seqs), equal_to(final_body["current_seq"]))
    assert_that(model, equal_to(model_of(final_body)))
    assert_that(len(model), greater_than(5 + WRITERS * (WRITES_BEFORE + WRITES_AFTER) // 3 - 1))
