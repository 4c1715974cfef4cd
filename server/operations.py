"""The operators' HTTP side: /metrics, /readyz and the count of HTTP requests.

- `/metrics` (root only, never under /t/{tenant}): Prometheus text, built at scrape time
  (server/metrics.py). Unauthenticated like /healthz unless PM_METRICS_TOKEN is set; either
  way keep it off the public side of the load balancer.
- `/readyz`: 200 {"status": "ready"}, or 503 {"status": "unready", "reason": ...} while
  tenant databases cannot be created (server/readiness.py).
- `RequestCounts`: an ASGI middleware counting HTTP requests by route template (never the
  path itself: ids and tenants in it are unbounded), method and status.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import TENANT_PREFIX
from server.config import Config
from server.metrics import SharedMetrics, exposition, gauges, refresh_forever
from server.services import Services, services_of
from server.transport import stats_of

# Anything else a client writes as its method is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


async def readyz(request: Request) -> Response:
    readiness = services_of(request).readiness
    reason = await readiness.unready_reason() if readiness is not None else None
    if reason is None:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unready", "reason": reason}, status_code=503)


def metrics_route(config: Config) -> Route:
    expected = f"Bearer {config.metrics_token}".encode() if config.metrics_token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        services = services_of(request)
        stats = stats_of(request.app.state)
        families = [
            *gauges(services, stats.open_sockets if stats is not None else None),
            *services.metrics.families(),
        ]
        shared: SharedMetrics | None = getattr(request.app.state, "shared_metrics", None)
        if shared is None:
            body = exposition(families)
        else:
            # Ours exact, the other workers' as of their last refresh.
            shared.write(families)
            body = shared.exposition()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])


@asynccontextmanager
async def shared_metrics(
    app: Starlette, services: Services, shared: SharedMetrics | None
) -> AsyncIterator[None]:
    """Under a supervisor: this worker's numbers written for the others every REFRESH_S."""
    if shared is None:
        yield
        return
    app.state.shared_metrics = shared

    def write() -> None:
        stats = stats_of(app.state)
        shared.write(
            [
                *gauges(services, stats.open_sockets if stats is not None else None),
                *services.metrics.families(),
            ]
        )

    write()
    task = asyncio.ensure_future(refresh_forever(write))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        shared.close()


def route_templates(routes: Sequence[BaseRoute]) -> dict[int, str]:
    """Each route's template by the route's id. A route under /t/{tenant} is the same object
    as its unprefixed twin: one template for both."""
    found: dict[int, str] = {}

    def walk(routes: Sequence[BaseRoute], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix if route.path == TENANT_PREFIX else prefix + route.path)
            elif isinstance(route, (Route, WebSocketRoute)):
                found.setdefault(id(route), prefix + route.path)

    walk(routes, "")
    return found


class RequestCounts:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the app raises before answering

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self._count(scope, status)

    def _count(self, scope: Scope, status: int) -> None:
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        if not isinstance(services, Services):
            return
        if self._templates is None:
            self._templates = route_templates(getattr(app, "routes", []))
        route = scope.get("route")
        template = self._templates.get(id(route), UNMATCHED) if route is not None else UNMATCHED
        method = scope.get("method", "")
        services.metrics.http_request(template, method if method in _METHODS else "other", status)
