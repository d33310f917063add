"""The notification stream as Server-Sent Events, for browsers whose WebSockets are blocked.

``GET /sse/notifications/?since=ID`` streams the same frames as the socket (docs/protocol.md), one
``data:`` line each; notification events carry ``id: <notification id>`` so the browser's automatic
reconnection resumes with ``Last-Event-ID``. Client → server actions go over HTTP POST
(``/api/notifications/ack/``, ``/api/notifications/read/``). Served by the same ASGI application.

The stream itself (keep-alives, close events, admission, group events) is ``realtime.sse.SseStream``.
"""

from __future__ import annotations

from notifications.streams import NotificationMember
from realtime.sse import SseStream


class NotificationStreamConsumer(NotificationMember, SseStream):
    endpoint = "notifications_sse"

    async def open_stream(self) -> None:
        # The browser's own reconnection sends Last-Event-ID; it is newer than the URL's since.
        await self.notification_enter(self.header(b"last-event-id") or self.query_param("since"))
