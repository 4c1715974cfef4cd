"""Copies of tenant files: a backup taken while the server serves them, and the storage side
of a restore. Knows nothing of the network: server/admin.py and scripts/ drive it.

A backup uses SQLite's online backup API in one step: it reads the source in one read
transaction, so the copy is the database as of one commit (every committed change with its
event, nothing half-written), and, the file being in WAL mode, writers are never blocked
meanwhile. The copy is written to `<dest>.partial`, switched to a rollback journal (so it
is one self-contained file, no -wal beside it), checked, then renamed into place.

A restore never renames over a tenant's file: another connection's -wal and -shm would
then describe a different file. It first makes a staging copy of the source beside the
tenant's file and checks it there (integrity, a tenant file, a schema this server knows,
the search indexes) and gives it a new epoch, so a refused source changes nothing and a
crash mid-way leaves the tenant's file as it was. Only then is the staging copy written
into the tenant's file with the backup API, as one transaction, while nothing else has the
file open (the caller's business: close the server's database first, or run offline).
The backup API copies pages, so rowids, and with them the search indexes, survive as they
are; nothing here VACUUMs.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tenants import event_log, search
from tenants.manager import TENANT_FILE_SUFFIX, is_valid_tenant_id, tenant_file
from tenants.migrator import load_migrations

# Migration 0005 made tenant_meta (the epoch); 0008 the search indexes.
_META_VERSION = 5
_SEARCH_VERSION = 8
_BUSY_TIMEOUT_MS = 5000


class BackupError(Exception):
    """A copy could not be made or installed; the message says why, for an operator."""


class RestoreRefused(BackupError):
    """The source is not a tenant file this server can install; nothing was changed."""


class TenantFileInUse(BackupError):
    """Another connection (a running server) has the tenant's file open."""


@dataclass(frozen=True, slots=True)
class CopyInfo:
    """What one copy holds."""

    path: Path
    seq: int
    epoch: str
    schema_version: int
    bytes: int


def tenant_path(data_dir: Path, tenant_id: str) -> Path:
    if not is_valid_tenant_id(tenant_id):
        raise BackupError(f"invalid tenant id {tenant_id!r}")
    return tenant_file(data_dir, tenant_id)


def tenant_ids(data_dir: Path) -> list[str]:
    """Every tenant with a file under data_dir, in name order."""
    folder = data_dir / "tenants"
    if not folder.is_dir():
        return []
    found = (
        entry.name[: -len(TENANT_FILE_SUFFIX)]
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(TENANT_FILE_SUFFIX)
    )
    return sorted(t for t in found if is_valid_tenant_id(t))


def known_schema_version() -> int:
    return len(load_migrations())


# --- backup ---------------------------------------------------------------------------------


def backup_tenant(data_dir: Path, tenant_id: str, dest: Path) -> CopyInfo:
    """Copy the tenant's live file to `dest` (a file path), consistently, while it is served."""
    source = tenant_path(data_dir, tenant_id)
    if not source.is_file():
        raise BackupError(f"tenant {tenant_id} has no database under {data_dir}")
    return backup_file(source, dest)


