"""GET /search: full-text search over work items and comments, ranked, paged.

The words of `q` are matched against work item titles and descriptions and comment bodies
(tenants/search.py: every word quoted, all required, a trailing `*` a prefix; no input is a
syntax error), optionally in one project, best first by bm25. Each hit names its work item
by number (PM-7) and, for a comment, the comment; its snippet marks the matched words like
markdown bold. Deleted items, items of deleted projects and deleted comments are never
found: the index holds live rows only, kept in step by triggers in every write's
transaction.

A page is an offset into the ranking as it is at each request, carried by an opaque cursor
signed with the tenant's page-token key (server/paging.py) for the q and project_id it was
issued for: a cursor the server did not issue, or one of another query, project or tenant,
is INVALID_ARGUMENT on `cursor`. A write between two pages may shift hits across the
boundary (the ranking depends on the whole corpus); PM-Seq tells which state a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from server.auth import Principal
from server.commands import ReadContext
from server.handlers.projects import load_project
from server.rest.api import (
    MAX_CURSOR_CHARS,
    View,
    invalid_cursor,
    list_scope,
    next_cursor,
    query_int,
    query_text,
    read_cursor,
    snapshot,
)
from server.rest.routes import ApiRoute
from server.services import Services
from tenants import search
from tenants.errors import InvalidArgument
from tenants.search import SearchHit

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
# Hits past this many are not reachable by paging (refine the query instead).
MAX_OFFSET = 10_000
# No WebSocket list is scoped like this, so a page token of one is never valid for the other.


@dataclass(frozen=True)
class SearchPage:
    project_key: str
    hits: list[SearchHit]
    next_cursor: str


def _offset(ctx: ReadContext, scope: bytes, cursor: str) -> int:
    found = read_cursor(ctx, scope, cursor, o=int)
    if found is None:
        return 0
    offset = int(found["o"])
    if not 0 < offset <= MAX_OFFSET:
        raise invalid_cursor()
    return offset


def hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "work_item": {
            "id": hit.work_item_id,
            "key": hit.key,
            "number": hit.number,
            "project_id": hit.project_id,
            "type": hit.type,
            "title": hit.title,
            "status": hit.status,
        },
        "comment_id": hit.comment_id,
        "snippet": hit.snippet,
        "score": hit.score,
    }


def hit_line(hit: SearchHit) -> str:
    """`- PM-7 [in_progress] "Fix login": the **password** field` (one line per hit)."""
    where = f"{hit.key} [{hit.status}] {_quote(hit.title)}"
    if hit.kind == "comment":
        where = f"{where} comment {hit.comment_id}"
    return f"- {where}: {' '.join(hit.snippet.split())}"


def _quote(text: str) -> str:
    return '"' + " ".join(text.split()).replace('"', '\\"') + '"'


async def search_view(
    services: Services,
    principal: Principal,
    *,
    q: str,
    project_id: str,
    limit: int,
    cursor: str,
) -> View:
    """The live work items and comments matching every word of q, best first, a page."""
    if not q.strip():
        raise InvalidArgument("q is required", field="q")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"q is longer than {MAX_QUERY_CHARS} characters", field="q")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}", field="limit")

    def read(ctx: ReadContext) -> SearchPage:
        project_key = ""
        scoped_id: str | None = None
        if project_id:
            project = load_project(ctx, project_id)
            project_key, scoped_id = project.key, project.id
        scope = list_scope("search", q, scoped_id or "")
        offset = _offset(ctx, scope, cursor)
        found = search.search(ctx.conn, q, project_id=scoped_id, limit=limit + 1, offset=offset)
        hits = found[:limit]
        following = offset + len(hits)
        token = ""
        if len(found) > limit and following <= MAX_OFFSET:
            token = next_cursor(ctx, scope, {"o": following})
        return SearchPage(project_key, hits, token)

    shot = await snapshot(services, principal, read)
    result = shot.value
    body = {
        "q": q,
        "project_id": project_id,
        "hits": [hit_json(hit) for hit in result.hits],
        "next_cursor": result.next_cursor,
    }

    def markdown() -> str:
        where = f" in {result.project_key}" if result.project_key else ""
        lines = [f"# Search {_quote(q)}{where}", ""]
        lines += [hit_line(hit) for hit in result.hits] or ["(no hits)"]
        if result.next_cursor:
            lines += ["", f"more: cursor={result.next_cursor}"]
        return "\n".join(lines) + "\n"

    return View(body, shot.seq, shot.epoch, markdown=markdown, cacheable=True)


async def get_search(request: Request, services: Services, principal: Principal) -> View:
    return await search_view(
        services,
        principal,
        q=query_text(request, "q", required=True, max_chars=MAX_QUERY_CHARS),
        project_id=query_text(request, "project_id", max_chars=64),
        limit=query_int(request, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT),
        cursor=query_text(request, "cursor", max_chars=MAX_CURSOR_CHARS),
    )


_HIT = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["work_item", "comment"]},
        "work_item": {
            "type": "object",
            "description": "the item hit, or the item the comment hit is on",
            "properties": {
                "id": {"type": "string"},
                "key": {"type": "string", "description": "project key and number: PM-7"},
                "number": {"type": "integer", "description": "the item's number in its project"},
                "project_id": {"type": "string"},
                "type": {"type": "string", "enum": ["epic", "story", "task", "bug"]},
                "title": {"type": "string"},
                "status": {"type": "string", "description": "its lane's status_value"},
            },
            "required": ["id", "key", "number", "project_id", "type", "title", "status"],
        },
        "comment_id": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "the comment hit; null for a work item hit",
        },
        "snippet": {
            "type": "string",
            "description": "the matching text around the match, matched words between ** and"
            " **, cuts marked with …",
        },
        "score": {"type": "number", "description": "relevance (bm25), higher is better"},
    },
    "required": ["kind", "work_item", "comment_id", "snippet", "score"],
}

ROUTES: list[ApiRoute] = [
    ApiRoute(
        path="/search",
        handler=get_search,
        summary="Full-text search over work item titles, descriptions and comments",
        properties={
            "q": {"type": "string", "description": "as asked"},
            "project_id": {"type": "string", "description": 'as asked ("": every project)'},
            "hits": {
                "type": "array",
                "items": _HIT,
                "description": "best first (bm25; a title match weighs more); live items and "
                "comments only",
            },
            "next_cursor": {
                "type": "string",
                "description": 'pass as cursor (same q and project_id) for the next page; ""'
                " on the last page",
            },
        },
        query=(
            {
                "name": "q",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                "description": "words to find, all of them (any characters; operators are"
                " plain words); a word ending in * is a prefix",
            },
            {
                "name": "project_id",
                "in": "query",
                "schema": {"type": "string"},
                "description": "only this project (UUID); every project when absent",
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT,
                },
                "description": "hits per page",
            },
            {
                "name": "cursor",
                "in": "query",
                "schema": {"type": "string"},
                "description": "next_cursor of the previous page",
            },
        ),
        markdown=True,
        cacheable=True,
    )
]
