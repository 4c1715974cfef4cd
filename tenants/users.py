"""Users repository: the tenant's users as their tokens last named them.

A row is written when a user connects (server/profiles.py), from the token's optional
`name` and `email` claims; it is not an entity of a project (no version, no soft delete)
and its writes carry no event or activity row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tenants import rows

# The longest user id kept (and the longest ListUsers accepts): a token's `sub` may be
# longer, and such a user is not recorded.
MAX_ID_CHARS = 200


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    email: str
    first_seen_at_ms: int
    # When name or email last changed.
    updated_at_ms: int


# One statement: a new user is inserted; a known one is updated only when its name or email
# differs, so an unchanged user changes no row (and nothing is written to the file).
_REMEMBER = (
    "INSERT INTO users (id, name, email, first_seen_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET"
    " name = excluded.name, email = excluded.email, updated_at_ms = excluded.updated_at_ms"
    " WHERE users.name IS NOT excluded.name OR users.email IS NOT excluded.email"
)


def remember(conn: sqlite3.Connection, user_id: str, name: str, email: str, now_ms: int) -> bool:
    """Insert the user, or update its name and email when they differ; whether a row changed."""
    changed = conn.execute(_REMEMBER, (user_id, name, email, now_ms, now_ms)).rowcount
    return changed > 0


def get(conn: sqlite3.Connection, user_id: str) -> UserRecord | None:
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    return rows.to_record(UserRecord, row)


def list_page(
    conn: sqlite3.Connection,
    *,
    user_ids: Sequence[str] | None,
    after_id: str,
    limit: int,
) -> list[UserRecord]:
    """Users ordered by id, starting after after_id ("": from the first); with user_ids, only
    those (unknown ids are left out)."""
    if user_ids is None:
        found = conn.execute(
            "SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()
    elif not user_ids:
        return []
    else:
        marks, bound = rows.in_list(user_ids)
        found = conn.execute(
            f"SELECT * FROM users WHERE id IN ({marks}) AND id > ? ORDER BY id LIMIT ?",
            (*bound, after_id, limit),
        ).fetchall()
    return rows.to_records(UserRecord, found)
