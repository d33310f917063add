"""realtime.cache: one cache client per process, however many sockets use it."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings

from realtime.cache import shared_cache
from realtime.limits import connection_allowed


async def test_every_task_and_thread_shares_one_client() -> None:
    seen = await asyncio.gather(*[sync_to_async(shared_cache, thread_sensitive=False)() for _ in range(10)])
    assert len({id(client) for client in seen}) == 1


def test_a_settings_change_gives_a_new_client(settings: object) -> None:
    before = shared_cache()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "other"}}  # type: ignore[attr-defined]
    assert shared_cache() is not before


@pytest.mark.scaleout
async def test_open_sockets_do_not_each_keep_a_redis_connection() -> None:
    """Each socket admits itself from its own task; Django's own ``cache`` would give each of those
    contexts a client and a Redis connection of its own, kept as long as the socket lives."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    release = asyncio.Event()
    admitted = 0

    async def socket_like() -> None:
        nonlocal admitted
        await sync_to_async(connection_allowed, thread_sensitive=False)([("test-cache", 10**6)])
        admitted += 1
        await release.wait()  # the socket stays open

    try:
        before = int(cast(dict[str, int], client.info("clients"))["connected_clients"])
        tasks = [asyncio.ensure_future(socket_like()) for _ in range(40)]
        while admitted < 40:
            await asyncio.sleep(0.01)
        during = int(cast(dict[str, int], client.info("clients"))["connected_clients"])
        release.set()
        await asyncio.gather(*tasks)
    finally:
        client.close()
    # A pool's worth of connections at most (the threads that ran the calls), never one per socket.
    assert during - before < 10, (before, during)
