"""The JSON socket base shared by the notification and help-request sockets.

It does the bookkeeping every socket needs and nothing domain-specific:

* inbound frames: size limit (4413), text only, JSON objects with a ``type``, one DRF validator per
  client frame type, and dispatch through an explicit table (a client-sent type can never reach a
  group-event handler or an internal method);
* error frames ``{"type":"error","code":...,"detail":...}``; bad input never closes the socket
  unless a limit says so;
* ``ping`` → ``pong`` and a server-side heartbeat that closes sockets that stay silent (4408);
* group membership, through this process's fan-out hub (``realtime.fanout``): events reach the socket
  by a direct call (``fanout_deliver``), not through a channel of its own; those that arrive while
  ``connect()`` runs wait until it returns, so a replay is always sent before what came live; when
  the hub's subscription dropped (``fanout_gap``) the socket closes with 1000 and the client replays;
* admission (``admit()``, called by subclasses once they know who is connecting): the
  per-process ceiling, the connection rate per person and per address, the per-person socket
  limit, and registration in the cross-process socket registry (``realtime.admission``, shared with
  the SSE streams); and a per-socket frame rate limit;
* revocation: every logged-in socket listens on its person's control group, and re-checks its
  access (``recheck_access()``) when told to (logout, deactivation, role change, unassignment).

Connection events are logged with user, role and close code; never with message bodies, tokens
or session ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework import serializers

from realtime import admission, fanout, heartbeat, metrics, registry
from realtime.conf import app_settings
from realtime.limits import TokenBucket
from realtime.protocol import CloseCode, ErrorCode, encode, error_frame
from realtime.validators import Frame, PingFrame

logger = logging.getLogger("realtime.sockets")


Handler = Callable[[dict[str, Any]], Awaitable[None]]


class JsonSocketConsumer(fanout.GroupMember, AsyncWebsocketConsumer):
    """Base consumer: subclasses declare ``frame_validators`` and implement ``handle_<type>``."""

    #: Client frame type → validator. Only these types are ever dispatched.
    frame_validators: ClassVar[dict[str, type[Frame]]] = {"ping": PingFrame}
    #: Frame types that do not count against the frame rate limit (they have their own throttle).
    unmetered_types: ClassVar[frozenset[str]] = frozenset({"ping"})
    #: Name of this kind of socket in logs and in the registry.
    endpoint: ClassVar[str] = "socket"

    _beating = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_heard = time.monotonic()
        self._closing = False
        self._entry: registry.SocketEntry | None = None
        self._role = ""
        self._bucket = TokenBucket(rate=app_settings.MESSAGE_RATE, burst=app_settings.MESSAGE_BURST)
        self._violations: Sequence[float] = ()
        self._disconnected = False
        self._frames_out = metrics.FRAMES_OUT.labels(self.endpoint)

    async def abandoned(self, error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError):
            # The server is shutting down (SIGTERM) and cancelled every socket. This one ends here,
            # cleaned up, without re-raising: daphne waits for its sockets with a plain gather(), which
            # gives up at the first one that raises, and the process would exit before the others had
            # left their groups and the registry.
            await self._abandoned(1001)
            return
        if isinstance(error, Exception):
            await self._abandoned(1011)  # a bug, or Redis failed mid-call: daphne closes 1011
        raise error

    async def _abandoned(self, code: int) -> None:
        """Clean up a socket that ends without ``websocket.disconnect``.

        Otherwise its heartbeat lives on, the hub keeps delivering to it, and the registry and the
        per-process count keep counting it, until the process restarts.
        """
        if not self._disconnected:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):  # Redis may be down: never hold up a shutdown
                    await self.disconnect(code)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        try:
            await super().websocket_connect(message)
        except fanout.FanoutUnavailable:
            # Redis is away: this process cannot promise live delivery. The client retries (backoff).
            logger.warning("socket refused endpoint=%s: fan-out unavailable; code=4503", self.endpoint)
            await self.close_with(CloseCode.UNAVAILABLE)
        finally:
            await self.go_live()  # what came to its groups while connect() ran goes out now

    async def fanout_gap(self) -> None:
        """Events to this socket's groups may have been lost: close so the client resumes (1000)."""
        if not self._closing:
            logger.warning("socket missed events user=%s; closing so it resumes", self.log_identity())
            await self.close_with(CloseCode.RESUME)

    # -- admission --------------------------------------------------------------------------------

    async def admit(self, *, user_id: int | None, username: str, role: str, rate_key: str) -> bool:
        """The connection limits (``realtime.admission.admit``). False: refused and closed with 4429.

        ``rate_key`` identifies the person for the connection rate (``user:<id>`` or a hash of the
        help request's token); the client address gets a looser limit of its own.
        """
        self._role = role
        self._entry = await admission.admit(self, user_id=user_id, username=username, role=role, rate_key=rate_key)
        return self._entry is not None

    async def access_revoke(self, event: dict[str, Any]) -> None:
        """The person's access changed somewhere (any process): check again, close or downgrade."""
        if not self._closing:
            await self.recheck_access()

    async def recheck_access(self) -> None:
        """Subclasses re-evaluate who may stay; the default keeps the socket."""

    # -- groups -----------------------------------------------------------------------------------

    # -- lifecycle --------------------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        """From now on the process's heartbeat (``realtime.heartbeat``) watches this socket."""
        self._heartbeat_timeout = app_settings.HEARTBEAT_TIMEOUT
        heartbeat.get_sweeper().add(self)
        self._beating = True

    def heartbeat_deadline(self) -> float:
        return self._last_heard + self._heartbeat_timeout

    def registry_entry(self) -> registry.SocketEntry | None:
        return self._entry

    async def heartbeat_expired(self) -> None:
        logger.info("socket heartbeat timeout user=%s", self.log_identity())
        await self.close_with(CloseCode.HEARTBEAT_TIMEOUT)

    async def close_with(self, code: int) -> None:
        if not self._closing:
            self._closing = True
            await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        if self._beating:
            heartbeat.get_sweeper().discard(self)
        await self.leave_all_groups()
        if self._entry is not None:
            await admission.unregister(self._entry)
            logger.info(
                "socket closed endpoint=%s user=%s role=%s code=%s",
                self.endpoint,
                self._entry.user_id,
                self._role,
                code,
            )
            self._entry = None
        await self.on_disconnect(code)

    async def on_disconnect(self, code: int) -> None:
        """Hook for subclasses; groups are already left."""

    def log_identity(self) -> str:
        user = self.scope.get("user")
        return str(getattr(user, "pk", None) or "anonymous")

    # -- sending ----------------------------------------------------------------------------------

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        if text_data is not None or bytes_data is not None:
            self._frames_out.inc()
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))

    def is_open(self) -> bool:
        """Still talking to its client (not closing, not gone from its groups)."""
        return not self._closing and not self._left

    async def send_text(self, text: str, *, event_id: int | None = None) -> None:
        """An already encoded frame (``event_id`` labels a stream's events; a socket needs none)."""
        await self.send_text_frame(text)

    async def send_text_frame(self, text: str) -> None:
        """An already encoded frame, straight to the server: the fan-out path, once per socket."""
        self._frames_out.inc()
        await self.base_send({"type": "websocket.send", "text": text})

    async def send_error(self, code: str, detail: Any) -> None:
        metrics.ERROR_FRAMES.labels(self.endpoint, code).inc()
        await self.send_frame(error_frame(code, detail))

    # -- receiving --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self._last_heard = time.monotonic()
        metrics.FRAMES_IN.labels(self.endpoint).inc()
        if self._closing:
            return
        # Every frame costs a token, garbage included; unmetered types get theirs back below.
        metered = self._bucket.take()
        if text_data is None:
            size = len(bytes_data or b"")
            if size > app_settings.MAX_FRAME_BYTES:
                await self._too_large(size)
            elif not metered:
                await self._rate_limited()
            else:
                await self.send_error(ErrorCode.BINARY_UNSUPPORTED, "Frames must be JSON text.")
            return
        size = len(text_data.encode("utf-8", "surrogatepass"))
        if size > app_settings.MAX_FRAME_BYTES:
            await self._too_large(size)
            return
        payload = _parse(text_data)
        frame_type = payload.get("type") if isinstance(payload, dict) else None
        if isinstance(frame_type, str) and frame_type in self.unmetered_types:
            if metered:
                self._bucket.refund()
        elif not metered:
            await self._rate_limited()
            return
        if payload is _NOT_JSON:
            await self.send_error(ErrorCode.BAD_JSON, "Frame is not valid JSON.")
            return
        if not isinstance(frame_type, str):
            await self.send_error(ErrorCode.BAD_FRAME, 'A frame is a JSON object with a string "type".')
            return
        validator = self.frame_validators.get(frame_type)
        if validator is None:
            await self.send_error(
                ErrorCode.UNKNOWN_TYPE, f"Unknown frame type. Known: {sorted(self.frame_validators)}."
            )
            return
        validated = validator.quick(payload)
        if validated is None:
            serializer = validator(data=payload)
            if not serializer.is_valid():
                await self.send_error(ErrorCode.INVALID, _plain_errors(serializer.errors))
                return
            validated = dict(serializer.validated_data)
        handler: Handler = getattr(self, "handle_" + frame_type.replace(".", "_"))
        await handler(validated)

    async def _rate_limited(self) -> None:
        metrics.REFUSALS.labels(self.endpoint, "frame").inc()
        now = time.monotonic()
        self._violations = [when for when in self._violations if now - when < 60] + [now]
        if len(self._violations) > app_settings.MESSAGE_VIOLATIONS_BEFORE_CLOSE:
            logger.warning("socket flooding endpoint=%s user=%s; closing 4429", self.endpoint, self.log_identity())
            await self.send_error(ErrorCode.RATE_LIMITED, "Too many frames; closing.")
            await self.close_with(CloseCode.RATE_LIMITED)
            return
        await self.send_error(ErrorCode.RATE_LIMITED, "Too many frames; slow down.")

    async def _too_large(self, size: int) -> None:
        limit = app_settings.MAX_FRAME_BYTES
        await self.send_error(ErrorCode.TOO_LARGE, f"Frame of {size} bytes is over the {limit}-byte limit.")
        await self.close_with(CloseCode.TOO_LARGE)

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})


_NOT_JSON = object()


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _plain_errors(errors: Any) -> Any:
    """DRF ErrorDetail → plain strings, keyed by field."""
    if isinstance(errors, dict):
        return {key: _plain_errors(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_plain_errors(value) for value in errors]
    return str(errors)


__all__ = ["CloseCode", "ErrorCode", "JsonSocketConsumer", "encode", "error_frame", "serializers"]
