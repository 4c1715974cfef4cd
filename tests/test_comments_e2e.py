"""Comments over the WebSocket, end to end: threads, tombstones, authorship rules."""

from __future__ import annotations

from typing import Any

import pytest
from hamcrest import assert_that, contains_exactly, empty, equal_to, has_length

from pm.v1 import comments_pb2 as msg
from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from tests.boards import UNKNOWN_ID, create_item, create_project
from tests.conftest import ClientFactory
from tests.refusals import assert_refused
from tests.server_fixture import RunningServer
from tests.tenant_state import activity_of
from tests.wire import WsClient

LIMIT = 64 * 1024


async def comment(
    client: WsClient, item_id: str, text: str = "hello", parent_id: str = ""
) -> pb.Comment:
    created = await client.ok(
        "create_comment",
        msg.CreateComment(work_item_id=item_id, content=text, parent_comment_id=parent_id),
    )
    return created.comment  # type: ignore[no-any-return]


async def threads(client: WsClient, item_id: str) -> list[tuple[str, list[str]]]:
    """(content or '<deleted>', [reply contents]) per thread, as listed."""
    listed = await client.ok("list_comments", msg.ListComments(work_item_id=item_id))
    return [
        (
            "<deleted>" if t.comment.deleted else t.comment.content,
            [reply.content for reply in t.replies],
        )
        for t in listed.threads
    ]


async def item_board(connect: ClientFactory) -> tuple[WsClient, str, str]:
    """alice, subscribed to a project with one task, no event pending: (alice, project, item)."""
    alice = await connect(user="alice")
    project_id = await create_project(alice)
    await alice.subscribe(project_id)
    item = await create_item(alice, project_id, title="item")
    await alice.events_until_quiet()
    return alice, project_id, item.id


# CreateComment


