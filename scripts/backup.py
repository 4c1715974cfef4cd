"""Copy tenant databases while the server serves them (SQLite's online backup API).

python -m scripts.backup TENANT DEST         one tenant into the file DEST
python -m scripts.backup --all DEST_DIR      every tenant into DEST_DIR/<tenant>.sqlite3

The data directory is PM_DATA_DIR (the server's own setting) unless --data-dir names
another. Each copy is one self-contained file (no -wal beside it) that passes SQLite's
integrity check, holding the tenant as of one commit. One line per tenant copied: the
tenant, the last event seq it holds, its size in bytes and where it went. Exit status 1
when a copy failed, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.config import Config, ConfigError
from tenants import backup
from tenants.manager import TENANT_FILE_SUFFIX


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.backup",
        description="Copy tenant databases consistently while the server runs.",
    )
    parser.add_argument("tenant", nargs="?", help="the tenant to copy (omit with --all)")
    parser.add_argument("dest", help="the copy's file, or with --all the directory for them")
    parser.add_argument("--all", action="store_true", help="copy every tenant into DEST")
    parser.add_argument("--data-dir", type=Path, help="instead of PM_DATA_DIR")
    return parser


def data_dir_of(given: Path | None) -> Path:
    return given if given is not None else Config.from_env().data_dir


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.all == (args.tenant is not None):
        parser.error("name one TENANT and a DEST file, or --all and a DEST_DIR")
    try:
        data_dir = data_dir_of(args.data_dir)
    except ConfigError as error:
        print(f"backup: {error}", file=sys.stderr)
        return 2
    dest = Path(args.dest)
    tenants = backup.tenant_ids(data_dir) if args.all else [args.tenant]
    if args.all and dest.exists() and not dest.is_dir():
        print(f"backup: {dest} is not a directory", file=sys.stderr)
        return 2
    failed = 0
    for tenant in tenants:
        target = dest / f"{tenant}{TENANT_FILE_SUFFIX}" if args.all else dest
        try:
            copy = backup.backup_tenant(data_dir, tenant, target)
        except backup.BackupError as error:
            print(f"backup: {tenant}: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{tenant} seq={copy.seq} bytes={copy.bytes} -> {copy.path}")
    if args.all and not tenants:
        print(f"backup: no tenant databases under {data_dir}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
