"""The tenants before the run: projects with their lanes and a few items each, learnt into
each tenant's world; then every lazily made part of a tenant warmed once (subscriptions
with a replay, presence, reads on several connections at once), so the baseline taken
after it already holds what a tenant keeps for as long as it stays open."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from google.protobuf.message import Message

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects
from pm.v1 import session_pb2 as session
from pm.v1 import work_items_pb2 as items
from scripts.soak.clients import Credentials, Identity
from scripts.soak.commands import Planned
from scripts.soak.link import Link
from scripts.soak.tally import Tally
from scripts.soak.world import TenantWorld

_LIMIT_S = 30.0
# Connections per tenant reading at once while warming: more than its read connections.
_WARM_LINKS = 3
_WARM_READS = 6


class SeedError(RuntimeError):
    pass


@dataclass(frozen=True)
class Layout:
    tenants: int
    projects: int
    items: int


def tenant_ids(run_id: str, layout: Layout) -> list[str]:
    return [f"soak-{run_id}-{n}" for n in range(layout.tenants)]


async def seed(
    url: str, credentials: Credentials, layout: Layout, run_id: str, rng: random.Random
) -> list[TenantWorld]:
    return list(
        await asyncio.gather(
            *(
                _seed_tenant(url, credentials, tenant, layout, rng)
                for tenant in tenant_ids(run_id, layout)
            )
        )
    )


class _Seeder:
    """An admin's connection that insists: a seed command must succeed."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.sent = 0

    async def ok(self, name: str, command: Message) -> Message:
        self.sent += 1
        response = await self.link.call(
            Planned("seed", name, command), f"seed-{self.sent}-{id(self)}", _LIMIT_S
        )
        if response.HasField("error"):
            code = env.ErrorCode.Name(response.error.code)
            raise SeedError(f"{name} for the seed failed: {code} {response.error.message}")
        result: Message = getattr(response, name)
        return result


async def _seed_tenant(
    url: str, credentials: Credentials, tenant: str, layout: Layout, rng: random.Random
) -> TenantWorld:
    admin = Identity(tenant, "seeder", "admin")
    world = TenantWorld(tenant, lanes={})
    scratch = Tally()  # the seed's own commands are not the run's
    link = await Link.open(url, credentials.token(admin), scratch, world, _LIMIT_S)
    seeder = _Seeder(link)
    try:
        for n in range(layout.projects):
            created = await seeder.ok(
                "create_project", projects.CreateProject(key=f"S{n + 1}", name=f"Soak {n + 1}")
            )
            assert isinstance(created, projects.CreateProjectResult)
            world.lanes[created.project.id] = [lane.status_value for lane in created.lanes]
            await _seed_items(seeder, world, created.project.id, layout.items, rng)
    finally:
        await link.close(_LIMIT_S)
        await link.finish(_LIMIT_S)
    await _warm(url, credentials, world, rng)
    return world


async def _seed_items(
    seeder: _Seeder, world: TenantWorld, project_id: str, count: int, rng: random.Random
) -> None:
    epic = ""
    stories: list[str] = []
    for n in range(count):
        if n == 0:
            kind, parent = pb.WORK_ITEM_TYPE_EPIC, ""
        elif n % 4 == 1:
            kind, parent = pb.WORK_ITEM_TYPE_STORY, epic
        else:
            kind, parent = pb.WORK_ITEM_TYPE_TASK, rng.choice(stories) if stories else ""
        created = await seeder.ok(
            "create_work_item",
            items.CreateWorkItem(
                project_id=project_id,
                type=kind,
                title=f"seed {n}",
                parent_id=parent,
                status=rng.choice(world.lanes[project_id]),
            ),
        )
        assert isinstance(created, items.CreateWorkItemResult)
        world.learn_item(created.work_item)
        if kind == pb.WORK_ITEM_TYPE_EPIC:
            epic = created.work_item.id
        elif kind == pb.WORK_ITEM_TYPE_STORY:
            stories.append(created.work_item.id)


async def _warm(url: str, credentials: Credentials, world: TenantWorld, rng: random.Random) -> None:
    scratch = Tally()
    # What the replays bring is known already: a world of their own keeps it apart.
    seen = TenantWorld(world.tenant_id, lanes=world.lanes)
    links = [
        await Link.open(
            url,
            credentials.token(Identity(world.tenant_id, f"warmer-{n}", "member")),
            scratch,
            seen,
            _LIMIT_S,
        )
        for n in range(_WARM_LINKS)
    ]
    try:
        await asyncio.gather(*(_warm_one(link, world, rng) for link in links))
    finally:
        for link in links:
            await link.close(_LIMIT_S)
            await link.finish(_LIMIT_S)


async def _warm_one(link: Link, world: TenantWorld, rng: random.Random) -> None:
    seeder = _Seeder(link)
    await seeder.ok(
        "subscribe",
        session.Subscribe(
            project_ids=world.projects, tenant_feed=True, since_seq=0, epoch=link.welcome.epoch
        ),
    )
    project = rng.choice(world.projects)
    await seeder.ok("set_viewing", session.SetViewing(project_id=project))
    reads = [
        seeder.ok("list_work_items", items.ListWorkItems(project_id=p, page_size=100))
        for p in world.projects
        for _ in range(max(1, _WARM_READS // len(world.projects)))
    ]
    await asyncio.gather(*reads)
