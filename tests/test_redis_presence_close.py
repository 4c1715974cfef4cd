"""After the server closes, a late presence change must not open a Redis connection that
nothing would ever close."""

from __future__ import annotations

import redis.asyncio as aioredis
from hamcrest import assert_that, empty, equal_to

from server.redis_hub import RedisHub
from server.redis_presence import RedisPresenceExchange
from tests.redis_server import RedisServer


async def _other_clients(url: str) -> list[dict[str, str]]:
    """Every client connection of the broker but the one asking."""
    probe = aioredis.Redis.from_url(url)
    try:
        listed = await probe.client_list()
        me = await probe.client_id()
    finally:
        await probe.aclose()
    return [c for c in listed if int(c["id"]) != me]


async def test_given_a_closed_hub_when_a_session_leaves_late_then_no_connection_is_opened(
    redis: RedisServer,
) -> None:
    hub = RedisHub(redis.url)
    exchange = RedisPresenceExchange(hub, ttl_s=15.0)
    exchange.publish("acme", "p1", (("ada", 1, "", 1),))
    await exchange.close()
    await hub.close()

    # A session that ends after the server began to close tells presence it left.
    exchange.publish("acme", "p1", ())

    assert_that(await _other_clients(redis.url), empty())
    assert_that(hub.client, equal_to(None))
