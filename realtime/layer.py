"""The engine as a Channels channel layer: standard Channels code works on the module's fan-out.

``CHANNEL_LAYERS = {"default": {"BACKEND": "realtime.layer.FanoutChannelLayer"}}`` (both modes; the
fan-out itself chooses Redis or in-process, ``realtime.fanout``). Then:

* ``get_channel_layer().group_send(group, message)`` publishes ``message`` once to ``group`` through
  the fan-out: it reaches every member of the group in every process, the module's own sockets and
  streams (for the module's groups, ``realtime.groups``; docs/operations.md lists the message types
  they accept) as well as host consumers that joined with ``group_add``;
* a host app's own consumer (``AsyncJsonWebsocketConsumer`` and the like) gets a channel of its own
  (``new_channel``), and ``send``, ``receive``, ``group_add`` and ``group_discard`` work as on
  Channels' in-memory and Redis layers.

How: each channel is a queue in the process that created it (``<prefix>layer.<process>!<token>``).
A channel in a group is a fan-out member whose deliveries go into its queue. ``send`` to a channel of
this process puts the message in its queue; to a channel of another process it publishes the message
on that process's own group (``layer.<process>``), which its inbox receives.

Differences from channels-redis, on purpose: a general channel (a name without ``!``, as used by
``runworker``) is a queue of the process that uses it, not shared between processes (use a task
queue for background work); a message sent to a channel of another process whose queue is full is
dropped with an error logged rather than raising ``ChannelFull`` in the sender; ``group_add`` takes
channels of this process (the consumers it serves), which is what consumers do.

The module's own sockets and streams do not use the layer: they join the fan-out directly, with no
channel, queue or task per socket (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import weakref
from copy import deepcopy
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from realtime import fanout

logger = logging.getLogger("realtime.layer")

#: The group each process's inbox listens on, for channels of that process sent to from elsewhere.
INBOX_PREFIX = "layer."
_CHANNEL = re.compile(r"(?:^|\.)layer\.([0-9a-f]{16})$")


def _process_of(channel: str) -> str | None:
    """The process id in a specific channel name made by this layer, else None."""
    if "!" not in channel:
        return None
    match = _CHANNEL.search(channel[: channel.index("!")])
    return match.group(1) if match else None


class _ChannelMember:
    """A channel in one or more groups: a fan-out member whose deliveries go into its queue."""

    def __init__(self, layer: FanoutChannelLayer, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.groups: set[str] = set()

    async def fanout_deliver(self, event: dict[str, Any]) -> None:
        # The hub hands one decoded event to every member of the group: each channel its own copy.
        if not self.layer.put(self.channel, deepcopy(event), drop_expired=True):
            # Its consumer stopped reading for longer than the expiry: it leaves its groups, as on
            # Channels' own layers (a consumer that crashed without group_discard).
            await self.layer.forget(self.channel)

    async def fanout_gap(self) -> None:
        """Nothing to resume from: group messages on a channel layer are best-effort."""


class _Inbox:
    """This process's receiver of messages sent to its channels from other processes."""

    def __init__(self, layer: FanoutChannelLayer) -> None:
        self.layer = layer

    async def fanout_deliver(self, event: dict[str, Any]) -> None:
        if event.get("type") != "layer.send" or not isinstance(event.get("message"), dict):
            return
        try:
            self.layer.put(str(event.get("channel", "")), event["message"])
        except ChannelFull:
            logger.error("channel full, message dropped channel=%s", event.get("channel"))

    async def fanout_gap(self) -> None:
        pass


class FanoutChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    """A channel layer over ``realtime.fanout`` (see the module docstring)."""

    extensions = ["groups", "flush"]

    def __init__(self, expiry: int = 60, group_expiry: int = 86400, capacity: int = 100, **kwargs: Any) -> None:
        super().__init__(expiry=expiry, capacity=capacity)
        self.channel_capacity = self.compile_capacities(kwargs.get("channel_capacity") or {})
        self.group_expiry = group_expiry
        self.process_id = secrets.token_hex(8)
        self._queues: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}
        self._members: dict[str, _ChannelMember] = {}
        self._inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()

    # -- channels -----------------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        await self._ensure_inbox()
        return f"{prefix}{INBOX_PREFIX}{self.process_id}!{secrets.token_hex(8)}"

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        process = _process_of(channel)
        if process is None or process == self.process_id:
            self.put(channel, deepcopy(message))
        else:
            event = {"type": "layer.send", "channel": channel, "message": message}
            await self._publish(f"{INBOX_PREFIX}{process}", event)

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        queue = self._queue(channel)
        try:
            while True:
                deadline, message = await queue.get()
                if deadline >= time.time():
                    return message
        finally:
            if queue.empty() and channel not in self._members:
                self._queues.pop(channel, None)

    def put(self, channel: str, message: dict[str, Any], *, drop_expired: bool = False) -> bool:
        """Queue ``message`` on a channel of this process. For a group delivery (``drop_expired``),
        expired messages are dropped first and a full queue drops this one; returns False when a
        message had expired (the channel's consumer is gone). Otherwise a full queue raises
        ``ChannelFull``."""
        queue = self._queue(channel)
        alive = True
        if drop_expired:
            now = time.time()
            while not queue.empty() and queue._queue[0][0] < now:  # type: ignore[attr-defined]
                queue.get_nowait()
                alive = False
        try:
            queue.put_nowait((time.time() + self.expiry, message))
        except asyncio.QueueFull:
            if not drop_expired:
                raise ChannelFull(channel) from None
        return alive

    def _queue(self, channel: str) -> asyncio.Queue[tuple[float, dict[str, Any]]]:
        queue = self._queues.get(channel)
        if queue is None:
            queue = self._queues[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    async def _ensure_inbox(self) -> None:
        loop = asyncio.get_running_loop()
        if loop not in self._inboxes:
            inbox = self._inboxes[loop] = _Inbox(self)
            await fanout.get_hub().join(inbox, [f"{INBOX_PREFIX}{self.process_id}"])

    # -- groups -------------------------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        process = _process_of(channel)
        if process is not None and process != self.process_id:
            raise ValueError(f"group_add takes channels of this process; {channel!r} is another's")
        member = self._members.get(channel)
        if member is None:
            member = self._members[channel] = _ChannelMember(self, channel)
        await fanout.get_hub().join(member, [group])
        member.groups.add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        member = self._members.get(channel)
        if member is None or group not in member.groups:
            return
        member.groups.discard(group)
        await fanout.get_hub().leave(member, [group])
        if not member.groups:
            self._members.pop(channel, None)

    async def forget(self, channel: str) -> None:
        """Take ``channel`` out of every group it is in."""
        member = self._members.pop(channel, None)
        if member is not None and member.groups:
            groups, member.groups = list(member.groups), set()
            await fanout.get_hub().leave(member, groups)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        await self._publish(group, message)

    async def _publish(self, group: str, message: dict[str, Any]) -> None:
        if fanout.has_hub():
            await fanout.apublish([group], message)
        else:
            # A loop of its own (async_to_sync in a management command or a WSGI view): the
            # synchronous publisher's pooled connection, not a client per short-lived loop.
            await asyncio.to_thread(fanout.publish, [group], message)

    # -- flush extension ----------------------------------------------------------------------------

    async def flush(self) -> None:
        for channel in list(self._members):
            await self.forget(channel)
        self._queues.clear()

    async def close(self) -> None:
        pass
