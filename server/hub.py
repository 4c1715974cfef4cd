"""The broadcast hub: carries committed events to the connections that subscribed.

A narrow interface (publish, subscribe, unsubscribe, drop, close) with an in-process
implementation; a Redis one joining several processes can sit behind the same interface.
An event arrives already encoded (one frame for all receivers); the hub never awaits a
subscriber: `deliver` only puts bytes on the connection's bounded queue.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PublishedEvent:
    tenant_id: str
    seq: int
    project_ids: tuple[str, ...]
    # Project-level events (created, renamed, deleted) also go to tenant-feed subscribers.
    tenant_level: bool
    frame: bytes


class Subscriber(Protocol):
    def deliver(self, event: PublishedEvent) -> None: ...


@dataclass
class _TenantIndex:
    by_project: dict[str, set[Subscriber]] = field(default_factory=dict)
    tenant_feed: set[Subscriber] = field(default_factory=set)

    def empty(self) -> bool:
        return not self.by_project and not self.tenant_feed


class SubscriptionIndex:
    """Who listens to which project of which tenant; finds an event's receivers."""

    def __init__(self) -> None:
        self._tenants: dict[str, _TenantIndex] = {}

    def add(
        self, tenant_id: str, subscriber: Subscriber, project_ids: Iterable[str], feed: bool
    ) -> None:
        index = self._tenants.setdefault(tenant_id, _TenantIndex())
        for project_id in project_ids:
            index.by_project.setdefault(project_id, set()).add(subscriber)
        if feed:
            index.tenant_feed.add(subscriber)

    def remove(
        self, tenant_id: str, subscriber: Subscriber, project_ids: Iterable[str], feed: bool
    ) -> None:
        index = self._tenants.get(tenant_id)
        if index is None:
            return
        for project_id in project_ids:
            members = index.by_project.get(project_id)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del index.by_project[project_id]
        if feed:
            index.tenant_feed.discard(subscriber)
        if index.empty():
            del self._tenants[tenant_id]

    def receivers(self, event: PublishedEvent) -> set[Subscriber]:
        """Each matching subscriber once, however many of its projects the event touches."""
        index = self._tenants.get(event.tenant_id)
        if index is None:
            return set()
        found: set[Subscriber] = set()
        for project_id in event.project_ids:
            members = index.by_project.get(project_id)
            if members:
                found |= members
        if event.tenant_level:
            found |= index.tenant_feed
        return found

    def subscriber_count(self) -> int:
        seen: set[int] = set()
        for index in self._tenants.values():
            for members in index.by_project.values():
                seen.update(id(m) for m in members)
            seen.update(id(m) for m in index.tenant_feed)
        return len(seen)


class Hub(abc.ABC):
    @abc.abstractmethod
    def publish(self, event: PublishedEvent) -> None:
        """Hand a committed event to every matching subscriber (of every process).

        Never awaits: events are published in commit order from the code that learns of
        the commit, and a broker-backed hub queues what it sends on."""

    @abc.abstractmethod
    def subscribe(
        self,
        tenant_id: str,
        subscriber: Subscriber,
        *,
        project_ids: Iterable[str] = (),
        tenant_feed: bool = False,
    ) -> None: ...

    @abc.abstractmethod
    def unsubscribe(
        self,
        tenant_id: str,
        subscriber: Subscriber,
        *,
        project_ids: Iterable[str] = (),
        tenant_feed: bool = False,
    ) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class InProcessHub(Hub):
    def __init__(self) -> None:
        self.index = SubscriptionIndex()

    def publish(self, event: PublishedEvent) -> None:
        for subscriber in self.index.receivers(event):
            subscriber.deliver(event)

    def subscribe(
        self,
        tenant_id: str,
        subscriber: Subscriber,
        *,
        project_ids: Iterable[str] = (),
        tenant_feed: bool = False,
    ) -> None:
        self.index.add(tenant_id, subscriber, project_ids, tenant_feed)

    def unsubscribe(
        self,
        tenant_id: str,
        subscriber: Subscriber,
        *,
        project_ids: Iterable[str] = (),
        tenant_feed: bool = False,
    ) -> None:
        self.index.remove(tenant_id, subscriber, project_ids, tenant_feed)

    async def close(self) -> None:
        self.index = SubscriptionIndex()


def create_hub(broker_url: str) -> Hub:
    """Pick the hub by the scheme of PM_BROKER_URL; empty means in-process."""
    if not broker_url or broker_url.startswith("memory:"):
        return InProcessHub()
    raise ValueError(f"unsupported PM_BROKER_URL scheme: {broker_url.split(':', 1)[0]}")
