"""The MCP face: `/mcp` for LLM agents (streamable HTTP, the official `mcp` SDK).

Read-only tools over the same view functions as the REST face (server/rest/), each
answering the view's compact markdown followed by a line `seq: <seq> epoch: <epoch>`, the
tenant's point in history that answer reflects (subscribe with it to follow on).

    POST /mcp, /mcp/ ── McpEndpoint: bearer JWT (rest/api.authenticate), else 401 before the SDK
         │             (also under /t/{tenant}: another tenant than the token's is a 404)
         └── StreamableHTTPSessionManager (stateless, JSON responses), one per lifespan run
              └── mcp.server.lowlevel.Server: tools/list (TOOLS), tools/call (call_tool)

The caller reaches the tools through the HTTP request itself: the endpoint puts a `Caller`
(services and the verified Principal) into the ASGI scope under CALLER_KEY, and the SDK
hands every request's Starlette Request to its handler (`request_context.request`), so a
tool runs as the token's user in the token's tenant, and nothing else decides who asks.
A PmError from a view becomes an error result (`isError`) reading `CODE: message`; any other
exception is logged and answers `INTERNAL: internal error`, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import server
from server.auth import Principal
from server.limits import retry_after_headers
from server.rest.api import View, authenticate, error_response
from server.rest.encoding import rendered
from server.services import Services
from tenants.errors import InvalidArgument, PmError

log = logging.getLogger(__name__)

PATH = "/mcp"
CALLER_KEY = "pm.mcp_caller"
# Tool arguments are a few ids and words; anything larger is refused before parsing (413).
MAX_REQUEST_BYTES = 64 * 1024
MAX_TEXT_CHARS = 1024  # the longest string argument (a cursor is at most 1024)
_CHATTY_LOGGERS = (
    "mcp.server.lowlevel.server",
    "mcp.server.streamable_http",
    "mcp.server.streamable_http_manager",
)

INSTRUCTIONS = (
    "Read-only view of one tenant's projects. Start with `projects`, then `project_context`."
    " Every answer ends with `seq: N epoch: E`; `changes` with since_seq=N tells what moved."
)


@dataclass(frozen=True)
class Caller:
    services: Services
    principal: Principal


Arguments = Mapping[str, Any]
Run = Callable[[Services, Principal, Arguments], Awaitable[View]]


@dataclass(frozen=True)
class McpTool:
    """One tool: its listing (kept small: the whole tools/list answer stays under 8 KiB)
    and how it calls its view. `params`: name -> (JSON type, one-line description)."""

    name: str
    description: str
    params: dict[str, tuple[str, str]]
    required: tuple[str, ...]
    run: Run

    def listing(self) -> types.Tool:
        properties = {
            name: {"type": kind, "description": description}
            for name, (kind, description) in self.params.items()
        }
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        return types.Tool(
            name=self.name,
            description=self.description,
            inputSchema=schema,
            annotations=types.ToolAnnotations(readOnlyHint=True, openWorldHint=False),
        )


# --- arguments ---------------------------------------------------------------------------------
# The SDK validates arguments against the schema first; these only add limits and defaults.


def _text(args: Arguments, name: str, *, required: bool = False) -> str:
    value = args.get(name, "")
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string", field=name)
    if required and not value.strip():
        raise InvalidArgument(f"{name} is required", field=name)
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"{name} is longer than {MAX_TEXT_CHARS} characters", field=name)
    return value


def _int(args: Arguments, name: str, default: int = 0) -> int:
    value = args.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer", field=name)
    if not -(2**63) <= value < 2**63:  # SQLite's integers
        raise InvalidArgument(f"{name} is out of range", field=name)
    return value


# --- the tools (view modules are imported when called: they do not import this one) ------------


async def _projects(services: Services, principal: Principal, args: Arguments) -> View:
    from server.rest.projects import projects_view

    return await projects_view(services, principal)


async def _project_context(services: Services, principal: Principal, args: Arguments) -> View:
    from server.rest.projects import project_context_view

    project_id = _text(args, "project_id", required=True)
    # The tool answers markdown only: 10,000 items are not converted to JSON for nothing.
    return await project_context_view(services, principal, project_id, with_body=False)


async def _work_item(services: Services, principal: Principal, args: Arguments) -> View:
    from server.rest.work_items import work_item_view

    ref = _text(args, "ref", required=True)
    project_id = _text(args, "project_id")
    return await work_item_view(services, principal, ref, project_id=project_id or None)


async def _search(services: Services, principal: Principal, args: Arguments) -> View:
    from server.rest.search import DEFAULT_LIMIT, search_view

    return await search_view(
        services,
        principal,
        q=_text(args, "q", required=True),
        project_id=_text(args, "project_id"),
        limit=DEFAULT_LIMIT,
        cursor=_text(args, "cursor"),
    )


async def _changes(services: Services, principal: Principal, args: Arguments) -> View:
    from server.rest.activity import DEFAULT_LIMIT, activity_view

    return await activity_view(
        services,
        principal,
        project_id=_text(args, "project_id", required=True),
        since_seq=_int(args, "since_seq"),
        limit=DEFAULT_LIMIT,
        cursor=_text(args, "cursor"),
    )


_PROJECT = ("string", "project id")
_CURSOR = ("string", "from the previous page's `more: cursor=`")

TOOLS: tuple[McpTool, ...] = (
    McpTool(
        "projects", "The tenant's projects: id, key, lanes with item counts.", {}, (), _projects
    ),
    McpTool(
        "project_context",
        "One project's context for a prompt: its board and work, by item number.",
        {"project_id": _PROJECT},
        ("project_id",),
        _project_context,
    ),
    McpTool(
        "work_item",
        "One work item with parents, children, dependencies, comments and history.",
        {
            "ref": ("string", "item id, or its number (PM-7) with project_id"),
            "project_id": _PROJECT,
        },
        ("ref",),
        _work_item,
    ),
    McpTool(
        "search",
        "Work items and comments matching every word of q, best first.",
        {
            "q": ("string", "words to match"),
            "project_id": ("string", "only this project"),
            "cursor": _CURSOR,
        },
        ("q",),
        _search,
    ),
    McpTool(
        "changes",
        "A project's changes after since_seq, oldest first (0: from the start).",
        {
            "project_id": _PROJECT,
            "since_seq": ("integer", "the seq of an earlier answer (default 0)"),
            "cursor": _CURSOR,
        },
        ("project_id",),
        _changes,
    ),
)


async def answer(view: View) -> str:
    """The view's markdown (rendered off the event loop), then the seq and epoch it reflects."""
    assert view.markdown is not None, "every MCP tool's view has a markdown form"
    markdown = await rendered(view.markdown)
    return f"{markdown.rstrip()}\n\nseq: {view.seq} epoch: {view.epoch}\n"


