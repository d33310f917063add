"""The notification stream as Server-Sent Events, for browsers whose WebSockets are blocked.

``GET /sse/notifications/?since=ID`` streams the same frames as the socket (docs/protocol.md), one
``data:`` line each; notification events carry ``id: <notification id>`` so the browser's automatic
reconnection resumes with ``Last-Event-ID``. Client → server actions go over HTTP POST
(``/api/notifications/ack/``, ``/api/notifications/read/``). Served by the same ASGI application.

Channels' ``AsyncHttpConsumer`` stops as soon as ``handle()`` returns, which ends a stream; this
consumer keeps the response open and handles group events (``charity.fanout``) until the client
goes away.
``SseStream``, the base of that, also serves the help-request chat's stream (``chat/sse.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any, ClassVar
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer

from charity import admission, fanout, groups, heartbeat, metrics, registry
from charity.limits import hashed
from charity.revocation import access_state
from charity.roles import Role, primary_role, roles_for
from charity.sockets import CloseCode, ErrorCode, encode, error_frame
from notifications import events, streams

KEEPALIVE_SECONDS = 15.0

logger = logging.getLogger("charity.sockets")


def sse_event(data: str, *, event_id: int | None = None, event: str | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class SseStream(fanout.GroupMember, AsyncConsumer):
    """Base for SSE streams: headers, keep-alive comments, explicit close events, group cleanup.

    Subclasses implement ``open_stream()`` and may hook into ``on_keepalive()`` (every keep-alive
    tick, e.g. to refresh a presence entry) and ``on_close()`` (once, when the stream ends either
    way: the client went away or the server ended it with ``end_with()``).
    """

    #: Name of this kind of stream in logs, metrics and the socket registry.
    endpoint: ClassVar[str] = "sse"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keepalive: asyncio.Task[None] | None = None
        self._open = False
        self._released = False
        self._entry: registry.SocketEntry | None = None

    async def admit(self, *, user_id: int | None, username: str, role: str, rate_key: str) -> bool:
        """The sockets' connection limits (``charity.admission``), then a registry entry: a stream
        holds a slot as a socket does, and shows in who is online. Refused: an error frame and
        ``close`` 4429, after which the client waits and tries again."""
        reason = await admission.refusal(self.scope, user_id=user_id, rate_key=rate_key)
        if reason is not None:
            metrics.REFUSALS.labels(self.endpoint, "connection").inc()
            logger.warning("stream refused endpoint=%s user=%s role=%s code=4429", self.endpoint, user_id, role)
            await self.write_frame(error_frame(ErrorCode.RATE_LIMITED, reason))
            await self.end_with(CloseCode.RATE_LIMITED)
            return False
        self._entry = await admission.register(
            channel=self.channel_name, endpoint=self.endpoint, role=role, user_id=user_id, username=username
        )
        heartbeat.get_sweeper().add(self)  # it refreshes the registry entry with the sockets'
        return True

    # -- charity.heartbeat.Beating: the sweeper keeps the registry entry fresh. A stream never times
    # out there: the keep-alive's writes find a client that went away (http.disconnect).

    def heartbeat_deadline(self) -> float:
        return math.inf

    def registry_entry(self) -> registry.SocketEntry | None:
        return self._entry

    async def heartbeat_expired(self) -> None:  # pragma: no cover (the deadline never passes)
        await self._end()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, but a handler that fails ends the response instead of leaving it open.

        Otherwise the stream would hang with its headers sent, its slot held, and no keep-alive to
        notice the client leaving. Ended without a ``close`` event: the browser reconnects later.
        """
        try:
            await super().dispatch(message)
        except (StopConsumer, asyncio.CancelledError):
            raise
        except Exception:
            user_id = self._entry.user_id if self._entry is not None else None
            logger.exception("stream failed endpoint=%s user=%s; ending it", self.endpoint, user_id)
            if self._open:
                await self._end()
            else:
                await self._release()

    async def http_request(self, message: dict[str, Any]) -> None:
        if message.get("more_body"):
            return  # a GET has no body worth waiting for
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        self._open = True
        await self.write(b": stream open\n\n")
        try:
            await self.open_stream()
        except fanout.FanoutUnavailable:
            await self._end()  # Redis is away; EventSource retries on its own
        await self.go_live()
        if self._open:
            self._keepalive = asyncio.ensure_future(self._keepalive_loop())

    async def open_stream(self) -> None:
        raise NotImplementedError("SSE streams implement open_stream().")

    async def on_keepalive(self) -> None:
        """Hook: called after each keep-alive comment."""

    async def on_close(self) -> None:
        """Hook: called once when the stream ends; its groups are already left."""

    def keepalive_interval(self) -> float:
        return KEEPALIVE_SECONDS

    async def write(self, chunk: bytes) -> None:
        if self._open:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def write_frame(self, frame: dict[str, Any]) -> None:
        await self.write(sse_event(encode(frame)))

    async def end_with(self, code: int) -> None:
        """Tell the client not to retry (the SSE twin of a 44xx close code), then end the response."""
        if not self._open:
            return
        await self.write(sse_event(json.dumps({"code": code}), event="close"))
        await self._end()

    async def _end(self) -> None:
        """End the response; without a ``close`` event first, the browser reconnects and resumes."""
        if not self._open:
            return
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        self._open = False
        await self._release()

    async def fanout_gap(self) -> None:
        """Events may have been lost: end the stream; EventSource resumes with Last-Event-ID."""
        await self._end()

    async def _keepalive_loop(self) -> None:
        while self._open:
            await asyncio.sleep(self.keepalive_interval())
            await self.write(b": keep-alive\n\n")
            if self._open:
                await self.on_keepalive()

    async def _release(self) -> None:
        """Stop the keep-alive, leave the groups, run ``on_close()``: once, however the stream ends."""
        if self._released:
            return
        self._released = True
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        await self.leave_all_groups()
        if self._entry is not None:
            heartbeat.get_sweeper().discard(self)
            entry, self._entry = self._entry, None
            await admission.unregister(entry)
        await self.on_close()

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        self._open = False
        await self._release()
        raise StopConsumer()

    def query_param(self, name: str) -> str | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[-1] if values else None

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", []):
            if key.lower() == name:
                return str(value.decode("latin-1"))
        return None


