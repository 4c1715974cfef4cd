"""Test client of the REST API: real HTTP to the running server, and its OpenAPI checks."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema

from tests.server_fixture import RunningServer

TIMEOUT = 10.0


async def get(
    server: RunningServer,
    path: str,
    token: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    """GET /api/v1<path> with a bearer token (None: the server's default alice token;
    "": none at all)."""
    sent = dict(headers or {})
    bearer = server.token() if token is None else token
    if bearer:
        sent["Authorization"] = f"Bearer {bearer}"
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as client:
        return await client.get(
            f"/api/v1{path}",
            headers=sent,
            params={k: v for k, v in params.items() if v is not None},
        )


async def openapi(server: RunningServer) -> dict[str, Any]:
    response = await get(server, "/openapi.json", token="")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def check_against_openapi(document: dict[str, Any], route: str, response: httpx.Response) -> None:
    """The response matches what the document says `route` (as written there, e.g.
    /api/v1/projects/{project_id}/context) answers with its status code."""
    operation = document["paths"][route]["get"]
    declared = operation["responses"][str(response.status_code)]
    if response.status_code == 304:
        return
    kind = response.headers["content-type"].split(";")[0]
    schema = declared["content"][kind]["schema"]
    body: Any = response.json() if kind == "application/json" else response.text
    jsonschema.validate(
        body,
        {**schema, "components": document["components"]},
        cls=jsonschema.Draft202012Validator,
    )
