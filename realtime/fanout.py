"""Group fan-out: one subscription per process and group, one loop over the process's own members.

Channels' channel layer gives every socket a channel of its own: a group message is copied into
each member's channel and each member's receive loop wakes up to take it (three tasks, two
``asyncio.wait`` and a lock per member per message, docs/performance.md). With a thousand sockets
in a role group that machinery, not the sending, was 95% of the server's CPU. Here instead:

* a *member* (a WebSocket consumer or an SSE stream) joins groups in its process's ``Hub``;
* ``publish()`` sends an event once per group: a Redis ``PUBLISH`` on ``<prefix>:fanout:<group>``
  with ``REDIS_URL`` (every process subscribed to that group gets it once), or straight to this
  process's hubs when embedded;
* each hub has one task that receives the event once, decodes it once and hands it to each local
  member of the group in turn (``Member.fanout_deliver``): no per-member channel, queue or task.

What stays as it was with the channel layer:

* ``join()`` returns only once this process is subscribed (Redis confirmed the ``SUBSCRIBE``), so a
  member that joins and then reads the database misses nothing committed in between;
* events reach each member in the order its process received them, one at a time;
* delivery is best-effort on top of persistence. Redis pub/sub keeps nothing for a subscriber that
  is away: when a hub's connection to Redis drops, every member is told (``Member.fanout_gap``) and
  resumes from the database (sockets close with 1000; clients replay what they missed). A
  publisher that cannot reach Redis retries for about two seconds, then gives up, logged: what it
  carried is persisted and comes back by replay.

Events are dictionaries with a ``type``, encoded with msgpack (in both modes, so the embedded mode
rejects what Redis could not carry). Group names come from ``realtime.groups``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgpack
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from django.conf import settings

from realtime import localbus, metrics, redis_clients, writes

logger = logging.getLogger("realtime.fanout")

#: How long a member waits for this process to (re)subscribe before its join fails.
JOIN_TIMEOUT = 10.0
#: A Redis restart takes a fraction of a second: publishers retry a little before giving up.
PUBLISH_RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0)
#: The subscriber reconnects with these delays (then the last one, forever) while Redis is away.
RECONNECT_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
#: At most this many events that arrived together are delivered together (``Hub.dispatch_many``).
BATCH_LIMIT = 64

Event = dict[str, Any]


class FanoutUnavailable(Exception):
    """This process could not subscribe (Redis unreachable); the member should close and retry."""


class Member(Protocol):
    """What a hub needs from a member. Deliveries must not wait on anything but the member's own
    transport: the hub delivers to its members one after another."""

    async def fanout_deliver(self, event: Event) -> None: ...

    async def fanout_gap(self) -> None: ...


_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def member_name() -> str:
    """A unique name for a member, across processes (registry and presence entries use it)."""
    return f"{_PROCESS}!{uuid.uuid4().hex}"


def encode(event: Event) -> bytes:
    return msgpack.packb(event, use_bin_type=True)


def decode(payload: bytes) -> Event:
    """An event; ``ValueError`` for anything that is not a dict with a string ``type`` (a receiving
    hub then drops it, logged, instead of failing on it later)."""
    event = msgpack.unpackb(payload, raw=False)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError(f"not an event: {type(event).__name__}")
    return event


# -- hubs -------------------------------------------------------------------------------------------


class Hub:
    """One event loop's members by group, and the one task that delivers to them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # group → members, in joining order (a dict as an ordered set).
        self.members: dict[str, dict[Member, None]] = {}
        self.source: LocalSource | RedisSource = (
            RedisSource(self, settings.REDIS_URL, _prefix()) if _redis_url() else LocalSource(self)
        )

    async def join(self, member: Member, groups: Iterable[str]) -> None:
        """Add ``member`` to ``groups``; returns once this process receives what is sent to them."""
        groups = [require_valid_group(group) for group in groups]
        for group in groups:
            self.members.setdefault(group, {})[member] = None
        try:
            # All of them: a group another member just joined may not be confirmed yet.
            await self.source.subscribe(groups)
        except BaseException:
            emptied = self._remove(member, groups)
            with contextlib.suppress(Exception):
                await self.source.unsubscribe(emptied)
            raise

    async def leave(self, member: Member, groups: Iterable[str]) -> None:
        emptied = self._remove(member, groups)
        with contextlib.suppress(Exception):
            await self.source.unsubscribe(emptied)

    def _remove(self, member: Member, groups: Iterable[str]) -> list[str]:
        emptied = []
        for group in groups:
            members = self.members.get(group)
            if members is not None:
                members.pop(member, None)
                if not members:
                    del self.members[group]
                    emptied.append(group)
        return emptied

    async def dispatch(self, group: str, event: Event) -> int:
        """Hand ``event`` to every member of ``group`` here; returns how many there were."""
        members = self.members.get(group)
        if not members:
            return 0
        for member in tuple(members):  # a member may leave while others are served
            await _deliver(member, group, event)
        _observe_sent(event)
        return len(members)

    async def dispatch_many(self, items: Sequence[tuple[str, Event]]) -> None:
        """Events that arrived together, in their order. A run of consecutive events for one group
        reaches each member in turn, all of them, its frames sent in one write (``realtime.writes``)."""
        start = 0
        while start < len(items):
            group = items[start][0]
            end = start + 1
            while end < len(items) and items[end][0] == group:
                end += 1
            if end - start == 1:
                await self.dispatch(group, items[start][1])
            else:
                await self._dispatch_run(group, [event for _, event in items[start:end]])
            start = end

    async def _dispatch_run(self, group: str, run: list[Event]) -> None:
        for member in tuple(self.members.get(group, ())):
            with writes.held():
                for event in run:
                    await _deliver(member, group, event)
        for event in run:
            _observe_sent(event)

    async def gap(self) -> None:
        """Tell every member that events may have been lost (the subscription dropped)."""
        everyone: dict[Member, None] = {}
        for members in self.members.values():
            everyone.update(members)
        for member in everyone:
            try:
                await member.fanout_gap()
            except Exception:
                logger.exception("fan-out gap handling failed")