async def test_given_an_item_when_commenting_then_project_subscribers_see_the_comment(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice, project_id, item_id = await item_board(connect)
    bob = await connect(user="bob")
    await bob.subscribe(project_id)

    created = await alice.ok(
        "create_comment", msg.CreateComment(work_item_id=item_id, content="**hi**"), "c-1"
    )

    got = created.comment
    assert_that(
        (got.work_item_id, got.author_id, got.content, got.deleted, got.version),
        equal_to((item_id, "alice", "**hi**", False, 1)),
    )
    event = await bob.event()
    assert_that(event.comment_created.comment, equal_to(got))
    assert_that(list(event.project_ids), contains_exactly(project_id))
    assert_that(
        activity_of(server, "c-1"),
        contains_exactly(("comment", got.id, "created", None, None, None)),
    )


async def test_given_another_project_subscriber_when_commenting_then_it_sees_nothing(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    bob = await connect(user="bob")
    await bob.subscribe(await create_project(bob, "OTHER"))

    await comment(alice, item_id)

    assert_that(await bob.events_until_quiet(), empty())


async def test_given_a_reply_when_replying_to_it_then_the_reply_joins_the_top_level_thread(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    top = await comment(alice, item_id, "top")
    reply = await comment(alice, item_id, "reply", top.id)

    nested = await comment(alice, item_id, "reply to reply", reply.id)

    assert_that((reply.parent_comment_id, nested.parent_comment_id), equal_to((top.id, top.id)))
    assert_that(
        await threads(alice, item_id), contains_exactly(("top", ["reply", "reply to reply"]))
    )


async def test_given_exactly_64_kib_of_multibyte_text_when_commenting_then_accepted(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)

    created = await comment(alice, item_id, "é" * (LIMIT // 2))

    assert_that(len(created.content.encode()), equal_to(LIMIT))


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("empty", env.ERROR_CODE_INVALID_ARGUMENT, "content"),
        ("too-large", env.ERROR_CODE_INVALID_ARGUMENT, "content"),
        ("unknown-item", env.ERROR_CODE_NOT_FOUND, "work_item_id"),
        ("bad-item-id", env.ERROR_CODE_INVALID_ARGUMENT, "work_item_id"),
        ("unknown-parent", env.ERROR_CODE_NOT_FOUND, "parent_comment_id"),
        ("parent-on-other-item", env.ERROR_CODE_FAILED_PRECONDITION, "parent_comment_id"),
        ("deleted-parent", env.ERROR_CODE_NOT_FOUND, "parent_comment_id"),
        ("used-id", env.ERROR_CODE_ALREADY_EXISTS, "id"),
    ],
)
async def test_given_a_broken_comment_when_creating_then_refused_and_nothing_changes(
    server: RunningServer, connect: ClientFactory, case: str, code: int, field: str
) -> None:
    alice, project_id, item_id = await item_board(connect)
    other_item = await create_item(alice, project_id, title="item")
    elsewhere = await comment(alice, other_item.id)
    gone = await comment(alice, item_id)
    await alice.ok("delete_comment", msg.DeleteComment(comment_id=gone.id, expected_version=1))
    command = msg.CreateComment(work_item_id=item_id, content="x")
    if case == "empty":
        command.content = ""
    elif case == "too-large":
        command.content = "é" * (LIMIT // 2) + "x"
    elif case == "unknown-item":
        command.work_item_id = UNKNOWN_ID
    elif case == "bad-item-id":
        command.work_item_id = "PM-1"
    elif case == "unknown-parent":
        command.parent_comment_id = UNKNOWN_ID
    elif case == "parent-on-other-item":
        command.parent_comment_id = elsewhere.id
    elif case == "deleted-parent":
        command.parent_comment_id = gone.id
    else:
        command.id = elsewhere.id

    await assert_refused(server, alice, "create_comment", command, code, field)


async def test_given_a_viewer_when_commenting_then_permission_denied(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice, _, item_id = await item_board(connect)
    viewer = await connect(user="vic", roles=["viewer"])
    command = msg.CreateComment(work_item_id=item_id, content="x")

    await assert_refused(
        server, viewer, "create_comment", command, env.ERROR_CODE_PERMISSION_DENIED, ""
    )


# UpdateComment


async def test_given_my_comment_when_editing_it_then_the_change_is_logged_and_published(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice, _, item_id = await item_board(connect)
    mine = await comment(alice, item_id, "old")
    await alice.events_until_quiet()

    updated = await alice.ok(
        "update_comment",
        msg.UpdateComment(comment_id=mine.id, expected_version=1, content="new"),
        "edit-1",
    )

    assert_that((updated.comment.content, updated.comment.version), equal_to(("new", 2)))
    event = await alice.event()
    assert_that(event.comment_updated.comment, equal_to(updated.comment))
    assert_that(
        activity_of(server, "edit-1"),
        contains_exactly(("comment", mine.id, "updated", "content", '"old"', '"new"')),
    )


@pytest.mark.parametrize("roles", [None, ["admin"]], ids=["member", "admin"])
async def test_given_someone_elses_comment_when_editing_it_then_permission_denied(
    server: RunningServer, connect: ClientFactory, roles: list[str] | None
) -> None:
    alice, _, item_id = await item_board(connect)
    theirs = await comment(alice, item_id)
    bob = await connect(user="bob", roles=roles)
    command = msg.UpdateComment(comment_id=theirs.id, expected_version=1, content="mine now")

    await assert_refused(
        server, bob, "update_comment", command, env.ERROR_CODE_PERMISSION_DENIED, "comment_id"
    )


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("stale-version", env.ERROR_CODE_CONFLICT, "expected_version"),
        ("no-version", env.ERROR_CODE_INVALID_ARGUMENT, "expected_version"),
        ("empty", env.ERROR_CODE_INVALID_ARGUMENT, "content"),
        ("too-large", env.ERROR_CODE_INVALID_ARGUMENT, "content"),
        ("deleted", env.ERROR_CODE_NOT_FOUND, "comment_id"),
        ("unknown", env.ERROR_CODE_NOT_FOUND, "comment_id"),
    ],
)
async def test_given_a_broken_edit_when_sent_then_refused_and_nothing_changes(
    server: RunningServer, connect: ClientFactory, case: str, code: int, field: str
) -> None:
    alice, _, item_id = await item_board(connect)
    mine = await comment(alice, item_id, "old")
    command = msg.UpdateComment(comment_id=mine.id, expected_version=1, content="new")
    if case == "stale-version":
        command.expected_version = 2
    elif case == "no-version":
        command.expected_version = 0
    elif case == "empty":
        command.content = ""
    elif case == "too-large":
        command.content = "x" * (LIMIT + 1)
    elif case == "deleted":
        await alice.ok("delete_comment", msg.DeleteComment(comment_id=mine.id, expected_version=1))
    else:
        command.comment_id = UNKNOWN_ID

    error = await assert_refused(server, alice, "update_comment", command, code, field)

    if case == "stale-version":
        assert_that(error.comment, equal_to(mine))


# DeleteComment


async def test_given_a_comment_without_replies_when_deleting_then_it_disappears(
    server: RunningServer, connect: ClientFactory
) -> None:
    alice, _, item_id = await item_board(connect)
    kept = await comment(alice, item_id, "kept")
    gone = await comment(alice, item_id, "gone")
    await alice.events_until_quiet()

    deleted = await alice.ok(
        "delete_comment", msg.DeleteComment(comment_id=gone.id, expected_version=1), "del-c"
    )

    assert_that((deleted.comment_id, deleted.tombstone), equal_to((gone.id, False)))
    event = await alice.event()
    assert_that(
        (event.comment_deleted.comment_id, event.comment_deleted.work_item_id),
        equal_to((gone.id, item_id)),
    )
    assert_that(await threads(alice, item_id), equal_to([(kept.content, [])]))
    assert_that(
        activity_of(server, "del-c"),
        contains_exactly(("comment", gone.id, "deleted", None, None, None)),
    )


async def test_given_a_comment_with_replies_when_deleting_then_it_stays_as_a_tombstone(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    top = await comment(alice, item_id, "secret")
    await comment(alice, item_id, "answer", top.id)

    deleted = await alice.ok(
        "delete_comment", msg.DeleteComment(comment_id=top.id, expected_version=1)
    )

    assert_that(deleted.tombstone, equal_to(True))
    listed = await alice.ok("list_comments", msg.ListComments(work_item_id=item_id))
    tombstone = listed.threads[0].comment
    assert_that(
        (tombstone.id, tombstone.deleted, tombstone.content, tombstone.deleted_by),
        equal_to((top.id, True, "", "alice")),
    )
    assert_that([r.content for r in listed.threads[0].replies], contains_exactly("answer"))


async def test_given_a_tombstone_when_its_last_reply_is_deleted_then_the_thread_disappears(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    top = await comment(alice, item_id, "top")
    reply = await comment(alice, item_id, "reply", top.id)
    await alice.ok("delete_comment", msg.DeleteComment(comment_id=top.id, expected_version=1))

    await alice.ok("delete_comment", msg.DeleteComment(comment_id=reply.id, expected_version=1))

    assert_that(await threads(alice, item_id), empty())


async def test_given_a_tombstone_when_replying_to_one_of_its_replies_then_the_thread_grows(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    top = await comment(alice, item_id, "top")
    reply = await comment(alice, item_id, "first", top.id)
    await alice.ok("delete_comment", msg.DeleteComment(comment_id=top.id, expected_version=1))

    await comment(alice, item_id, "second", reply.id)

    assert_that(await threads(alice, item_id), contains_exactly(("<deleted>", ["first", "second"])))


async def test_given_an_admin_when_deleting_someone_elses_comment_then_it_is_deleted(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    theirs = await comment(alice, item_id)
    admin = await connect(user="ada", roles=["admin"])

    deleted = await admin.ok(
        "delete_comment", msg.DeleteComment(comment_id=theirs.id, expected_version=1)
    )

    assert_that(deleted.comment_id, equal_to(theirs.id))
    assert_that(await threads(alice, item_id), empty())


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("other-member", env.ERROR_CODE_PERMISSION_DENIED, "comment_id"),
        ("stale-version", env.ERROR_CODE_CONFLICT, "expected_version"),
        ("no-version", env.ERROR_CODE_INVALID_ARGUMENT, "expected_version"),
        ("already-deleted", env.ERROR_CODE_NOT_FOUND, "comment_id"),
    ],
)
async def test_given_a_broken_delete_when_sent_then_refused_and_nothing_changes(
    server: RunningServer, connect: ClientFactory, case: str, code: int, field: str
) -> None:
    alice, _, item_id = await item_board(connect)
    mine = await comment(alice, item_id)
    sender = await connect(user="bob") if case == "other-member" else alice
    command = msg.DeleteComment(comment_id=mine.id, expected_version=1)
    if case == "stale-version":
        command.expected_version = 3
    elif case == "no-version":
        command.expected_version = 0
    elif case == "already-deleted":
        await alice.ok("delete_comment", command)

    await assert_refused(server, sender, "delete_comment", command, code, field)


# ListComments


async def test_given_many_threads_when_listing_by_pages_then_oldest_first_each_once(
    connect: ClientFactory,
) -> None:
    alice, _, item_id = await item_board(connect)
    tops = [await comment(alice, item_id, f"t{i}") for i in range(5)]
    await comment(alice, item_id, "r0", tops[0].id)
    await comment(alice, item_id, "r4", tops[4].id)
    seen: list[tuple[str, list[str]]] = []
    token = ""

    for _ in range(3):
        page = await alice.ok(
            "list_comments", msg.ListComments(work_item_id=item_id, page_size=2, page_token=token)
        )
        seen.extend((t.comment.content, [r.content for r in t.replies]) for t in page.threads)
        token = page.next_page_token

    assert_that(
        seen,
        equal_to([("t0", ["r0"]), ("t1", []), ("t2", []), ("t3", []), ("t4", ["r4"])]),
    )
    assert_that(token, equal_to(""))


async def test_given_comments_on_two_items_when_listing_one_then_only_its_threads(
    connect: ClientFactory,
) -> None:
    alice, project_id, item_id = await item_board(connect)
    other = await create_item(alice, project_id, title="item")
    await comment(alice, item_id, "here")
    await comment(alice, other.id, "there")

    assert_that(await threads(alice, item_id), equal_to([("here", [])]))


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (msg.ListComments(work_item_id=UNKNOWN_ID), env.ERROR_CODE_NOT_FOUND, "work_item_id"),
        (msg.ListComments(), env.ERROR_CODE_INVALID_ARGUMENT, "work_item_id"),
        (msg.ListComments(page_size=-1), env.ERROR_CODE_INVALID_ARGUMENT, "page_size"),
        (msg.ListComments(page_token="%%"), env.ERROR_CODE_INVALID_ARGUMENT, "page_token"),
    ],
    ids=["unknown-item", "no-item", "negative-size", "bad-token"],
)
async def test_given_a_bad_list_when_sent_then_refused(
    connect: ClientFactory, command: msg.ListComments, code: int, field: str
) -> None:
    alice, _, item_id = await item_board(connect)
    listing: Any = msg.ListComments()
    listing.CopyFrom(command)
    if field != "work_item_id":
        listing.work_item_id = item_id

    error = await alice.error("list_comments", listing)

    assert_that((error.code, error.field), equal_to((code, field)))


async def test_given_a_viewer_when_listing_comments_then_allowed(connect: ClientFactory) -> None:
    alice, _, item_id = await item_board(connect)
    await comment(alice, item_id)
    viewer = await connect(user="vic", roles=["viewer"])

    listed = await viewer.ok("list_comments", msg.ListComments(work_item_id=item_id))

    assert_that(listed.threads, has_length(1))
