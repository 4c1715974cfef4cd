"""Every list command refuses a page token it did not issue for that very list with
INVALID_ARGUMENT on page_token: forged, tampered, random, out of range, or issued for
another list. Nothing a client crafts reaches SQLite (no INTERNAL, ever)."""

from __future__ import annotations

import base64
import json
import random

from google.protobuf.message import Message
from hamcrest import assert_that, equal_to, has_length, is_not

from pm.v1 import envelope_pb2 as env
from tests.boards import TASK, create_item, create_project
from tests.conftest import ClientFactory
from tests.wire import WsClient


def _list_commands() -> list[str]:
    """The ClientMessage fields whose command takes a page_token."""
    return [
        field.name
        for field in env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
        if "page_token" in type(getattr(env.ClientMessage(), field.name)).DESCRIPTOR.fields_by_name
    ]


def _command(name: str, ids: dict[str, str], **paging: object) -> Message:
    command: Message = type(getattr(env.ClientMessage(), name))()
    fields = command.DESCRIPTOR.fields_by_name
    for id_field in ("project_id", "work_item_id"):
        # GetActivity asks for a project or an entity, not both: the project it is.
        if id_field in fields and not (name == "get_activity" and id_field == "work_item_id"):
            setattr(command, id_field, ids[id_field])
    for key, value in paging.items():
        setattr(command, key, value)
    return command


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _crafted(real: str) -> list[str]:
    body, _, mac = real.partition(".")
    cursor = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    huge = {key: 10**30 for key in cursor}
    rng = random.Random(20261202)
    alphabet = "ABCabc019-_.=%+/!{}\"' \x00é"
    return [
        "%%%",
        "x",
        ".",
        "..",
        _b64(b'{"before": 1}'),
        _b64(json.dumps(huge).encode()),
        f"{_b64(json.dumps(huge).encode())}.{mac}",  # the real signature on another cursor
        f"{body}.{_b64(b'0' * 16)}",
        f"{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{mac}",  # one character flipped
        f"{body}.{mac}x",
        f"{body}.{mac}.{mac}",
        "A" * 2000,
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(12)),
    ]


async def _board(connect: ClientFactory) -> tuple[WsClient, dict[str, str]]:
    alice = await connect(roles=["admin"])
    project_id = await create_project(alice, "PM")
    await create_project(alice, "QA")
    root = await create_item(alice, project_id, TASK, "Root")
    for n in range(2):
        await create_item(alice, project_id, TASK, f"Item {n}")
    return alice, {"project_id": project_id, "work_item_id": root.id}


async def test_given_every_list_command_when_sent_crafted_page_tokens_then_each_is_refused(
    connect: ClientFactory,
) -> None:
    alice, ids = await _board(connect)
    issued = await alice.ok("list_projects", _command("list_projects", ids, page_size=1))
    real = issued.next_page_token
    assert_that(real, is_not(equal_to("")))
    names = _list_commands()
    assert_that(names, has_length(9))

    answers: dict[str, list[str]] = {}
    for name in names:
        first_page = await alice.request(name, _command(name, ids, page_size=1))
        assert_that(first_page.WhichOneof("result"), equal_to(name))
        tokens = _crafted(real)
        if name != "list_projects":
            tokens.append(real)  # a genuine token, but of another list
        for token in tokens:
            response = await alice.request(name, _command(name, ids, page_token=token))
            code = env.ErrorCode.Name(response.error.code) if response.HasField("error") else "OK"
            answers.setdefault(name, []).append(f"{code}:{response.error.field}")

    expected = {
        name: ["ERROR_CODE_INVALID_ARGUMENT:page_token"] * len(answers[name]) for name in names
    }
    assert_that(answers, equal_to(expected))


async def test_given_a_token_of_one_project_when_listing_another_then_refused(
    connect: ClientFactory,
) -> None:
    alice, ids = await _board(connect)
    other = await create_project(alice, "OT")
    for n in range(2):
        await create_item(alice, other, TASK, f"Other {n}")
    page = await alice.ok("list_work_items", _command("list_work_items", ids, page_size=1))

    error = await alice.error(
        "list_work_items",
        _command("list_work_items", {**ids, "project_id": other}, page_token=page.next_page_token),
    )

    assert_that(
        (error.code, error.field), equal_to((env.ERROR_CODE_INVALID_ARGUMENT, "page_token"))
    )


async def test_given_a_token_of_another_tenant_when_listing_then_refused(
    connect: ClientFactory,
) -> None:
    alice, ids = await _board(connect)
    page = await alice.ok("list_projects", _command("list_projects", ids, page_size=1))
    dora = await connect(tenant="globex", user="dora")
    for key in ("AA", "BB"):
        await create_project(dora, key)

    error = await dora.error(
        "list_projects", _command("list_projects", {}, page_token=page.next_page_token)
    )

    assert_that(
        (error.code, error.field), equal_to((env.ERROR_CODE_INVALID_ARGUMENT, "page_token"))
    )
