"""Who is in a project, and what each is viewing: held per process, sent coalesced.

A user is present in a project while at least one of their connections is subscribed to it.
Each connection holds a seat; a user's entry counts their seats and shows the work item
most recently set by any of them. Presence is not in the seq log: it is never replayed, and
a client that (re)subscribes gets the whole picture in its SubscribeResult.

Changes are coalesced per project: the first change opens a window; when it closes, every
subscriber not yet shown the project's latest state is sent it (the whole list, not a
delta). So a join and a leave inside one window send nothing, the connection whose change
was the last one is not told what its own answer already showed it, and a user clicking
through cards costs the project at most one update per window.

No I/O here: timers come from a `schedule` function (the event loop's `call_later`, or a
fake clock in tests) and frames leave through each member's `deliver`. Another process's
presence of the same project comes from a `PresenceExchange` (the Redis one, with expiry
refreshed by heartbeats, belongs to the scale-out); the default one knows only this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pm.v1 import entities_pb2, session_pb2

# (user_id, connections, viewing_work_item_id, viewing_order): sorted by user_id. The order
# lets entries of several processes merge (the latest view wins); clients never see it.
Entry = tuple[str, int, str, int]
Entries = tuple[Entry, ...]
Visible = tuple[tuple[str, int, str], ...]  # what a client sees of Entries
Schedule = Callable[[float, Callable[[], None]], Any]


class PresenceMember(Protocol):
    """A connection as presence sees it."""

    @property
    def user_id(self) -> str: ...

    def deliver_presence(self, frame: bytes) -> None:
        """Queue an encoded ServerMessage.presence for the client."""


class PresenceExchange(Protocol):
    """Carries each process's presence of a project to the other processes."""

    def publish(self, tenant_id: str, project_id: str, entries: Entries) -> None:
        """This process's entries of the project after a change (empty: nobody here)."""

    def remote(self, tenant_id: str, project_id: str) -> Entries:
        """The other processes' entries of the project, as last heard."""


class LocalExchange:
    """One process: nobody else to tell, nobody else to hear."""

    def publish(self, tenant_id: str, project_id: str, entries: Entries) -> None:
        pass

    def remote(self, tenant_id: str, project_id: str) -> Entries:
        return ()


@dataclass(eq=False)
class _Seat:
    member: PresenceMember
    viewing: str = ""
    order: int = 0  # when `viewing` was set; 0: never
    shown: Visible | None = None  # the state this member was last sent or answered with


@dataclass(eq=False)
class _User:
    seats: dict[PresenceMember, _Seat] = field(default_factory=dict)
    latest: _Seat | None = None  # the seat whose view was set last; None: no view set

    def entry(self, user_id: str) -> Entry:
        latest = self.latest
        if latest is None:
            return (user_id, len(self.seats), "", 0)
        return (user_id, len(self.seats), latest.viewing, latest.order)


@dataclass(eq=False)
class _Project:
    """Kept per user, so a join, a view or a leave costs the user's entry and a sort of
    the users, not a pass over every connection (thousands may share a project)."""

    tenant_id: str
    project_id: str
    seats: dict[PresenceMember, _Seat] = field(default_factory=dict)
    users: dict[str, _User] = field(default_factory=dict)
    window_open: bool = False
    local_changed: bool = False  # since the exchange was last told
    _entries: Entries | None = None  # cached until the next change

    def add(self, member: PresenceMember) -> bool:
        if member in self.seats:
            return False
        seat = self.seats[member] = _Seat(member)
        self.users.setdefault(member.user_id, _User()).seats[member] = seat
        self._entries = None
        return True

    def remove(self, member: PresenceMember) -> bool:
        seat = self.seats.pop(member, None)
        if seat is None:
            return False
        user = self.users[member.user_id]
        del user.seats[member]
        if not user.seats:
            del self.users[member.user_id]
        elif user.latest is seat:
            viewed = [s for s in user.seats.values() if s.order]
            user.latest = max(viewed, key=lambda s: s.order) if viewed else None
        self._entries = None
        return True

    def set_view(self, member: PresenceMember, work_item_id: str, order: int) -> None:
        seat = self.seats[member]
        seat.viewing, seat.order = work_item_id, order
        self.users[member.user_id].latest = seat
        self._entries = None

    def local_entries(self) -> Entries:
        if self._entries is None:
            self._entries = tuple(
                sorted(user.entry(user_id) for user_id, user in self.users.items())
            )
        return self._entries


