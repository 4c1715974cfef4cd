"""The facts a tenant file keeps about itself (tenant_meta): its epoch and page-token key."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantMeta:
    # A random id made with the file; a restore makes a new one.
    epoch: str
    page_token_key: bytes


def read(conn: sqlite3.Connection) -> TenantMeta:
    values = {row[0]: row[1] for row in conn.execute("SELECT name, value FROM tenant_meta")}
    return TenantMeta(epoch=str(values["epoch"]), page_token_key=bytes(values["page_token_key"]))
