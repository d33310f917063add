"""The JSON socket base shared by the notification and help-request sockets.

It does the bookkeeping every socket needs and nothing domain-specific:

* inbound frames: size limit (4413), text only, JSON objects with a ``type``, one DRF validator per
  client frame type, and dispatch through an explicit table (a client-sent type can never reach a
  channel-layer handler or an internal method);
* error frames ``{"type":"error","code":...,"detail":...}``; bad input never closes the socket
  unless a limit says so;
* ``ping`` → ``pong`` and a server-side heartbeat that closes sockets that stay silent (4408);
* group membership, re-joined periodically so a Redis restart or ``group_expiry`` does not
  silently detach a long-lived socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework import serializers

from charity.frames import Frame, PingFrame
from notifications.app_settings import app_settings

logger = logging.getLogger("charity.sockets")


class CloseCode:
    """Application close codes; they mirror HTTP statuses (see docs/protocol.md)."""

    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    HEARTBEAT_TIMEOUT = 4408
    TOO_LARGE = 4413
    RATE_LIMITED = 4429


class ErrorCode:
    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    BINARY_UNSUPPORTED = "binary_unsupported"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    TOO_LARGE = "too_large"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"


Handler = Callable[[dict[str, Any]], Awaitable[None]]


def error_frame(code: str, detail: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """Base consumer: subclasses declare ``frame_validators`` and implement ``handle_<type>``."""

    #: Client frame type → validator. Only these types are ever dispatched.
    frame_validators: ClassVar[dict[str, type[Frame]]] = {"ping": PingFrame}

    joined_groups: list[str]
    _heartbeat: asyncio.Task[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined_groups = []
        self._last_heard = time.monotonic()
        self._closing = False

    # -- groups -----------------------------------------------------------------------------------

    async def join_groups(self, groups: list[str]) -> None:
        for group in groups:
            if group not in self.joined_groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined_groups.append(group)

    async def leave_groups(self, groups: list[str]) -> None:
        for group in groups:
            if group in self.joined_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.joined_groups.remove(group)

    # -- lifecycle --------------------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        self._heartbeat = asyncio.ensure_future(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        timeout = app_settings.HEARTBEAT_TIMEOUT
        refresh = app_settings.GROUP_REFRESH_INTERVAL
        tick = max(0.05, min(timeout / 3, refresh))
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self._last_heard > timeout:
                logger.info("socket heartbeat timeout user=%s", self.log_identity())
                await self.close_with(CloseCode.HEARTBEAT_TIMEOUT)
                return
            if now - last_refresh >= refresh:
                last_refresh = now
                try:
                    for group in list(self.joined_groups):
                        await self.channel_layer.group_add(group, self.channel_name)
                except Exception:  # the layer is down; try again next tick, never kill the socket
                    logger.warning("group refresh failed", exc_info=True)

    async def close_with(self, code: int) -> None:
        if not self._closing:
            self._closing = True
            await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        for group in list(self.joined_groups):
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)
        self.joined_groups = []
        await self.on_disconnect(code)

    async def on_disconnect(self, code: int) -> None:
        """Hook for subclasses; groups are already left."""

    def log_identity(self) -> str:
        user = self.scope.get("user")
        return str(getattr(user, "pk", None) or "anonymous")

    # -- sending ----------------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))

    async def send_error(self, code: str, detail: Any) -> None:
        await self.send_frame(error_frame(code, detail))

    # -- receiving --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self._last_heard = time.monotonic()
        if self._closing:
            return
        if text_data is None:
            size = len(bytes_data or b"")
            if size > app_settings.MAX_FRAME_BYTES:
                await self._too_large(size)
                return
            await self.send_error(ErrorCode.BINARY_UNSUPPORTED, "Frames must be JSON text.")
            return
        size = len(text_data.encode("utf-8", "surrogatepass"))
        if size > app_settings.MAX_FRAME_BYTES:
            await self._too_large(size)
            return
        try:
            payload = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.send_error(ErrorCode.BAD_JSON, "Frame is not valid JSON.")
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            await self.send_error(ErrorCode.BAD_FRAME, 'A frame is a JSON object with a string "type".')
            return
        frame_type: str = payload["type"]
        validator = self.frame_validators.get(frame_type)
        if validator is None:
            await self.send_error(
                ErrorCode.UNKNOWN_TYPE, f"Unknown frame type. Known: {sorted(self.frame_validators)}."
            )
            return
        serializer = validator(data=payload)
        if not serializer.is_valid():
            await self.send_error(ErrorCode.INVALID, _plain_errors(serializer.errors))
            return
        handler: Handler = getattr(self, "handle_" + frame_type.replace(".", "_"))
        await handler(dict(serializer.validated_data))

    async def _too_large(self, size: int) -> None:
        limit = app_settings.MAX_FRAME_BYTES
        await self.send_error(ErrorCode.TOO_LARGE, f"Frame of {size} bytes is over the {limit}-byte limit.")
        await self.close_with(CloseCode.TOO_LARGE)

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})


def _plain_errors(errors: Any) -> Any:
    """DRF ErrorDetail → plain strings, keyed by field."""
    if isinstance(errors, dict):
        return {key: _plain_errors(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_plain_errors(value) for value in errors]
    return str(errors)


__all__ = ["CloseCode", "ErrorCode", "JsonSocketConsumer", "encode", "error_frame", "serializers"]
