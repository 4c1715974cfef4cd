"""Operator endpoints, outside the tenants' faces: `POST /admin/tenants/{tenant}/restore`.

Only an operator token opens them: a JWT the server would accept (same keys, algorithms,
audience, issuer, leeway) that also carries `"pm_operator": true` and names the tenant in
`tenant_id`. Users' tokens never carry that claim (scripts/restore mints one with the
configured secret; with a public key, the identity provider issues it). They are not
served under /t/{tenant}: an operator runs them on the host that holds the file.

A restore (body `{"source": "/absolute/path"}`, a file on this host):
1. the source is copied beside the tenant's file and checked there (tenants/backup.py),
   with a new epoch; a refused source changes nothing and closes nothing (422);
2. with a broker, every other process is asked to let go of the tenant (the hub's
   `tenant_reset`; server/redis_hub.py): each holds it, closes its connections of the
   tenant with 1012, resets its stream and closes its database, then acknowledges. A
   degraded broker, or a process that does not answer within 10 s, refuses the restore
   (503) before anything is closed here or written; another restore of the tenant, 409;
3. the tenant is held here: new leases are refused and new upgrades answer 503;
4. its connections are closed with 1012 (reconnect: a Subscribe with the old epoch answers
   RESYNC_REQUIRED, so clients reload), its stream in this process is dropped;
5. the leases and writes in flight finish and its database closes;
6. the staging copy is written into the tenant's file with the backup API; the holds end
   (here, then in the others) and the next lease opens the file as restored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.auth import Principal, extract_credentials
from server.hub import ResetRefused
from server.protocol import CloseCode
from server.services import Services, services_of
from tenants import backup
from tenants.errors import PmError, Unauthenticated

log = logging.getLogger(__name__)

OPERATOR_CLAIM = "pm_operator"
RESTORE_CLOSE_REASON = "tenant restored: reconnect and reload"


class AdminRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def admin_routes() -> list[BaseRoute]:
    return [Route("/admin/tenants/{tenant}/restore", restore_endpoint, methods=["POST"])]


def operator_of(request: Request, services: Services, tenant_id: str) -> Principal:
    try:
        credentials = extract_credentials(request.headers, (), request.query_params)
        principal = services.verifier.verify(credentials.token)
    except Unauthenticated as error:
        raise AdminRefused(401, "unauthenticated", error.message) from None
    # The signature was verified just above; this only reads the claim it covers.
    claims = jwt.decode(credentials.token, options={"verify_signature": False})
    if claims.get(OPERATOR_CLAIM) is not True:
        raise AdminRefused(403, "permission_denied", "an operator token is required")
    if principal.tenant_id != tenant_id:
        raise AdminRefused(403, "permission_denied", "the token is for another tenant")
    return principal


async def _source_of(request: Request) -> Path:
    try:
        body = await request.json()
    except ValueError:
        raise AdminRefused(400, "invalid_argument", "the body must be JSON") from None
    source = body.get("source") if isinstance(body, dict) else None
    if not isinstance(source, str) or not source:
        raise AdminRefused(400, "invalid_argument", 'the body must be {"source": "/path"}')
    path = Path(source)
    if not path.is_absolute():
        raise AdminRefused(400, "invalid_argument", "source must be an absolute path")
    return path


async def restore_endpoint(request: Request) -> Response:
    services = services_of(request)
    tenant_id = str(request.path_params["tenant"])
    try:
        operator = operator_of(request, services, tenant_id)
        source = await _source_of(request)
        result = await restore_tenant(services, tenant_id, source, actor=operator.user_id)
    except AdminRefused as refused:
        headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
        return JSONResponse(
            {"error": refused.code, "message": refused.message},
            status_code=refused.status,
            headers=headers,
        )
    return JSONResponse(result)


async def restore_tenant(
    services: Services, tenant_id: str, source: Path, *, actor: str
) -> dict[str, object]:
    hub = services.hub
    if not hub.healthy:
        # Checked before anything is held: a process that misses the restore would keep
        # serving the old file's history.
        raise AdminRefused(
            503,
            "unavailable",
            "the broker is degraded, so the other processes might not hear of the restore:"
            " retry once /healthz says ok (or stop every server and run scripts.restore"
            " --offline)",
        )
    databases = services.databases
    try:
        live = databases.path_for(tenant_id)
    except PmError:
        raise AdminRefused(400, "invalid_argument", "invalid tenant id") from None
    if databases.is_held(tenant_id):
        raise AdminRefused(409, "failed_precondition", "a restore of this tenant is running")
    try:
        prepared = await asyncio.to_thread(backup.prepare_restore, source, live)
    except backup.RestoreRefused as refused:
        raise AdminRefused(422, "invalid_argument", str(refused)) from None
    try:
        # The others first: if they cannot let go, nothing here is touched.
        async with hub.tenant_reset(tenant_id), _released(services, tenant_id) as closed:
            installed = await asyncio.to_thread(backup.install_restore, prepared, live)
    except ResetRefused as refused:
        if refused.conflict:
            raise AdminRefused(409, "failed_precondition", refused.message) from None
        raise AdminRefused(503, "unavailable", refused.message) from None
    except PmError as error:  # another restore took the hold first
        raise AdminRefused(409, "failed_precondition", error.message) from None
    except backup.TenantFileInUse as in_use:
        raise AdminRefused(409, "failed_precondition", str(in_use)) from None
    except backup.BackupError as failed:
        log.error("restore of tenant %s failed: %s", tenant_id, failed)
        raise AdminRefused(500, "internal", str(failed)) from None
    finally:
        backup.discard(prepared)
    log.info(
        "tenant %s restored from %s by %s: seq %d, epoch %s, %d connections closed",
        tenant_id,
        source,
        actor,
        installed.seq,
        installed.epoch,
        closed,
    )
    return {
        "tenant": tenant_id,
        "seq": installed.seq,
        "epoch": installed.epoch,
        "schema_version": installed.schema_version,
        "bytes": installed.bytes,
        "closed_connections": closed,
    }


async def close_tenant_sessions(services: Services, tenant_id: str) -> int:
    """Close the tenant's connections of this process with 1012; returns how many. Each
    has stopped its deliveries when this returns (its close handshake may still run)."""
    victims = [c for c in services.connections if c.tenant_id == tenant_id and c.open]
    for connection in victims:
        connection.abort(CloseCode.SERVICE_RESTART, RESTORE_CLOSE_REASON)
    await asyncio.gather(*(c.wait_closing() for c in victims))
    return len(victims)


@asynccontextmanager
async def _released(services: Services, tenant_id: str) -> AsyncIterator[int]:
    """This process lets go of the tenant's file while inside: the tenant held, its
    connections closed with 1012, its stream forgotten, its database drained and closed.
    Yields how many connections were closed. Raises (PmError) if it is held already."""
    async with services.databases.hold(tenant_id) as hold:
        closed = await close_tenant_sessions(services, tenant_id)
        services.streams.reset(tenant_id)
        await hold.drain()
        # Its users are written again after the hold, into the restored file's table.
        services.profiles.forget_tenant(tenant_id)
        yield closed


@asynccontextmanager
async def let_go_of(services: Services, tenant_id: str) -> AsyncIterator[None]:
    """The hub's TenantResetter: another process restores the tenant, so this one lets go
    of it (as a restore here would) until the restore is over."""
    async with _released(services, tenant_id) as closed:
        log.info(
            "tenant %s let go for a restore by another process: %d connections closed",
            tenant_id,
            closed,
        )
        yield