async def _deliver(member: Member, group: str, event: Event) -> None:
    """One event to one member; a member that fails is logged and the others are still served."""
    try:
        await member.fanout_deliver(event)
    except Exception:
        logger.exception("fan-out delivery failed group=%s type=%s", group, event.get("type"))


def _observe_sent(event: Event) -> None:
    created = event.get("created")
    if isinstance(created, int | float):  # once per event and process: until its last socket here had it
        metrics.NOTIFY_TO_SEND.observe(max(0.0, time.time() - created))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def get_hub() -> Hub:
    """The hub of the running event loop (daphne runs one loop per process)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        hub = _hubs.get(loop)
        if hub is None:
            hub = _hubs[loop] = Hub(loop)
        return hub


def has_hub() -> bool:
    """Whether the running loop (if any) has a hub: it serves sockets, streams or layer channels."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    with _hubs_lock:
        return loop in _hubs


def local_hubs() -> list[Hub]:
    with _hubs_lock:
        return [hub for loop, hub in _hubs.items() if not loop.is_closed()]


# -- sources: where a hub's events come from ------------------------------------------------------


class LocalSource:
    """Embedded mode: publishers in this process put events straight into the hub's queue, and
    those of other processes on this machine send them through ``realtime.localbus``."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Before any member joins: what another process publishes after a join is received.
        localbus.listen(_publish_locally)

    async def subscribe(self, groups: list[str]) -> None:
        if self._task is None or self._task.done():
            self._task = self.hub.loop.create_task(self._run())

    async def unsubscribe(self, groups: list[str]) -> None:
        task = self._task
        if not self.hub.members and task is not None and task is not asyncio.current_task():
            self._task = None
            task.cancel()

    def put(self, group: str, event: Event) -> None:
        """Called in the hub's loop (``call_soon_threadsafe`` from other threads)."""
        if group in self.hub.members:
            self._queue.put_nowait((group, event))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_LIMIT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self.hub.dispatch_many(batch)


