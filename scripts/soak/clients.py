"""A simulated client's life: connect, subscribe (often resuming with since_seq), send
commands of the mix with pauses between them, end the connection one way or another, pause,
connect again; until told to stop, then close cleanly."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from websockets.exceptions import InvalidStatus, WebSocketException

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2 as session
from scripts.soak.commands import Planned, View, plan
from scripts.soak.link import Ending, Link, LinkClosed
from scripts.soak.tally import Tally
from scripts.soak.world import TenantWorld
from server.tokens import mint_token

# How a connection ends when the client, not the stop, decides.
DEFAULT_ENDINGS: dict[Ending, float] = {
    "clean": 0.6,
    "drop": 0.15,
    "reset": 0.1,
    "silent": 0.08,
    "stall": 0.07,
}
# A Subscribe with since_seq refused for the tenant's replay limit is retried this often.
_REPLAY_RETRIES = 5
# Beyond the heartbeat timeout: the server's heartbeat tick and its close timeout.
_CLOSE_SLACK_S = 6.0
_FORGETTABLE = {
    "work_item_id": "items",
    "comment_id": "comments",
    "time_entry_id": "entries",
    "dependency_id": "dependencies",
}


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    user_id: str
    role: str

    @property
    def writer(self) -> bool:
        return self.role != "viewer"


@dataclass
class Credentials:
    """Tokens signed with the server's secret, valid well past the end of the run."""

    secret: str
    ttl_s: int
    _later: int = 0

    def token(self, who: Identity, *, later: bool = False) -> str:
        if later:
            # A refresh needs an exp after the connection's current one.
            self._later += 1
        return mint_token(
            self.secret,
            tenant_id=who.tenant_id,
            user_id=who.user_id,
            roles=[who.role],
            ttl_seconds=self.ttl_s + 60 * self._later,
        )


@dataclass(frozen=True)
class Behaviour:
    think_s: float = 2.0
    lifetime_s: float = 20.0
    reconnect_s: float = 2.0
    ramp_s: float = 10.0
    resume_share: float = 0.5
    tenant_feed_share: float = 0.2
    endings: dict[Ending, float] = field(default_factory=lambda: dict(DEFAULT_ENDINGS))
    command_timeout_s: float = 30.0
    connect_timeout_s: float = 15.0