def _result(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=error)


def build_server(tools: tuple[McpTool, ...] = TOOLS) -> Server[Any, Request]:
    """The SDK's low-level server with our tool table (no transport: see McpFace)."""
    mcp_server: Server[Any, Request] = Server(
        "pm-server", version=server.__version__, instructions=INSTRUCTIONS
    )
    by_name = {tool.name: tool for tool in tools}
    listing = [tool.listing() for tool in tools]

    async def list_tools() -> list[types.Tool]:
        return listing

    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        tool = by_name.get(name)
        if tool is None:
            return _result(f"NOT_FOUND: no tool named {name!r}", error=True)
        request = mcp_server.request_context.request
        caller = request.scope.get(CALLER_KEY) if request is not None else None
        if not isinstance(caller, Caller):  # only McpEndpoint serves this server
            return _result("UNAUTHENTICATED: no caller", error=True)
        try:
            view = await tool.run(caller.services, caller.principal, arguments)
            return _result(await answer(view))
        except PmError as error:
            field = f" (field {error.field})" if error.field else ""
            return _result(f"{error.code.name}: {error.message}{field}", error=True)
        except Exception:
            log.exception("MCP tool %s failed", name)
            return _result("INTERNAL: internal error", error=True)

    mcp_server.list_tools()(list_tools)  # type: ignore[no-untyped-call]  # unannotated in the SDK
    mcp_server.call_tool()(call_tool)
    return mcp_server


class McpEndpoint:
    """The ASGI app at /mcp: bearer auth, then the running session manager."""

    def __init__(self, face: McpFace) -> None:
        self._face = face

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services = request.app.state.services
        assert isinstance(services, Services)
        try:
            principal = authenticate(request, services)
        # Unauthenticated: 401 with WWW-Authenticate: Bearer; NotFound: 404, a /t/{tenant}
        # path naming another tenant than the token's.
        # RateLimited: 429 with Retry-After, past PM_REST_REQUESTS_PER_SECOND for the user.
        except PmError as error:
            await error_response(error, seq_headers=retry_after_headers(error))(
                scope, receive, send
            )
            return
        if scope["method"] != "POST":
            # Stateless: no session to DELETE, and a GET stream would stay open with nothing
            # ever to carry (every answer comes back on its POST). The spec allows 405 here.
            response = JSONResponse(
                {"code": "INVALID_ARGUMENT", "message": "MCP here takes POST only"},
                405,
                headers={"Allow": "POST"},
            )
            await response(scope, receive, send)
            return
        manager = self._face.manager
        if manager is None:  # not between the lifespan's start and end
            response = JSONResponse({"code": "INTERNAL", "message": "not serving"}, 503)
            await response(scope, receive, send)
            return
        scope = {**scope, CALLER_KEY: Caller(services, principal)}
        await manager.handle_request(scope, receive, send)


class McpFace:
    """The MCP server, its route, and (per lifespan run) its session manager: the SDK's
    manager runs once, so each `run()` makes a fresh one."""

    def __init__(self, tools: tuple[McpTool, ...] = TOOLS) -> None:
        self.server = build_server(tools)
        self.manager: StreamableHTTPSessionManager | None = None
        # The SDK logs every request at INFO; our INFO lines are per connection.
        for name in _CHATTY_LOGGERS:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.WARNING)

    def routes(self) -> list[Route]:
        """/mcp and /mcp/ alike: Starlette would answer the other one with a 307, and a
        client that follows it may drop the Authorization header. An ASGI app (not a
        function) as endpoint: every method reaches it."""
        endpoint = McpEndpoint(self)
        return [Route(PATH, endpoint), Route(f"{PATH}/", endpoint)]

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        manager = StreamableHTTPSessionManager(
            self.server,
            json_response=True,
            stateless=True,
            max_request_body_size=MAX_REQUEST_BYTES,
        )
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None
