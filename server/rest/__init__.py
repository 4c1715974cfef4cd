"""The read-only REST API under /api/v1: JSON (and markdown) views for bulk loading, reports
and LLM agents, over the same queries as the WebSocket, on the tenant's read connections."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from server.rest import activity, llm, projects, search, work_items
from server.rest.api import endpoint
from server.rest.routes import ApiRoute, openapi_document

PREFIX = "/api/v1"
MODULES = (projects, work_items, activity, search, llm)


def api_routes() -> list[ApiRoute]:
    return [route for module in MODULES for route in module.ROUTES]


def mount() -> Mount:
    routes = api_routes()
    document = openapi_document(routes, PREFIX)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return Mount(
        PREFIX,
        routes=[
            Route("/openapi.json", openapi),
            *(Route(route.path, endpoint(route.handler)) for route in routes),
        ],
    )
