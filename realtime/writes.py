"""Several frames for one socket in one write, while the fan-out hands it several events at once.

When a process falls behind (a burst of notifications arrives faster than it can send each to a
thousand sockets), the fan-out reader finds several events waiting and delivers a run of them for
one group to each member in turn (``realtime.fanout.Hub.dispatch_many``). Sent one by one, each
frame costs a ``send()`` system call per socket, and those calls were most of the server's time
in a burst (docs/performance.md). Inside ``held()`` the server's protocol (``realtime.server``)
keeps a socket's frames instead; when the block ends they go out joined, one write per socket, in
the order they were sent. Outside ``held()`` (a single event, anything but the fan-out) nothing
changes: each frame goes out at once.

The state is a context variable, so only writes made by the task inside ``held()`` are held: a
frame another task sends meanwhile goes out as usual. Servers other than ``realtime.server`` (stock
daphne, the test communicators) never hold anything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol

logger = logging.getLogger("realtime.writes")


class Holder(Protocol):
    """A connection whose frames can be held (``realtime.server.TunedWebSocketProtocol``)."""

    def send_held(self, data: bytes) -> None:
        """Send ``data`` (the held frames, joined) as the connection sends any frame."""


class _Held:
    """The frames held by one ``held()`` block, by connection; closed once they are sent."""

    __slots__ = ("closed", "frames")

    def __init__(self) -> None:
        self.frames: dict[Holder, list[bytes]] = {}
        self.closed = False


_held: ContextVar[_Held | None] = ContextVar("charity_held_writes", default=None)


def hold(holder: Holder, data: bytes) -> bool:
    """Keep ``data`` for ``holder`` until the enclosing ``held()`` ends; False outside one.

    A task started inside the block inherits it (tasks copy their context): what it writes before
    the block ends goes out with the rest, what it writes after goes out at once.
    """
    held = _held.get()
    if held is None or held.closed:
        return False
    chunks = held.frames.get(holder)
    if chunks is None:
        held.frames[holder] = [data]
    else:
        chunks.append(data)
    return True


def release(holder: Holder) -> bytes | None:
    """Take back what the enclosing ``held()`` block keeps for ``holder``, joined (None: nothing), for
    a connection that must send it now, ahead of something that cannot wait (a response's end)."""
    held = _held.get()
    if held is None or held.closed:
        return None
    chunks = held.frames.pop(holder, None)
    return b"".join(chunks) if chunks else None


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold the frames written inside the block; on the way out, send each connection's at once.

    Nested blocks join the outermost one. A connection whose send fails is logged and the others
    are still sent.
    """
    current = _held.get()
    if current is not None and not current.closed:
        yield
        return
    held = _Held()
    token = _held.set(held)
    try:
        yield
    finally:
        held.closed = True
        _held.reset(token)
        # Emptied as it goes: tasks that copied the context keep the (closed) block, not the frames.
        frames, held.frames = held.frames, {}
        for holder, chunks in frames.items():
            try:
                holder.send_held(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            except Exception:
                logger.exception("sending held frames failed")
