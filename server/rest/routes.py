"""A REST route with its OpenAPI description, and the document built from all of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import server
from server.rest.api import Handler
from server.rest.jsonview import schemas_of

# What every body carries beside its own fields, and every error body.
_SEQ_FIELDS = {
    "seq": {"type": "integer", "description": "the tenant's seq this body reflects"},
    "epoch": {"type": "string", "description": "the history that seq belongs to"},
}
_ERROR = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "the wire error code, e.g. NOT_FOUND"},
        "message": {"type": "string"},
        "field": {"type": "string"},
    },
    "required": ["code", "message"],
}


@dataclass(frozen=True)
class ApiRoute:
    path: str  # under /api/v1, Starlette style: /projects/{project_id}
    handler: Handler
    summary: str
    # The body's own fields (seq and epoch are added): a JSON Schema object's properties.
    properties: dict[str, Any]
    # Messages the properties refer to with jsonview.ref(...).
    messages: tuple[Any, ...] = ()
    # OpenAPI parameter objects for the query string (path parameters are derived).
    query: tuple[dict[str, Any], ...] = ()
    markdown: bool = False
    cacheable: bool = False
    path_descriptions: dict[str, str] = field(default_factory=dict)

    def operation(self) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": self.path_descriptions.get(name, ""),
            }
            for name in _path_names(self.path)
        ]
        parameters += list(self.query)
        if self.markdown:
            parameters.append(
                {
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["json", "markdown"]},
                    "description": "markdown: the same content as compact markdown for a prompt",
                }
            )
        content: dict[str, Any] = {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {**self.properties, **_SEQ_FIELDS},
                    "required": sorted([*self.properties, *_SEQ_FIELDS]),
                }
            }
        }
        if self.markdown:
            content["text/markdown"] = {"schema": {"type": "string"}}
        responses: dict[str, Any] = {
            "200": {"description": "OK; header PM-Seq carries the seq", "content": content},
            "401": _error("no token, or a bad or expired one"),
            "404": _error("not found (another tenant's ids, or path tenant, too)"),
            "422": _error("a parameter is invalid"),
        }
        if self.cacheable:
            responses["304"] = {"description": 'the ETag ("<epoch>:<seq>") still matches'}
        return {
            "summary": self.summary,
            "parameters": parameters,
            "responses": responses,
            "security": [{"bearer": []}],
        }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def openapi_document(routes: Iterable[ApiRoute], prefix: str) -> dict[str, Any]:
    routes = list(routes)
    schemas = schemas_of(*[m for route in routes for m in route.messages])
    schemas["Error"] = _ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pm-server read API",
            "version": server.__version__,
            "description": "Read-only JSON (and markdown) views of a tenant's projects, "
            "for bulk loading, reports and LLM agents. Same bearer JWT as the WebSocket. "
            "Every path is also served under /t/{tenant} (the token's tenant; another one "
            "answers 404), for load balancers that route by tenant.",
        },
        "paths": {
            prefix + route.path.replace(":path", ""): {"get": route.operation()} for route in routes
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
