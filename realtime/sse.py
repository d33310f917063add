"""Server-Sent Event streams: the base of every stream the apps serve (notifications, a help request's room).

Channels' ``AsyncHttpConsumer`` stops as soon as ``handle()`` returns, which ends a stream; an
``SseStream`` keeps the response open and handles group events (``realtime.fanout``) until the
client goes away, with keep-alive comments, explicit ``close`` events (the twin of a socket's 44xx
close codes), the sockets' admission limits and a registry entry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable
from typing import Any, ClassVar
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer

from realtime import admission, fanout, heartbeat, metrics, registry
from realtime.protocol import encode, error_frame

KEEPALIVE_SECONDS = 15.0

logger = logging.getLogger("realtime.sockets")


def sse_event(data: str, *, event_id: int | None = None, event: str | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


#: The last event encoded by ``encoded_event``: (its text, its id, the bytes).
_last_encoded: tuple[str, int | None, bytes] = ("", None, b"")


def encoded_event(text: str, event_id: int | None) -> bytes:
    """``sse_event(text, event_id=event_id)``, encoded once for all the streams a fan-out hands the same
    text (the event's one ``str``, so an identity check finds it) rather than once per stream."""
    global _last_encoded
    last_text, last_id, encoded = _last_encoded
    if text is not last_text or event_id != last_id:
        encoded = sse_event(text, event_id=event_id)
        _last_encoded = (text, event_id, encoded)
    return encoded


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
        """The sockets' admission (``realtime.admission.admit``): a stream holds a slot as a socket
        does, shows in who is online, and a person's stream joins their control group. Refused: an
        error frame and ``close`` 4429, after which the client waits and tries again."""
        self._entry = await admission.admit(self, user_id=user_id, username=username, role=role, rate_key=rate_key)
        if self._entry is None:
            return False
        heartbeat.get_sweeper().add(self)  # it refreshes the registry entry with the sockets'
        return True

    # -- the transport hooks the apps' connection mixins use (as a socket provides them) ---------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.write_frame(frame)

    async def send_error(self, code: str, detail: Any) -> None:
        metrics.ERROR_FRAMES.labels(self.endpoint, code).inc()
        await self.write_frame(error_frame(code, detail))

    async def send_text(self, text: str, *, event_id: int | None = None) -> None:
        """An encoded frame, labelled with ``event_id`` (the browser resumes after it)."""
        await self.write(encoded_event(text, event_id))

    async def close_with(self, code: int) -> None:
        await self.end_with(code)

    def is_open(self) -> bool:
        return self._open

    # -- realtime.heartbeat.Beating: the sweeper keeps the registry entry fresh. A stream never times
    # out there: the keep-alive's writes find a client that went away (http.disconnect).

    def heartbeat_deadline(self) -> float:
        return math.inf

    def registry_entry(self) -> registry.SocketEntry | None:
        return self._entry

    async def heartbeat_expired(self) -> None:  # pragma: no cover (the deadline never passes)
        await self._end()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """An ASGI message to its handler; a handler that fails ends the response (``_failed``)."""
        await self._ending_on_failure(super().dispatch(message))

    async def dispatch_event(self, event: dict[str, Any]) -> None:
        """A group event to its handler; a handler that fails ends the response (``_failed``)."""
        await self._ending_on_failure(super().dispatch_event(event))

    async def _ending_on_failure(self, handling: Awaitable[None]) -> None:
        try:
            await handling
        except (StopConsumer, asyncio.CancelledError):
            raise
        except Exception:
            await self._failed()

    async def _failed(self) -> None:
        """A handler raised: end the response rather than leave it open with its headers sent, its
        slot held and no keep-alive to notice the client leaving. Without a ``close`` event, the
        browser reconnects later."""
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
                    # What a stream carries (notifications, a conversation) is for no cache, the browser's
                    # included.
                    (b"cache-control", b"no-store, no-transform"),
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
            await self.base_send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def write_frame(self, frame: dict[str, Any]) -> None:
        await self.write(sse_event(encode(frame)))

    async def end_with(self, code: int) -> None:
        """Tell the client not to retry (the SSE twin of a 44xx close code), then end the response."""
        if not self._open:
            return
        await self.write(sse_event(json.dumps({"code": code}), event="close"))
        await self._end()

    async def _end(self) -> None:
        """End the response; without a ``close`` event first, the browser reconnects and resumes.

        The stream lets go of its groups, slot and registry entry before the response ends, so a
        client that sees the end (and reconnects at once) is never refused for its own old stream."""
        if not self._open:
            return
        self._open = False
        await self._release()
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

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