def merge(*parts: Entries) -> Entries:
    """Entries of several processes as one: connections add up, the latest view wins."""
    if len(parts) == 1:
        return parts[0]
    users: dict[str, Entry] = {}
    for entries in parts:
        for user_id, connections, viewing, order in entries:
            held = users.get(user_id)
            if held is None:
                users[user_id] = (user_id, connections, viewing, order)
            else:
                _, count, held_viewing, held_order = held
                if order > held_order:
                    held_viewing, held_order = viewing, order
                users[user_id] = (user_id, count + connections, held_viewing, held_order)
    return tuple(sorted(users.values()))


def visible(entries: Entries) -> Visible:
    return tuple((user_id, connections, viewing) for user_id, connections, viewing, _ in entries)


def update_message(project_id: str, entries: Entries) -> session_pb2.PresenceUpdate:
    return session_pb2.PresenceUpdate(
        project_id=project_id,
        entries=[
            entities_pb2.PresenceEntry(
                user_id=user_id, connections=connections, viewing_work_item_id=viewing
            )
            for user_id, connections, viewing, _ in entries
        ],
    )


class Presence:
    def __init__(
        self,
        window_s: float,
        schedule: Schedule,
        encode: Callable[[session_pb2.PresenceUpdate], bytes],
        *,
        exchange: PresenceExchange | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._window_s = window_s
        self._schedule = schedule
        self._encode = encode
        self._exchange: PresenceExchange = exchange if exchange is not None else LocalExchange()
        self._clock_ms = clock_ms
        self._last_order = 0
        self._projects: dict[tuple[str, str], _Project] = {}

    # --- changes ----------------------------------------------------------------------------

    def join(self, tenant_id: str, project_id: str, member: PresenceMember) -> None:
        project = self._projects.get((tenant_id, project_id))
        if project is None:
            project = self._projects[(tenant_id, project_id)] = _Project(tenant_id, project_id)
        if project.add(member):
            self._changed(project)

    def leave(self, tenant_id: str, project_id: str, member: PresenceMember) -> None:
        """Idempotent: however many paths notice a connection going, it leaves once."""
        project = self._projects.get((tenant_id, project_id))
        if project is not None and project.remove(member):
            self._changed(project)

    def leave_all(self, tenant_id: str, project_ids: Iterable[str], member: PresenceMember) -> None:
        for project_id in project_ids:
            self.leave(tenant_id, project_id, member)

    def view(
        self, tenant_id: str, project_id: str, member: PresenceMember, work_item_id: str
    ) -> None:
        """The member's user now views this item (empty: the board); the member has joined."""
        project = self._projects[(tenant_id, project_id)]
        # Strictly increasing even within a millisecond, and comparable across processes.
        self._last_order = max(self._clock_ms(), self._last_order + 1)
        project.set_view(member, work_item_id, self._last_order)
        self._changed(project)  # the flush sends nothing if no one sees a difference

    def remote_changed(self, tenant_id: str, project_id: str) -> None:
        """The exchange heard another process's change of this project."""
        project = self._projects.get((tenant_id, project_id))
        if project is not None and project.seats:
            self._open_window(project)

    # --- reading ----------------------------------------------------------------------------

    def snapshot(
        self, tenant_id: str, project_id: str, member: PresenceMember
    ) -> session_pb2.PresenceUpdate:
        """The project's presence as it stands, for an answer to `member` (which now counts
        as having been shown it)."""
        project = self._projects.get((tenant_id, project_id))
        if project is None:
            entries: Entries = self._exchange.remote(tenant_id, project_id)
        else:
            entries = self._entries(project)
            seat = project.seats.get(member)
            if seat is not None:
                seat.shown = visible(entries)
        return update_message(project_id, entries)

    def project_count(self) -> int:
        return len(self._projects)

    # --- coalescing -------------------------------------------------------------------------

    def _entries(self, project: _Project) -> Entries:
        return merge(
            project.local_entries(), self._exchange.remote(project.tenant_id, project.project_id)
        )

    def _changed(self, project: _Project) -> None:
        project.local_changed = True
        self._open_window(project)

    def _open_window(self, project: _Project) -> None:
        if not project.window_open:
            project.window_open = True
            self._schedule(self._window_s, lambda: self._flush(project))

    def _flush(self, project: _Project) -> None:
        project.window_open = False
        if project.local_changed:
            # Once per window, like the clients: other processes hear the settled state.
            project.local_changed = False
            self._exchange.publish(project.tenant_id, project.project_id, project.local_entries())
        if not project.seats:
            key = (project.tenant_id, project.project_id)
            if self._projects.get(key) is project:
                del self._projects[key]
            return
        entries = self._entries(project)
        seen = visible(entries)
        frame: bytes | None = None
        for seat in list(project.seats.values()):
            if seat.shown is seen or seat.shown == seen:
                continue
            if frame is None:
                frame = self._encode(update_message(project.project_id, entries))
            seat.shown = seen
            seat.member.deliver_presence(frame)