class RedisSource:
    """Scale-out: one pub/sub connection per hub, subscribed to the groups that have members here."""

    def __init__(self, hub: Hub, url: str, prefix: str) -> None:
        self.hub = hub
        self.url = url
        self.prefix = f"{prefix}:fanout:".encode()
        self.client_name = f"{prefix}:fanout:{_PROCESS}".replace(" ", "_")
        self._pubsub: Any = None
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()
        # Subscriptions Redis confirmed, and those on their way (with the joins waiting for them).
        self._confirmed: set[bytes] = set()
        self._waiting: dict[bytes, list[asyncio.Future[None]]] = {}

    def channel(self, group: str) -> bytes:
        return self.prefix + group.encode()

    async def subscribe(self, groups: list[str]) -> None:
        """Return once Redis has confirmed a subscription to each of ``groups``."""
        if self._task is None or self._task.done():
            self._task = self.hub.loop.create_task(self._run())
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                while True:
                    await self._connected.wait()
                    futures = await self._subscribe_unconfirmed([self.channel(group) for group in groups])
                    if futures is not None:
                        break  # else the connection dropped between the wait and the lock: wait again
                await asyncio.gather(*futures)
        except TimeoutError as exc:
            raise FanoutUnavailable("Redis did not confirm the subscription in time") from exc

    async def _subscribe_unconfirmed(self, channels: list[bytes]) -> list[asyncio.Future[None]] | None:
        """Send one SUBSCRIBE for the channels neither confirmed nor already on their way; the
        futures of every channel still unconfirmed (None: not connected)."""
        async with self._lock:
            if self._pubsub is None:
                return None
            futures: list[asyncio.Future[None]] = []
            to_send = []
            for channel in channels:
                if channel in self._confirmed:
                    continue
                if channel not in self._waiting:
                    to_send.append(channel)
                future = self.hub.loop.create_future()
                self._waiting.setdefault(channel, []).append(future)
                futures.append(future)
            if to_send:
                await self._pubsub.subscribe(*to_send)
            return futures

    async def unsubscribe(self, groups: list[str]) -> None:
        async with self._lock:
            # Never a channel whose subscription is still on its way: its replies would cross.
            channels = [
                self.channel(group)
                for group in groups
                if group not in self.hub.members and self.channel(group) not in self._waiting
            ]
            if channels and self._pubsub is not None:
                self._confirmed.difference_update(channels)
                await self._pubsub.unsubscribe(*channels)
        await self.stop_when_idle()

    async def stop_when_idle(self) -> None:
        """No members left: stop listening (the next join starts again)."""
        task = self._task
        if self.hub.members or task is None or task is asyncio.current_task():
            return
        self._task = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                was_connected = self._connected.is_set()
                await self._drop(exc)
                if was_connected:
                    failures = 0
                    logger.warning("fan-out subscription lost (%s); members resume from the database", exc)
                    await self.hub.gap()
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                await asyncio.sleep(delay)
            finally:
                await self._drop(None)

    async def _listen(self) -> None:
        import redis.asyncio
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside redis-py: a dropped connection must surface here, where it is a gap.
        self._client = redis.asyncio.Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=15,
            client_name=self.client_name,  # CLIENT LIST shows which process each subscriber is
            driver_info=redis_clients.driver_info(),
        )
        pubsub = self._client.pubsub()
        await pubsub.connect()
        async with self._lock:
            self._pubsub = pubsub
            channels = [self.channel(group) for group in self.hub.members]
            for channel in channels:
                self._waiting.setdefault(channel, [])
            if channels:
                await pubsub.subscribe(*channels)
        self._connected.set()
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                continue
            # What else has arrived meanwhile (this process was busy delivering) is handled with
            # it: a run of events for one group then costs each socket one write, not one each.
            # A timeout of 0 returns what is already read or readable, else None after one turn.
            batch = [message]
            try:
                while len(batch) < BATCH_LIMIT:
                    message = await pubsub.get_message(timeout=0)
                    if message is None:
                        break
                    batch.append(message)
            except Exception:
                await self._handle_all(batch)  # what was received goes out before the drop is handled
                raise
            await self._handle_all(batch)

    async def _drop(self, exc: Exception | None) -> None:
        """Forget the connection; fail the joins waiting on it."""
        self._connected.clear()
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        self._confirmed.clear()
        for futures in self._waiting.values():
            for future in futures:
                if not future.done():
                    future.set_exception(FanoutUnavailable(f"Redis connection lost: {exc}"))
        self._waiting.clear()
        for closing in (pubsub, client):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.aclose()

    async def _handle_all(self, messages: list[dict[str, Any]]) -> None:
        """Pub/sub messages in the order Redis sent them: events (delivered together) and replies."""
        events: list[tuple[str, Event]] = []
        for message in messages:
            kind, channel = message["type"], message["channel"]
            if kind == "message":
                try:
                    events.append((channel[len(self.prefix) :].decode(), decode(message["data"])))
                except Exception:
                    logger.exception("undecodable fan-out event on %r", channel)
                continue
            if events:
                await self.hub.dispatch_many(events)
                events = []
            await self._handle_reply(kind, channel)
        if events:
            await self.hub.dispatch_many(events)

    async def _handle_reply(self, kind: str, channel: bytes) -> None:
        if kind == "subscribe":
            self._confirmed.add(channel)
            for future in self._waiting.pop(channel, ()):
                if not future.done():
                    future.set_result(None)
            group = channel[len(self.prefix) :].decode()
            if group not in self.hub.members:  # its last member left while the subscription was on its way
                self.hub.loop.create_task(self.unsubscribe([group]))


