"""A connection's subscriptions without any I/O: what to send of each event, and when.

As the `websockets` library keeps its protocol apart from its asyncio adapters, the Session
takes events and returns the frames to send; the Connection moves the bytes. It owns:

- the scopes (each subscribed project, and the tenant feed), each with the seq range it has
  delivered: `since` (events at or below it are not this scope's business) and `high`, the
  highest seq delivered through it. Every event of a scope in (since, high] has been sent,
  in order; so an event already sent through any scope it matches is dropped (a broker's
  duplicate, or a replay overlapping an earlier live subscription), and every event is sent
  once;
- the replay: while stored events are read and sent page by page, live events wait in a
  buffer of at most `buffer_limit`; past that the buffer is dropped (`overflowed`) and the
  caller reads on in the log up to a new target instead (`restart_buffer`), so a replay
  never holds more than a page and a buffer in memory.

Events reach a Session in seq order (the tenant's stream sees to it); replayed events are
offered in seq order too, before any buffered one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from server.hub import PublishedEvent

TENANT_FEED = ""  # the tenant feed's key among the scopes (never a project id)


@dataclass
class _Scope:
    since: int
    high: int


class Session:
    def __init__(self, buffer_limit: int = 256) -> None:
        self._scopes: dict[str, _Scope] = {}
        self._buffer_limit = buffer_limit
        self._buffer: list[PublishedEvent] | None = None  # None: not replaying
        self.overflowed = False

    # --- scopes ---------------------------------------------------------------------------

    @property
    def project_ids(self) -> list[str]:
        return sorted(scope for scope in self._scopes if scope != TENANT_FEED)

    @property
    def tenant_feed(self) -> bool:
        return TENANT_FEED in self._scopes

    @property
    def project_count(self) -> int:
        return len(self._scopes) - (TENANT_FEED in self._scopes)

    def has(self, scope: str) -> bool:
        return scope in self._scopes

    def add(self, scopes: Iterable[str], since: int) -> list[str]:
        """Subscribe scopes not yet held, interested in events after `since`; the new ones."""
        added = [scope for scope in dict.fromkeys(scopes) if scope not in self._scopes]
        for scope in added:
            self._scopes[scope] = _Scope(since, since)
        return added

    def remove(self, scopes: Iterable[str]) -> None:
        for scope in scopes:
            self._scopes.pop(scope, None)

    def clear(self) -> None:
        self._scopes.clear()
        self._buffer = None

    # --- events -----------------------------------------------------------------------------

    def live(self, event: PublishedEvent) -> bool:
        """Whether to send a live event now (not: not ours, already sent, or held while a
        replay runs)."""
        if self._buffer is not None:
            if self.overflowed or not self._matches(event.project_ids, event.tenant_level):
                return False
            if len(self._buffer) >= self._buffer_limit:
                # The replay will read these from the log instead.
                self._buffer = []
                self.overflowed = True
                return False
            self._buffer.append(event)
            return False
        return self._accept(event.seq, event.project_ids, event.tenant_level)

    def _matches(self, project_ids: Iterable[str], tenant_level: bool) -> bool:
        scopes = self._scopes
        return (tenant_level and TENANT_FEED in scopes) or any(p in scopes for p in project_ids)

    def _accept(self, seq: int, project_ids: Iterable[str], tenant_level: bool) -> bool:
        """Whether to send this event; if so, it counts as sent through each scope it
        matches and is new to."""
        matched = [self._scopes[p] for p in project_ids if p in self._scopes]
        if tenant_level and TENANT_FEED in self._scopes:
            matched.append(self._scopes[TENANT_FEED])
        if not matched:
            return False
        if any(scope.since < seq <= scope.high for scope in matched):
            return False  # sent already, through one of them
        fresh = [scope for scope in matched if seq > scope.since]
        if not fresh:
            return False
        for scope in fresh:
            scope.high = max(scope.high, seq)
        return True

    # --- replay -----------------------------------------------------------------------------

    @property
    def replaying(self) -> bool:
        return self._buffer is not None

    def begin_replay(self) -> None:
        """Hold live events from now on, until `end_replay`."""
        self._buffer = []
        self.overflowed = False

    def replayed(self, seq: int, project_ids: Iterable[str], tenant_level: bool) -> bool:
        """Whether to send a stored event of the replay (offered in seq order)."""
        return self._accept(seq, project_ids, tenant_level)

    def restart_buffer(self) -> None:
        """After an overflow, the replay reads on to a new target: buffer from now on."""
        self._buffer = []
        self.overflowed = False

    def finish_replay(self) -> list[PublishedEvent]:
        """The replay reached its target and nothing overflowed: the held live events still
        to send, in order. Live from now on."""
        assert not self.overflowed, "read on in the log first"
        held, self._buffer = self._buffer or [], None
        return [e for e in held if self._accept(e.seq, e.project_ids, e.tenant_level)]
