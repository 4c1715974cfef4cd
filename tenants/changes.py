"""ChangeSet: what one mutation writes besides its entity rows.

Repositories change rows; the ChangeSet collects the activity rows as they go and, at the
end, appends the one event and stamps every activity row with its seq, all inside the
mutation's own transaction (savepoint).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from tenants import activity, event_log
from tenants.activity import ActivityItem
from tenants.event_log import StoredEvent


class ChangeSet:
    def __init__(
        self, conn: sqlite3.Connection, *, actor_id: str, request_id: str, now_ms: int
    ) -> None:
        self.conn = conn
        self.actor_id = actor_id
        self.request_id = request_id
        self.now_ms = now_ms
        self.items: list[ActivityItem] = []

    def log(
        self,
        entity_type: str,
        entity_id: str,
        project_id: str | None,
        action: str,
        field: str | None = None,
        old_json: str | None = None,
        new_json: str | None = None,
    ) -> None:
        self.items.append(
            ActivityItem(entity_type, entity_id, project_id, action, field, old_json, new_json)
        )

    def append_event(
        self, *, project_ids: Iterable[str], tenant_level: bool, payload: bytes
    ) -> StoredEvent:
        event = event_log.append(
            self.conn,
            project_ids=project_ids,
            tenant_level=tenant_level,
            occurred_at=self.now_ms,
            actor_id=self.actor_id,
            request_id=self.request_id,
            payload=payload,
        )
        activity.insert(
            self.conn,
            self.items,
            actor_id=self.actor_id,
            occurred_at=self.now_ms,
            request_id=self.request_id,
            seq=event.seq,
        )
        return event
