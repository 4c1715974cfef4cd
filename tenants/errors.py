"""The one error tree of pm-server; each class is one wire error code.

    PmError
    ├── InvalidArgument      INVALID_ARGUMENT   (bad or missing field, unknown command)
    ├── NotFound             NOT_FOUND          (absent, deleted, or another tenant's)
    ├── AlreadyExists        ALREADY_EXISTS
    ├── Conflict             CONFLICT           (expected_version mismatch; carries current)
    ├── FailedPrecondition   FAILED_PRECONDITION (a rule: hierarchy, cycle, sprint state)
    │   └── SchemaTooNew     (the tenant's file was written by a newer pm-server)
    ├── PermissionDenied     PERMISSION_DENIED
    ├── Unauthenticated      UNAUTHENTICATED
    ├── ResourceExhausted    RESOURCE_EXHAUSTED
    │   └── DiskFull         (SQLite found no room to write: nothing of the write was kept)
    ├── ResyncRequired       RESYNC_REQUIRED
    └── Internal             INTERNAL

It lives on the storage side because rules run inside the tenant's transaction; server/
maps each class to its `pm.v1.Error` frame in one place (server/protocol.py).
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorCode(enum.Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    RESYNC_REQUIRED = "RESYNC_REQUIRED"
    INTERNAL = "INTERNAL"


class PmError(Exception):
    """Base of every error a client may see. `message` must be safe to show a client."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str, *, field: str = "", current: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The entity as it is now (a record of tenants/), sent along with CONFLICT.
        self.current = current


class InvalidArgument(PmError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(PmError):
    code = ErrorCode.NOT_FOUND


class AlreadyExists(PmError):
    code = ErrorCode.ALREADY_EXISTS


class Conflict(PmError):
    code = ErrorCode.CONFLICT


class FailedPrecondition(PmError):
    code = ErrorCode.FAILED_PRECONDITION


class SchemaTooNew(FailedPrecondition):
    """A tenant file whose schema is above every migration this server knows: opening it
    could misread or damage what a newer server wrote, so it is left untouched."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"tenant database was written by a newer pm-server (schema {found}, this server"
            f" knows {known}); upgrade this server"
        )
        self.found = found
        self.known = known


class PermissionDenied(PmError):
    code = ErrorCode.PERMISSION_DENIED


class Unauthenticated(PmError):
    code = ErrorCode.UNAUTHENTICATED


class ResourceExhausted(PmError):
    code = ErrorCode.RESOURCE_EXHAUSTED


class DiskFull(ResourceExhausted):
    def __init__(self) -> None:
        super().__init__("the server's disk is full")


class ResyncRequired(PmError):
    code = ErrorCode.RESYNC_REQUIRED


class Internal(PmError):
    code = ErrorCode.INTERNAL
