"""Backup and restore end to end: the real scripts (subprocesses) against a real server.

A backup taken while a client keeps writing is one consistent commit of the tenant; a
restore through the running server closes the tenant's connections with 1012 (and no
other tenant's), installs the copy under a new epoch, and a client coming back sees the
restored state, with RESYNC_REQUIRED for a resume in the old epoch. A source that is not
an intact tenant file is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from hamcrest import (
    assert_that,
    contains_string,
    empty,
    equal_to,
    greater_than,
    has_item,
    has_length,
    is_not,
    starts_with,
)
from websockets.exceptions import InvalidStatus

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from pm.v1 import work_items_pb2 as items_msg
from server.admin import OPERATOR_CLAIM, restore_tenant
from server.config import Config
from server.services import Services
from server.tokens import mint_token
from tests.boards import create_item, create_project
from tests.server_fixture import RunningServer, make_config, run_server
from tests.tenant_state import snapshot, snapshot_of, tenant_file
from tests.wire import WsClient, open_client

ROOT = Path(__file__).resolve().parent.parent
RESYNC = env.ERROR_CODE_RESYNC_REQUIRED


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def run_script(module: str, *args: str, config: Config, port: int | None = None) -> Ran:
    """`python -m <module> args` with the server's settings in its environment."""
    environ = {
        **os.environ,
        "PM_DATA_DIR": str(config.data_dir),
        "PM_JWT_SECRET": config.jwt_secret,
        "PM_HOST": "127.0.0.1",
        "PM_PORT": str(port if port is not None else _closed_port()),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=ROOT,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _copy_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return [tuple(row) for row in conn.execute(sql).fetchall()]


def _created_in_events(path: Path) -> set[str]:
    """The ids of the work items the copy's event log says were created."""
    created: set[str] = set()
    for (payload,) in _copy_rows(path, "SELECT payload FROM events"):
        event = env.Event()
        event.ParseFromString(payload)
        if event.WhichOneof("change") == "work_item_created":
            created.add(event.work_item_created.work_item.id)
    return created


async def _closed_with(client: WsClient) -> int | None:
    async with asyncio.timeout(5):
        await client.ws.wait_closed()
    return client.ws.close_code


async def _still_answers(client: WsClient) -> bool:
    await client.events_until_quiet()  # a Ping answered by its Pong
    return True


async def _titles(client: WsClient, project_id: str) -> list[str]:
    listed = await client.ok(
        "list_work_items", items_msg.ListWorkItems(project_id=project_id, page_size=500)
    )
    return sorted(item.title for item in listed.work_items)


# --- backup ---------------------------------------------------------------------------------


async def test_given_a_client_writing_when_the_backup_script_runs_then_the_copy_is_one_commit(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path / "data")) as running:
        alice = await open_client(running.ws_url, running.token())
        project_id = await create_project(alice, "PM")
        acknowledged = [(await create_item(alice, project_id, title="first")).id]
        before_backup = set(acknowledged)
        stop, writing = asyncio.Event(), asyncio.Event()

        async def keep_writing() -> None:
            while not stop.is_set():
                item = await create_item(alice, project_id, title=f"t{len(acknowledged)}")
                acknowledged.append(item.id)
                writing.set()

        writer = asyncio.create_task(keep_writing())
        try:
            await writing.wait()
            copy = tmp_path / "copies" / "acme.sqlite3"
            ran = await run_script("scripts.backup", "acme", str(copy), config=running.config)
        finally:
            stop.set()
            await writer
        await alice.close()

    assert_that(ran.code, equal_to(0), ran.err)
    items = {row[0] for row in _copy_rows(copy, "SELECT id FROM work_items")}
    [(seq,)] = _copy_rows(copy, "SELECT MAX(seq) FROM events")
    assert_that(_copy_rows(copy, "PRAGMA integrity_check"), equal_to([("ok",)]))
    assert_that(_copy_rows(copy, "PRAGMA journal_mode"), equal_to([("delete",)]))
    assert_that(_files(copy.parent), equal_to(["acme.sqlite3"]))  # no -wal, no .partial
    # Every committed item is there with its event, and nothing half-written.
    assert_that(items, equal_to(_created_in_events(copy)))
    assert_that(sorted(before_backup - items), empty())
    assert_that(sorted(items - set(acknowledged)), empty())
    assert_that(len(items), greater_than(1))
    assert_that(ran.out, starts_with(f"acme seq={seq} bytes={copy.stat().st_size} -> "))


