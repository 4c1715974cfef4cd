"""REST routes of llm (filled in by the issue 11 work)."""

from __future__ import annotations

from server.rest.routes import ApiRoute

ROUTES: list[ApiRoute] = []
