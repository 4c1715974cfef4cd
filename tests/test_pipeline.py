"""The command pipeline of one connection, without a socket: what runs when, and the order
answers and events leave in."""

from __future__ import annotations

import asyncio

from hamcrest import assert_that, contains_exactly, equal_to

from server.hub import PublishedEvent
from server.pipeline import CommandPipeline, Kind, as_task
from server.runner import Outcome


class Recorder:
    def __init__(self, max_in_flight: int = 64) -> None:
        self.out: list[str] = []
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Future[None]] = {}
        self.pipeline = CommandPipeline(max_in_flight, self.send, self.deliver)

    def send(self, frame: bytes) -> None:
        self.out.append(frame.decode())

    def deliver(self, outcome: Outcome) -> None:
        assert outcome.event is not None
        self.out.append(outcome.event.frame.decode())

    def command(self, kind: Kind, name: str, *, event: bool = False) -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gates[name] = gate

        async def run() -> Outcome:
            self.started.append(name)
            await gate
            published = (
                PublishedEvent("t", 1, ("p",), False, f"event {name}".encode()) if event else None
            )
            return Outcome(f"answer {name}".encode(), published)

        self.pipeline.start(kind, as_task(run))

    def finish(self, name: str) -> None:
        self.gates[name].set_result(None)


async def _turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_given_reads_in_flight_when_the_later_finishes_first_then_answers_keep_order() -> (
    None
):
    r = Recorder()
    r.command("read", "r1")
    r.command("read", "r2")
    await _turns()

    r.finish("r2")
    await _turns()
    answered_early = list(r.out)
    r.finish("r1")
    await _turns()

    assert_that(r.started, contains_exactly("r1", "r2"))  # both ran at once
    assert_that(answered_early, equal_to([]))
    assert_that(r.out, contains_exactly("answer r1", "answer r2"))


async def test_given_a_read_in_flight_when_a_write_follows_then_it_waits_for_the_read() -> None:
    r = Recorder()
    r.command("read", "r1")
    r.command("write", "w1", event=True)
    r.command("read", "r2")
    await _turns()
    started_while_reading = list(r.started)

    r.finish("r1")
    await _turns()
    started_after_read = list(r.started)
    r.finish("w1")
    await _turns()
    r.finish("r2")
    await _turns()

    assert_that(started_while_reading, contains_exactly("r1"))
    assert_that(started_after_read, contains_exactly("r1", "w1"))
    assert_that(r.out, contains_exactly("answer r1", "answer w1", "event w1", "answer r2"))


async def test_given_writes_when_pipelined_then_they_run_together_and_answer_in_order() -> None:
    r = Recorder()
    for n in range(3):
        r.command("write", f"w{n}", event=True)
    await _turns()

    for n in range(3):
        r.finish(f"w{n}")
    await _turns()

    assert_that(r.started, contains_exactly("w0", "w1", "w2"))
    assert_that(
        r.out,
        contains_exactly("answer w0", "event w0", "answer w1", "event w1", "answer w2", "event w2"),
    )


async def test_given_a_barrier_when_commands_surround_it_then_it_runs_alone() -> None:
    r = Recorder()
    r.command("write", "w1")
    r.command("barrier", "subscribe")
    r.command("read", "r1")
    await _turns()
    before = list(r.started)

    r.finish("w1")
    await _turns()
    during = list(r.started)
    r.finish("subscribe")
    await _turns()
    r.finish("r1")
    await _turns()

    assert_that(before, contains_exactly("w1"))
    assert_that(during, contains_exactly("w1", "subscribe"))
    assert_that(r.out, contains_exactly("answer w1", "answer subscribe", "answer r1"))


async def test_given_an_answered_frame_between_commands_when_flushed_then_it_keeps_its_place() -> (
    None
):
    r = Recorder()
    r.command("read", "r1")
    r.pipeline.answered(b"pong")
    r.command("read", "r2")
    await _turns()

    r.finish("r2")
    r.finish("r1")
    await _turns()

    assert_that(r.out, contains_exactly("answer r1", "pong", "answer r2"))


async def test_given_the_in_flight_limit_when_reached_then_room_waits_for_an_answer() -> None:
    r = Recorder(max_in_flight=2)
    r.command("read", "r1")
    r.command("read", "r2")
    waiting = asyncio.ensure_future(r.pipeline.room())
    await _turns()
    full = waiting.done()

    r.finish("r1")
    await _turns()

    assert_that((full, waiting.done()), equal_to((False, True)))
    r.finish("r2")
    await _turns()
    assert_that(r.pipeline.busy, equal_to(False))