async def test_given_two_tenants_when_backing_up_all_then_each_gets_its_file(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path / "data")) as running:
        for tenant in ("acme", "globex"):
            client = await open_client(running.ws_url, running.token(tenant))
            await create_project(client, "PM")
            await client.close()
        ran = await run_script(
            "scripts.backup", "--all", str(tmp_path / "all"), config=running.config
        )

    assert_that(ran.code, equal_to(0), ran.err)
    assert_that(ran.out.splitlines(), has_length(2))
    for tenant in ("acme", "globex"):
        copy = tmp_path / "all" / f"{tenant}.sqlite3"
        assert_that(_copy_rows(copy, "SELECT key FROM projects"), equal_to([("PM",)]))


async def test_given_an_unknown_tenant_when_backing_up_then_it_fails_and_writes_nothing(
    tmp_path: Path,
) -> None:
    ran = await run_script(
        "scripts.backup", "nobody", str(tmp_path / "copy.sqlite3"), config=make_config(tmp_path)
    )

    assert_that(ran.code, equal_to(1))
    assert_that(ran.err, contains_string("no database"))
    assert_that(_files(tmp_path), empty())


# --- restore through the server -------------------------------------------------------------


async def test_given_a_backup_when_restored_through_the_server_then_clients_resync_to_it(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path / "data")) as running:
        alice = await open_client(running.ws_url, running.token())
        project_id = await create_project(alice, "PM")
        await create_item(alice, project_id, title="before")
        copy = tmp_path / "copy.sqlite3"
        backed = await run_script("scripts.backup", "acme", str(copy), config=running.config)
        await create_item(alice, project_id, title="after")
        watcher = await open_client(running.ws_url, running.token(user="wendy", roles=["viewer"]))
        await watcher.subscribe(project_id)
        other = await open_client(running.ws_url, running.token("globex", "gina"))
        await create_project(other, "GX")
        old_epoch, old_seq = alice.welcome.epoch, 3  # project, "before", "after"

        ran = await run_script(
            "scripts.restore", "acme", str(copy), config=running.config, port=running.port
        )

        codes = [await _closed_with(alice), await _closed_with(watcher)]
        other_open = await _still_answers(other)
        back = await open_client(running.ws_url, running.token())
        resumed = await back.error(
            "subscribe",
            session_pb2.Subscribe(project_ids=[project_id], since_seq=old_seq, epoch=old_epoch),
        )
        titles = await _titles(back, project_id)
        fresh = await back.subscribe(project_id, since_seq=back.welcome.current_seq)
        await create_item(back, project_id, title="later")
        later = await back.event()
        await back.close()
        await other.close()

    assert_that(backed.code, equal_to(0), backed.err)
    assert_that(ran.code, equal_to(0), ran.err)
    assert_that(ran.out, contains_string("acme restored through http://"))
    assert_that(ran.out, contains_string("closed_connections=2"))
    assert_that(codes, equal_to([1012, 1012]))
    assert_that(other_open, equal_to(True))
    assert_that(back.welcome.epoch, is_not(equal_to(old_epoch)))
    assert_that(back.welcome.current_seq, equal_to(2))  # the copy's log: project, "before"
    assert_that(resumed.code, equal_to(RESYNC))
    assert_that(titles, equal_to(["before"]))
    assert_that(fresh.epoch, equal_to(back.welcome.epoch))
    assert_that(later.seq, equal_to(3))  # the seq goes on from the copy's log
    assert_that(
        _copy_rows(tenant_file(tmp_path / "data"), "PRAGMA integrity_check"), equal_to([("ok",)])
    )
    assert_that([n for n in _files(tmp_path / "data" / "tenants") if ".restore-" in n], empty())


@pytest.mark.parametrize("kind", ["corrupt", "foreign", "newer"])
async def test_given_a_bad_source_when_restoring_through_the_server_then_refused_unchanged(
    tmp_path: Path, kind: str
) -> None:
    async with run_server(make_config(tmp_path / "data")) as running:
        alice = await open_client(running.ws_url, running.token())
        await create_project(alice, "PM")
        source = _bad_source(tmp_path, kind, running)
        before = snapshot(running)

        ran = await run_script(
            "scripts.restore", "acme", str(source), config=running.config, port=running.port
        )

        still_open = await _still_answers(alice)
        epoch = alice.welcome.epoch
        again = await open_client(running.ws_url, running.token())
        await alice.close()
        await again.close()
        after = snapshot(running)

    assert_that(ran.code, equal_to(1))
    assert_that(ran.err, contains_string("refused (422)"))
    assert_that(still_open, equal_to(True))
    assert_that(again.welcome.epoch, equal_to(epoch))
    assert_that(after, equal_to(before))


def _bad_source(tmp_path: Path, kind: str, running: RunningServer) -> Path:
    source = tmp_path / f"{kind}.sqlite3"
    if kind == "corrupt":
        source.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    elif kind == "foreign":
        with closing(sqlite3.connect(source)) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
            conn.execute("INSERT INTO notes VALUES ('not a tenant')")
            conn.commit()
    else:
        with (
            closing(sqlite3.connect(tenant_file(running))) as live,
            closing(sqlite3.connect(source)) as copy,
        ):
            live.backup(copy)
            copy.execute("PRAGMA user_version = 999")
    return source


