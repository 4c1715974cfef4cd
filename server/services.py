"""What the lifespan opens and every connection shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.auth import TokenVerifier
from server.config import Config
from server.hub import Hub
from server.runner import CommandRunner
from tenants.manager import TenantDatabases

if TYPE_CHECKING:
    from server.connection import Connection


@dataclass
class Services:
    config: Config
    databases: TenantDatabases
    hub: Hub
    verifier: TokenVerifier
    runner: CommandRunner
    connections: set[Connection] = field(default_factory=set)
