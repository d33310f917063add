"""A help-request room as Server-Sent Events, for browsers whose WebSockets are blocked.

``GET /sse/help-requests/<public_id>/?after=ID`` streams the same frames as the room socket
(docs/chat-protocol.md), one ``data:`` line each: ``history``, then ``presence``, then live
``message``, ``status``, ``presence``, ``typing``, ``read`` and ``redacted``; a helper's stream also
gets ``notes`` after ``history`` and live ``note`` events, and staff may watch with ``?mode=watch``.
Message events carry
``id: <message id>`` (the ``history`` event the id of its last message), so the browser's own
reconnection resumes with ``Last-Event-ID``, which takes precedence over ``?after``. Who may listen,
the lossless join, presence and losing access are the socket's, shared through ``chat.rooms``.

A stream the server will not serve, or stops serving, ends with ``event: close`` and
``{"code": 4404}`` (unknown or malformed id), ``4403`` (not allowed, or no longer) or ``4401``
(logged out). A visitor proves who they are with their session, an ``X-Help-Request-Token`` header
or a single-use ``?ticket=`` (``POST /api/help-requests/<public_id>/ticket/``); never the token in the
URL. The stream is sent with ``Cache-Control: no-store``. The client's writes go over HTTP:
``/api/help-requests/<public_id>/messages/`` and
``.../read/`` (``chat/api_views.py``).
"""

from __future__ import annotations

from chat.app_settings import app_settings
from chat.models import AccessChannel
from chat.rooms import RoomMember, parse_after
from realtime.sse import KEEPALIVE_SECONDS, SseStream


class HelpRequestStreamConsumer(RoomMember, SseStream):
    endpoint = "chat_sse"
    audit_channel = AccessChannel.SSE

    async def open_stream(self) -> None:
        token = self.header(b"x-help-request-token")
        # The browser's own reconnection sends Last-Event-ID; it is newer than the URL's after.
        after, after_error = parse_after(self.header(b"last-event-id") or self.query_param("after"))
        refused = await self.room_identify(
            self.scope["url_route"]["kwargs"]["public_id"],
            token,
            self.query_param("ticket"),
            mode=self.query_param("mode"),
        )
        if refused is not None:
            await self.end_with(refused)
            return
        if not await self.room_admit():
            return
        await self.room_enter(after=after, after_error=after_error)

    def keepalive_interval(self) -> float:
        # The keep-alive also refreshes this stream's presence entry; never less often than sockets do.
        return min(KEEPALIVE_SECONDS, app_settings.PRESENCE_REFRESH_INTERVAL)

    async def on_keepalive(self) -> None:
        await self.presence_refresh()

    async def on_close(self) -> None:
        await self.presence_exit()


__all__ = ["HelpRequestStreamConsumer"]