# -- publishing -----------------------------------------------------------------------------------


def _redis_url() -> str:
    return str(getattr(settings, "REDIS_URL", "") or "")


def _prefix() -> str:
    return str(getattr(settings, "REDIS_PREFIX", "charity"))


_sync_client: Any = None
_sync_client_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _channel(group: str) -> bytes:
    return f"{_prefix()}:fanout:{group}".encode()


def publish(groups: Iterable[str], event: Event) -> None:
    """Send ``event`` to ``groups`` now, from synchronous code; logs (never raises) when it gives up.

    Only for use after commit (``realtime.publish.group_send_on_commit``). One Redis round trip,
    on a connection pool shared by the process's threads.
    """
    groups, payload = _prepare(groups, event)
    for attempt, delay in enumerate((0.0, *PUBLISH_RETRY_DELAYS)):
        if delay:
            time.sleep(delay)
        try:
            _send(groups, payload)
            return
        except Exception:
            if attempt == len(PUBLISH_RETRY_DELAYS):
                logger.exception("publish failed groups=%s type=%s", ",".join(groups), event.get("type"))


async def apublish(groups: Iterable[str], event: Event) -> None:
    """``publish()`` from async code, on a connection of the running loop."""
    groups, payload = _prepare(groups, event)
    for attempt, delay in enumerate((0.0, *PUBLISH_RETRY_DELAYS)):
        if delay:
            await asyncio.sleep(delay)
        try:
            await _asend(groups, payload)
            return
        except Exception:
            if attempt == len(PUBLISH_RETRY_DELAYS):
                logger.exception("publish failed groups=%s type=%s", ",".join(groups), event.get("type"))


async def apublish_each(sends: Sequence[tuple[Iterable[str], Event]]) -> None:
    """Several events, each to its groups, in this order, in one round trip (``apublish`` each)."""
    prepared = [_prepare(groups, event) for groups, event in sends]
    for attempt, delay in enumerate((0.0, *PUBLISH_RETRY_DELAYS)):
        if delay:
            await asyncio.sleep(delay)
        try:
            await _asend_each(prepared)
            return
        except Exception:
            if attempt == len(PUBLISH_RETRY_DELAYS):
                types = ",".join(str(event.get("type")) for _, event in sends)
                logger.exception("publish failed types=%s", types)


GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,99}$")


def require_valid_group(group: str) -> str:
    """Group names: ASCII letters, digits, ``_ . -``, under 100 characters (as channels required)."""
    if not isinstance(group, str) or not GROUP_NAME.match(group):
        raise ValueError(f"Invalid group name {group!r}")
    return group


