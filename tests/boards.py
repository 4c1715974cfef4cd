"""Setting up a tenant over the wire: projects, work items, and a watching subscriber."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pm.v1 import entities_pb2 as pb
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import work_items_pb2 as items_msg
from tests.conftest import ClientFactory
from tests.wire import WsClient

EPIC, STORY, TASK, BUG = (
    pb.WORK_ITEM_TYPE_EPIC,
    pb.WORK_ITEM_TYPE_STORY,
    pb.WORK_ITEM_TYPE_TASK,
    pb.WORK_ITEM_TYPE_BUG,
)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def create_project(client: WsClient, key: str = "PM", name: str | None = None) -> str:
    """A project named after its key unless a name is given; its id."""
    created = await client.ok(
        "create_project", projects_msg.CreateProject(key=key, name=key if name is None else name)
    )
    return str(created.project.id)


async def make_project(client: WsClient, key: str = "PM", name: str = "Project") -> Any:
    """The whole CreateProjectResult: the project and its default lanes."""
    return await client.ok("create_project", projects_msg.CreateProject(key=key, name=name))


async def create_item(
    client: WsClient,
    project_id: str,
    type: pb.WorkItemType = TASK,
    title: str = "Item",
    **fields: Any,
) -> pb.WorkItem:
    created = await client.ok(
        "create_work_item",
        items_msg.CreateWorkItem(project_id=project_id, type=type, title=title, **fields),
    )
    item: pb.WorkItem = created.work_item
    return item


@dataclass
class Board:
    """alice with project PM and its tasks; a viewer ("watcher") subscribed to PM."""

    alice: WsClient
    watcher: WsClient
    project_id: str
    items: list[str]

    @property
    def item_id(self) -> str:
        return self.items[0]


async def board(connect: ClientFactory, items: int = 1, title: str = "Task") -> Board:
    alice = await connect(user="alice")
    project_id = await create_project(alice, "PM")
    ids = [(await create_item(alice, project_id, title=title)).id for _ in range(items)]
    watcher = await connect(user="watcher", roles=["viewer"])
    await watcher.subscribe(project_id)
    return Board(alice, watcher, project_id, ids)


async def watching(connect: ClientFactory, project_id: str, tenant: str = "acme") -> WsClient:
    """A viewer subscribed to the project and to the tenant feed."""
    watcher = await connect(tenant=tenant, user="wendy", roles=["viewer"])
    await watcher.subscribe(project_id, tenant_feed=True)
    return watcher
