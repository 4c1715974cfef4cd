"""Install a copy (scripts.backup's) as a tenant's database, under a new epoch.

python -m scripts.restore TENANT SRC [--url URL] [--token JWT] [--offline] [--data-dir DIR]

With a server running, the server does it (POST /admin/tenants/TENANT/restore): it closes
the tenant's connections with 1012, waits for the commands in flight, writes SRC into the
tenant's file and reopens it; clients that reconnect see the new epoch, and a resume with
the old one answers RESYNC_REQUIRED (reload). The script mints a short operator token
with PM_JWT_SECRET; with a public-key setup pass one with --token (claims: sub, tenant_id
TENANT, exp, and "pm_operator": true). With several processes joined by a broker, the one
that answers has the others let go of the tenant first, and refuses (503) while the broker
is degraded.

--offline (or when no server answers at the URL) writes SRC straight into the file under
PM_DATA_DIR (or --data-dir); it refuses while any process has the file open.

SRC is checked first (SQLite's integrity check, a pm tenant file, a schema this server
knows, the search index); a refused SRC changes nothing. Exit status 0 when restored, 1
when refused or failed, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from server.admin import OPERATOR_CLAIM
from server.config import Config, ConfigError
from server.tokens import mint_server_token
from tenants import backup
from tenants.manager import is_valid_tenant_id

OPERATOR_USER = "operator"
TOKEN_TTL_SECONDS = 300
# The server waits for commands in flight before it writes; a restore of a large file
# takes a while.
REQUEST_TIMEOUT_S = 300.0


class NoServer(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.restore",
        description="Install a backup as a tenant's database, under a new epoch.",
    )
    parser.add_argument("tenant")
    parser.add_argument("source", type=Path, help="the copy to install")
    parser.add_argument("--url", help="the server's HTTP base URL (default: PM_HOST:PM_PORT)")
    parser.add_argument("--token", help="an operator token (with a public-key setup)")
    parser.add_argument("--offline", action="store_true", help="no server runs: write the file")
    parser.add_argument("--data-dir", type=Path, help="instead of PM_DATA_DIR (offline)")
    return parser


def base_url(config: Config) -> str:
    host = config.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def operator_token(config: Config, tenant: str) -> str:
    """A short operator token, signed as the server signs its own (PM_JWT_SIGNING_KID)."""
    try:
        return mint_server_token(
            config,
            tenant_id=tenant,
            user_id=OPERATOR_USER,
            ttl_seconds=TOKEN_TTL_SECONDS,
            extra={OPERATOR_CLAIM: True},
        )
    except ValueError as error:  # only public keys configured: nothing to sign with here
        raise ConfigError(f"{error}: pass --token") from None


def restore_online(url: str, token: str, tenant: str, source: Path) -> dict[str, object]:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/admin/tenants/{tenant}/restore",
        data=json.dumps({"source": str(source)}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            body: dict[str, object] = json.loads(answer.read())
            return body
    except urllib.error.HTTPError as refused:
        try:
            message = str(json.loads(refused.read()).get("message", refused.reason))
        except ValueError:
            message = str(refused.reason)
        raise backup.BackupError(f"the server refused ({refused.code}): {message}") from None
    except urllib.error.URLError as unreachable:
        if isinstance(unreachable.reason, ConnectionRefusedError):
            raise NoServer(url) from None
        raise backup.BackupError(f"{url}: {unreachable.reason}") from None
    except ConnectionRefusedError:
        raise NoServer(url) from None


def restore_offline(data_dir: Path, tenant: str, source: Path) -> dict[str, object]:
    live = backup.tenant_path(data_dir, tenant)
    prepared = backup.prepare_restore(source, live)
    try:
        installed = backup.install_restore(prepared, live)
    finally:
        backup.discard(prepared)
    return {
        "tenant": tenant,
        "seq": installed.seq,
        "epoch": installed.epoch,
        "schema_version": installed.schema_version,
        "bytes": installed.bytes,
        "closed_connections": 0,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tenant: str = args.tenant
    source = args.source.resolve()
    try:
        config = Config.from_env()
        if not is_valid_tenant_id(tenant):
            raise backup.BackupError(f"invalid tenant id {tenant!r}")
        data_dir = args.data_dir if args.data_dir is not None else config.data_dir
        result: dict[str, object] | None = None
        how = "offline"
        if not args.offline:
            url = args.url or base_url(config)
            token = args.token or operator_token(config, tenant)
            try:
                result = restore_online(url, token, tenant, source)
                how = f"through {url}"
            except NoServer:
                print(f"restore: no server answers at {url}; restoring offline", file=sys.stderr)
        if result is None:
            result = restore_offline(data_dir, tenant, source)
    except ConfigError as error:
        print(f"restore: {error}", file=sys.stderr)
        return 2
    except backup.BackupError as error:
        print(f"restore: {tenant}: {error}", file=sys.stderr)
        return 1
    print(
        f"{tenant} restored {how}: seq={result['seq']} epoch={result['epoch']}"
        f" bytes={result['bytes']} closed_connections={result['closed_connections']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
