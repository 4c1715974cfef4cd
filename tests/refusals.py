"""A refused command: its error code and field, and proof that nothing changed."""

from __future__ import annotations

from google.protobuf.message import Message
from hamcrest import assert_that, empty, equal_to

from pm.v1 import envelope_pb2 as env
from tests.server_fixture import RunningServer
from tests.tenant_state import snapshot
from tests.wire import WsClient


def code_name(code: int) -> str:
    """ERROR_CODE_… for a known code, so a failing comparison reads well."""
    try:
        return env.ErrorCode.Name(code)
    except ValueError:
        return str(code)


async def assert_refused(
    server: RunningServer,
    client: WsClient,
    name: str,
    command: Message,
    code: int,
    field: str,
    *,
    watcher: WsClient | None = None,
) -> env.Error:
    """`client` sends the command; it fails with code and field, every row of the tenant file
    (entities, activity log, events) is unchanged, and `watcher` (by default the client)
    receives no event. Events queued for the watcher before the command are dropped first."""
    watcher = watcher or client
    await watcher.events_until_quiet()
    before = snapshot(server)

    error = await client.error(name, command)

    assert_that((code_name(error.code), error.field), equal_to((code_name(code), field)))
    assert_that(snapshot(server), equal_to(before))
    assert_that(await watcher.events_until_quiet(), empty())
    return error