class NotificationStreamConsumer(SseStream):
    endpoint = "notifications_sse"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: dict[int, None] = {}
        self.user_id: int | None = None
        self.session_key: str | None = None
        self.roles: frozenset[Role] = frozenset()

    async def open_stream(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.end_with(CloseCode.UNAUTHENTICATED)
            return
        # The browser's own reconnection sends Last-Event-ID; it is newer than the URL's since.
        since, since_error = streams.parse_since(self.header(b"last-event-id") or self.query_param("since"))
        if since_error:
            await self.write_frame(error_frame("invalid", {"since": [since_error]}))
        roles = await database_sync_to_async(roles_for)(user)
        admitted = await self.admit(
            user_id=int(user.pk), username=user.get_username(), role=primary_role(roles), rate_key=f"user:{user.pk}"
        )
        if not admitted:
            return
        self.user_id, self.roles = int(user.pk), roles
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        # The control group: logout, deactivation and role changes reach this stream as they reach sockets.
        await self.join_groups(
            [*streams.notification_groups(user_id=self.user_id, roles=roles), groups.control_group(self.user_id)]
        )
        replay = await database_sync_to_async(streams.replay_read)(user_id=int(user.pk), since=since)
        for notification in replay.notifications:
            await self._send(notification.pk, events.encode_frame(events.notification_frame(notification)))
        await self.write_frame(events.synced_frame(last_id=replay.last_id, unread=replay.unread))

    async def _send(self, notification_id: int, text: str) -> None:
        if notification_id in self.sent:
            return
        streams.remember(self.sent, notification_id)
        await self.write(sse_event(text, event_id=notification_id))

    async def notification_push(self, event: events.NotificationPushEvent) -> None:
        await self._send(event["id"], event["frame"])

    async def notification_unread(self, event: events.UnreadChangedEvent) -> None:
        await self.write_frame(events.unread_frame(event["unread"]))

    async def access_revoke(self, event: dict[str, Any]) -> None:
        """As the notification socket: end (4401) when this session logged out or the account or
        session is gone; follow a change of roles (groups, and a ``roles`` frame)."""
        if not self._open or self.user_id is None:
            return
        if event.get("session") and self.session_key and event["session"] == hashed(self.session_key):
            await self.end_with(CloseCode.UNAUTHENTICATED)
            return
        roles = await database_sync_to_async(access_state)(user_id=self.user_id, session_key=self.session_key)
        if roles is None:
            await self.end_with(CloseCode.UNAUTHENTICATED)
            return
        if roles != self.roles:
            leave, join = streams.regroup(user_id=self.user_id, before=self.roles, after=roles)
            self.roles = roles
            await self.leave_groups(leave)
            await self.join_groups(join)
            await self.write_frame(events.roles_frame(roles))