@dataclass
class SimulatedClient:
    index: int
    who: Identity
    url: str
    world: TenantWorld
    tally: Tally
    credentials: Credentials
    behaviour: Behaviour
    stop: asyncio.Event
    run_id: str
    rng: random.Random
    # What it keeps between connections to resume: the highest seq seen, its epoch.
    last_seq: int | None = None
    epoch: str = ""
    _sent: int = 0

    async def run(self) -> None:
        await self._pause(self.rng.uniform(0, self.behaviour.ramp_s))
        while not self.stop.is_set():
            link = await self._connect()
            if link is None:
                await self._pause(1.0 + self.rng.uniform(0, self.behaviour.reconnect_s))
                continue
            try:
                await self._session(link)
            except Exception as exc:  # a bug of the soak's own: a finding, and go on
                self.tally.anomaly("client_crashed", f"client {self.index}: {exc!r}")
                await self._pause(1.0)
            finally:
                if link.is_open and self.stop.is_set():
                    await link.close(self.behaviour.connect_timeout_s)
                await link.finish(self.behaviour.connect_timeout_s)
                self._keep_seq(link)
            await self._pause(self.rng.uniform(0, self.behaviour.reconnect_s))

    async def _pause(self, seconds: float) -> None:
        """Think time: over after `seconds`, or at once when the soak stops."""
        try:
            async with asyncio.timeout(seconds):
                await self.stop.wait()
        except TimeoutError:
            pass

    async def _connect(self) -> Link | None:
        token = self.credentials.token(self.who)
        timeout = self.behaviour.connect_timeout_s
        try:
            link = await Link.open(self.url, token, self.tally, self.world, timeout)
        except InvalidStatus as exc:
            self.tally.connect_failures[f"HTTP {exc.response.status_code}"] += 1
            return None
        except (OSError, TimeoutError, WebSocketException, LinkClosed) as exc:
            self.tally.connect_failures[type(exc).__name__] += 1
            return None
        self.tally.connects += 1
        return link

    def _keep_seq(self, link: Link) -> None:
        if link.highest_seq and link.welcome.epoch == self.epoch:
            self.last_seq = max(self.last_seq or 0, link.highest_seq)

    async def _session(self, link: Link) -> None:
        view = View(
            user_id=self.who.user_id,
            writer=self.who.writer,
            subscribed=set(),
            world=self.world,
            rng=self.rng,
            refresh_token=lambda: self.credentials.token(self.who, later=True),
        )
        if not await self._subscribe(link, view):
            return
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self.rng.expovariate(1 / self.behaviour.lifetime_s)
        while not self.stop.is_set() and loop.time() < ends_at and link.is_open:
            if not await self._send(link, view, plan(view)):
                return
            await self._pause(self.rng.expovariate(1 / self.behaviour.think_s))
        if not self.stop.is_set() and link.is_open:
            await self._end(link)

    async def _subscribe(self, link: Link, view: View) -> bool:
        projects = self.world.projects
        chosen = self.rng.sample(projects, self.rng.randint(1, min(3, len(projects))))
        command = session.Subscribe(
            project_ids=chosen, tenant_feed=self.rng.random() < self.behaviour.tenant_feed_share
        )
        resume = (
            self.last_seq is not None
            and link.welcome.epoch == self.epoch
            and self.rng.random() < self.behaviour.resume_share
        )
        if resume:
            command.since_seq = self.last_seq or 0
            command.epoch = self.epoch
        self.epoch = link.welcome.epoch
        for _ in range(_REPLAY_RETRIES):
            planned = Planned("resume" if resume else "subscribe", "subscribe", command)
            response = await self._call(link, view, planned)
            if response is None:
                return False
            if not response.HasField("error"):
                self.tally.resumes += int(resume)
                return True
            error = response.error
            if error.code == env.ERROR_CODE_RESOURCE_EXHAUSTED and error.retry_after_ms:
                await self._pause(error.retry_after_ms / 1000)
                continue
            if error.code == env.ERROR_CODE_RESYNC_REQUIRED:
                # Reload in bulk, as a real client would: here, subscribe live.
                command.ClearField("since_seq")
                command.epoch = ""
                resume = False
                continue
            return link.is_open
        return link.is_open

    async def _send(self, link: Link, view: View, planned: Planned) -> bool:
        response = await self._call(link, view, planned)
        if response is None:
            return False
        if response.HasField("error") and response.error.retry_after_ms:
            await self._pause(response.error.retry_after_ms / 1000)
        return True

    async def _call(self, link: Link, view: View, planned: Planned) -> env.Response | None:
        """One command and its answer, counted and learnt from; None when the connection
        is gone (or the answer never came, which is a finding)."""
        self._sent += 1
        request_id = f"{self.run_id}-{self.index}-{self._sent}"
        started = time.perf_counter()
        try:
            response = await link.call(planned, request_id, self.behaviour.command_timeout_s)
        except LinkClosed:
            return None
        except TimeoutError:
            self.tally.anomaly(
                "unanswered",
                f"{planned.kind} {request_id}: no answer in {self.behaviour.command_timeout_s} s",
            )
            link.drop(reset=False)
            return None
        latency_ms = (time.perf_counter() - started) * 1000
        error = response.error if response.HasField("error") else None
        code = env.ErrorCode.Name(error.code).removeprefix("ERROR_CODE_") if error else None
        self.tally.command(latency_ms, code)
        if planned.refusal:
            self._judge_refusal(planned, code, error)
        if error is not None:
            self.world.learn_result(error)
            self._forget_missing(planned, error)
        elif planned.name:
            self._learn(view, planned, response)
        return response

    def _judge_refusal(self, planned: Planned, code: str | None, error: env.Error | None) -> None:
        if code is None:
            self.tally.anomaly("invalid_accepted", f"{planned.kind} was not refused")
        elif code in planned.refusal:
            self.tally.refusals[code] += 1
        else:
            message = error.message if error is not None else ""
            self.tally.anomaly("refused_otherwise", f"{planned.kind}: {code} {message}")

    def _forget_missing(self, planned: Planned, error: env.Error) -> None:
        table = _FORGETTABLE.get(error.field)
        if error.code != env.ERROR_CODE_NOT_FOUND or table is None or planned.command is None:
            return
        entity_id = getattr(planned.command, error.field, "")
        if entity_id and not planned.refusal:
            if table == "items":
                self.world.forget_item(entity_id)
            else:
                self.world.forget(getattr(self.world, table), entity_id)

    def _learn(self, view: View, planned: Planned, response: env.Response) -> None:
        if response.WhichOneof("result") != planned.name:
            return
        result = getattr(response, planned.name)
        if isinstance(result, session.SubscribeResult):
            view.subscribed = set(result.project_ids)
        elif isinstance(result, session.UnsubscribeResult):
            assert isinstance(planned.command, session.Unsubscribe)
            view.subscribed -= set(planned.command.project_ids)
        else:
            self.world.learn_result(result)

    async def _end(self, link: Link) -> None:
        endings = self.behaviour.endings
        (ending,) = self.rng.choices(list(endings), list(endings.values()))
        self.tally.endings[ending] += 1
        timeout = self.behaviour.connect_timeout_s
        if ending == "clean":
            await link.close(timeout)
        elif ending in ("drop", "reset"):
            link.drop(reset=ending == "reset")
        elif ending == "silent":
            link.go_silent()
            await self._wait_for_server_close(link)
        else:
            link.stall()
            # Nothing to see while not reading: wait out the server's heartbeat and close
            # timeout, then let the socket go (the leak check tells whether it let go too).
            await self._pause(self._server_close_bound(link))
            link.drop(reset=False)

    def _server_close_bound(self, link: Link) -> float:
        welcome = link.welcome
        return (welcome.heartbeat_timeout_ms + welcome.heartbeat_interval_ms) / 1000 + (
            _CLOSE_SLACK_S
        )

    async def _wait_for_server_close(self, link: Link) -> None:
        done = asyncio.ensure_future(link.wait_closed(self._server_close_bound(link)))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({done, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        # Not `stopping.cancelled()`: a task cancelled just above reports it only once the
        # loop has run it again, so that test was always false here.
        if not self.stop.is_set() and done.done() and not done.result():
            self.tally.anomaly(
                "silent_not_closed",
                f"no close within {self._server_close_bound(link):.0f} s of going silent",
            )
            link.ending = "drop"
        elif not done.done():
            done.cancel()
            link.ending = "drop"  # the soak stops: the client leaves without waiting
