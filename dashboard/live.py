"""Live control-room updates, coalesced.

Domain events only mark the dashboard dirty (one cache write, after commit). Each server process
with staff watching runs one publisher loop: at most once per ``DASHBOARD_PUSH_INTERVAL`` it
recomputes the snapshot, if something changed (or ``DASHBOARD_REFRESH_INTERVAL`` passed, for
figures that move by themselves such as the oldest wait and who is online), and sends it to the
``dashboard`` topic group. A cache lock makes one process do that per interval for all of them, so a
burst of a thousand events costs one recomputation and one frame per watching socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from realtime import groups, topics
from realtime.cache import shared_cache
from realtime.publish import agroup_send_now_unsafe
from realtime.registry import PROCESS

logger = logging.getLogger("dashboard.live")

DIRTY_KEY = "dashboard:dirty"
LOCK_KEY = "dashboard:lock"
PUSHED_KEY = "dashboard:pushed_at"
SNAPSHOT_KEY = "dashboard:snapshot"
#: The live topic staff sockets subscribe to (``realtime.topics``, registered in ``apps.py``).
TOPIC = "dashboard"


def _interval() -> float:
    return float(getattr(settings, "DASHBOARD_PUSH_INTERVAL", 1.0))


def _refresh() -> float:
    return float(getattr(settings, "DASHBOARD_REFRESH_INTERVAL", 5.0))


def dashboard_touch() -> None:
    """Something the dashboard shows changed; call from services (it waits for the commit)."""
    transaction.on_commit(lambda: shared_cache().set(DIRTY_KEY, time.time(), timeout=3600), robust=True)


def _compute() -> dict[str, Any]:
    from dashboard.selectors import dashboard_snapshot

    snapshot = dashboard_snapshot()
    shared_cache().set(SNAPSHOT_KEY, snapshot, timeout=300)
    return snapshot


async def current_snapshot() -> dict[str, Any]:
    """The last pushed snapshot, or a fresh one (for a socket that just subscribed)."""
    snapshot = await shared_cache().aget(SNAPSHOT_KEY)
    if snapshot is None:
        snapshot = await database_sync_to_async(_compute)()
    return dict(snapshot)


def dashboard_frame(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The control room's figures, online people and recent activity (dashboard topic only)."""
    return {"type": "dashboard", "snapshot": snapshot}


async def dashboard_watch() -> dict[str, Any]:
    """A socket of this process subscribed to the topic: keep the publisher running; its first frame."""
    publisher.watch()
    return dashboard_frame(await current_snapshot())


class Publisher:
    """This process's publisher loop, running while at least one local socket watches."""

    def __init__(self) -> None:
        self.watchers = 0
        self.task: asyncio.Task[None] | None = None
        self.computations = 0

    def watch(self) -> None:
        self.watchers += 1
        running = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not running:
            self.task = asyncio.ensure_future(self._loop())

    def unwatch(self) -> None:
        self.watchers = max(0, self.watchers - 1)
        if self.watchers == 0 and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _loop(self) -> None:
        while self.watchers:
            await asyncio.sleep(_interval())
            try:
                await self._tick()
            except Exception:  # never let a failed computation stop the live dashboard
                logger.exception("dashboard push failed")

    async def _tick(self) -> None:
        dirty = await shared_cache().aget(DIRTY_KEY)
        pushed_at = await shared_cache().aget(PUSHED_KEY) or 0.0
        if not dirty and time.time() - pushed_at < _refresh():
            return
        # One process per interval recomputes for everyone watching, in every process.
        if not await shared_cache().aadd(LOCK_KEY, PROCESS, timeout=max(_interval(), 0.05)):
            return
        await shared_cache().adelete(DIRTY_KEY)
        snapshot = await database_sync_to_async(_compute)()
        self.computations += 1
        await shared_cache().aset(PUSHED_KEY, time.time(), timeout=3600)
        await agroup_send_now_unsafe(
            (groups.topic_group(TOPIC),), dict(topics.topic_event(TOPIC, dashboard_frame(snapshot)))
        )


publisher = Publisher()


def stop_publisher() -> None:
    """For tests: forget the loop of a finished event loop."""
    if publisher.task is not None:
        with contextlib.suppress(Exception):
            publisher.task.cancel()
    publisher.task = None
    publisher.watchers = 0
