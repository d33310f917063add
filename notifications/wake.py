"""Wakes this process's push sender when a notification with pushes commits.

The in-process sender (``push.PushSender``) registers its loop and event here; ``push_wake`` is
safe from any thread and does nothing when no sender runs in this process (the sender of another
process finds the outbox on its next poll).
"""

from __future__ import annotations

import asyncio

_waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None


def register(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    global _waiter
    _waiter = (loop, event)


def unregister() -> None:
    global _waiter
    _waiter = None


def push_wake() -> None:
    waiter = _waiter
    if waiter is None:
        return
    loop, event = waiter
    if loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:  # the loop closed meanwhile
        pass
