"""The asyncio Redis clients of the connect path: one per event loop and server, shared.

The connection-rate limits (``realtime.limits``) and the socket registry (``realtime.registry``)
talk to the same Redis on every connect. One client (one connection pool) for both means fewer
connections opened when a reconnect storm runs many of their round trips at once.

Every client here and in ``realtime.fanout`` passes one ``DriverInfo``: without it redis-py looks its
own version up in the installed package's metadata (an email-header parse) for every connection it
opens, which was a tenth of the server's CPU while a storm grew the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from typing import Any

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


@functools.cache
def driver_info() -> Any:
    """What redis-py sends in ``CLIENT SETINFO``, worked out once per process."""
    from redis.driver_info import DriverInfo

    return DriverInfo()


def async_client(url: str) -> Any:
    """The running loop's client for ``url`` (a client is bound to the loop it was made on)."""
    import redis.asyncio

    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(url)
    if client is None:
        client = clients[url] = redis.asyncio.Redis.from_url(url, driver_info=driver_info())
    return client


async def aclose() -> None:
    """Close the running loop's clients (the end of a test, whose loop goes next). Never raises."""
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        with contextlib.suppress(Exception):
            await client.aclose()