def _prepare(groups: Iterable[str], event: Event) -> tuple[tuple[str, ...], bytes]:
    groups = tuple(require_valid_group(group) for group in groups)
    return groups, encode(event)


def _send(groups: tuple[str, ...], payload: bytes) -> None:
    if not _redis_url():
        _publish_locally(groups, payload)
        localbus.send(groups, payload)
        return
    global _sync_client
    import redis

    with _sync_client_lock:
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(_redis_url(), driver_info=redis_clients.driver_info())
        client = _sync_client
    if len(groups) == 1:  # most sends: a pipeline object costs more than the command
        client.publish(_channel(groups[0]), payload)
        return
    pipe = client.pipeline(transaction=False)
    for group in groups:
        pipe.publish(_channel(group), payload)
    pipe.execute()


def _async_client() -> Any:
    """The running loop's client for publishing (a client is bound to the loop it was made on)."""
    import redis.asyncio

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = redis.asyncio.Redis.from_url(
            _redis_url(), driver_info=redis_clients.driver_info()
        )
    return client


async def _asend(groups: tuple[str, ...], payload: bytes) -> None:
    if not _redis_url():
        _publish_locally(groups, payload)
        localbus.send(groups, payload, wait=False)  # never holds up the loop
        return
    client = _async_client()
    if len(groups) == 1:  # typing and presence: a pipeline object costs more than the command
        await client.publish(_channel(groups[0]), payload)
        return
    pipe = client.pipeline(transaction=False)
    for group in groups:
        pipe.publish(_channel(group), payload)
    await pipe.execute()


async def _asend_each(prepared: list[tuple[tuple[str, ...], bytes]]) -> None:
    if len(prepared) == 1 or not _redis_url():
        for groups, payload in prepared:
            await _asend(groups, payload)
        return
    client = _async_client()
    pipe = client.pipeline(transaction=False)
    for groups, payload in prepared:
        for group in groups:
            pipe.publish(_channel(group), payload)
    await pipe.execute()


def _publish_locally(groups: tuple[str, ...], payload: bytes) -> None:
    for hub in local_hubs():
        source = hub.source
        assert isinstance(source, LocalSource)
        for group in groups:
            # Each hub gets its own copy, decoded in its own loop's turn; order is kept per loop.
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                hub.loop.call_soon_threadsafe(_put_decoded, source, group, payload)


def _put_decoded(source: LocalSource, group: str, payload: bytes) -> None:
    try:
        event = decode(payload)
        require_valid_group(group)
    except Exception:
        logger.exception("undecodable fan-out event for group %r", group)
        return
    source.put(group, event)


async def aclose() -> None:
    """Stop the running loop's hub and publisher connection (end of a test; never raises)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        hub = _hubs.pop(loop, None)
    if hub is not None:
        hub.members.clear()
        source = hub.source
        if isinstance(source, RedisSource):
            await source.stop_when_idle()
        else:
            await source.unsubscribe([])
    client = _async_clients.pop(loop, None)
    if client is not None:
        with contextlib.suppress(Exception):
            await client.aclose()


def reset() -> None:
    """Forget the publishers' clients and every hub (tests, after settings change)."""
    global _sync_client
    with _sync_client_lock:
        _sync_client = None
    _async_clients.clear()
    with _hubs_lock:
        _hubs.clear()


# -- members --------------------------------------------------------------------------------------

_unknown_logged: set[tuple[str, Any]] = set()


def log_dropped_once(member_kind: str, event_type: Any) -> None:
    if (member_kind, event_type) not in _unknown_logged:
        _unknown_logged.add((member_kind, event_type))
        logger.warning("group event dropped: %s cannot handle type %r (logged once)", member_kind, event_type)


