"""Resuming WebSocket clients for the fault tests, following the browser client's rules.

They do what ``realtime/static/realtime/realtime.js`` does, minus the page:

* ``NotificationClient`` opens ``/ws/notifications/?since=<highest id seen>`` (no ``since`` before it has
  seen one), shows each notification id once, raises ``since`` to ``synced.last_id``, and acknowledges
  what it received with ``{"type":"ack","up_to":<highest id received>}`` shortly after (the browser
  waits 200 ms; the acknowledgement goes out on whichever socket is open by then).
* ``ChatClient`` opens ``/ws/help-requests/<public_id>/?after=<highest message id seen>`` and shows
  each message id once, from the ``history`` frame and from live ``message`` frames.
* Both reconnect after any close or failure, after a short random backoff, to the *next* server in
  their list ("reconnect elsewhere"), stop for good on 4401/4403/4404, ping every ``ping_interval``
  seconds and replace a socket they heard nothing from for ``dead_after`` seconds.

Every frame is recorded raw, before de-duplication, so a test can count what the server sent twice
(``raw_duplicates``: expected after a reconnect, since unacknowledged ids are replayed) apart from
what the person would have seen twice (``visible_duplicates``: must be zero).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

FATAL_CODES = frozenset({4401, 4403, 4404})


class Endpoint(Protocol):
    """What a client needs of a server (``tests.conftest.DaphneServer`` is one)."""

    port: int

    @property
    def ws_base(self) -> str: ...

    @property
    def http_base(self) -> str: ...


@dataclass
class Attempt:
    """One connection attempt: where, whether the handshake succeeded, and how it ended."""

    number: int
    port: int
    opened: bool = False
    synced: bool = False
    close_code: int | None = None
    error: str = ""
    frames: int = 0
    started: float = field(default_factory=time.monotonic)
    last_heard: float = field(default_factory=time.monotonic)
    ended: float | None = None


@dataclass(frozen=True)
class Arrival:
    """One id as it arrived: on which attempt, and whether before (replay/history) or after sync (live)."""

    id: int
    attempt: int
    live: bool
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Tally:
    """What one client got, against what it should have got."""

    expected: int
    received_raw: int
    lost: int
    raw_duplicates: int
    visible_duplicates: int
    reordered: int
    unexpected: int

    @property
    def clean(self) -> bool:
        return not (self.lost or self.visible_duplicates or self.reordered or self.unexpected)


class ResumeClient:
    """The reconnect loop shared by both clients; subclasses say where to connect and what a frame means."""

    def __init__(
        self,
        name: str,
        servers: Sequence[Endpoint],
        *,
        cookie: str | None = None,
        start_at: int = 0,
        backoff: tuple[float, float] = (0.05, 0.2),
        ping_interval: float = 20.0,
        dead_after: float = 45.0,
        connect_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.servers = list(servers)
        self.cookie = cookie
        self.server_index = start_at % len(self.servers)
        self.backoff = backoff
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.connect_kwargs = connect_kwargs or {}
        self.attempts: list[Attempt] = []
        self.arrivals: list[Arrival] = []  # every id received, duplicates included, in arrival order
        self.shown: list[int] = []  # ids shown to the person: first arrival of each
        self.seen: set[int] = set()
        self.raw_duplicates = 0
        self.last_id = 0
        self.stopped_by_server: int | None = None
        self.socket: ClientConnection | None = None
        self.synced = asyncio.Event()  # set while the current socket is synced
        self._progress = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- what subclasses define -------------------------------------------------------------------

    def path(self) -> str:
        raise NotImplementedError("ResumeClient subclasses say which path (with resume parameters) to open.")

    async def on_frame(self, frame: dict[str, Any], attempt: Attempt) -> None:
        raise NotImplementedError("ResumeClient subclasses handle frames.")

    # -- bookkeeping ------------------------------------------------------------------------------

    def accept(self, item_id: int, attempt: Attempt) -> bool:
        """Record an arrival; True the first time this id is seen (the browser shows it then)."""
        self.arrivals.append(Arrival(item_id, attempt.number, attempt.synced))
        if item_id in self.seen:
            self.raw_duplicates += 1
            return False
        self.seen.add(item_id)
        self.shown.append(item_id)
        self.last_id = max(self.last_id, item_id)
        self._progress.set()
        return True

    @property
    def current(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def current_port(self) -> int | None:
        attempt = self.current
        return attempt.port if attempt and attempt.opened and attempt.ended is None else None

    def opened_attempts(self) -> list[Attempt]:
        return [attempt for attempt in self.attempts if attempt.opened]

    def close_codes(self) -> list[int | None]:
        return [attempt.close_code for attempt in self.opened_attempts() if attempt.ended is not None]

    def tally(self, expected: Iterable[int]) -> Tally:
        wanted = set(expected)
        ids = [arrival.id for arrival in self.arrivals]
        highest = 0
        reordered = 0
        for item_id in self.shown:
            if item_id < highest:
                reordered += 1
            highest = max(highest, item_id)
        return Tally(
            expected=len(wanted),
            received_raw=len(ids),
            lost=len(wanted - self.seen),
            raw_duplicates=len(ids) - len(set(ids)),
            visible_duplicates=len(self.shown) - len(set(self.shown)),
            reordered=reordered,
            unexpected=len(self.seen - wanted),
        )

    async def wait_for(self, ids: Iterable[int], timeout: float) -> bool:
        """Wait until every id in ``ids`` has been seen; False when ``timeout`` passes first."""
        wanted = set(ids)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not wanted <= self.seen:
                    self._progress.clear()
                    await self._progress.wait()
        return wanted <= self.seen

    # -- the loop ---------------------------------------------------------------------------------

    def start(self) -> ResumeClient:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def stop(self) -> None:
        self._stopping = True
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def drop(self) -> None:
        """Close the current socket from this side, as a page reload or a network change would."""
        if self.socket is not None:
            await self.socket.close()

    async def _run(self) -> None:
        while not self._stopping and self.stopped_by_server is None:
            await self._connect_once()
            if self._stopping or self.stopped_by_server is not None:
                return
            # Elsewhere: the next server in the list, after a short random backoff (longer when
            # rate limited, as the browser does, though these tests should never be).
            self.server_index = (self.server_index + 1) % len(self.servers)
            rate_limited = self.current is not None and self.current.close_code == 4429
            await asyncio.sleep(random.uniform(*self.backoff) + (1.0 if rate_limited else 0.0))

    async def _connect_once(self) -> None:
        server = self.servers[self.server_index]
        attempt = Attempt(number=len(self.attempts) + 1, port=server.port)
        self.attempts.append(attempt)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        try:
            socket = await connect(
                server.ws_base + self.path(),
                origin=Origin(server.http_base),
                additional_headers=headers,
                proxy=None,
                open_timeout=10,
                close_timeout=2,
                **self.connect_kwargs,
            )
        except Exception as exc:  # refused, reset, timed out, HTTP error: all mean "try elsewhere"
            attempt.error = type(exc).__name__
            attempt.ended = time.monotonic()
            return
        attempt.opened = True
        self.socket = socket
        pinger = asyncio.ensure_future(self._ping(socket, attempt))
        try:
            while True:
                text = await socket.recv()
                attempt.frames += 1
                attempt.last_heard = time.monotonic()
                frame = json.loads(text)
                if isinstance(frame, dict) and frame.get("type") != "pong":
                    await self.on_frame(frame, attempt)
        except ConnectionClosed as exc:
            attempt.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
        finally:
            attempt.ended = time.monotonic()
            self.synced.clear()
            self.socket = None
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pinger
        if attempt.close_code in FATAL_CODES:
            self.stopped_by_server = attempt.close_code

    async def _ping(self, socket: ClientConnection, attempt: Attempt) -> None:
        """The browser's heartbeat: ping regularly; a socket silent for too long is replaced."""
        while True:
            await asyncio.sleep(self.ping_interval)
            if time.monotonic() - attempt.last_heard > self.dead_after:
                await socket.close(4000, "heartbeat")
                return
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps({"type": "ping"}))


