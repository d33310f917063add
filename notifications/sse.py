"""The notification stream as Server-Sent Events, for browsers whose WebSockets are blocked.

``GET /sse/notifications/?since=ID`` streams the same frames as the socket (docs/protocol.md), one
``data:`` line each; notification events carry ``id: <notification id>`` so the browser's automatic
reconnection resumes with ``Last-Event-ID``. Client → server actions go over HTTP POST
(``/api/notifications/ack/``, ``/api/notifications/read/``). Served by the same ASGI application.

The stream itself (keep-alives, close events, admission, group events) is ``realtime.sse.SseStream``.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from charity.roles import Role, primary_role, roles_for
from notifications import events, streams
from realtime import fanout, groups
from realtime.limits import hashed
from realtime.revocation import access_state
from realtime.sockets import CloseCode, error_frame
from realtime.sse import SseStream, sse_event


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

    async def realtime_event(self, event: dict[str, Any]) -> None:
        """A host app's live event (``realtime.layer``): forwarded as an ``event`` frame."""
        frame = events.host_event_frame(event)
        if frame is None:
            fanout.log_dropped_once(type(self).__name__, "realtime.event without a valid name")
        else:
            await self.write_frame(frame)

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