def backup_file(source: Path, dest: Path) -> CopyInfo:
    if dest.exists() and dest.is_dir():
        raise BackupError(f"{dest} is a directory; name the copy's file")
    if dest.resolve() == source.resolve():
        raise BackupError("the copy cannot be the tenant's own file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    _remove_quietly(partial)
    try:
        # mode=rw: a missing source must be an error, not a new empty database.
        with (
            closing(sqlite3.connect(f"file:{source}?mode=rw", uri=True)) as src,
            closing(sqlite3.connect(partial, isolation_level=None)) as dst,
        ):
            src.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            src.backup(dst)
            # The copied header still says WAL; a rollback journal makes it one file.
            dst.execute("PRAGMA journal_mode = DELETE")
            _check_integrity(dst, str(source))
            info = _describe(dst)
        _fsync(partial)
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    except sqlite3.Error as exc:
        _remove_quietly(partial)
        raise BackupError(f"copying {source} failed: {exc}") from None
    except BaseException:
        _remove_quietly(partial)
        raise
    return CopyInfo(dest, info.seq, info.epoch, info.schema_version, dest.stat().st_size)


# --- restore --------------------------------------------------------------------------------


def staging_path(live: Path) -> Path:
    # Beside the tenant's file (same filesystem), under a name no tenant id can have, and
    # one of its own per restore: two racing restores never share a staging copy.
    return live.with_name(f".restore-{secrets.token_hex(4)}-{live.name}")


def prepare_restore(source: Path, live: Path, *, known_version: int | None = None) -> CopyInfo:
    """A checked staging copy of `source` with a new epoch, ready for `install_restore`.

    Raises RestoreRefused (and leaves nothing behind) unless the source is an intact
    tenant file whose schema this server knows.
    """
    known = known_schema_version() if known_version is None else known_version
    if not source.is_file():
        raise RestoreRefused(f"{source} is not a file")
    if source.resolve() == live.resolve():
        raise RestoreRefused("the source is the tenant's own file")
    staging = staging_path(live)
    live.parent.mkdir(parents=True, exist_ok=True)
    _remove_quietly(staging)
    try:
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(staging, isolation_level=None)) as dst,
        ):
            src.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
            _check_integrity(dst, str(source))
            version = _check_tenant_file(dst, known)
            if version >= _SEARCH_VERSION:
                try:
                    search.integrity_check(dst)
                except sqlite3.DatabaseError:
                    raise RestoreRefused(
                        f"{source}: its search index does not match its rows"
                    ) from None
            # A new history: a seq of the old one must never be resumed in this one.
            epoch = secrets.token_hex(16)
            dst.execute("UPDATE tenant_meta SET value = ? WHERE name = 'epoch'", (epoch,))
            info = _describe(dst)
        _fsync(staging)
    except sqlite3.DatabaseError as exc:
        _remove_quietly(staging)
        raise RestoreRefused(f"{source} is not a usable SQLite database: {exc}") from None
    except BaseException:
        _remove_quietly(staging)
        raise
    return CopyInfo(staging, info.seq, epoch, version, staging.stat().st_size)


def install_restore(prepared: CopyInfo, live: Path) -> CopyInfo:
    """Write the staging copy into the tenant's file, in place, as one transaction.

    Nothing else may have the file open: TenantFileInUse when a connection (a server
    process) still does, and then nothing changed. The staging copy is removed either way
    once it is installed or refused.
    """
    staging = prepared.path
    try:
        with (
            closing(sqlite3.connect(f"file:{staging}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(live, isolation_level=None)) as dst,
        ):
            # Long enough for a checkpoint of the closing server to let go, far too short
            # to outwait a server that still serves the file.
            dst.execute("PRAGMA busy_timeout = 1000")
            try:
                mode = dst.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            except sqlite3.OperationalError:
                mode = "locked"
            if str(mode).lower() != "delete":
                raise TenantFileInUse(
                    f"{live} is open in another process (a running server?): restore through"
                    " the server, or stop it first"
                )
            # Out of WAL, the file is ours alone: the copy is written under an exclusive
            # lock, with a rollback journal, so it lands whole or not at all.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = WAL")
            _check_integrity(dst, str(live))
            info = _describe(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"installing the copy into {live} failed: {exc}") from None
    finally:
        _remove_quietly(staging)
    return CopyInfo(live, info.seq, info.epoch, info.schema_version, live.stat().st_size)


def discard(prepared: CopyInfo) -> None:
    """Drop a staging copy that will not be installed."""
    _remove_quietly(prepared.path)


# --- helpers --------------------------------------------------------------------------------


def _check_integrity(conn: sqlite3.Connection, name: str) -> None:
    found = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    if found != ["ok"]:
        raise RestoreRefused(f"{name} fails SQLite's integrity check: {'; '.join(found[:3])}")


def _check_tenant_file(conn: sqlite3.Connection, known: int) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version < _META_VERSION or not {"tenant_meta", "events"} <= tables:
        raise RestoreRefused("the source is not a pm tenant database (no tenant_meta)")
    if version > known:
        raise RestoreRefused(
            f"the source's schema version {version} is newer than this server's ({known}):"
            " restore it with the server version that wrote it"
        )
    names = {str(r[0]) for r in conn.execute("SELECT name FROM tenant_meta")}
    if not {"epoch", "page_token_key"} <= names:
        raise RestoreRefused("the source's tenant_meta lacks its epoch or page-token key")
    return version


def _describe(conn: sqlite3.Connection) -> CopyInfo:
    epoch = conn.execute("SELECT value FROM tenant_meta WHERE name = 'epoch'").fetchone()
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    return CopyInfo(
        Path(),
        event_log.current_seq(conn),
        "" if epoch is None else str(epoch[0]),
        version,
        0,
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse a directory fsync; the rename is still done
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    for leftover in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            leftover.unlink()
        except FileNotFoundError:
            pass