class NotificationClient(ResumeClient):
    """``NotificationStream`` of realtime.js: resume with ``since``, de-duplicate by id, acknowledge."""

    def __init__(self, *args: Any, ack_delay: float = 0.2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ack_delay = ack_delay
        self.shown_max = 0
        self.synced_frames: list[dict[str, Any]] = []
        self._ack_timer: asyncio.TimerHandle | None = None

    def path(self) -> str:
        query = urlencode({"since": self.last_id}) if self.last_id else ""
        return "/ws/notifications/" + (f"?{query}" if query else "")

    async def on_frame(self, frame: dict[str, Any], attempt: Attempt) -> None:
        if frame["type"] == "notification":
            self._queue_ack(frame["id"])
            self.accept(frame["id"], attempt)
        elif frame["type"] == "synced":
            self.synced_frames.append(frame)
            self.last_id = max(self.last_id, frame["last_id"])
            attempt.synced = True
            self.synced.set()

    def _queue_ack(self, notification_id: int) -> None:
        self.shown_max = max(self.shown_max, notification_id)
        if self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(self.ack_delay, self._send_ack)

    def _send_ack(self) -> None:
        self._ack_timer = None
        socket = self.socket
        if socket is not None and not self._stopping:
            frame = json.dumps({"type": "ack", "up_to": self.shown_max})
            task = asyncio.ensure_future(socket.send(frame))
            # A socket closing under the ack is fine: what it did not acknowledge is replayed.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def stop(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        await super().stop()


class ChatClient(ResumeClient):
    """``ChatRoom`` of realtime.js, reading only: resume with ``after``, de-duplicate by message id."""

    def __init__(self, *args: Any, public_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.public_id = public_id

    def path(self) -> str:
        query = urlencode({"after": self.last_id}) if self.last_id else ""
        return f"/ws/help-requests/{self.public_id}/" + (f"?{query}" if query else "")

    async def on_frame(self, frame: dict[str, Any], attempt: Attempt) -> None:
        if frame["type"] == "history":
            for message in frame["messages"]:
                self.accept(message["id"], attempt)
            attempt.synced = True
            self.synced.set()
        elif frame["type"] == "message":
            self.accept(frame["id"], attempt)


def summarize(label: str, tallies: Sequence[Tally], clients: Sequence[ResumeClient]) -> str:
    """One line of totals over many clients, for the test output and assertion messages."""
    reconnects = sum(max(0, len(client.opened_attempts()) - 1) for client in clients)
    failed = sum(1 for client in clients for attempt in client.attempts if not attempt.opened)
    codes: dict[str, int] = {}
    for client in clients:
        for code in client.close_codes():
            codes[str(code)] = codes.get(str(code), 0) + 1
    return (
        f"[{label}] clients={len(tallies)} expected={sum(t.expected for t in tallies)}"
        f" received_raw={sum(t.received_raw for t in tallies)}"
        f" lost={sum(t.lost for t in tallies)} duplicated_visible={sum(t.visible_duplicates for t in tallies)}"
        f" duplicated_raw={sum(t.raw_duplicates for t in tallies)} reordered={sum(t.reordered for t in tallies)}"
        f" unexpected={sum(t.unexpected for t in tallies)} reconnects={reconnects} failed_attempts={failed}"
        f" close_codes={dict(sorted(codes.items()))}"
    )
