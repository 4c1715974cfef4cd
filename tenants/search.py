"""Full-text search over work items (title, description) and comments (body).

The FTS5 indexes of migration 0008 hold the live rows only and are kept in step by
triggers, so every write path (commands, cascades, restores) updates them in its own
transaction. This module turns what a user typed into a safe FTS5 expression and reads a
ranked page of hits.

User text never reaches FTS5's query syntax: it is split on whitespace and every word is
quoted as an FTS5 string (`"..."`, an embedded `"` doubled), so `*`, `-`, `:`, `^`,
parentheses, `AND`/`OR`/`NOT`/`NEAR` are only words (or separators) and no input raises a
SQLite error. The words are ANDed: a hit holds all of them. One piece of syntax is kept: a
word ending in `*` is a prefix (`login*` finds "logins"), written `"login"*`. NUL and
other control characters are dropped (SQLite ends an FTS5 string at a NUL).

Ranking is bm25 (a title match weighs more than a description match); work item and
comment hits are merged on that score, ties by kind (work items first) and row.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass

# A query holds at most this many words; the rest are ignored.
MAX_TERMS = 32
# bm25 column weights of work_items_fts (title, description).
_TITLE_WEIGHT = 4.0
_DESCRIPTION_WEIGHT = 1.0
# snippet(): the match is marked like markdown bold; about this many tokens around it.
MARK_START = "**"
MARK_END = "**"
ELLIPSIS = "…"
_SNIPPET_TOKENS = 16

_HITS = f"""
WITH hits AS (
    SELECT kind, doc, score, work_item_id, comment_id FROM (
        SELECT 'work_item' AS kind, work_items_fts.rowid AS doc,
               bm25(work_items_fts, {_TITLE_WEIGHT}, {_DESCRIPTION_WEIGHT}) AS score,
               w.id AS work_item_id, NULL AS comment_id
        FROM work_items_fts JOIN work_items w ON w.rowid = work_items_fts.rowid
        WHERE work_items_fts MATCH :match AND w.deleted_at IS NULL
          AND (:project_id IS NULL OR w.project_id = :project_id)
        UNION ALL
        SELECT 'comment', comments_fts.rowid, bm25(comments_fts), c.work_item_id, c.id
        FROM comments_fts
        JOIN comments c ON c.rowid = comments_fts.rowid
        JOIN work_items w ON w.id = c.work_item_id
        WHERE comments_fts MATCH :match AND c.deleted_at IS NULL AND w.deleted_at IS NULL
          AND (:project_id IS NULL OR w.project_id = :project_id)
    )
    ORDER BY score, kind DESC, doc
    LIMIT :limit OFFSET :offset
)
SELECT hits.kind, hits.doc, hits.score, hits.comment_id, w.id AS work_item_id, w.project_id,
       p.key AS project_key, w.number, w.type, w.title, w.status
FROM hits
JOIN work_items w ON w.id = hits.work_item_id
JOIN projects p ON p.id = w.project_id
ORDER BY hits.score, hits.kind DESC, hits.doc
"""

_SNIPPETS = {
    "work_item": (
        "SELECT snippet(work_items_fts, -1, ?, ?, ?, ?) FROM work_items_fts"
        " WHERE work_items_fts MATCH ? AND rowid = ?"
    ),
    "comment": (
        "SELECT snippet(comments_fts, 0, ?, ?, ?, ?) FROM comments_fts"
        " WHERE comments_fts MATCH ? AND rowid = ?"
    ),
}


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: str  # "work_item" or "comment"
    work_item_id: str
    project_id: str
    project_key: str
    number: int
    type: str
    title: str
    status: str
    comment_id: str | None
    # Higher is better: bm25's score negated.
    score: float
    # The matching text around the match, the matched words between MARK_START/MARK_END.
    snippet: str

    @property
    def key(self) -> str:
        return f"{self.project_key}-{self.number}"


def terms(text: str) -> list[str]:
    """The words of a user's query that can match anything, at most MAX_TERMS."""
    cleaned = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    words = [word for word in cleaned.split() if any(ch.isalnum() for ch in word)]
    return words[:MAX_TERMS]


def match_expression(text: str) -> str | None:
    """The FTS5 expression for what a user typed: each word a quoted string, all of them
    required; None when nothing in it can match (no word with a letter or digit)."""
    words = terms(text)
    if not words:
        return None
    return " ".join(_quoted(word) for word in words)


def _quoted(word: str) -> str:
    stem = word.rstrip("*")
    prefix = "*" if stem != word and any(ch.isalnum() for ch in stem) else ""
    if not prefix:
        stem = word
    return '"' + stem.replace('"', '""') + '"' + prefix


def search(
    conn: sqlite3.Connection,
    text: str,
    *,
    project_id: str | None,
    limit: int,
    offset: int = 0,
) -> list[SearchHit]:
    """Up to `limit` live hits for the text, best first, after skipping `offset` of them;
    only the project's when project_id is given."""
    match = match_expression(text)
    if match is None or limit <= 0:
        return []
    found = conn.execute(
        _HITS,
        {"match": match, "project_id": project_id, "limit": limit, "offset": offset},
    ).fetchall()
    hits = []
    for row in found:
        kind = str(row[0])
        snippet = conn.execute(
            _SNIPPETS[kind], (MARK_START, MARK_END, ELLIPSIS, _SNIPPET_TOKENS, match, row[1])
        ).fetchone()
        hits.append(
            SearchHit(
                kind=kind,
                work_item_id=str(row[4]),
                project_id=str(row[5]),
                project_key=str(row[6]),
                number=int(row[7]),
                type=str(row[8]),
                title=str(row[9]),
                status=str(row[10]),
                comment_id=None if row[3] is None else str(row[3]),
                score=-float(row[2]),
                snippet="" if snippet is None or snippet[0] is None else str(snippet[0]),
            )
        )
    return hits


def rebuild(conn: sqlite3.Connection) -> None:
    """Index every live row again from scratch (after a VACUUM, which may renumber rowids)."""
    conn.execute("INSERT INTO work_items_fts(work_items_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')")


def integrity_check(conn: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError unless both indexes hold exactly the live rows' words."""
    conn.execute("INSERT INTO work_items_fts(work_items_fts, rank) VALUES ('integrity-check', 1)")
    conn.execute("INSERT INTO comments_fts(comments_fts, rank) VALUES ('integrity-check', 1)")
