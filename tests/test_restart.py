"""What a client wrote survives a restart of the server on the same data directory."""

from __future__ import annotations

from pathlib import Path

from hamcrest import assert_that, contains_exactly, equal_to

from pm.v1 import projects_pb2 as proj
from pm.v1 import work_items_pb2 as msg
from tests.boards import EPIC, STORY, create_item, create_project
from tests.server_fixture import make_config, run_server
from tests.wire import open_client


async def test_given_items_written_when_the_server_restarts_then_they_are_all_there(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    async with run_server(config) as first:
        alice = await open_client(first.ws_url, first.token())
        project_id = await create_project(alice)
        epic = await create_item(alice, project_id, EPIC, "Epic")
        story = await create_item(alice, project_id, STORY, "Story", parent_id=epic.id)
        moved = await alice.ok(
            "move_work_item",
            msg.MoveWorkItem(work_item_id=story.id, expected_version=1, status="done"),
        )
        projects_before = (await alice.ok("list_projects", proj.ListProjects())).projects
        await alice.close()

    async with run_server(config) as second:
        alice = await open_client(second.ws_url, second.token())
        tree = await alice.ok("get_work_item_tree", msg.GetWorkItemTree(work_item_id=epic.id))
        projects = await alice.ok("list_projects", proj.ListProjects())
        created = await create_item(alice, project_id, STORY, "After restart")
        await alice.close()

    assert_that(list(tree.work_items), contains_exactly(epic, moved.work_item))
    assert_that(list(projects.projects), equal_to(list(projects_before)))
    # Four events were committed before the restart: the project, two items, the move.
    assert_that(alice.welcome.current_seq, equal_to(4))
    assert_that(created.key, equal_to("PM-3"))
