"""The lifespan's pruning task: every PM_RETENTION_INTERVAL_SECONDS each open tenant's log
and idempotency records are pruned (tenants/retention.py), in slices that each take one
short write, and its WAL is checkpointed (which works because reads are bounded
transactions: no reader holds an old snapshot for long)."""

from __future__ import annotations

import asyncio
import logging

from server.commands import now_ms
from server.config import Config
from tenants import retention
from tenants.manager import TenantDatabases

log = logging.getLogger(__name__)

# Rows per slice: one slice is one write on the event loop, so keep it short.
_SLICE = 2_000


def policy_of(config: Config) -> retention.RetentionPolicy:
    return retention.RetentionPolicy(
        keep_events=config.event_retention_events,
        max_age_ms=config.event_retention_days * 86_400_000,
        min_age_ms=config.event_retention_min_age_seconds * 1000,
        request_max_age_ms=config.request_retention_hours * 3_600_000,
    )


class RetentionTask:
    def __init__(self, config: Config, databases: TenantDatabases) -> None:
        self._policy = policy_of(config)
        self._interval = config.retention_interval_seconds
        self._databases = databases
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self._passed = asyncio.Condition()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def next_pass(self) -> None:
        """Returns once a pass that started after this call has finished."""
        async with self._passed:
            target = self.passes + 2
            await self._passed.wait_for(lambda: self.passes >= target)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("pruning failed")
            async with self._passed:
                self.passes += 1
                self._passed.notify_all()

    async def run_once(self) -> None:
        for tenant_id in self._databases.open_tenants():
            async with self._databases.lease(tenant_id) as db:
                events = requests = 0
                while True:
                    pruned = await db.write(
                        lambda conn: retention.prune(conn, self._policy, now_ms(), _SLICE)
                    )
                    events += pruned.events
                    requests += pruned.requests
                    if pruned.events < _SLICE and pruned.requests < _SLICE:
                        break
                if events or requests:
                    log.info(
                        "tenant %s: pruned %d events and %d request records",
                        tenant_id,
                        events,
                        requests,
                    )
                await db.checkpoint()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
