"""Idempotency records: (user, request_id) of each committed mutation and its response.

Only committed mutations are recorded (the record is written in the mutation's own
transaction); a retry finds the first response here and changes nothing a second time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessedRequest:
    fingerprint: bytes
    response: bytes
    seq: int | None


def find(conn: sqlite3.Connection, user_id: str, request_id: str) -> ProcessedRequest | None:
    row = conn.execute(
        "SELECT fingerprint, response, seq FROM processed_requests"
        " WHERE user_id = ? AND request_id = ?",
        (user_id, request_id),
    ).fetchone()
    if row is None:
        return None
    return ProcessedRequest(bytes(row["fingerprint"]), bytes(row["response"]), row["seq"])


def record(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    request_id: str,
    fingerprint: bytes,
    response: bytes,
    seq: int | None,
    now_ms: int,
) -> None:
    conn.execute(
        "INSERT INTO processed_requests(user_id, request_id, fingerprint, response, seq,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, request_id, fingerprint, response, seq, now_ms),
    )


def prune(conn: sqlite3.Connection, *, cutoff_ms: int, limit: int) -> int:
    """Forget (at most `limit`) records made before cutoff_ms: a retry older than that runs
    as a new command. Returns how many were forgotten."""
    cursor = conn.execute(
        "DELETE FROM processed_requests WHERE (user_id, request_id) IN ("
        " SELECT user_id, request_id FROM processed_requests WHERE created_at < ? LIMIT ?)",
        (cutoff_ms, limit),
    )
    return int(cursor.rowcount)
