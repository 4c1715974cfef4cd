"""The board (web/) in real headless Chromium against the real server: two users on one
board see each other's drags and presence; the page rides out a server restart and shows
what changed while it was away. No console errors, except the browser's own network errors
while the server is deliberately down. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from hamcrest import assert_that, empty, equal_to

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import work_items_pb2 as items_msg
from server.limits import RateLimited
from server.protocol import encode_error
from server.web import WEB_DIST
from tests.boards import create_project
from tests.browser import PageLog, artifact, chromium, watch
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import WsClient, open_client

WAIT_MS = 10_000


def _require_built() -> None:
    assert (WEB_DIST / "app.js").is_file(), "web/dist is not built: run `make setup`"


async def _seed(client: WsClient, titles: list[str]) -> str:
    project = await create_project(client, "PM")
    for title in titles:
        await client.ok(
            "create_work_item",
            items_msg.CreateWorkItem(project_id=project, type=pb.WORK_ITEM_TYPE_TASK, title=title),
        )
    return project


async def _open(
    browser: Any, running: RunningServer, user: str, project: str
) -> tuple[Any, PageLog]:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    log = watch(page)
    token = running.token(user=user, roles=["admin"])
    await page.goto(f"{running.http_url}/#token={token}&project={project}")
    await page.locator('[data-testid="connection"][data-state="online"]').wait_for(timeout=WAIT_MS)
    await page.locator('[data-testid="card-PM-1"]').wait_for(timeout=WAIT_MS)
    return page, log


async def test_given_two_users_on_one_board_when_one_drags_a_card_then_the_other_sees_it(
    tmp_path: Path,
) -> None:
    _require_built()
    async with run_server(make_config(tmp_path)) as running, chromium() as browser:
        seeder = await open_client(running.ws_url, running.token(user="seeder", roles=["admin"]))
        project = await _seed(seeder, ["Write the spec", "Build it", "Ship it"])
        await seeder.close()
        alice, alice_log = await _open(browser, running, "alice", project)
        bob, bob_log = await _open(browser, running, "bob", project)
        for page, other in ((alice, "bob"), (bob, "alice")):
            await page.locator(f'[data-testid="presence-user"][data-user-id="{other}"]').wait_for(
                timeout=WAIT_MS
            )
        url_after_link = alice.url
        await alice.screenshot(path=str(artifact("board.png")), full_page=True)

        began = time.perf_counter()
        await alice.locator('[data-testid="card-PM-1"]').drag_to(
            alice.locator('[data-testid="lane-in_progress"]')
        )
        await bob.locator('[data-testid="lane-in_progress"] [data-testid="card-PM-1"]').wait_for(
            timeout=WAIT_MS
        )
        print(f"drag seen by the other page after {(time.perf_counter() - began) * 1000:.0f} ms")

        await bob.locator('[data-testid="card-PM-2"]').click()
        await bob.locator('[data-testid="card-panel"]').wait_for(timeout=WAIT_MS)
        await bob.screenshot(path=str(artifact("card.png")), full_page=True)

    assert_that(url_after_link.endswith("#token"), equal_to(False))
    assert_that("token=" in url_after_link, equal_to(False))
    assert_that(alice_log.real_errors() + bob_log.real_errors(), empty())


async def test_given_the_server_restarted_when_the_page_reconnects_then_it_shows_what_changed(
    tmp_path: Path,
) -> None:
    _require_built()
    config = make_config(tmp_path, graceful_shutdown_seconds=1)
    async with chromium() as browser:
        async with run_server(config) as running:
            seeder = await open_client(
                running.ws_url, running.token(user="seeder", roles=["admin"])
            )
            project = await _seed(seeder, ["Before the restart"])
            await seeder.close()
            page, log = await _open(browser, running, "alice", project)
            port = running.port
        await page.locator('[data-testid="connection"]:not([data-state="online"])').wait_for(
            timeout=WAIT_MS
        )
        async with run_server(config, port=port) as again:
            writer = await open_client(again.ws_url, again.token(user="writer", roles=["admin"]))
            await writer.ok(
                "create_work_item",
                items_msg.CreateWorkItem(
                    project_id=project, type=pb.WORK_ITEM_TYPE_TASK, title="While it was away"
                ),
            )
            await writer.close()
            await page.locator('[data-testid="connection"][data-state="online"]').wait_for(
                timeout=WAIT_MS
            )
            await page.locator('[data-testid="card-PM-2"]').wait_for(timeout=WAIT_MS)
            title = await page.locator('[data-testid="card-PM-2"]').inner_text()

    assert_that("While it was away" in title, equal_to(True))
    assert_that(log.real_errors(allow_network=True), empty())


async def _add_blocker(page: Any, card: str, blocker: str) -> Any:
    """Open `card`, ask for it to be blocked by `blocker`; the panel."""
    panel = page.locator('[data-testid="card-panel"]')
    await page.locator(f'[data-testid="card-{card}"]').click()
    await panel.locator('[data-testid="panel-key"]', has_text=card).wait_for(timeout=WAIT_MS)
    await panel.locator('input[name="blocker"]').fill(blocker)
    await panel.locator('[data-testid="add-blocker"]').click()
    return panel


async def test_given_a_blocker_chain_when_closing_the_cycle_then_the_servers_message_shows(
    tmp_path: Path,
) -> None:
    _require_built()
    async with run_server(make_config(tmp_path)) as running, chromium() as browser:
        seeder = await open_client(running.ws_url, running.token(user="seeder", roles=["admin"]))
        project = await _seed(seeder, ["First", "Second", "Third"])
        await seeder.close()
        page, log = await _open(browser, running, "alice", project)
        # PM-1 waits on PM-2, PM-2 on PM-3 ...
        for card, blocker in (("PM-1", "PM-2"), ("PM-2", "PM-3")):
            panel = await _add_blocker(page, card, blocker)
            await panel.locator('[data-testid="dependencies"]', has_text=blocker).wait_for(
                timeout=WAIT_MS
            )
        # ... so PM-3 waiting on PM-1 would close a cycle: the server refuses, naming it.
        panel = await _add_blocker(page, "PM-3", "PM-1")
        error = panel.locator('[data-testid="dependency-error"]')
        await error.wait_for(state="visible", timeout=WAIT_MS)
        message = await error.inner_text()
        dependencies = await panel.locator('[data-testid="dependencies"]').inner_text()

    print(f"refusal shown: {message!r}")
    assert_that("cycle" in message.lower(), equal_to(True))
    assert_that("PM-1" in dependencies, equal_to(False))
    assert_that(log.real_errors(), empty())


class _HeldSocket:
    """Between the page and the server: frames from the server pass, or, while `hold` is
    set, wait (in order) until `release`, so the page edits from a stale view."""

    def __init__(self) -> None:
        self.hold = False
        self._held: list[Any] = []
        self._page_side: Any = None
        # Set once a Response is among the held frames.
        self.answered = asyncio.Event()

    async def route(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self._page_side = ws

        def from_server(message: Any) -> None:
            if self.hold:
                self._held.append(message)
                frame = env.ServerMessage()
                if isinstance(message, bytes):
                    frame.ParseFromString(message)
                    if frame.WhichOneof("payload") == "response":
                        self.answered.set()
            else:
                ws.send(message)

        server.on_message(from_server)

    def release(self) -> int:
        self.hold = False
        held, self._held = self._held, []
        for message in held:
            self._page_side.send(message)
        return len(held)


async def test_given_an_edit_that_loses_a_conflict_when_answered_then_the_servers_value_shows(
    tmp_path: Path,
) -> None:
    _require_built()
    async with run_server(make_config(tmp_path)) as running, chromium() as browser:
        seeder = await open_client(running.ws_url, running.token(user="seeder", roles=["admin"]))
        project = await _seed(seeder, ["The first title"])
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        log = watch(page)
        socket = _HeldSocket()
        await page.route_web_socket("**/ws", socket.route)
        token = running.token(user="alice", roles=["admin"])
        await page.goto(f"{running.http_url}/#token={token}&project={project}")
        await page.locator('[data-testid="card-PM-1"]').click()
        panel = page.locator('[data-testid="card-panel"]')
        title = panel.locator('input[name="title"]')
        await title.wait_for(timeout=WAIT_MS)
        listed = await seeder.ok(
            "list_work_items", items_msg.ListWorkItems(project_id=project, page_size=10)
        )
        item = listed.work_items[0]

        socket.hold = True  # the page stops hearing the server
        await seeder.ok(
            "update_work_item",
            items_msg.UpdateWorkItem(
                work_item_id=item.id, expected_version=item.version, title="The server's title"
            ),
        )
        await title.fill("The page's title")
        await title.press("Tab")  # saved on change, with the version the page last saw
        async with asyncio.timeout(WAIT_MS / 1000):
            await socket.answered.wait()  # the server refused the stale command (held)
        released = socket.release()
        toast = page.locator('[data-testid="toast"][data-kind="conflict"]')
        await toast.first.wait_for(timeout=WAIT_MS)
        shown = await toast.first.inner_text()
        card = page.locator('[data-testid="card-PM-1"]', has_text="The server's title")
        await card.wait_for(timeout=WAIT_MS)
        final = await title.input_value()
        await page.screenshot(path=str(artifact("conflict.png")), full_page=True)
        await seeder.close()

    print(f"conflict shown: {shown!r} ({released} frames held)")
    assert_that(released > 0, equal_to(True))
    assert_that(final, equal_to("The server's title"))
    assert_that(log.real_errors(), empty())


class _RateLimitedEdits:
    """Between the page and the server: while `refuse` is set, an UpdateWorkItem from the
    page is answered here with the frame a rate-limited server sends (built by the server's
    own encoder) and never reaches the server; everything else passes."""

    def __init__(self, retry_after_ms: int) -> None:
        self.refuse = False
        self.refused = 0
        self._retry_after_ms = retry_after_ms

    async def route(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: Any) -> None:
            if self.refuse and isinstance(message, bytes):
                command = env.ClientMessage.FromString(message)
                if command.WhichOneof("payload") == "update_work_item":
                    self.refused += 1
                    limit = RateLimited("more than 500 commands a second", self._retry_after_ms)
                    ws.send(encode_error(command.request_id, limit))
                    return
            server.send(message)

        ws.on_message(from_page)


async def test_given_a_rate_limited_edit_when_refused_then_the_page_says_when_to_retry(
    tmp_path: Path,
) -> None:
    _require_built()
    async with run_server(make_config(tmp_path)) as running, chromium() as browser:
        seeder = await open_client(running.ws_url, running.token(user="seeder", roles=["admin"]))
        project = await _seed(seeder, ["The first title"])
        await seeder.close()
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        log = watch(page)
        limiter = _RateLimitedEdits(retry_after_ms=2_500)
        await page.route_web_socket("**/ws", limiter.route)
        token = running.token(user="alice", roles=["admin"])
        await page.goto(f"{running.http_url}/#token={token}&project={project}")
        await page.locator('[data-testid="card-PM-1"]').click()
        title = page.locator('[data-testid="card-panel"] input[name="title"]')
        await title.wait_for(timeout=WAIT_MS)

        limiter.refuse = True
        await title.fill("Too fast")
        await title.press("Tab")
        toast = page.locator('[data-testid="toast"]', has_text="try again in 3s")
        await toast.first.wait_for(timeout=WAIT_MS)
        # Nothing ran: the card goes back to the server's title.
        card = page.locator('[data-testid="card-PM-1"]', has_text="The first title")
        await card.wait_for(timeout=WAIT_MS)
        shown = await toast.first.inner_text()
        stored = await open_client(running.ws_url, running.token(user="reader"))
        listed = await stored.ok(
            "list_work_items", items_msg.ListWorkItems(project_id=project, page_size=10)
        )
        await stored.close()

    print(f"rate limit shown: {shown!r}")
    assert_that(limiter.refused, equal_to(1))
    assert_that([i.title for i in listed.work_items], equal_to(["The first title"]))
    assert_that(log.real_errors(), empty())


async def test_given_a_connection_closed_for_flooding_when_closed_then_the_page_says_so_and_returns(
    tmp_path: Path,
) -> None:
    _require_built()
    async with run_server(make_config(tmp_path)) as running, chromium() as browser:
        seeder = await open_client(running.ws_url, running.token(user="seeder", roles=["admin"]))
        project = await _seed(seeder, ["The first title"])
        await seeder.close()
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        log = watch(page)
        routes: list[Any] = []
        reconnected = asyncio.Event()

        async def route(ws: Any) -> None:
            ws.connect_to_server()
            routes.append(ws)
            if len(routes) == 2:
                reconnected.set()

        await page.route_web_socket("**/ws", route)
        token = running.token(user="alice", roles=["admin"])
        await page.goto(f"{running.http_url}/#token={token}&project={project}")
        online = page.locator('[data-testid="connection"][data-state="online"]')
        await online.wait_for(timeout=WAIT_MS)
        # What the server sends a client past PM_MAX_REFUSED_COMMANDS.
        await routes[0].close(code=4029, reason="too many refused commands")
        toast = page.locator('[data-testid="toast"]', has_text="too many requests")
        await toast.first.wait_for(timeout=WAIT_MS)
        async with asyncio.timeout(WAIT_MS / 1000):
            await reconnected.wait()
        await online.wait_for(timeout=WAIT_MS)

    assert_that(len(routes), equal_to(2))
    assert_that(log.real_errors(allow_network=True), empty())
