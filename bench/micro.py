"""Two micro-measurements behind docs/performance.md's "where the time goes" (not part of ``make bench``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench.micro

1. The hop Channels makes before every event (``aclose_old_connections``, channels >= 4.2): its cost
   per event, one consumer at a time and 1,000 consumers at once, with an open PostgreSQL connection
   in the sync thread (as in the project's server) and without any database (as in B1).
2. What a publisher process pays for ``group_send`` from sync code (a view, a management command, the
   notify() on-commit hook): ``async_to_sync`` runs each call in a new event loop, and channels-redis
   keeps its connections per event loop, so every call opens new Redis connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.project_settings")
os.environ.setdefault("REDIS_PREFIX", f"bench-micro-{os.getpid()}")

import django

django.setup()

from asgiref.sync import async_to_sync, sync_to_async  # noqa: E402
from channels.db import aclose_old_connections, database_sync_to_async  # noqa: E402
from django.db import connection  # noqa: E402


def _open_connection_in_sync_thread() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _hops(count: int, concurrent: int) -> dict[str, float]:
    async def one_consumer(events: int) -> None:
        for _ in range(events):
            await aclose_old_connections()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one_consumer(count // concurrent) for _ in range(concurrent)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"us_wall_per_event": round(wall / count * 1e6, 1), "us_cpu_per_event": round(cpu / count * 1e6, 1)}


async def _noop_hops(count: int) -> dict[str, float]:
    noop = sync_to_async(lambda: None)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        await noop()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"us_wall_per_event": round(wall / count * 1e6, 1), "us_cpu_per_event": round(cpu / count * 1e6, 1)}


def hop_costs() -> dict[str, Any]:
    results: dict[str, Any] = {"no_database_noop_sync_to_async": asyncio.run(_noop_hops(5000))}
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):

        async def with_connection() -> dict[str, Any]:
            await database_sync_to_async(_open_connection_in_sync_thread)()
            return {
                "sequential": await _hops(5000, 1),
                "1000_consumers_at_once": await _hops(5000, 1000),
            }

        results["postgres_connection_open"] = asyncio.run(with_connection())
    return results


def group_send_connections(calls: int = 20) -> dict[str, Any]:
    import redis.asyncio.connection as redis_connection
    from channels.layers import get_channel_layer

    opened = 0
    original = redis_connection.AbstractConnection.connect

    async def counting_connect(self: Any) -> None:
        nonlocal opened
        if self._reader is None:
            opened += 1
        await original(self)

    redis_connection.AbstractConnection.connect = counting_connect  # type: ignore[method-assign]
    try:
        layer = get_channel_layer()
        assert layer is not None
        send = async_to_sync(layer.group_send)
        send("bench-micro", {"type": "noop"})  # warm
        opened = 0
        started = time.perf_counter()
        for _ in range(calls):
            send("bench-micro", {"type": "noop"})
        elapsed = time.perf_counter() - started

        async def in_one_loop() -> float:
            began = time.perf_counter()
            for _ in range(calls):
                await layer.group_send("bench-micro", {"type": "noop"})
            return time.perf_counter() - began

        per_call = opened / calls
        opened = 0
        one_loop = asyncio.run(in_one_loop())
        return {
            "async_to_sync_per_call": {"redis_connections_opened": per_call, "ms": round(elapsed / calls * 1000, 2)},
            "one_event_loop_per_call": {
                "redis_connections_opened": round(opened / calls, 2),
                "ms": round(one_loop / calls * 1000, 2),
            },
        }
    finally:
        redis_connection.AbstractConnection.connect = original  # type: ignore[method-assign]


if __name__ == "__main__":
    print(json.dumps({"hop": hop_costs(), "group_send_from_sync_code": group_send_connections()}, indent=1))
