"""GET /llm/context: what an LLM agent should know before it queries this tenant.

The entries of the tenant's llm_context table (tenants/llm_context.py): schema notes,
business rules, query patterns and examples, seeded from a file in the repository when the
tenant was created. Filtered by category, type and a minimum priority; ordered by priority
(highest first), then id, so an agent short of room reads the most important first. The
body also lists every category and type present, so the filters can be discovered. The
markdown form is one section per category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from server.auth import Principal
from server.commands import ReadContext
from server.rest.api import View, query_int, query_text, snapshot
from server.rest.routes import ApiRoute
from server.services import Services
from tenants import llm_context
from tenants.errors import InvalidArgument
from tenants.llm_context import MAX_PRIORITY, ContextEntry

_WORD_CHARS = 40


@dataclass(frozen=True)
class ContextPage:
    entries: list[ContextEntry]
    categories: list[str]
    types: list[str]


def entry_json(entry: ContextEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "category": entry.category,
        "type": entry.type,
        "priority": entry.priority,
        "title": entry.title,
        "body": entry.body,
    }


def context_markdown(entries: list[ContextEntry]) -> str:
    """`## <category>` sections in the order their first entry comes, each entry a `###`
    heading with its type and priority, then its body."""
    sections: dict[str, list[ContextEntry]] = {}
    for entry in entries:
        sections.setdefault(entry.category, []).append(entry)
    lines = ["# Context for querying pm-server", ""]
    if not sections:
        lines += ["(no entries)", ""]
    for category, found in sections.items():
        lines += [f"## {category}", ""]
        for entry in found:
            lines += [f"### {entry.title} ({entry.type}, priority {entry.priority})", ""]
            lines += [entry.body, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


async def llm_context_view(
    services: Services,
    principal: Principal,
    *,
    category: str,
    type: str,
    min_priority: int,
) -> View:
    """The context entries of the category and type ("": any) with priority >= min_priority."""
    for name, value in (("category", category), ("type", type)):
        if len(value) > _WORD_CHARS:
            raise InvalidArgument(f"{name} is longer than {_WORD_CHARS} characters", field=name)
    if not 0 <= min_priority <= MAX_PRIORITY:
        raise InvalidArgument(
            f"min_priority must be between 0 and {MAX_PRIORITY}", field="min_priority"
        )

    def read(ctx: ReadContext) -> ContextPage:
        return ContextPage(
            llm_context.entries(ctx.conn, category=category, type=type, min_priority=min_priority),
            llm_context.categories(ctx.conn),
            llm_context.types(ctx.conn),
        )

    shot = await snapshot(services, principal, read)
    result = shot.value
    body = {
        "entries": [entry_json(entry) for entry in result.entries],
        "categories": result.categories,
        "types": result.types,
    }
    return View(body, shot.seq, shot.epoch, markdown=lambda: context_markdown(result.entries))


async def get_llm_context(request: Request, services: Services, principal: Principal) -> View:
    return await llm_context_view(
        services,
        principal,
        category=query_text(request, "category", max_chars=_WORD_CHARS),
        type=query_text(request, "type", max_chars=_WORD_CHARS),
        min_priority=query_int(request, "min_priority", 0, minimum=0, maximum=MAX_PRIORITY),
    )


_ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "category": {
            "type": "string",
            "description": "schema, business_rule, query_pattern or example",
        },
        "type": {
            "type": "string",
            "description": "what it is about: general, work_item, sprint, rest, websocket, ...",
        },
        "priority": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_PRIORITY,
            "description": "higher: more important",
        },
        "title": {"type": "string"},
        "body": {"type": "string", "description": "markdown"},
    },
    "required": ["id", "category", "type", "priority", "title", "body"],
}

ROUTES: list[ApiRoute] = [
    ApiRoute(
        path="/llm/context",
        handler=get_llm_context,
        summary="Schema notes, business rules, query patterns and examples for an LLM agent",
        properties={
            "entries": {
                "type": "array",
                "items": _ENTRY,
                "description": "the entries that pass the filters, by priority (highest "
                "first), then id",
            },
            "categories": {
                "type": "array",
                "items": {"type": "string"},
                "description": "every category present (values for the category filter)",
            },
            "types": {
                "type": "array",
                "items": {"type": "string"},
                "description": "every type present (values for the type filter)",
            },
        },
        query=(
            {
                "name": "category",
                "in": "query",
                "schema": {"type": "string"},
                "description": "only this category (see categories); any when absent",
            },
            {
                "name": "type",
                "in": "query",
                "schema": {"type": "string"},
                "description": "only this type (see types); any when absent",
            },
            {
                "name": "min_priority",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_PRIORITY, "default": 0},
                "description": "only entries with at least this priority",
            },
        ),
        markdown=True,
    )
]
