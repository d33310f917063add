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
import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Script:
    """A Lua script, run by its SHA-1 (``EVALSHA``): one command, not a ``MULTI`` pipeline's four."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode(), usedforsecurity=False).hexdigest())


async def run_script(client: Any, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """``script`` on ``client``: by its SHA, or sent whole the first time this Redis sees it."""
    from redis.exceptions import NoScriptError

    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await client.eval(script.text, len(keys), *keys, *args)


#: Counts one event against each of the first ``ARGV[1]`` keys (fixed-window rate counters, as
#: ``realtime.limits`` and Django's cache ``add()``/``incr()`` keep them: an integer that expires
#: after ``ARGV[2]`` seconds) and sets ``over`` if any count passed its limit, ``ARGV[2 + i]``.
COUNT_EVENTS_LUA = """
local counters = tonumber(ARGV[1])
local over = false
for i = 1, counters do
  redis.call('SET', KEYS[i], 0, 'EX', ARGV[2], 'NX')
  if redis.call('INCR', KEYS[i]) > tonumber(ARGV[2 + i]) then over = true end
end
"""
