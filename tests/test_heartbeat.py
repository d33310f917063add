"""``realtime.heartbeat``: one sweeper per event loop closes silent sockets; the rest stay."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime import registry
from realtime.heartbeat import Sweeper


class Socket:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = 0

    def heartbeat_deadline(self) -> float:
        return self.deadline

    def registry_entry(self) -> registry.SocketEntry | None:
        return None

    async def heartbeat_expired(self) -> None:
        self.expired += 1


@pytest.fixture
async def sweeper(settings: Any) -> AsyncIterator[Sweeper]:
    settings.REALTIME_HEARTBEAT_TIMEOUT = 0.15  # a tick of 50 ms
    sweeper = Sweeper()
    yield sweeper
    if sweeper._task is not None:
        sweeper._task.cancel()


async def test_sockets_added_before_the_first_tick_are_all_watched(sweeper: Sweeper) -> None:
    # Two sockets connecting in the same turn of the loop: the second used to find the sweeper's
    # task scheduled but not yet run, and its connect failed (1011) on a missing attribute.
    first, second = Socket(math.inf), Socket(math.inf)
    sweeper.add(first)
    sweeper.add(second)
    assert list(sweeper.sockets) == [first, second]


async def test_a_silent_socket_is_closed_once_and_a_live_one_is_left(sweeper: Sweeper) -> None:
    silent, live = Socket(time.monotonic() + 0.1), Socket(math.inf)
    sweeper.add(silent)
    sweeper.add(live)
    for _ in range(100):
        if silent.expired:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # a few more ticks
    assert silent.expired == 1
    assert live.expired == 0
    assert list(sweeper.sockets) == [live]
