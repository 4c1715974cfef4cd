"""The activity query over the WebSocket, end to end: entity history, project activity."""

from __future__ import annotations

import base64
import json
import time

import pytest
from hamcrest import assert_that, contains_exactly, equal_to, has_length, is_in

from pm.v1 import activity_pb2 as msg
from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import dependencies_pb2 as deps_msg
from pm.v1 import envelope_pb2 as env
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from pm.v1.entities_pb2 import DEPENDENCY_TYPE_BLOCKS, WORK_ITEM_TYPE_TASK
from tests.boards import UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.wire import WsClient

HOUR = 3_600_000
# A cursor as the server once encoded it, without the signature every token now carries.
UNSIGNED_CURSOR = base64.urlsafe_b64encode(b'{"before":1}').decode().rstrip("=")


async def project_with_item(client: WsClient, key: str = "PM") -> tuple[str, str]:
    project_id = await create_project(client, key)
    item = await create_item(client, project_id, title="Task")
    return project_id, item.id


async def test_given_an_updated_time_entry_when_asking_its_history_then_newest_comes_first(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    _, item_id = await project_with_item(alice)
    now = int(time.time() * 1000)
    created = await alice.ok(
        "create_time_entry",
        time_msg.CreateTimeEntry(
            work_item_id=item_id, started_at_ms=now - 2 * HOUR, ended_at_ms=now - HOUR
        ),
    )
    entry_id = created.time_entry.id
    await alice.ok(
        "update_time_entry",
        time_msg.UpdateTimeEntry(time_entry_id=entry_id, expected_version=1, note="pairing"),
        request_id="update-note",
    )

    history = await alice.ok(
        "get_activity", msg.GetActivity(entity_type="time_entry", entity_id=entry_id)
    )

    assert_that(
        [(e.action, e.field) for e in history.entries],
        contains_exactly(("updated", "note"), ("created", "")),
    )
    newest = history.entries[0]
    assert_that(
        (json.loads(newest.old_json), json.loads(newest.new_json)), equal_to(("", "pairing"))
    )
    assert_that((newest.actor_id, newest.request_id), equal_to(("alice", "update-note")))
    assert_that(newest.seq > history.entries[1].seq, equal_to(True))
    assert_that(history.next_page_token, equal_to(""))


async def test_given_a_deleted_entity_when_asking_its_history_then_it_is_still_there(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    _, item_id = await project_with_item(alice)
    started = await alice.ok("start_timer", time_msg.StartTimer(work_item_id=item_id))
    await alice.ok(
        "delete_time_entry",
        time_msg.DeleteTimeEntry(time_entry_id=started.started.id, expected_version=1),
    )

    history = await alice.ok(
        "get_activity", msg.GetActivity(entity_type="time_entry", entity_id=started.started.id)
    )

    assert_that([e.action for e in history.entries], contains_exactly("deleted", "created"))


async def test_given_a_deleted_comment_when_asking_its_history_then_its_text_is_gone(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    _, item_id = await project_with_item(alice)
    created = await alice.ok(
        "create_comment", comments_msg.CreateComment(work_item_id=item_id, content="secret v1")
    )
    comment_id = created.comment.id
    await alice.ok(
        "update_comment",
        comments_msg.UpdateComment(comment_id=comment_id, expected_version=1, content="v2"),
    )
    before_delete = await alice.ok(
        "get_activity", msg.GetActivity(entity_type="comment", entity_id=comment_id)
    )
    await alice.ok(
        "delete_comment", comments_msg.DeleteComment(comment_id=comment_id, expected_version=2)
    )

    history = await alice.ok(
        "get_activity", msg.GetActivity(entity_type="comment", entity_id=comment_id)
    )

    assert_that(
        [(e.field, e.old_json, e.new_json) for e in before_delete.entries if e.field],
        contains_exactly(("content", '"secret v1"', '"v2"')),
    )
    assert_that(
        [e.action for e in history.entries], contains_exactly("deleted", "updated", "created")
    )
    assert_that(
        [(e.field, e.old_json, e.new_json) for e in history.entries if e.field],
        contains_exactly(("content", "null", "null")),
    )


async def test_given_a_timer_switch_when_asking_the_stopped_entrys_history_then_stop_is_logged(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    _, item_id = await project_with_item(alice)
    first = await alice.ok("start_timer", time_msg.StartTimer(work_item_id=item_id))
    await alice.ok("start_timer", time_msg.StartTimer(work_item_id=item_id))

    history = await alice.ok(
        "get_activity", msg.GetActivity(entity_type="time_entry", entity_id=first.started.id)
    )

    actions = [(e.action, e.field) for e in history.entries]
    # A stop inside the first second leaves duration_seconds at 0: no row for it then.
    assert_that(actions[-1], equal_to(("created", "")))
    assert_that(("stopped", "ended_at_ms"), is_in(actions))
    assert_that({action for action, _ in actions[:-1]}, equal_to({"stopped"}))


async def test_given_a_busy_project_when_paging_its_activity_then_every_row_comes_once(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id, item_id = await project_with_item(alice)
    other = await alice.ok(
        "create_work_item",
        items_msg.CreateWorkItem(project_id=project_id, type=WORK_ITEM_TYPE_TASK, title="Two"),
    )
    await alice.ok(
        "create_dependency",
        deps_msg.CreateDependency(
            from_item_id=item_id, to_item_id=other.work_item.id, type=DEPENDENCY_TYPE_BLOCKS
        ),
    )
    await project_with_item(alice, "WEB")

    seen: list[int] = []
    token = ""
    while True:
        page = await alice.ok(
            "get_activity", msg.GetActivity(project_id=project_id, page_size=3, page_token=token)
        )
        assert_that(len(page.entries) <= 3, equal_to(True))
        seen.extend(e.id for e in page.entries)
        assert_that({e.project_id for e in page.entries} <= {project_id}, equal_to(True))
        token = page.next_page_token
        if not token:
            break

    # project + 4 lanes + 2 items + 1 dependency; WEB's rows stay out.
    assert_that(seen, has_length(8))
    assert_that(seen, equal_to(sorted(seen, reverse=True)))
    newest = await alice.ok("get_activity", msg.GetActivity(project_id=project_id, page_size=1))
    assert_that(
        (newest.entries[0].entity_type, newest.entries[0].action),
        equal_to(("dependency", "created")),
    )


async def test_given_a_viewer_when_asking_for_activity_then_it_is_allowed(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    project_id, _ = await project_with_item(alice)
    viewer = await connect(user="vera", roles=["viewer"])

    result = await viewer.ok("get_activity", msg.GetActivity(project_id=project_id))

    assert_that(result.entries, has_length(6))


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (msg.GetActivity(), env.ERROR_CODE_INVALID_ARGUMENT, "entity_type"),
        (
            msg.GetActivity(entity_type="work_item", entity_id=UNKNOWN_ID, project_id=UNKNOWN_ID),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "project_id",
        ),
        (
            msg.GetActivity(entity_type="planet", entity_id=UNKNOWN_ID),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "entity_type",
        ),
        (
            msg.GetActivity(entity_type="work_item", entity_id="not-a-uuid"),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "entity_id",
        ),
        (
            msg.GetActivity(entity_type="work_item"),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "entity_id",
        ),
        (
            msg.GetActivity(entity_type="dependency", entity_id=UNKNOWN_ID),
            env.ERROR_CODE_NOT_FOUND,
            "entity_id",
        ),
        (msg.GetActivity(project_id=UNKNOWN_ID), env.ERROR_CODE_NOT_FOUND, "project_id"),
        (
            msg.GetActivity(project_id=UNKNOWN_ID, page_token="%%%"),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "page_token",
        ),
        (
            msg.GetActivity(project_id=UNKNOWN_ID, page_token=UNSIGNED_CURSOR),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "page_token",
        ),
        (
            msg.GetActivity(project_id=UNKNOWN_ID, page_size=-1),
            env.ERROR_CODE_INVALID_ARGUMENT,
            "page_size",
        ),
    ],
)
async def test_given_a_bad_activity_query_then_its_error_names_the_field(
    connect: ClientFactory, command: msg.GetActivity, code: int, field: str
) -> None:
    alice = await connect()

    error = await alice.error("get_activity", command)

    assert_that((error.code, error.field), equal_to((code, field)))


async def test_given_another_tenants_project_when_asking_its_activity_then_not_found(
    connect: ClientFactory,
) -> None:
    alice = await connect(tenant="acme")
    dora = await connect(tenant="globex", user="dora")
    project_id, _ = await project_with_item(alice)
    await project_with_item(dora)

    error = await dora.error("get_activity", msg.GetActivity(project_id=project_id))

    assert_that((error.code, error.field), equal_to((env.ERROR_CODE_NOT_FOUND, "project_id")))


async def test_given_a_cross_project_edge_when_its_blocked_item_is_deleted_then_filed_at_source(
    connect: ClientFactory,
) -> None:
    alice = await connect()
    source_project, blocker = await project_with_item(alice, "PM")
    _, blocked = await project_with_item(alice, "WEB")
    created = await alice.ok(
        "create_dependency",
        deps_msg.CreateDependency(
            from_item_id=blocker, to_item_id=blocked, type=DEPENDENCY_TYPE_BLOCKS
        ),
    )
    await alice.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=blocked, expected_version=1)
    )

    history = await alice.ok(
        "get_activity",
        msg.GetActivity(entity_type="dependency", entity_id=created.dependency.id),
    )

    assert_that(
        [(e.action, e.project_id) for e in history.entries],
        contains_exactly(("deleted", source_project), ("created", source_project)),
    )
