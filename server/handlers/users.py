"""The tenant's users as their tokens last named them: ListUsers, for any role.

Rows are written when a user connects (server/profiles.py), never by a command: there is no
mutation here and no event.
"""

from __future__ import annotations

from collections.abc import Sequence

from pm.v1 import users_pb2 as msg
from server.auth import Role
from server.commands import Commands, ReadContext
from server.paging import page_size
from server.wire.users import user_to_proto
from tenants import users
from tenants.errors import InvalidArgument

commands = Commands()

MAX_USER_IDS = 500
MAX_USER_ID_CHARS = users.MAX_ID_CHARS


def user_ids(values: Sequence[str]) -> list[str] | None:
    """The ids a list is narrowed to, each once in the order given; None: every user."""
    field = "user_ids"
    if len(values) > MAX_USER_IDS:
        raise InvalidArgument(f"at most {MAX_USER_IDS} user ids at once", field=field)
    for value in values:
        if not value:
            raise InvalidArgument("user_ids must not hold an empty id", field=field)
        if len(value) > MAX_USER_ID_CHARS:
            raise InvalidArgument(
                f"user_ids holds an id longer than {MAX_USER_ID_CHARS} characters", field=field
            )
    return list(dict.fromkeys(values)) if values else None


@commands.query("list_users", Role.VIEWER)
def list_users(ctx: ReadContext, cmd: msg.ListUsers) -> msg.ListUsersResult:
    """The tenant's users in id order, or only those of user_ids (unknown ids left out)."""
    wanted = user_ids(cmd.user_ids)
    size = page_size(cmd.page_size)
    cursor = ctx.paging.cursor(cmd, id=str)
    found = users.list_page(
        ctx.conn, user_ids=wanted, after_id=cursor["id"] if cursor else "", limit=size + 1
    )
    page, token = ctx.paging.page(cmd, found, size, user_to_proto, lambda u: {"id": u.id})
    return msg.ListUsersResult(users=page, next_page_token=token)
