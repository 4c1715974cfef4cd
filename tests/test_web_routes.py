"""The board's HTTP side: its files with a strict Content-Security-Policy, at / and under
/t/{tenant}/, and GET /dev/token only while the server runs on the development secret."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jwt
from hamcrest import assert_that, contains_string, equal_to, has_entries

from server.config import DEVELOPMENT_JWT_SECRET
from server.web import WEB_DIST
from tests.server_fixture import make_config, run_server


async def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


async def test_given_the_built_board_when_fetched_then_served_with_a_strict_csp(
    tmp_path: Path,
) -> None:
    assert (WEB_DIST / "index.html").is_file(), "web/dist is not built: run `make setup`"
    async with run_server(make_config(tmp_path)) as running:
        page = await _get(running.port, "/")
        prefixed = await _get(running.port, "/t/acme/")
        bundle = await _get(running.port, "/app.js")
        missing = await _get(running.port, "/no-such-file.js")
        escape = await _get(running.port, "/..%2fserver%2fapp.py")

    status, headers, body = page
    assert_that(status, equal_to(200))
    assert_that(headers["content-security-policy"], contains_string("default-src 'self'"))
    assert_that(
        headers["content-security-policy"], contains_string(f"ws://127.0.0.1:{running.port}")
    )
    assert_that(headers["content-type"], contains_string("text/html"))
    assert_that(body, equal_to((WEB_DIST / "index.html").read_bytes()))
    assert_that(prefixed[0], equal_to(200))
    assert_that(
        (bundle[0], bundle[1]["content-type"]), equal_to((200, "text/javascript; charset=utf-8"))
    )
    assert_that((missing[0], escape[0]), equal_to((404, 404)))


async def test_given_the_development_secret_when_asking_dev_token_then_an_admin_token_of_dev(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, jwt_secret=DEVELOPMENT_JWT_SECRET)
    async with run_server(config) as running:
        status, headers, body = await _get(running.port, "/dev/token?user=bob")
    claims = jwt.decode(json.loads(body)["token"], DEVELOPMENT_JWT_SECRET, algorithms=["HS256"])

    assert_that(status, equal_to(200))
    assert_that(headers["cache-control"], equal_to("no-store"))
    assert_that(claims, has_entries({"sub": "bob", "tenant_id": "dev", "roles": ["admin"]}))


async def test_given_another_secret_when_asking_dev_token_then_the_route_does_not_exist(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as running:
        status, _, _ = await _get(running.port, "/dev/token")

    assert_that(status, equal_to(404))
