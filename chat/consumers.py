"""The help-request sockets (wire contract: docs/chat-protocol.md).

* ``/ws/help-requests/<public_id>/``: one room. The connect sequence makes history lossless, as on
  the notification socket: join the room's group first, then read the history, then send it. A
  message committed before the read is in the history; one committed after the join arrives live;
  ids already sent are dropped, so the overlap never doubles anything.
* ``/ws/help-requests/queue/``: the live queue of volunteers and staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from charity import groups
from charity.limits import hashed
from charity.revocation import access_state
from charity.roles import Role, primary_role, roles_for
from charity.sockets import CloseCode, ErrorCode, JsonSocketConsumer
from chat import events, presence, selectors, services, visitors
from chat.app_settings import app_settings
from chat.frames import FRAME_VALIDATORS, QUEUE_FRAME_VALIDATORS
from chat.models import AuthorKind
from chat.participants import Participant

logger = logging.getLogger("chat.consumers")

# How many sent message ids a socket remembers to drop duplicates.
_REMEMBERED_IDS = 10_000

# Presence touches only the cache: keep it off the one thread that database work shares.
_presence_join = sync_to_async(presence.presence_join, thread_sensitive=False)
_presence_leave = sync_to_async(presence.presence_leave, thread_sensitive=False)
_presence_refresh = sync_to_async(presence.presence_refresh, thread_sensitive=False)


class HelpRequestConsumer(JsonSocketConsumer):
    frame_validators = FRAME_VALIDATORS
    endpoint = "chat"
    # Typing has its own throttle (CHAT_TYPING_INTERVAL); it does not spend the frame budget.
    unmetered_types = frozenset({"ping", "typing"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.participant: Participant | None = None
        self.public_id: UUID | None = None
        self.help_request_id: int | None = None
        self._sent: OrderedDict[int, None] = OrderedDict()
        self._last_typing = float("-inf")
        self._presence_version = -1
        self._present = False
        self._presence_task: asyncio.Task[None] | None = None
        self._token: str | None = None

    async def connect(self) -> None:
        await self.accept()
        public_id = _parse_public_id(self.scope["url_route"]["kwargs"]["public_id"])
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = params["token"][-1] if params.get("token") else None
        after, after_error = _parse_after(params)
        help_request_id, participant = (None, None) if public_id is None else await self._authorize(public_id, token)
        if public_id is None or help_request_id is None:
            await self.close_with(CloseCode.NOT_FOUND)
            return
        if participant is None:
            await self.close_with(CloseCode.FORBIDDEN)
            return
        self.public_id, self.help_request_id, self.participant = public_id, help_request_id, participant
        self._token = token
        if not await self._admit(participant, public_id):
            return
        await self.join_groups([groups.help_request_group(public_id)])
        if after_error:
            await self.send_error(ErrorCode.INVALID, {"after": [after_error]})
        history, message_ids = await self._read_history(after)
        await self.send_frame(history)
        for message_id in message_ids:
            _remember(self._sent, message_id)
        snapshot, changed = await _presence_join(
            public_id=public_id, channel_name=self.channel_name, participant=participant
        )
        self._present = True
        if changed:
            await services.apresence_announce(public_id=public_id, snapshot=snapshot)
        else:
            # Another tab of this person was here already: nothing changed for the others.
            self._presence_version = snapshot.version
            await self.send_frame(events.presence_frame(snapshot.participants))
        self.start_heartbeat()
        self._presence_task = asyncio.ensure_future(self._presence_loop())

    @database_sync_to_async
    def _authorize(self, public_id: UUID, token: str | None, user: Any = None) -> tuple[int | None, Participant | None]:
        help_request = selectors.help_request_get(public_id=public_id)
        if help_request is None:
            return None, None
        participant = selectors.help_request_participant(
            help_request=help_request,
            user=self.scope.get("user") if user is None else user,
            session=self.scope.get("session"),
            token=token,
        )
        return help_request.pk, participant

    async def _admit(self, participant: Participant, public_id: UUID) -> bool:
        if participant.user_id is not None:
            rate_key = f"user:{participant.user_id}"
            username = str(self.scope["user"].get_username())
        else:
            # Every device of one visitor shares a rate key; visitor names stay out of logs.
            rate_key = f"visitor:{hashed(visitors.help_request_token(public_id))}"
            username = ""
        return await self.admit(
            user_id=participant.user_id, username=username, role=participant.kind.value, rate_key=rate_key
        )

    async def access_revoke(self, event: dict[str, Any]) -> None:
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if event.get("session") and session_key and event["session"] == hashed(session_key):
            await self.close_with(CloseCode.UNAUTHENTICATED)  # this very session logged out
            return
        await super().access_revoke(event)

    async def recheck_access(self) -> None:
        """The account, its roles or the assignment changed: stay only if the rule still lets us in."""
        if self.participant is None or self.participant.user_id is None or self.public_id is None:
            return  # visitors have no account to lose
        session_key = getattr(self.scope.get("session"), "session_key", None)
        roles = await database_sync_to_async(access_state)(user_id=self.participant.user_id, session_key=session_key)
        if roles is None:
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return
        user = await database_sync_to_async(_active_user)(self.participant.user_id)
        _, participant = await self._authorize(self.public_id, self._token, user)
        if participant is None or participant.key != self.participant.key:
            await self.close_with(CloseCode.FORBIDDEN)
            return
        self.participant = participant

    @database_sync_to_async
    def _read_history(self, after: int | None) -> tuple[dict[str, Any], list[int]]:
        assert self.public_id is not None and self.help_request_id is not None
        help_request = selectors.help_request_get(public_id=self.public_id)
        assert help_request is not None
        if after is None:
            messages, has_more = selectors.messages_latest(
                help_request_id=help_request.pk, limit=app_settings.HISTORY_LIMIT
            )
        else:
            messages, has_more = selectors.messages_after(
                help_request_id=help_request.pk, after=after, limit=app_settings.REPLAY_LIMIT
            )
        frame = events.history_frame(
            help_request=help_request,
            queue_position=selectors.queue_position(help_request=help_request),
            messages=messages,
            has_more=has_more,
            cursors=selectors.read_cursors(help_request_id=help_request.pk),
        )
        return frame, [message.pk for message in messages]

    async def _presence_loop(self) -> None:
        assert self.public_id is not None and self.participant is not None
        while True:
            await asyncio.sleep(app_settings.PRESENCE_REFRESH_INTERVAL)
            try:
                snapshot, changed = await _presence_refresh(
                    public_id=self.public_id, channel_name=self.channel_name, participant=self.participant
                )
                if changed:  # a dead process's sockets dropped out (or the cache lost the room)
                    await services.apresence_announce(public_id=self.public_id, snapshot=snapshot)
            except Exception:  # the cache is down; try again next time, never kill the socket
                logger.warning("presence refresh failed", exc_info=True)

    async def on_disconnect(self, code: int) -> None:
        if self._presence_task is not None:
            self._presence_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._presence_task
        if self._present and self.public_id is not None:
            self._present = False
            try:
                snapshot, changed = await _presence_leave(public_id=self.public_id, channel_name=self.channel_name)
                if changed:
                    await services.apresence_announce(public_id=self.public_id, snapshot=snapshot)
            except Exception:  # the entry expires on its own
                logger.warning("presence leave failed", exc_info=True)

    def log_identity(self) -> str:
        return self.participant.key if self.participant else super().log_identity()

    # -- client frames --------------------------------------------------------------------------

    async def handle_message(self, frame: dict[str, Any]) -> None:
        assert self.participant is not None and self.help_request_id is not None
        try:
            message, created = await database_sync_to_async(services.message_post)(
                help_request_id=self.help_request_id,
                participant=self.participant,
                body=frame["body"],
                client_id=frame["client_id"],
            )
        except services.ChatError as exc:
            await self.send_error(exc.code, exc.detail)
            return
        if not created:
            # A re-send: the original goes back to this sender alone, even if this socket had it.
            await self.send_frame(events.message_frame(message))
            _remember(self._sent, message.pk)

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        assert self.participant is not None
        now = asyncio.get_running_loop().time()
        if now - self._last_typing < app_settings.TYPING_INTERVAL:
            return  # throttled: dropped without an error
        self._last_typing = now
        await services.atyping_announce(public_id=self.public_id, participant=self.participant)

    async def handle_read(self, frame: dict[str, Any]) -> None:
        assert self.participant is not None and self.help_request_id is not None
        try:
            await database_sync_to_async(services.read_mark)(
                help_request_id=self.help_request_id, participant=self.participant, up_to=frame["up_to"]
            )
        except services.ChatError as exc:
            await self.send_error(exc.code, exc.detail)

    # -- channel-layer events -------------------------------------------------------------------

    async def chat_message(self, event: events.MessageEvent) -> None:
        if self._closing or event["id"] in self._sent:
            return
        await self.send(text_data=event["frame"])
        _remember(self._sent, event["id"])

    async def chat_status(self, event: events.StatusEvent) -> None:
        if self._closing or self.participant is None:
            return
        await self.send_frame(event["frame"])
        if self.participant.kind == AuthorKind.VOLUNTEER and event["assignee_id"] != self.participant.user_id:
            # Reassigned: a volunteer may only be in the rooms of their own requests.
            await self.close_with(CloseCode.FORBIDDEN)

    async def chat_typing(self, event: events.SenderEvent) -> None:
        await self._send_to_others(event)

    async def chat_read(self, event: events.SenderEvent) -> None:
        await self._send_to_others(event)

    async def _send_to_others(self, event: events.SenderEvent) -> None:
        if not self._closing and self.participant is not None and event["sender"] != self.participant.key:
            await self.send_frame(event["frame"])

    async def chat_presence(self, event: events.PresenceEvent) -> None:
        if self._closing or event["version"] <= self._presence_version:
            return  # an older list overtaken in flight, or the one this socket already has
        self._presence_version = event["version"]
        await self.send_frame(event["frame"])


class HelpRequestQueueConsumer(JsonSocketConsumer):
    """The queue of volunteers and staff: a snapshot on connect, then one frame per change."""

    frame_validators = QUEUE_FRAME_VALIDATORS
    endpoint = "chat_queue"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id: int | None = None
        self.is_staff = False

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return
        roles = await database_sync_to_async(roles_for)(user)
        if Role.STAFF not in roles and Role.VOLUNTEER not in roles:
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
        await self.join_groups([groups.help_request_queue_group()])
        await self.send_frame(await self._read_queue(user))
        self.start_heartbeat()

    async def recheck_access(self) -> None:
        assert self.user_id is not None
        session_key = getattr(self.scope.get("session"), "session_key", None)
        roles = await database_sync_to_async(access_state)(user_id=self.user_id, session_key=session_key)
        if roles is None:
            await self.close_with(CloseCode.UNAUTHENTICATED)
        elif Role.STAFF not in roles and Role.VOLUNTEER not in roles:
            await self.close_with(CloseCode.FORBIDDEN)
        else:
            self.is_staff = Role.STAFF in roles

    @database_sync_to_async
    def _read_queue(self, user: Any) -> dict[str, Any]:
        requests = selectors.queue_for(user=user)
        positions = selectors.queue_positions_by_id(requests)
        return events.queue_frame(events.queue_item(row, queue_position=positions.get(row.pk)) for row in requests)

    async def chat_queue(self, event: events.QueueEvent) -> None:
        if self._closing or self.user_id is None:
            return
        visible = selectors.queue_item_visible(
            status=event["status"], assignee_id=event["assignee_id"], user_id=self.user_id, is_staff=self.is_staff
        )
        if visible:
            await self.send_frame(events.queue_item_frame(event["item"]))
        else:
            await self.send_frame(events.queue_removed_frame(event["public_id"]))


def _active_user(user_id: int) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def _parse_public_id(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


def _parse_after(params: dict[str, list[str]]) -> tuple[int | None, str | None]:
    values = params.get("after")
    if not values:
        return None, None
    raw = values[-1]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None, "after must be a non-negative integer message id; sending the latest messages."
    return int(raw), None


def _remember(ids: OrderedDict[int, None], message_id: int) -> None:
    ids[message_id] = None
    if len(ids) > _REMEMBERED_IDS:
        ids.popitem(last=False)
