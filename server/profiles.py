"""The tenant's users table kept up to date from the tokens users connect with.

One `UserProfiles` per process (Services.profiles). On each connect it compares the
token's (name, email) with what it last wrote or read for that (tenant, user): the same,
nothing happens, so a reconnect of an unchanged user costs neither a write nor a read. Not
known yet (a new process, or an entry evicted from the bounded cache), the row is read
first; only a new user or a changed name or email is written, through the tenant's writer
as a plain write (no event, no activity row, no idempotency record). A user id longer
than `users.MAX_ID_CHARS` is not recorded.

The cache holds what this process saw; another process serving the same tenant may have
written since, and a user it holds is then only written again once their token changes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from server.auth import Principal
from server.commands import now_ms
from tenants import users
from tenants.database import TenantDatabase

log = logging.getLogger(__name__)

# (tenant, user) pairs remembered, least recently connected evicted first: each entry is a
# few hundred bytes at most (ids of 200 characters, names of 200, emails of 320).
MAX_ENTRIES = 20_000

_Key = tuple[str, str]
_Profile = tuple[str, str]


class UserProfiles:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._known: OrderedDict[_Key, _Profile] = OrderedDict()
        self.writes = 0  # rows written by this process (tests and diagnostics)

    def __len__(self) -> int:
        return len(self._known)

    def forget_tenant(self, tenant_id: str) -> None:
        """Forget what was written for the tenant: its file was replaced (a restore), and
        its users table is the copy's."""
        for key in [k for k in self._known if k[0] == tenant_id]:
            del self._known[key]

    async def remember(self, db: TenantDatabase, principal: Principal) -> None:
        """Record the principal's name and email in its tenant's users table, if changed.

        Never raises for a database failure (the connection goes on without it; the next
        connect tries again); cancellation propagates.
        """
        if len(principal.user_id) > users.MAX_ID_CHARS:
            return  # no ListUsers could name it, nor page past it
        key = (db.tenant_id, principal.user_id)
        wanted = (principal.name, principal.email)
        if self._known.get(key) == wanted:
            self._known.move_to_end(key)
            return
        user_id, name, email = principal.user_id, principal.name, principal.email
        try:
            stored = await db.read(lambda conn: users.get(conn, user_id))
            if stored is None or (stored.name, stored.email) != wanted:
                changed = await db.write(
                    lambda conn: users.remember(conn, user_id, name, email, now_ms())
                )
                self.writes += int(changed)
        except Exception as exc:
            log.warning(
                "tenant %s: remembering user %s failed: %s", db.tenant_id, principal.user_id, exc
            )
            return
        self._known[key] = wanted
        self._known.move_to_end(key)
        while len(self._known) > self._max_entries:
            self._known.popitem(last=False)
