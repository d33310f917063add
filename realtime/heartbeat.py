"""One heartbeat per process, not one per socket.

Every tick the event loop's ``Sweeper`` closes the sockets that stayed silent past
``REALTIME_HEARTBEAT_TIMEOUT`` (4408), and every ``REALTIME_GROUP_REFRESH_INTERVAL`` it
refreshes all of their registry entries in one Redis round trip. A task and a timer per socket
cost memory on every idle connection, and a registry write per socket every 30 s is thousands of
round trips a minute on a busy server; this is one task and one pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Protocol

from realtime import registry
from realtime.conf import app_settings

logger = logging.getLogger("realtime.sockets")


class Beating(Protocol):
    """What the sweeper needs from a socket."""

    def heartbeat_deadline(self) -> float:
        """The ``time.monotonic()`` after which the socket counts as dead unless it spoke."""
        ...

    def registry_entry(self) -> registry.SocketEntry | None: ...

    async def heartbeat_expired(self) -> None: ...


class Sweeper:
    def __init__(self) -> None:
        self.sockets: dict[Beating, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_refresh = time.monotonic()
        self._tick = _tick()  # the interval the running task sleeps

    def add(self, socket: Beating) -> None:
        self.sockets[socket] = None
        if self._task is None or self._task.done():
            self._last_refresh = time.monotonic()
            # Set before the task first runs: another socket may be added in the meantime.
            self._tick = _tick()
            self._task = asyncio.ensure_future(self._run())
        elif _tick() < self._tick:  # the settings changed (tests): don't sleep through a shorter timeout
            self._task.cancel()
            self._task = asyncio.ensure_future(self._run())

    def discard(self, socket: Beating) -> None:
        self.sockets.pop(socket, None)
        if not self.sockets and self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while self.sockets:
            self._tick = _tick()
            await asyncio.sleep(self._tick)
            await self.sweep(refresh=app_settings.GROUP_REFRESH_INTERVAL)

    async def sweep(self, *, refresh: float) -> None:
        now = time.monotonic()
        for socket in [socket for socket in self.sockets if now > socket.heartbeat_deadline()]:
            self.sockets.pop(socket, None)
            try:
                await socket.heartbeat_expired()
            except Exception:
                logger.exception("closing a silent socket failed")
        if now - self._last_refresh >= refresh:
            self._last_refresh = now
            entries = [entry for socket in self.sockets if (entry := socket.registry_entry()) is not None]
            if entries:
                try:
                    # Also restores entries Redis lost (a restart).
                    await registry.get_registry().arefresh_many(entries)
                except Exception:  # Redis is down: next time; never kill a socket for it
                    logger.warning("registry refresh failed", exc_info=True)


def _tick() -> float:
    return max(0.05, min(app_settings.HEARTBEAT_TIMEOUT / 3, app_settings.GROUP_REFRESH_INTERVAL))


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweeper] = weakref.WeakKeyDictionary()


def get_sweeper() -> Sweeper:
    loop = asyncio.get_running_loop()
    sweeper = _sweepers.get(loop)
    if sweeper is None:
        sweeper = _sweepers[loop] = Sweeper()
    return sweeper


async def aclose() -> None:
    """Stop the running loop's sweeper (end of a test)."""
    sweeper = _sweepers.pop(asyncio.get_running_loop(), None)
    if sweeper is not None and sweeper._task is not None:
        sweeper._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sweeper._task
