"""What an LLM agent should know about this server before it queries a tenant.

The `llm_context` table (migration 0009) holds entries of schema notes, business rules,
query patterns and examples, each with a category, a type (what it is about: work_item,
sprint, rest, ...), a priority (0..100, higher first) and a markdown body. The rows come
from `llm_context_seed.md`, kept beside this module: `with_seed` reads it and adds its rows
to migration 0009, so a tenant file gets them in the transaction that creates the table,
when the file is created (or an older one reaches version 9).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, replace
from importlib import resources

from tenants.migrator import Migration

SEED_FILE = "llm_context_seed.md"
MIGRATION = "0009_llm_context.sql"
MAX_PRIORITY = 100

_CATEGORY = re.compile(r"^# ([a-z][a-z_]*)\s*$")
_ENTRY = re.compile(r"^## (.+?) \{type=([a-z][a-z_]*) priority=(\d{1,3})\}\s*$")


@dataclass(frozen=True, slots=True)
class ContextEntry:
    id: int
    category: str
    type: str
    priority: int
    title: str
    body: str


class SeedError(ValueError):
    """The seed file is not in its format (a line number says where)."""


def parse_seed(text: str) -> list[ContextEntry]:
    """The entries of a seed file, ids in file order from 1."""
    entries: list[ContextEntry] = []
    category: str | None = None
    current: dict[str, object] | None = None
    body: list[str] = []
    in_comment = in_fence = False

    def finish() -> None:
        if current is not None:
            entries.append(
                ContextEntry(
                    id=len(entries) + 1,
                    category=str(current["category"]),
                    type=str(current["type"]),
                    priority=int(str(current["priority"])),
                    title=str(current["title"]),
                    body="\n".join(body).strip("\n"),
                )
            )
        body.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        if current is None and (in_comment or line.startswith("<!--")):
            in_comment = "-->" not in line
            continue
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("#"):
            if heading := _CATEGORY.match(line):
                finish()
                current, category = None, heading.group(1)
                continue
            if (heading := _ENTRY.match(line)) and category is not None:
                finish()
                priority = int(heading.group(3))
                if priority > MAX_PRIORITY:
                    raise SeedError(f"line {number}: priority above {MAX_PRIORITY}")
                current = {
                    "category": category,
                    "type": heading.group(2),
                    "priority": priority,
                    "title": heading.group(1).strip(),
                }
                continue
            if not line.startswith("###"):
                raise SeedError(f"line {number}: not a category or entry heading: {line!r}")
        if current is None:
            if line.strip():
                raise SeedError(f"line {number}: text outside an entry")
            continue
        body.append(line)
    if in_fence:
        raise SeedError("the seed file ends inside a ``` fence")
    finish()
    for entry in entries:
        if not entry.body.strip():
            raise SeedError(f"entry {entry.title!r} has no body")
    return entries


def load_seed() -> list[ContextEntry]:
    """The entries of the seed file kept in the repository, read now."""
    text = resources.files("tenants").joinpath(SEED_FILE).read_text("utf-8")
    return parse_seed(text)


def seed_sql(entries: list[ContextEntry]) -> str:
    """One INSERT of every entry, on one line (the migrator drops lines starting with --)."""
    rows = json.dumps(
        [
            [entry.id, entry.category, entry.type, entry.priority, entry.title, entry.body]
            for entry in entries
        ],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    literal = "'" + rows.replace("'", "''") + "'"
    return (
        "INSERT INTO llm_context(id, category, type, priority, title, body)"
        " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5"
        f" FROM json_each({literal});"
    )


def with_seed(
    migrations: tuple[Migration, ...], entries: list[ContextEntry] | None = None
) -> tuple[Migration, ...]:
    """The migrations with the seed's rows (the repository's file unless entries are given)
    added to migration 0009, which creates the table."""
    seeded = load_seed() if entries is None else entries
    return tuple(
        replace(m, sql=m.sql.rstrip() + "\n" + seed_sql(seeded) + "\n")
        if m.name == MIGRATION and seeded
        else m
        for m in migrations
    )


def entries(
    conn: sqlite3.Connection, *, category: str = "", type: str = "", min_priority: int = 0
) -> list[ContextEntry]:
    """The entries of the category and type ("": any) with at least min_priority, by
    priority (highest first), then id."""
    found = conn.execute(
        "SELECT id, category, type, priority, title, body FROM llm_context"
        " WHERE (? = '' OR category = ?) AND (? = '' OR type = ?) AND priority >= ?"
        " ORDER BY priority DESC, id",
        (category, category, type, type, min_priority),
    ).fetchall()
    return [ContextEntry(*(tuple(row))) for row in found]


def categories(conn: sqlite3.Connection) -> list[str]:
    """Every category and type present, each list in first-seen (id) order."""
    return _distinct(conn, "category")


def types(conn: sqlite3.Connection) -> list[str]:
    return _distinct(conn, "type")


def _distinct(conn: sqlite3.Connection, column: str) -> list[str]:
    assert column in ("category", "type")
    found = conn.execute(
        f"SELECT {column}, min(id) AS first FROM llm_context GROUP BY 1 ORDER BY 2"
    )
    return [str(row[0]) for row in found]
