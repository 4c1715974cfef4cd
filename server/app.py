"""The Starlette application: `create_app(config)`.

Resources live in the lifespan: the tenant databases and the hub open before the first
request and close after uvicorn has closed every WebSocket (with 1012); databases last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

import server
from server.admin import admin_routes, let_go_of
from server.auth import TENANT_PREFIX, extract_credentials, path_tenant_matches
from server.config import Config
from server.connection import Connection
from server.hub import Hub
from server.limits import RateLimited, limits_for, retry_after_headers
from server.logs import RefusalLog, log_accept_failures
from server.mcp_face import McpFace
from server.metrics import shared_metrics_from_env
from server.operations import RequestCounts, metrics_route, readyz, shared_metrics
from server.rest import mount as rest_mount
from server.services import Services, services_of
from server.transport import stats_of
from server.web import board_routes, dev_token_route
from server.workers import worker_index
from tenants.errors import Unauthenticated

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    services = services_of(request)
    hub = services.hub
    # A broker outage degrades cross-process delivery only: still 200, so a load balancer
    # keeps a process that serves its own connections and commits.
    body: dict[str, object] = {
        "status": "ok" if hub.healthy else "degraded",
        "broker": hub.state if hub.needs_tail else "none",
        "version": server.__version__,
        "open_tenants": services.databases.open_count,
        "connections": len(services.connections),
    }
    stats = stats_of(request.app.state)
    if stats is not None:
        body["sockets"] = stats.open_sockets  # authenticated or not, this request's own included
    return JSONResponse(body)


async def websocket_endpoint(websocket: WebSocket) -> None:
    services = services_of(websocket)
    config = services.config
    origin = websocket.headers.get("origin")
    if config.allowed_origins and origin is not None and origin not in config.allowed_origins:
        _refusals(websocket).refused("upgrade 403: origin not allowed")
        await websocket.send_denial_response(
            JSONResponse({"error": "origin not allowed"}, status_code=403)
        )
        return
    try:
        credentials = extract_credentials(
            websocket.headers, websocket.scope.get("subprotocols", []), websocket.query_params
        )
        principal = services.verifier.verify(credentials.token)
        if not path_tenant_matches(websocket.path_params, principal):
            # The token is not good for this tenant's route: refused like any bad token.
            raise Unauthenticated("the path's tenant is not the token's")
    except Unauthenticated as error:
        # Refused before accept: nothing is opened or written. One line per reason and
        # second, whatever a client sends.
        _refusals(websocket).refused(f"upgrade 401: {error.message}")
        await websocket.send_denial_response(
            JSONResponse(
                {"error": "unauthenticated", "message": error.message},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        )
        return
    try:
        slot = limits_for(services).connections.open(principal.tenant_id, principal.user_id)
    except RateLimited as error:
        # Counted from here, before accept: upgrades racing in cannot pass the limit together.
        _refusals(websocket).refused(f"upgrade 429: {error.message}")
        await websocket.send_denial_response(
            JSONResponse(
                {"error": "resource_exhausted", "message": error.message},
                status_code=429,
                headers=retry_after_headers(error),
            )
        )
        return
    with slot:
        connection = Connection(websocket, principal, services, subprotocol=credentials.subprotocol)
        await connection.serve()


_FALLBACK_REFUSALS = RefusalLog()


def _refusals(conn: HTTPConnection) -> RefusalLog:
    stats = stats_of(conn.app.state)
    return stats.refusals if stats is not None else _FALLBACK_REFUSALS


def create_app(config: Config, *, hub: Hub | None = None) -> Starlette:
    """The application; `hub` replaces the one PM_BROKER_URL picks (a test's twin)."""
    config.check_for_production()
    mcp = McpFace()
    # A supervisor's worker shares its numbers with the other workers' scrapes.
    shared = shared_metrics_from_env(worker_index() is not None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.create(config, hub=hub)
        services.hub.on_reset(lambda tenant_id: let_go_of(services, tenant_id))
        await services.hub.start()
        services.retention.start()
        app.state.services = services
        stats = stats_of(app.state)
        if stats is not None:
            services.refusals = stats.refusals
        restore_loop_handler = log_accept_failures(
            asyncio.get_running_loop(), stats.refusals if stats else RefusalLog()
        )
        try:
            # The MCP session manager ends (cancelling any tool call left) before the
            # databases close.
            async with mcp.run(), shared_metrics(app, services, shared):
                yield
        finally:
            restore_loop_handler()
            await services.close()

    # CORS covers the HTTP routes a browser page may fetch; the WebSocket has its own
    # Origin check (PM_ALLOWED_ORIGINS) at the upgrade.
    middleware = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET"],
                # The read API takes the bearer token in a header, so a page's preflight
                # must be allowed to send it, and may read the seq, epoch and ETag back.
                allow_headers=["Authorization", "If-None-Match"],
                expose_headers=["PM-Seq", "PM-Epoch", "ETag"],
            )
        ]
        if config.cors_origins
        else []
    )
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        WebSocketRoute("/ws", websocket_endpoint),
        rest_mount(),
        *mcp.routes(),
    ]
    # The board's files answer any other GET path (its own client-side routes), so they
    # come last, after the tenant prefix too.
    board = board_routes()
    return Starlette(
        # The same routes again under /t/{tenant}, for a load balancer that routes by tenant;
        # each face's authentication refuses a path tenant other than the token's.
        routes=[
            *routes,
            *dev_token_route(config),
            # Root only: no tenant's path serves the process's numbers.
            metrics_route(config),
            # Operators only, and never under /t/{tenant} (server/admin.py).
            *admin_routes(),
            Mount(TENANT_PREFIX, routes=[*routes, *board]),
            *board,
        ],
        middleware=[Middleware(RequestCounts), *middleware],
        lifespan=lifespan,
    )
