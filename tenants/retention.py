"""What the event log and the idempotency records keep, and pruning the rest.

An event goes once it is both beyond the newest `keep_events` and older than `max_age_ms`
(0: the count alone decides), and never while younger than `min_age_ms`: a client that has
just loaded in bulk must be able to subscribe from the seq it read without being sent into
a RESYNC loop. Idempotency records go after `request_max_age_ms`. The activity log is the
audit trail and stays whole. Pruning runs in bounded slices, each one write.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tenants import event_log, processed_requests


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_events: int
    max_age_ms: int
    min_age_ms: int
    request_max_age_ms: int

    def event_cutoff_ms(self, now_ms: int) -> int:
        """Events that occurred before this may go (if beyond the newest keep_events)."""
        return now_ms - max(self.max_age_ms, self.min_age_ms)


@dataclass(frozen=True, slots=True)
class Pruned:
    events: int
    requests: int

    @property
    def done(self) -> bool:
        return self.events == 0 and self.requests == 0


def prune(conn: sqlite3.Connection, policy: RetentionPolicy, now_ms: int, limit: int) -> Pruned:
    """One slice: at most `limit` events and `limit` records."""
    events = event_log.prune(
        conn, keep_events=policy.keep_events, cutoff_ms=policy.event_cutoff_ms(now_ms), limit=limit
    )
    requests = processed_requests.prune(
        conn, cutoff_ms=now_ms - policy.request_max_age_ms, limit=limit
    )
    return Pruned(len(events), requests)
