"""The help-request sockets (wire contract: docs/chat-protocol.md).

* ``/ws/help-requests/<public_id>/``: one room. What the socket shares with the room's SSE stream
  (who may join, the lossless join, presence, forwarding the room's events, losing access) is in
  ``chat.rooms``; this consumer adds admission limits, the heartbeat and the client's frames. The
  join is lossless, as on the notification socket: the room's group first, then the history read;
  ids already sent are dropped, so the overlap never doubles anything.
* ``/ws/help-requests/queue/``: the live queue of volunteers and staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from charity.roles import Role, is_helper, primary_role, roles_for
from chat import events, selectors, services, sweep
from chat.app_settings import app_settings
from chat.models import AccessChannel
from chat.rooms import WATCHING, RoomMember, header_value, parse_after
from chat.validators import FRAME_VALIDATORS, QUEUE_FRAME_VALIDATORS
from realtime import groups
from realtime.protocol import CloseCode
from realtime.revocation import access_state
from realtime.sockets import JsonSocketConsumer

logger = logging.getLogger("chat.consumers")


class HelpRequestConsumer(RoomMember, JsonSocketConsumer):
    """One room over a WebSocket: the shared room logic (``chat.rooms``) plus the client's frames."""

    frame_validators = FRAME_VALIDATORS
    endpoint = "chat"
    audit_channel = AccessChannel.SOCKET
    # Typing has its own throttle (CHAT_TYPING_INTERVAL); it does not spend the frame budget.
    unmetered_types = frozenset({"ping", "typing"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_typing = float("-inf")
        self._presence_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self.accept()
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        # The visitor's secret never rides in the URL: a header (non-browser clients), or a
        # single-use ticket in its stead; a browser page needs neither (its session owns the request).
        token = header_value(self.scope, b"x-help-request-token")
        ticket = params["ticket"][-1] if params.get("ticket") else None
        after, after_error = parse_after(params["after"][-1] if params.get("after") else None)
        mode = params["mode"][-1] if params.get("mode") else None
        refused = await self.room_identify(self.scope["url_route"]["kwargs"]["public_id"], token, ticket, mode=mode)
        if refused is not None:
            await self.close_with(refused)
            return
        if not await self.room_admit():
            return
        await self.room_enter(after=after, after_error=after_error)
        self.start_heartbeat()
        self._presence_task = asyncio.ensure_future(self._presence_loop())
        sweep.ensure_running()

    async def _presence_loop(self) -> None:
        while True:
            await asyncio.sleep(app_settings.PRESENCE_REFRESH_INTERVAL)
            await self.presence_refresh()

    async def on_disconnect(self, code: int) -> None:
        if self._presence_task is not None:
            self._presence_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._presence_task
        await self.presence_exit()

    def log_identity(self) -> str:
        return self.participant.key if self.participant else super().log_identity()

    # -- transport hooks of RoomMember ----------------------------------------------------------

    # -- client frames --------------------------------------------------------------------------

    async def _refuse_watcher(self) -> bool:
        """A watcher writes nothing to the conversation: True (and an error frame) if this is one."""
        if self.watching:
            await self.send_error(services.ChatErrorCode.FORBIDDEN, WATCHING)
        return self.watching

    async def handle_message(self, frame: dict[str, Any]) -> None:
        assert self.participant is not None and self.help_request_id is not None
        if await self._refuse_watcher():
            return
        try:
            message, created = await services.amessage_post(
                help_request_id=self.help_request_id,
                public_id=self.public_id,
                participant=self.participant,
                body=frame["body"],
                client_id=frame["client_id"],
                present=self.present_keys,
            )
        except services.ChatError as exc:
            await self.send_error(exc.code, exc.detail)
            return
        if not created:
            # A re-send: the original goes back to this sender alone, even if this socket had it.
            await self.send_frame(events.message_frame(message))
            self.remember(message.pk)

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        assert self.participant is not None
        if await self._refuse_watcher():
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_typing < app_settings.TYPING_INTERVAL:
            return  # throttled: dropped without an error
        self._last_typing = now
        await services.atyping_announce(public_id=self.public_id, participant=self.participant)

    async def handle_read(self, frame: dict[str, Any]) -> None:
        assert self.participant is not None and self.help_request_id is not None
        if await self._refuse_watcher():
            return
        try:
            await database_sync_to_async(services.read_mark)(
                help_request_id=self.help_request_id, participant=self.participant, up_to=frame["up_to"]
            )
        except services.ChatError as exc:
            await self.send_error(exc.code, exc.detail)

    async def handle_note(self, frame: dict[str, Any]) -> None:
        """An internal note (a watcher's whisper included): the room's helpers and staff get it."""
        assert self.participant is not None and self.help_request_id is not None
        try:
            await database_sync_to_async(services.note_post)(
                help_request_id=self.help_request_id, participant=self.participant, body=frame["body"]
            )
        except services.ChatError as exc:
            await self.send_error(exc.code, exc.detail)

    async def handle_support(self, frame: dict[str, Any]) -> None:
        """ "Ask for support": staff are notified; the room's helpers get the note that says so."""
        assert self.participant is not None and self.help_request_id is not None
        try:
            await database_sync_to_async(services.help_request_support)(
                help_request_id=self.help_request_id, by=self.participant
            )
        except services.ChatError as exc:
            await self.send_error(exc.code, exc.detail)


class HelpRequestQueueConsumer(JsonSocketConsumer):
    """The queue of volunteers and staff, and their own desk: a snapshot of each on connect (``queue``,
    then ``desk``), then one frame per change."""

    frame_validators = QUEUE_FRAME_VALIDATORS
    endpoint = selectors.QUEUE_ENDPOINT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id: int | None = None
        self.is_staff = False
        self._on_duty = False

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return
        roles = await database_sync_to_async(roles_for)(user)
        if not is_helper(roles):
            await self.close_with(CloseCode.FORBIDDEN)
            return
        self.user_id, self.is_staff = int(user.pk), Role.STAFF in roles
        admitted = await self.admit(
            user_id=self.user_id,
            username=user.get_username(),
            role=primary_role(roles),
            rate_key=f"user:{self.user_id}",
        )
        if not admitted:
            return
        # The desk's group first, then its read: a change in between is in the list or follows it.
        await self.join_groups([groups.help_request_queue_group(), groups.help_desk_group(self.user_id)])
        await self.send_frame(await self._read_queue(user))
        await self.send_frame(await self._read_desk())
        self.start_heartbeat()
        sweep.ensure_running()
        # A helper with the queue open is on duty: the waiting rooms learn it (chat.selectors).
        self._on_duty = True
        await self._duty_changed()

    async def on_disconnect(self, code: int) -> None:
        if self._on_duty:
            await self._duty_changed()

    async def _duty_changed(self) -> None:
        try:
            await database_sync_to_async(services.wait_duty_changed)()
        except Exception:  # the figures are read again within CHAT_WAIT_ESTIMATE_CACHE_SECONDS anyway
            logger.warning("waiting rooms not told of a change of duty", exc_info=True)

    async def recheck_access(self) -> None:
        assert self.user_id is not None
        session_key = getattr(self.scope.get("session"), "session_key", None)
        roles = await database_sync_to_async(access_state)(user_id=self.user_id, session_key=session_key)
        if roles is None:
            await self.close_with(CloseCode.UNAUTHENTICATED)
        elif not is_helper(roles):
            await self.close_with(CloseCode.FORBIDDEN)
        else:
            self.is_staff = Role.STAFF in roles

    @database_sync_to_async
    def _read_queue(self, user: Any) -> dict[str, Any]:
        # The first page only: a long queue is not sent whole to every helper on every connect.
        limit = app_settings.QUEUE_PAGE_SIZE
        rows = list(selectors.queue_for(user=user)[:limit])
        positions = selectors.queue_positions(rows, offset=0)
        items = (events.queue_entry(row, queue_position=positions.get(row.pk)) for row in rows)
        capacity = selectors.helper_capacity(user_id=user.pk)
        return events.queue_frame(
            items,
            waiting=selectors.waiting_count(),
            limit=limit,
            capacity=events.capacity_frame(active=capacity.active, limit=capacity.limit),
        )

    async def chat_capacity(self, event: events.FrameEvent) -> None:
        if not self._closing:
            await self.send_frame(event["frame"])

    @database_sync_to_async
    def _read_desk(self) -> dict[str, Any]:
        user = self.scope["user"]
        rooms = selectors.desk_for(user=user)
        items = (
            events.desk_item(room, unread_ids=unread, last_message_at=room.last_message_at)  # type: ignore[attr-defined]
            for room, unread in rooms
        )
        return events.desk_frame(items)

    async def chat_desk(self, event: events.DeskEvent) -> None:
        if not self._closing:
            await self.send_frame(await self._read_desk())

    async def chat_desk_message(self, event: events.DeskEvent) -> None:
        if not self._closing and event["frame"] is not None:
            await self.send_frame(event["frame"])

    chat_desk_read = chat_desk_message

    async def chat_queue(self, event: events.QueueEvent) -> None:
        if self._closing or self.user_id is None:
            return
        visible = selectors.queue_item_visible(
            status=event["status"], assignee_id=event["assignee_id"], user_id=self.user_id, is_staff=self.is_staff
        )
        if visible:
            await self.send_frame(events.queue_item_frame(event["item"], waiting=event["waiting"]))
        else:
            await self.send_frame(events.queue_removed_frame(event["public_id"], waiting=event["waiting"]))