async def test_given_tokens_that_are_not_an_operators_when_posting_a_restore_then_refused(
    server: RunningServer, tmp_path: Path
) -> None:
    secret = server.config.jwt_secret
    admin = server.token(roles=["admin"])
    foreign_operator = mint_token(
        secret, tenant_id="globex", user_id="op", extra={OPERATOR_CLAIM: True}
    )
    url = f"{server.http_url}/admin/tenants/acme/restore"
    body = {"source": str(tmp_path / "whatever.sqlite3")}
    async with httpx.AsyncClient(timeout=10) as http:
        answers = [
            (await http.post(url, json=body)).status_code,
            (
                await http.post(url, json=body, headers={"Authorization": f"Bearer {admin}"})
            ).status_code,
            (
                await http.post(
                    url, json=body, headers={"Authorization": f"Bearer {foreign_operator}"}
                )
            ).status_code,
        ]

    assert_that(answers, equal_to([401, 403, 403]))
    assert_that(_files(server.config.data_dir), empty())  # nothing opened or written


async def test_given_a_degraded_broker_when_restoring_through_a_server_then_refused_clearly(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, workers=2, broker_url="redis://127.0.0.1:1/0")
    hub = SimpleNamespace(healthy=False)
    services = cast(Services, SimpleNamespace(config=config, hub=hub))

    with pytest.raises(Exception) as refused:
        await restore_tenant(services, "acme", tmp_path / "copy.sqlite3", actor="op")

    assert_that(getattr(refused.value, "status", None), equal_to(503))
    assert_that(str(refused.value), contains_string("broker is degraded"))
    assert_that(_files(tmp_path), empty())  # nothing opened or written


# --- restore offline ------------------------------------------------------------------------


async def test_given_no_server_when_restoring_then_the_file_is_replaced_under_a_new_epoch(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "data")
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        project_id = await create_project(alice, "PM")
        await create_item(alice, project_id, title="kept")
        old_epoch = alice.welcome.epoch
        copy = tmp_path / "copy.sqlite3"
        await run_script("scripts.backup", "acme", str(copy), config=config)
        await create_item(alice, project_id, title="lost")
        await alice.close()

    # No server answers at PM_PORT: the script restores straight into the file.
    ran = await run_script("scripts.restore", "acme", str(copy), config=config)

    async with run_server(config) as running:
        back = await open_client(running.ws_url, running.token())
        titles = await _titles(back, project_id)
        await back.close()

    assert_that(ran.code, equal_to(0), ran.err)
    assert_that(ran.err, contains_string("restoring offline"))
    assert_that(ran.out, contains_string("acme restored offline"))
    assert_that(back.welcome.epoch, is_not(equal_to(old_epoch)))
    assert_that(titles, equal_to(["kept"]))


async def test_given_the_file_open_elsewhere_when_restoring_offline_then_refused_unchanged(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "data")
    async with run_server(config) as running:
        alice = await open_client(running.ws_url, running.token())
        await create_project(alice, "PM")
        await alice.close()
    copy = tmp_path / "copy.sqlite3"
    await run_script("scripts.backup", "acme", str(copy), config=config)
    holder = sqlite3.connect(tenant_file(tmp_path / "data"))
    try:
        holder.execute("SELECT COUNT(*) FROM projects").fetchall()
        before = snapshot_of(holder)

        ran = await run_script("scripts.restore", "acme", str(copy), "--offline", config=config)

        after = snapshot_of(holder)
    finally:
        holder.close()

    assert_that(ran.code, equal_to(1))
    assert_that(ran.err, contains_string("open in another process"))
    assert_that(after, equal_to(before))
    names = _files(tmp_path / "data" / "tenants")
    assert_that(names, has_item("acme.sqlite3"))
    assert_that([n for n in names if ".restore-" in n], empty())


async def test_given_a_tenant_held_for_a_restore_when_a_client_connects_then_503_until_released(
    server: RunningServer,
) -> None:
    databases = server.services.databases
    async with databases.hold("acme"):
        with pytest.raises(InvalidStatus) as refused:
            await open_client(server.ws_url, server.token())
        other = await open_client(server.ws_url, server.token("globex"))
    after = await open_client(server.ws_url, server.token())
    await other.close()
    await after.close()

    assert_that(refused.value.response.status_code, equal_to(503))
    assert_that(refused.value.response.headers["Retry-After"], equal_to("1"))
    assert_that(after.welcome.tenant_id, equal_to("acme"))