class GroupMember:
    """What sockets and SSE streams share as hub members (mixed into channels consumers).

    * ``join_groups()`` / ``leave_groups()`` / ``leave_all_groups()`` through the running loop's hub;
    * events that arrive before ``go_live()`` wait (the connect sequence reads and sends its replay
      first), then go out in arrival order;
    * each event goes to the handler named after its type (channels' ``dispatch``), inline, except
      ``background_events``, whose handlers wait on the database: those run one at a time in a task
      of the member's own, so the hub never waits for them;
    * subclasses implement ``fanout_gap()``.
    """

    #: Event types whose handlers wait on something (the database): run in the member's own task.
    background_events: frozenset[str] = frozenset({"access.revoke"})

    channel_name: str
    joined_groups: list[str]
    scope: Any
    channel_layer: Any
    base_send: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Channels sets channel_name only with a channel layer, which fan-out does without; the
        # registry and presence still key connections by it.
        self.channel_name = member_name()
        self.joined_groups = []
        self._pending_events: list[Event] | None = []
        self._background: asyncio.Task[None] | None = None
        self._background_queue: list[Event] = []
        self._left = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' ``AsyncConsumer.__call__`` without a channel layer (group events come from the
        hub): one source of messages, so a plain loop instead of a channel, a task and an
        ``asyncio.wait`` per connection for as long as it is open."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            with contextlib.suppress(StopConsumer):
                while True:
                    await self.dispatch(await receive())
        except BaseException as error:
            await self.abandoned(error)

    async def abandoned(self, error: BaseException) -> None:
        """The member's loop ended with ``error`` (cancelled, or a bug) rather than by its ASGI
        disconnect: subclasses clean up here; the error goes on unless they end it."""
        raise error

    async def join_groups(self, groups: list[str]) -> None:
        """Returns once events sent to ``groups`` reach this member (or raises ``FanoutUnavailable``)."""
        new = [group for group in groups if group not in self.joined_groups]
        if new:
            await get_hub().join(self, new)
            self.joined_groups.extend(new)

    async def leave_groups(self, groups: list[str]) -> None:
        gone = [group for group in groups if group in self.joined_groups]
        if gone:
            for group in gone:
                self.joined_groups.remove(group)
            await get_hub().leave(self, gone)

    async def leave_all_groups(self) -> None:
        """The member is going away: leave everything, drop what is queued; never raises."""
        self._left = True
        if self._background is not None and self._background is not asyncio.current_task():
            self._background.cancel()
        self._background_queue.clear()
        joined, self.joined_groups = self.joined_groups, []
        if joined:
            with contextlib.suppress(Exception):
                await get_hub().leave(self, joined)

    async def go_live(self) -> None:
        """Deliver what arrived while connecting, then everything as it comes."""
        pending, self._pending_events = self._pending_events or [], None
        for event in pending:
            await self.fanout_deliver(event)

    async def fanout_deliver(self, event: Event) -> None:
        if self._left:
            return
        if self._pending_events is not None:
            self._pending_events.append(event)
        elif event.get("type") in self.background_events:
            self._background_queue.append(event)
            if self._background is None or self._background.done():
                self._background = asyncio.ensure_future(self._run_background())
        else:
            await self.dispatch_event(event)

    async def dispatch_event(self, event: Event) -> None:
        """A group event to the handler named after its type. An event of a type this member has no
        handler for (``group_send`` from host code, ``realtime.layer``) is dropped, logged once per
        kind of member and type: never an exception per member."""
        try:
            handler = getattr(self, get_handler_name(event), None)
        except ValueError:
            handler = None
        if handler is None:
            log_dropped_once(type(self).__name__, event.get("type"))
            return
        await handler(event)

    async def dispatch(self, message: Event) -> None:
        """Route an ASGI message to its handler, as channels does, minus its ``aclose_old_connections()``.

        channels runs ``close_old_connections()`` through ``sync_to_async`` before every message: for
        each event to each socket or stream, a trip to the one thread all of a process's database work
        shares. Behind acknowledgements and replays on that thread, a stream of notifications then
        falls seconds, even minutes, behind. Database work here goes through
        ``database_sync_to_async``, which closes old connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _run_background(self) -> None:
        while self._background_queue and not self._left:
            await self.dispatch_event(self._background_queue.pop(0))

    async def fanout_gap(self) -> None:
        raise NotImplementedError
