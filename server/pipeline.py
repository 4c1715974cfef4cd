"""A connection's commands in flight: applied in the order sent, answered in that order.

The reader hands each command on without waiting for the one before it to be answered (at
most `max_in_flight`; past that it stops reading). Order still holds:
- writes go to the tenant's writer queue in the order sent, so they commit in that order
  (usually together, in one batch);
- a read waits for the writes sent before it (a read after the same connection's write sees
  it), a write waits for the reads sent before it (they saw the state before it), and a
  barrier (Subscribe, Unsubscribe, SetViewing, RefreshToken) waits for everything before it
  and holds everything after;
- answers leave in the order the commands came, each write's event right after its answer.

Because of those rules a write is always the oldest unanswered command when it commits, so
its answer and event go out at once, in the commit order: every subscriber sees events in
seq order and the sender sees its Response before its event.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Literal

from server.runner import Outcome

log = logging.getLogger(__name__)

Kind = Literal["read", "write", "barrier"]
# Starts a command; the command calls the function it is given once, with its Outcome (None
# when it answered by itself).
Launch = Callable[[Callable[[Outcome | None], None]], None]
# Told of each command answered: its name, code (OK or the ErrorCode) and seconds taken.
Record = Callable[[str, str, float], None]

# Commands still running after their connection closed: they commit and publish anyway.
_running: set[asyncio.Task[None]] = set()


def as_task(
    run: Callable[[], Awaitable[Outcome | None]], context: contextvars.Context | None = None
) -> Launch:
    """A Launch that runs a coroutine as a task of its own (kept alive until it is done), in
    `context` if given: a command held back starts from another command's callback, whose
    context is not its own."""

    def launch(done: Callable[[Outcome | None], None]) -> None:
        async def execute() -> None:
            outcome: Outcome | None = None
            try:
                outcome = await run()
            except Exception:
                log.exception("a command failed outside the runner")
            finally:
                done(outcome)

        task = asyncio.get_running_loop().create_task(execute(), context=context)
        _running.add(task)
        task.add_done_callback(_running.discard)

    return launch


class _Slot:
    __slots__ = ("kind", "done", "outcome", "name", "started")

    def __init__(self, kind: Kind | None, name: str = "", started: float = 0.0) -> None:
        self.kind = kind
        self.done = False
        self.outcome: Outcome | None = None
        self.name = name
        self.started = started


class CommandPipeline:
    def __init__(
        self,
        max_in_flight: int,
        send: Callable[[bytes], None],
        deliver: Callable[[Outcome], None],
        *,
        on_idle: Callable[[], None] = lambda: None,
        record: Record | None = None,
    ) -> None:
        self._max = max_in_flight
        self._record = record
        self._send = send
        # Called when the last command in flight has been answered.
        self._on_idle = on_idle
        # Publishes a write's event and starts its follow-up; called in commit order.
        self._deliver = deliver
        # Lists, not deques: they stay short (at most max_in_flight), and an idle connection
        # should not hold a deque's 700-byte block for each (issue 9's idle memory).
        self._slots: list[_Slot] = []
        self._waiting: list[tuple[_Slot, Launch]] = []
        self._running = {"read": 0, "write": 0, "barrier": 0}
        # Made only while the reader waits for room.
        self._room: asyncio.Future[None] | None = None

    @property
    def busy(self) -> bool:
        """Some command sent is not answered yet."""
        return bool(self._slots)

    async def room(self) -> None:
        """Returns once another command may be taken."""
        while len(self._slots) >= self._max:
            self._room = asyncio.get_running_loop().create_future()
            await self._room

    def answered(self, frame: bytes, name: str = "", code: str = "OK") -> None:
        """A command answered without running (a Ping's Pong, a frame that did not parse)."""
        slot = _Slot(None)
        slot.done = True
        slot.outcome = Outcome(frame)
        self._add(slot)
        if name and self._record is not None:
            self._record(name, code, 0.0)
        self._flush()

    def start(self, kind: Kind, launch: Launch, name: str = "") -> None:
        """Take a command; it runs as soon as the ordering rules allow."""
        slot = _Slot(kind, name, perf_counter() if name else 0.0)
        self._add(slot)
        if self._waiting or not self._may_run(kind):
            self._waiting.append((slot, launch))
        else:
            self._run(slot, launch)

    def _add(self, slot: _Slot) -> None:
        self._slots.append(slot)

    def _may_run(self, kind: Kind) -> bool:
        running = self._running
        if running["barrier"]:
            return False
        if kind == "barrier":
            return not running["read"] and not running["write"]
        other = "write" if kind == "read" else "read"
        return not running[other]

    def _run(self, slot: _Slot, launch: Launch) -> None:
        assert slot.kind is not None
        kind = slot.kind
        self._running[kind] += 1

        def finished(outcome: Outcome | None) -> None:
            self._running[kind] -= 1
            slot.outcome = outcome
            slot.done = True
            if slot.name and self._record is not None:
                # No outcome: it raised outside the runner (logged there) and went unanswered.
                code = outcome.code if outcome is not None else "INTERNAL"
                self._record(slot.name, code, perf_counter() - slot.started)
            self._flush()
            self._start_waiting()

        launch(finished)

    def _flush(self) -> None:
        slots = self._slots
        while slots and slots[0].done:
            outcome = slots.pop(0).outcome
            if outcome is not None:
                if outcome.response:
                    self._send(outcome.response)
                if outcome.event is not None or outcome.follow_up is not None:
                    self._deliver(outcome)
            if not slots:
                self._on_idle()
        if len(slots) < self._max and self._room is not None:
            room, self._room = self._room, None
            if not room.done():
                room.set_result(None)

    def _start_waiting(self) -> None:
        while self._waiting and self._may_run(self._waiting[0][0].kind or "read"):
            slot, launch = self._waiting.pop(0)
            self._run(slot, launch)
