"""PurgeDeleted end to end: real frames to a real server, deletions aged in the file.

Rows deleted more than older_than_days ago go for good with what hangs only on them and
their search-index entries; younger deletions, the activity log and tombstones that still
have live replies stay; a purged project's key stays taken. Refusals change nothing.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass

from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length

from pm.v1 import activity_pb2 as activity_msg
from pm.v1 import comments_pb2 as comments_msg
from pm.v1 import dependencies_pb2 as deps_msg
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import projects_pb2 as projects_msg
from pm.v1 import sprints_pb2 as sprints_msg
from pm.v1 import time_entries_pb2 as time_msg
from pm.v1 import work_items_pb2 as items_msg
from tenants import search
from tests.boards import EPIC, STORY, TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.server_fixture import RunningServer
from tests.tenant_state import count, rows, snapshot, tenant_file
from tests.wire import WsClient

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000


@dataclass
class Deleted:
    """The ids of a board where almost everything was deleted, some of it long ago."""

    project_id: str
    epic: str
    story: str
    live_task: str
    young_task: str
    tombstone: str
    live_reply: str
    purged_thread: str
    waiting_thread: str
    young_reply: str
    old_project: str


async def _comment(client: WsClient, item_id: str, text: str, parent: str = "") -> str:
    created = await client.ok(
        "create_comment",
        comments_msg.CreateComment(work_item_id=item_id, content=text, parent_comment_id=parent),
    )
    return str(created.comment.id)


async def _delete_comment(client: WsClient, comment_id: str, version: int = 1) -> None:
    await client.ok(
        "delete_comment",
        comments_msg.DeleteComment(comment_id=comment_id, expected_version=version),
    )


async def _deleted_board(admin: WsClient) -> Deleted:
    project_id = await create_project(admin, "PM")
    epic = await create_item(admin, project_id, EPIC, "epic")
    story = await create_item(admin, project_id, STORY, "story", parent_id=epic.id)
    live_task = await create_item(admin, project_id, TASK, "live task")
    young_task = await create_item(admin, project_id, TASK, "young task")
    # What hangs on the story: a live comment, a time entry, a dependency on a live item.
    await _comment(admin, story.id, "zanzibar on a purged item")
    now = int(time.time() * 1000)
    await admin.ok(
        "create_time_entry",
        time_msg.CreateTimeEntry(
            work_item_id=story.id, started_at_ms=now - 2 * HOUR_MS, ended_at_ms=now - HOUR_MS
        ),
    )
    await admin.ok(
        "create_dependency",
        deps_msg.CreateDependency(
            from_item_id=story.id, to_item_id=live_task.id, type=pb.DEPENDENCY_TYPE_BLOCKS
        ),
    )
    # Threads on the live task: a tombstone with a live reply; a thread deleted whole; a
    # thread whose reply was deleted recently.
    tombstone = await _comment(admin, live_task.id, "tombstone")
    live_reply = await _comment(admin, live_task.id, "live reply", tombstone)
    purged_thread = await _comment(admin, live_task.id, "purged thread")
    purged_reply = await _comment(admin, live_task.id, "purged reply", purged_thread)
    waiting_thread = await _comment(admin, live_task.id, "waiting thread")
    young_reply = await _comment(admin, live_task.id, "young reply", waiting_thread)
    await admin.ok(
        "update_comment",
        comments_msg.UpdateComment(
            comment_id=purged_thread, expected_version=1, content="an edited secret"
        ),
    )
    for comment_id in (tombstone, purged_reply, waiting_thread, young_reply):
        await _delete_comment(admin, comment_id)
    await _delete_comment(admin, purged_thread, version=2)
    # A sprint and a lane of the live project, deleted.
    sprint = await admin.ok(
        "create_sprint",
        sprints_msg.CreateSprint(
            project_id=project_id, name="S1", start_date_ms=now, end_date_ms=now + 7 * DAY_MS
        ),
    )
    await admin.ok(
        "delete_sprint", sprints_msg.DeleteSprint(sprint_id=sprint.sprint.id, expected_version=1)
    )
    lane = await admin.ok(
        "create_swim_lane",
        projects_msg.CreateSwimLane(project_id=project_id, name="QA", status_value="qa"),
    )
    await admin.ok(
        "delete_swim_lane",
        projects_msg.DeleteSwimLane(lane_id=lane.lane.id, expected_version=1),
    )
    for item in (epic, young_task):  # the epic takes the story, its dependency with it
        await admin.ok(
            "delete_work_item", items_msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)
        )
    old_project = await create_project(admin, "OLD")
    await create_item(admin, old_project, TASK, "in the old project")
    await admin.ok(
        "delete_project", projects_msg.DeleteProject(project_id=old_project, expected_version=1)
    )
    return Deleted(
        project_id,
        epic.id,
        story.id,
        live_task.id,
        young_task.id,
        tombstone,
        live_reply,
        purged_thread,
        waiting_thread,
        young_reply,
        old_project,
    )


_DELETABLE = ("projects", "swim_lanes", "sprints", "work_items", "comments", "time_entries")


def _age_deletions(server: RunningServer, days: int, *, except_ids: tuple[str, ...]) -> None:
    """Move every deletion `days` into the past, but those of except_ids (kept young)."""
    marks = ",".join("?" * len(except_ids))
    with closing(sqlite3.connect(tenant_file(server), isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout = 5000")
        for table in (*_DELETABLE, "dependencies"):
            conn.execute(
                f"UPDATE {table} SET deleted_at = deleted_at - ? WHERE deleted_at IS NOT NULL"
                f" AND id NOT IN ({marks})",
                (days * DAY_MS, *except_ids),
            )


def _ids(server: RunningServer, table: str) -> set[str]:
    return {str(row[0]) for row in rows(server, f"SELECT id FROM {table}")}


def _fts_hits(server: RunningServer, word: str) -> int:
    found = rows(server, "SELECT COUNT(*) FROM comments_fts WHERE comments_fts MATCH ?", word)
    return int(found[0][0])


def _search_index_is_whole(server: RunningServer) -> bool:
    with closing(sqlite3.connect(tenant_file(server), isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout = 5000")
        search.integrity_check(conn)  # raises unless the indexes hold exactly the live rows
    return True


async def test_given_old_and_young_deletions_when_purged_then_only_the_old_go_for_good(
    server: RunningServer, connect: ClientFactory
) -> None:
    started = int(time.time() * 1000)
    admin = await connect(user="ada", roles=["admin"])
    board = await _deleted_board(admin)
    watcher = await connect(user="wendy", roles=["viewer"])
    await watcher.subscribe(board.project_id, tenant_feed=True)
    _age_deletions(server, 40, except_ids=(board.young_task, board.young_reply))
    activity_before = rows(server, "SELECT * FROM activity_log ORDER BY id")
    events_before = count(server, "events")
    hits_before = _fts_hits(server, "zanzibar")

    purged = await admin.ok("purge_deleted", activity_msg.PurgeDeleted(older_than_days=30))

    events_seen = await watcher.events_until_quiet()
    threads = await admin.ok(
        "list_comments", comments_msg.ListComments(work_item_id=board.live_task)
    )
    story_history = await admin.ok(
        "get_activity", activity_msg.GetActivity(entity_type="work_item", entity_id=board.story)
    )
    thread_history = await admin.ok(
        "get_activity",
        activity_msg.GetActivity(entity_type="comment", entity_id=board.purged_thread),
    )
    reused_key = await admin.error(
        "create_project", projects_msg.CreateProject(key="OLD", name="x")
    )
    again = await admin.ok("purge_deleted", activity_msg.PurgeDeleted(older_than_days=30))

    counts = (
        purged.projects,
        purged.swim_lanes,
        purged.sprints,
        purged.work_items,
        purged.comments,
        purged.time_entries,
        purged.dependencies,
    )
    # OLD and its 4 lanes; PM's QA lane; the sprint; epic, story, OLD's task; the story's
    # comment and the thread deleted whole (2); the story's time entry and dependency.
    assert_that(counts, equal_to((1, 5, 1, 3, 3, 1, 1)))
    assert_that(_ids(server, "projects"), equal_to({board.project_id}))
    assert_that(_ids(server, "work_items"), equal_to({board.live_task, board.young_task}))
    assert_that(
        _ids(server, "comments"),
        equal_to({board.tombstone, board.live_reply, board.waiting_thread, board.young_reply}),
    )
    assert_that(count(server, "time_entries") + count(server, "dependencies"), equal_to(0))
    assert_that(count(server, "sprints"), equal_to(0))
    assert_that(rows(server, "SELECT key FROM retired_project_keys"), equal_to([("OLD",)]))
    # The audit trail is whole; no event was written or sent.
    assert_that(rows(server, "SELECT * FROM activity_log ORDER BY id"), equal_to(activity_before))
    assert_that(count(server, "events"), equal_to(events_before))
    assert_that(events_seen, empty())
    # The purged item's comment left the search index with it.
    assert_that((hits_before, _fts_hits(server, "zanzibar")), equal_to((1, 0)))
    assert_that(_search_index_is_whole(server), equal_to(True))
    # The tombstone keeps its live reply's thread.
    [thread] = threads.threads
    assert_that(thread.comment.id, equal_to(board.tombstone))
    assert_that([r.id for r in thread.replies], contains_exactly(board.live_reply))
    # Purged entities keep their history; a purged comment's text stays hidden.
    assert_that([e.action for e in story_history.entries], contains_exactly("deleted", "created"))
    assert_that(
        [(e.action, e.old_json, e.new_json) for e in thread_history.entries if e.field],
        equal_to([("updated", "null", "null")]),
    )
    assert_that(thread_history.entries, has_length(3))
    assert_that(reused_key.code, equal_to(env.ERROR_CODE_ALREADY_EXISTS))
    assert_that(again.work_items + again.comments + again.projects, equal_to(0))
    assert_that(started - 30 * DAY_MS <= purged.cutoff_ms <= again.cutoff_ms, equal_to(True))


async def test_given_a_purge_when_retried_with_its_request_id_then_the_first_answer_returns(
    server: RunningServer, connect: ClientFactory
) -> None:
    admin = await connect(user="ada", roles=["admin"])
    project_id = await create_project(admin, "PM")
    item = await create_item(admin, project_id, TASK, "gone")
    await admin.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)
    )
    _age_deletions(server, 31, except_ids=("",))
    command = activity_msg.PurgeDeleted(older_than_days=30)

    first = await admin.request("purge_deleted", command, request_id="purge-1")
    state = snapshot(server)
    retried = await admin.request("purge_deleted", command, request_id="purge-1")

    assert_that(first.purge_deleted.work_items, equal_to(1))
    assert_that(retried, equal_to(first))
    assert_that(snapshot(server), equal_to(state))


async def test_given_a_short_window_or_a_non_admin_when_purging_then_refused_and_unchanged(
    server: RunningServer, connect: ClientFactory
) -> None:
    admin = await connect(user="ada", roles=["admin"])
    member = await connect(user="mel", roles=["member"])
    project_id = await create_project(admin, "PM")
    item = await create_item(admin, project_id, TASK, "gone")
    await admin.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)
    )
    _age_deletions(server, 100, except_ids=("",))
    before = snapshot(server)

    too_short = await admin.error("purge_deleted", activity_msg.PurgeDeleted(older_than_days=29))
    negative = await admin.error("purge_deleted", activity_msg.PurgeDeleted(older_than_days=-5))
    denied = await member.error("purge_deleted", activity_msg.PurgeDeleted(older_than_days=90))

    assert_that(
        [(e.code, e.field) for e in (too_short, negative)],
        equal_to([(env.ERROR_CODE_INVALID_ARGUMENT, "older_than_days")] * 2),
    )
    assert_that(denied.code, equal_to(env.ERROR_CODE_PERMISSION_DENIED))
    assert_that(snapshot(server), equal_to(before))


async def test_given_deletions_younger_than_the_window_when_purged_then_nothing_changes(
    server: RunningServer, connect: ClientFactory
) -> None:
    admin = await connect(user="ada", roles=["admin"])
    project_id = await create_project(admin, "PM")
    item = await create_item(admin, project_id, TASK, "recent")
    await admin.ok(
        "delete_work_item", items_msg.DeleteWorkItem(work_item_id=item.id, expected_version=1)
    )
    _age_deletions(server, 20, except_ids=("",))
    before = snapshot(server)

    result = await admin.ok("purge_deleted", activity_msg.PurgeDeleted(older_than_days=30))

    assert_that(result.work_items, equal_to(0))
    assert_that(snapshot(server), equal_to(before))
