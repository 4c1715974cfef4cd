"""The HTTP side: /healthz, and CORS for browser pages when configured."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from hamcrest import assert_that, contains_string, equal_to, has_entries

from tests.server_fixture import make_config, run_server


async def http_get(
    port: int, path: str, headers: dict[str, str]
) -> tuple[str, dict[str, str], bytes]:
    """One plain HTTP/1.1 GET on loopback: status line, lower-cased headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    async with asyncio.timeout(5):
        raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *header_lines = head.decode().split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return status, parsed, body


async def test_given_cors_origins_when_a_page_of_that_origin_fetches_healthz_then_allowed(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, cors_origins=("https://board.example",))
    async with run_server(config) as server:
        status, headers, body = await http_get(
            server.port, "/healthz", {"Origin": "https://board.example"}
        )

    assert_that(status, equal_to("HTTP/1.1 200 OK"))
    assert_that(headers, has_entries({"access-control-allow-origin": "https://board.example"}))
    assert_that(json.loads(body), has_entries({"status": "ok", "connections": 0}))


async def test_given_no_cors_origins_when_a_page_fetches_healthz_then_no_cors_header(
    tmp_path: Path,
) -> None:
    async with run_server(make_config(tmp_path)) as server:
        status, headers, _ = await http_get(
            server.port, "/healthz", {"Origin": "https://evil.example"}
        )

    assert_that(status, equal_to("HTTP/1.1 200 OK"))
    assert_that("access-control-allow-origin" in headers, equal_to(False))


async def test_given_cors_origins_when_a_page_preflights_the_read_api_then_its_token_may_go(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, cors_origins=("https://board.example",))
    async with run_server(config) as server:
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            preflight = await client.options(
                "/api/v1/projects",
                headers={
                    "Origin": "https://board.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            answer = await client.get(
                "/api/v1/projects",
                headers={
                    "Origin": "https://board.example",
                    "Authorization": f"Bearer {server.token()}",
                },
            )

    assert_that(preflight.status_code, equal_to(200))
    assert_that(
        preflight.headers.get("access-control-allow-headers", "").lower(),
        contains_string("authorization"),
    )
    assert_that(answer.status_code, equal_to(200))
    assert_that(answer.headers.get("access-control-expose-headers", ""), contains_string("PM-Seq"))
