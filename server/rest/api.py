"""What every read-only face (REST, MCP) shares: who asks, one consistent read, the answer.

A view function takes the caller's Principal and its parameters and returns a `View`: a JSON
body, the seq and epoch it reflects, and (where the route has one) a markdown rendering.
It reads through `snapshot`, one bounded read transaction on the tenant's read pool, so a
body and its `seq` always agree: a client that loads a body and then subscribes with
`since_seq = seq` and `epoch` misses nothing and sees nothing twice. The REST face adds
auth, parameters, ETag and errors (`endpoint`); the MCP face (server/mcp_face.py) calls the
same view functions and answers their markdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from server.auth import Principal, extract_credentials, path_tenant_matches
from server.commands import ReadContext, now_ms
from server.limits import limits_for, retry_after_headers
from server.logs import bind_session
from server.paging import Paging
from server.rest.encoding import json_bytes, rendered
from server.services import Services
from tenants import event_log
from tenants.errors import DiskFull, ErrorCode, InvalidArgument, NotFound, PmError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A REST body is not held to a WebSocket frame; lists the views page themselves.
_REST_RESULT_BYTES = 64 * 1024 * 1024

_STATUS = {
    ErrorCode.INVALID_ARGUMENT: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.FAILED_PRECONDITION: 409,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.RESYNC_REQUIRED: 410,
}


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    value: T
    seq: int  # the tenant's current seq in the same read transaction
    epoch: str


@dataclass(frozen=True)
class View:
    body: dict[str, Any]
    seq: int
    epoch: str
    # The same content as compact markdown for a prompt; None: this view has none.
    markdown: Callable[[], str] | None = None
    # Whether the body is a function of (epoch, seq) alone, so `"<epoch>:<seq>"` is its ETag.
    cacheable: bool = False

    @property
    def etag(self) -> str:
        return f'"{self.epoch}:{self.seq}"'


async def snapshot(
    services: Services, principal: Principal, read: Callable[[ReadContext], T]
) -> Snapshot[T]:
    """Run `read` in one read transaction of the caller's tenant, with the seq it saw."""
    async with services.databases.lease(principal.tenant_id) as db:
        paging = Paging(db.meta.page_token_key, _REST_RESULT_BYTES)
        epoch = db.meta.epoch

        def run(conn: Any) -> tuple[T, int]:
            value = read(ReadContext(conn, principal, now_ms(), paging))
            return value, event_log.current_seq(conn)

        value, seq = await db.read(run)
    return Snapshot(value, seq, epoch)


def authenticate(request: Request, services: Services) -> Principal:
    """The same bearer JWT as the WebSocket (header only: a query token would be logged).

    Under /t/{tenant}, a tenant other than the token's answers NOT_FOUND (404), whether or
    not that tenant exists: the same answer as another tenant's ids, so nothing is learnt.
    Past PM_REST_REQUESTS_PER_SECOND for the user: RateLimited (429 with Retry-After)."""
    credentials = extract_credentials(request.headers, [], request.query_params)
    principal = services.verifier.verify(credentials.token)
    if not path_tenant_matches(request.path_params, principal):
        raise NotFound("not found")
    # Each request runs in a task of its own: its JSON log lines name the tenant and user.
    bind_session(principal.tenant_id, principal.user_id, "")
    # Per user, not per token string: minting fresh tokens does not buy more.
    limits_for(services).requests.check((principal.tenant_id, principal.user_id))
    return principal


def status_of(error: PmError) -> int:
    if isinstance(error, DiskFull):
        return 503  # the server's trouble, not the client's rate: 429 would blame it
    return _STATUS.get(error.code, 500)


def error_response(error: PmError, *, seq_headers: dict[str, str] | None = None) -> Response:
    status = status_of(error)
    body: dict[str, Any] = {"code": error.code.name, "message": error.message}
    if error.field:
        body["field"] = error.field
    headers = dict(seq_headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers)


def internal_error() -> Response:
    return JSONResponse({"code": "INTERNAL", "message": "internal error"}, status_code=500)


# --- parameters ------------------------------------------------------------------------------


def query_text(request: Request, name: str, *, required: bool = False, max_chars: int = 500) -> str:
    value = request.query_params.get(name, "")
    if required and not value.strip():
        raise InvalidArgument(f"{name} is required", field=name)
    if len(value) > max_chars:
        raise InvalidArgument(f"{name} is longer than {max_chars} characters", field=name)
    return value


def query_int(
    request: Request, name: str, default: int, *, minimum: int = 0, maximum: int = 2**63 - 1
) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer", field=name) from None
    if not minimum <= value <= maximum:
        raise InvalidArgument(f"{name} must be between {minimum} and {maximum}", field=name)
    return value


def wants_markdown(request: Request) -> bool:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "markdown"):
        raise InvalidArgument("format must be json or markdown", field="format")
    return fmt == "markdown"


# --- cursors ------------------------------------------------------------------------------

MAX_CURSOR_CHARS = 1024


def list_scope(name: str, *filters: object) -> bytes:
    """What a REST list's cursors are bound to: the list and its filters, so a cursor of
    another list, project or query is refused."""
    return "\0".join([f"rest.{name}", *(str(f) for f in filters)]).encode()


def read_cursor(
    ctx: ReadContext, scope: bytes, cursor: str, **fields: type
) -> dict[str, Any] | None:
    """The values of a `cursor` parameter this tenant signed for this scope; None for the
    first page. Anything else is INVALID_ARGUMENT on `cursor`."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid_cursor()
    try:
        return ctx.paging.scoped_cursor(scope, cursor, **fields)
    except InvalidArgument:
        raise invalid_cursor() from None


def next_cursor(ctx: ReadContext, scope: bytes, values: dict[str, Any]) -> str:
    return ctx.paging.scoped_token(scope, values)


def invalid_cursor() -> InvalidArgument:
    return InvalidArgument("cursor is not valid", field="cursor")


# --- the REST face ---------------------------------------------------------------------------

Handler = Callable[[Request, Services, Principal], Awaitable[View]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A GET route: bearer auth, the view, then JSON (or markdown) with seq and epoch, an
    ETag where the view is cacheable, and errors as `{code, message}` with their status."""

    async def serve(request: Request) -> Response:
        services = request.app.state.services
        try:
            principal = authenticate(request, services)
            markdown = wants_markdown(request)
            view = await handler(request, services, principal)
        except PmError as error:
            return error_response(error, seq_headers=retry_after_headers(error))
        except Exception:
            log.exception("GET %s failed", request.url.path)
            return internal_error()
        headers = {"PM-Seq": str(view.seq), "PM-Epoch": view.epoch}
        if view.cacheable:
            headers["ETag"] = view.etag
            if view.etag in _etags(request.headers.get("if-none-match", "")):
                return Response(status_code=304, headers=headers)
        if markdown:
            if view.markdown is None:
                return error_response(
                    InvalidArgument("this route has no markdown form", field="format"),
                    seq_headers=headers,
                )
            return PlainTextResponse(
                await rendered(view.markdown),
                media_type="text/markdown; charset=utf-8",
                headers=headers,
            )
        body = await json_bytes({**view.body, "seq": view.seq, "epoch": view.epoch})
        return Response(body, media_type="application/json", headers=headers)

    serve.__name__ = handler.__name__
    serve.__doc__ = handler.__doc__
    return serve


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
