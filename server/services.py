"""What the lifespan opens and every connection shares, built and closed in one place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from pm.v1 import envelope_pb2 as env
from server import protocol
from server.auth import TokenVerifier
from server.config import Config
from server.handlers import command_table
from server.heartbeats import Heartbeats
from server.hub import Hub, PublishedEvent, create_hub
from server.logs import RefusalLog
from server.metrics import Metrics
from server.presence import Presence
from server.profiles import UserProfiles
from server.readiness import Readiness
from server.redis_presence import RedisPresenceExchange, exchange_for
from server.retention import RetentionTask
from server.runner import CommandRunner
from server.stream import TenantStreams
from tenants import event_log
from tenants.manager import TenantDatabases

if TYPE_CHECKING:
    from server.connection import Connection


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(delay, callback)


@dataclass
class Services:
    config: Config
    databases: TenantDatabases
    hub: Hub
    verifier: TokenVerifier
    runner: CommandRunner
    streams: TenantStreams
    heartbeats: Heartbeats
    retention: RetentionTask
    presence: Presence
    # Users' names and emails from their tokens, written to each tenant's users table.
    profiles: UserProfiles = field(default_factory=UserProfiles)
    connections: set[Connection] = field(default_factory=set)
    # Presence between processes (a broker's); None with the in-process hub.
    presence_exchange: RedisPresenceExchange | None = None
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness | None = None
    # Refused commands (the rate limit), logged like refused upgrades; the lifespan shares
    # the sockets' log.
    refusals: RefusalLog = field(default_factory=RefusalLog)

    @classmethod
    def create(
        cls, config: Config, *, hub: Hub | None = None, metrics: Metrics | None = None
    ) -> Services:
        metrics = metrics if metrics is not None else Metrics()
        databases = TenantDatabases(
            config.data_dir,
            max_open=config.max_open_tenants,
            synchronous=config.sqlite_synchronous,
            busy_timeout_ms=config.busy_timeout_ms,
            on_commit=metrics.batches.observe,
        )
        hub = hub if hub is not None else create_hub(config.broker_url)

        async def position(tenant_id: str) -> int:
            async with databases.lease(tenant_id) as db:
                return await db.read(event_log.current_seq)

        async def fill(tenant_id: str, after: int, up_to: int) -> list[PublishedEvent]:
            """The stored events of a gap, framed as they were published."""
            async with databases.lease(tenant_id) as db:
                stored = await db.read(
                    lambda conn: event_log.page(
                        conn,
                        after_seq=after,
                        up_to_seq=up_to,
                        project_ids=None,
                        tenant_feed=False,
                        limit=max(1, up_to - after),
                    )
                )
            return [
                PublishedEvent(
                    tenant_id,
                    e.seq,
                    e.project_ids,
                    e.tenant_level,
                    protocol.event_frame(e.seq, e.payload, max_bytes=config.max_message_bytes),
                )
                for e in stored
            ]

        exchange = exchange_for(hub, config.presence_ttl_ms / 1000)
        presence = Presence(
            config.presence_coalesce_ms / 1000,
            _call_later,
            lambda update: protocol.encode_server(env.ServerMessage(presence=update)),
            exchange=exchange,
        )
        if exchange is not None:
            exchange.bind(presence.remote_changed)
        return cls(
            config=config,
            databases=databases,
            hub=hub,
            verifier=TokenVerifier(config),
            runner=CommandRunner(
                databases,
                command_table(),
                max_message_bytes=config.max_message_bytes,
            ),
            streams=TenantStreams(
                hub,
                position,
                fill,
                config.gap_fill_ms / 1000,
                tail_interval_s=config.tail_interval_ms / 1000,
                metrics=metrics,
            ),
            heartbeats=Heartbeats(
                config.heartbeat_interval_ms / 1000, config.heartbeat_timeout_ms / 1000
            ),
            retention=RetentionTask(config, databases),
            presence=presence,
            presence_exchange=exchange,
            metrics=metrics,
            readiness=Readiness(config.data_dir / "tenants"),
        )

    async def close(self) -> None:
        """Databases last: they finish their queued writes first."""
        self.heartbeats.close()
        await self.retention.close()
        await self.streams.close()
        if self.presence_exchange is not None:
            await self.presence_exchange.close()
        await self.hub.close()
        await self.databases.close()


def services_of(conn: HTTPConnection) -> Services:
    """The app's Services, from any request or WebSocket of it."""
    services = conn.app.state.services
    assert isinstance(services, Services)
    return services
