"""The browser board: the files `web/` builds, served at `/` (and `/t/{tenant}/`), and, with
the development secret only, `GET /dev/token`.

Every answer carries a Content-Security-Policy of `default-src 'self'` plus the WebSocket
origin of the host the page came from: the board has no inline script or style, so
nothing a server stores and a page shows can run as code even if it slipped into the DOM.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from server.config import Config
from server.tokens import mint_server_token

WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
DEV_TOKEN_TTL_SECONDS = 3600
# `?user=` picks another development user (a second tab as someone else).
_DEV_USER = re.compile(r"[a-z0-9_-]{1,32}")


def content_security_policy(request: Request) -> str:
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if host else ""
    return (
        "default-src 'self'; "
        f"connect-src 'self'{sockets}; "
        "img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def _headers(request: Request) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(request),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # The page is tiny and rebuilt with the server: never serve a stale board.
        "Cache-Control": "no-cache",
    }


class BoardFiles:
    """`web/dist`: index.html for the page's own paths, the bundle's files by name."""

    def __init__(self, root: Path = WEB_DIST) -> None:
        self._root = root

    def _file(self, name: str) -> Path | None:
        candidate = (self._root / name).resolve()
        if self._root.resolve() not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    async def serve(self, request: Request) -> Response:
        name = request.path_params.get("path", "")
        page = not name or name.endswith("/")
        found = self._file("index.html" if page else name)
        if found is None:
            if page:
                return PlainTextResponse(
                    "the board is not built: run `make setup` (it builds web/)",
                    status_code=503,
                    headers=_headers(request),
                )
            return PlainTextResponse("not found", status_code=404, headers=_headers(request))
        media = _TYPES.get(found.suffix, "application/octet-stream")
        return FileResponse(found, media_type=media, headers=_headers(request))


def dev_token_route(config: Config) -> list[BaseRoute]:
    """`GET /dev/token` only while the server runs on the development secret: one click
    gives the board an admin token of tenant `dev`. In production the route does not exist
    (404), and PM_ENV=production refuses the development secret anyway."""
    if not config.uses_development_secret:
        return []

    async def dev_token(request: Request) -> Response:
        user = request.query_params.get("user", "dev-user")
        if not _DEV_USER.fullmatch(user):
            return JSONResponse(
                {"code": "INVALID_ARGUMENT", "message": "user: 1-32 of a-z, 0-9, - and _"},
                status_code=422,
            )
        token = mint_server_token(
            config,
            tenant_id="dev",
            user_id=user,
            roles=["admin"],
            ttl_seconds=DEV_TOKEN_TTL_SECONDS,
        )
        return JSONResponse(
            {"token": token, "expires_in": DEV_TOKEN_TTL_SECONDS},
            headers={"Cache-Control": "no-store"},
        )

    return [Route("/dev/token", dev_token, methods=["GET"])]


def board_routes() -> list[BaseRoute]:
    files = BoardFiles()
    return [
        Route("/", files.serve, methods=["GET", "HEAD"]),
        Route("/{path:path}", files.serve, methods=["GET", "HEAD"]),
    ]
