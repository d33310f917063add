"""What the two transports of a room share: the socket (``consumers.py``) and the SSE stream (``sse.py``).

A ``RoomMember`` is one connection to one help request's room, whatever carries it. It

* finds out who is connecting, with the one rule (``selectors.help_request_participant``): a
  visitor by session, the ``X-Help-Request-Token`` header or a single-use ``?ticket=``
  (``chat.visitors``); never by a token in the URL;
* caps the visitor's open connections to one room (``CHAT_VISITOR_CONNECTIONS``, 4429);
* joins losslessly: the room's group first, then the history (``history`` frame, then a
  ``redacted`` frame for each earlier message whose text was removed while a resuming client was
  away), then presence;
* records a volunteer's or staff member's read in the audit trail (``chat.audit``, channel
  ``audit_channel`` of the transport), at most once per ``CHAT_AUDIT_READ_WINDOW``;
* keeps the person's presence entry and announces changes;
* forwards the room's group events: each message id once, typing and read only from
  someone else, redactions to everyone, presence lists never older than the last one,
  ``wait_estimate`` to the visitor and ``urgent`` to all as they are, and a volunteer's
  reassignment closes the connection (4403);
* gives helpers and staff (never the visitor) the room's internal notes: their connections alone
  join the helpers-only group (``groups.help_request_helpers_group``) and get a ``notes`` frame
  after ``history``;
* lets staff watch (``?mode=watch``): the connection gets everything a helper gets but is absent
  from presence and writes nothing to the conversation (``watching``; the socket refuses its
  ``message``, ``typing`` and ``read`` frames);
* re-checks access when told to (logout, lost role, reassignment; for the visitor, a rotated or
  revoked secret).

The transport provides the hooks listed under ``TYPE_CHECKING`` below: ``send_frame``,
``send_error``, ``send_text`` (an encoded frame; the stream labels it with ``event_id``),
``close_with``, ``is_open`` and ``join_groups``. The mixin comes first in the bases so its
group-event handlers (``access_revoke`` included) win.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from uuid import UUID

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from chat import audit, events, presence, selectors, services, visitors
from chat.app_settings import app_settings
from chat.models import AuthorKind
from chat.participants import VISITOR_KEY, Participant
from realtime import groups
from realtime.cursors import parse_cursor
from realtime.limits import hashed
from realtime.protocol import CloseCode, ErrorCode, encode
from realtime.revocation import access_state

logger = logging.getLogger("chat.rooms")

# How many sent message ids a connection remembers to drop duplicates.
REMEMBERED_IDS = 10_000

# Presence touches only the cache: keep it off the one thread that database work shares.
_presence_join = sync_to_async(presence.presence_join, thread_sensitive=False)
_presence_leave = sync_to_async(presence.presence_leave, thread_sensitive=False)
_presence_refresh = sync_to_async(presence.presence_refresh, thread_sensitive=False)
_presence_connections = sync_to_async(presence.presence_connections, thread_sensitive=False)

TOO_MANY_VISITOR_CONNECTIONS = "Too many open connections to this conversation; close some tabs."
WATCHING = "You are watching this conversation: join it to write."
#: The ``mode`` query parameter of a staff member's read-only, invisible connection.
WATCH_MODE = "watch"


def parse_public_id(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


def header_value(scope: dict[str, Any], name: bytes) -> str | None:
    """The last value of an HTTP header of a socket's or stream's handshake, or None."""
    found = None
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            found = value.decode("latin-1")
    return found or None


def parse_after(raw: str | None) -> tuple[int | None, str | None]:
    """``after`` from a query string or a ``Last-Event-ID`` header: ``(value, error message)``."""
    return parse_cursor(raw, name="after", fallback="sending the latest messages")


def room_authorize(
    *, public_id: UUID, user: Any, session: Any, token: str | None, ticket: str | None = None
) -> tuple[int | None, Participant | None, str]:
    """``(help request id, participant, the visitor secret's hash now)``; ``(None, None, "")`` for an
    unknown request. A ``ticket`` is used up whether or not it was needed."""
    help_request = selectors.help_request_get(public_id=public_id)
    if help_request is None:
        return None, None, ""
    redeemed = visitors.ticket_redeem(help_request, ticket) if ticket else False
    participant = selectors.help_request_participant(
        help_request=help_request, user=user, session=session, token=token, ticket_redeemed=redeemed
    )
    return help_request.pk, participant, help_request.visitor_token_hash


def visitor_grant_current(*, public_id: UUID, grant: str) -> bool:
    """Whether a visitor admitted under ``grant`` may stay in the room."""
    help_request = selectors.help_request_get(public_id=public_id)
    return help_request is not None and visitors.grant_is_current(help_request, grant)


def room_notes(*, help_request_id: int) -> tuple[dict[str, Any], list[int]]:
    """The ``notes`` frame of a helper's (re)joining connection and the ids in it."""
    notes = selectors.notes_for(help_request_id=help_request_id)
    return events.notes_frame(notes), [note.pk for note in notes]


def room_history(*, public_id: UUID, after: int | None) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
    """The ``history`` frame of a (re)joining connection, the ids of the messages in it, and a
    ``redacted`` frame for each message up to ``after`` whose text staff removed (the client resuming
    may have missed that while it was away)."""
    help_request = selectors.help_request_get(public_id=public_id)
    assert help_request is not None
    if after is None:
        messages, has_more = selectors.messages_latest(
            help_request_id=help_request.pk, limit=app_settings.HISTORY_LIMIT
        )
    else:
        messages, has_more = selectors.messages_after(
            help_request_id=help_request.pk, after=after, limit=app_settings.REPLAY_LIMIT
        )
    redacted = (
        []
        if after is None
        else selectors.messages_redacted(help_request_id=help_request.pk, up_to=after, limit=app_settings.REPLAY_LIMIT)
    )
    position = selectors.queue_position(help_request=help_request)
    frame = events.history_frame(
        help_request=help_request,
        queue_position=position,
        messages=messages,
        has_more=has_more,
        cursors=selectors.read_cursors(help_request_id=help_request.pk),
        wait_estimate=None
        if position is None
        else events.wait_estimate_frame(
            selectors.wait_snapshot(), queue_position=position, category=help_request.category
        ),
    )
    return frame, [message.pk for message in messages], [events.redacted_frame(message) for message in redacted]


def _active_user(user_id: int) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


class RoomMember:
    """One connection to one room; see the module docstring for the hooks a transport provides."""

    #: How the transport shows up in the audit trail (``chat.audit``): ``socket`` or ``sse``.
    audit_channel: str

    if TYPE_CHECKING:
        scope: dict[str, Any]
        channel_name: str

        async def send_frame(self, frame: dict[str, Any]) -> None: ...

        async def send_error(self, code: str, detail: Any) -> None: ...

        async def send_text(self, text: str, *, event_id: int | None = None) -> None: ...

        async def close_with(self, code: int) -> None: ...

        def is_open(self) -> bool: ...

        async def join_groups(self, groups: list[str]) -> None: ...

        async def admit(self, *, user_id: int | None, username: str, role: str, rate_key: str) -> bool: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.participant: Participant | None = None
        self.public_id: UUID | None = None
        self.help_request_id: int | None = None
        self.token: str | None = None
        # The visitor secret's hash when this connection was let in: rotating or revoking it ends us.
        self.visitor_grant = ""
        self._sent: OrderedDict[int, None] = OrderedDict()
        # Note ids sent (the join's overlap of group and read); a room has few notes (rate-limited).
        self._notes_sent: set[int] = set()
        # Staff watching (?mode=watch): not in presence, writes nothing to the conversation.
        self.watching = False
        self._presence_version = -1
        self._present = False
        # Who this connection last heard was in the room (participant keys): ``message_post`` is spared
        # the presence read of a visitor's message while the assignee is among them.
        self.present_keys: frozenset[str] = frozenset()

    # -- joining ----------------------------------------------------------------------------------

    async def room_admit(self) -> bool:
        """The connection limits (``realtime.admission``) for who ``room_identify()`` found: keyed by
        the user, or for a visitor by the request, which every device of theirs shares (visitor names
        stay out of logs), plus the visitor's cap of open connections to the room.
        False: refused, and the connection is being closed."""
        participant, public_id = self.participant, self.public_id
        assert participant is not None and public_id is not None
        if participant.user_id is not None:
            rate_key = f"user:{participant.user_id}"
            username = str(self.scope["user"].get_username())
        else:
            rate_key = f"visitor:{public_id.hex}"
            username = ""
            # Counted from the room's presence entries (every process, both transports). Checked
            # before joining, so a burst of simultaneous connects can pass it by a few; the
            # connection rate per request (REALTIME_CONNECTIONS_PER_KEY) bounds such bursts.
            if await _presence_connections(public_id=public_id, participant_key=VISITOR_KEY) >= (
                app_settings.VISITOR_CONNECTIONS
            ):
                logger.warning("visitor connection refused: too many open code=%s", CloseCode.RATE_LIMITED)
                await self.send_error(ErrorCode.RATE_LIMITED, TOO_MANY_VISITOR_CONNECTIONS)
                await self.close_with(CloseCode.RATE_LIMITED)
                return False
        return await self.admit(
            user_id=participant.user_id, username=username, role=participant.kind.value, rate_key=rate_key
        )

    async def room_identify(
        self, raw_public_id: str, token: str | None, ticket: str | None = None, *, mode: str | None = None
    ) -> int | None:
        """Who is connecting to which room. Returns the close code that refuses them, or None.
        ``mode="watch"`` is for staff only (anyone else: 4403)."""
        public_id = parse_public_id(raw_public_id)
        if public_id is None:
            return CloseCode.NOT_FOUND
        help_request_id, participant, grant = await self._authorize(public_id, token, ticket=ticket)
        if help_request_id is None:
            return CloseCode.NOT_FOUND
        if participant is None:
            return CloseCode.FORBIDDEN
        if mode == WATCH_MODE:
            if participant.kind != AuthorKind.STAFF:
                return CloseCode.FORBIDDEN
            self.watching = True
        self.public_id, self.help_request_id, self.participant, self.token = (
            public_id,
            help_request_id,
            participant,
            token,
        )
        self.visitor_grant = grant
        return None

    async def _authorize(
        self, public_id: UUID, token: str | None, user: Any = None, ticket: str | None = None
    ) -> tuple[int | None, Participant | None, str]:
        return await database_sync_to_async(room_authorize)(
            public_id=public_id,
            user=self.scope.get("user") if user is None else user,
            session=self.scope.get("session"),
            token=token,
            ticket=ticket,
        )

    async def room_enter(self, *, after: int | None, after_error: str | None) -> None:
        """Join the room's group, send ``history`` (after an ``invalid`` error for a bad ``after``),
        then register presence. The group comes first, so nothing committed meanwhile is lost."""
        assert self.public_id is not None and self.participant is not None and self.help_request_id is not None
        room_groups = [groups.help_request_group(self.public_id)]
        if self.participant.is_helper:
            room_groups.append(groups.help_request_helpers_group(self.public_id))
        await self.join_groups(room_groups)
        if self.participant.user_id is None:
            # A new link or the visitor's close published before the join would have missed us.
            await self.recheck_access()
            if not self.is_open():
                return
        if after_error:
            await self.send_error(ErrorCode.INVALID, {"after": [after_error]})
        if self.participant.user_id is not None:
            # A volunteer or staff member is about to read the conversation: the audit trail's entry
            # (once per window: reconnects add nothing). The visitor is never recorded.
            await database_sync_to_async(audit.access_read)(
                help_request_id=self.help_request_id,
                participant=self.participant,
                user=self.scope["user"],
                channel=self.audit_channel,
            )
        history, message_ids, redactions = await self.read_history(after)
        # Labelled with its last message id: a stream that reconnects resumes after it.
        await self.send_text(encode(history), event_id=message_ids[-1] if message_ids else None)
        for message_id in message_ids:
            self.remember(message_id)
        for redacted in redactions:
            await self.send_frame(redacted)
        if self.participant.is_helper:
            await self.send_notes()
        if self.watching:
            await self.presence_watch()
        else:
            await self.presence_enter()

    async def send_notes(self) -> None:
        assert self.help_request_id is not None
        frame, note_ids = await database_sync_to_async(room_notes)(help_request_id=self.help_request_id)
        self._notes_sent.update(note_ids)
        await self.send_frame(frame)

    async def read_history(self, after: int | None) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
        assert self.public_id is not None
        return await database_sync_to_async(room_history)(public_id=self.public_id, after=after)

    def remember(self, message_id: int) -> None:
        self._sent[message_id] = None
        if len(self._sent) > REMEMBERED_IDS:
            self._sent.popitem(last=False)

    # -- presence ---------------------------------------------------------------------------------

    async def presence_enter(self) -> None:
        assert self.public_id is not None and self.participant is not None
        snapshot, changed = await _presence_join(
            public_id=self.public_id, channel_name=self.channel_name, participant=self.participant
        )
        self._present = True
        if changed:
            await services.apresence_announce(public_id=self.public_id, snapshot=snapshot)
        else:
            # Another tab of this person was here already: nothing changed for the others.
            self._presence_version = snapshot.version
            self.present_keys = frozenset(p["key"] for p in snapshot.participants)
            await self.send_frame(events.presence_frame(snapshot.participants))

    async def presence_watch(self) -> None:
        """A watcher sees who is here, without an entry of its own (nobody is told it came)."""
        assert self.public_id is not None
        snapshot = await sync_to_async(presence.presence_snapshot, thread_sensitive=False)(public_id=self.public_id)
        self._presence_version = snapshot.version
        self.present_keys = frozenset(p["key"] for p in snapshot.participants)
        await self.send_frame(events.presence_frame(snapshot.participants))

    async def presence_refresh(self) -> None:
        """Renew this connection's entry; never raises (the cache may be down for a moment)."""
        if not self._present or self.public_id is None or self.participant is None:
            return
        try:
            snapshot, changed = await _presence_refresh(
                public_id=self.public_id, channel_name=self.channel_name, participant=self.participant
            )
            if changed:  # a dead process's connections dropped out (or the cache lost the room)
                await services.apresence_announce(public_id=self.public_id, snapshot=snapshot)
        except Exception:
            logger.warning("presence refresh failed", exc_info=True)

    async def presence_exit(self) -> None:
        if not self._present or self.public_id is None:
            return
        self._present = False
        try:
            snapshot, changed = await _presence_leave(public_id=self.public_id, channel_name=self.channel_name)
            if changed:
                await services.apresence_announce(public_id=self.public_id, snapshot=snapshot)
        except Exception:  # the entry expires on its own
            logger.warning("presence leave failed", exc_info=True)

    # -- access -----------------------------------------------------------------------------------

    async def access_revoke(self, event: dict[str, Any]) -> None:
        if not self.is_open():
            return
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if event.get("session") and session_key and event["session"] == hashed(session_key):
            await self.close_with(CloseCode.UNAUTHENTICATED)  # this very session logged out
            return
        await self.recheck_access()

    async def recheck_access(self) -> None:
        """The account, its roles or the assignment changed: stay only if the rule still lets us in."""
        if self.participant is None or self.public_id is None:
            return
        if self.participant.user_id is None:
            # A visitor has no account to lose, but their secret may have been rotated or revoked.
            allowed = await database_sync_to_async(visitor_grant_current)(
                public_id=self.public_id, grant=self.visitor_grant
            )
            if not allowed:
                await self.close_with(CloseCode.FORBIDDEN)
            return
        session_key = getattr(self.scope.get("session"), "session_key", None)
        roles = await database_sync_to_async(access_state)(user_id=self.participant.user_id, session_key=session_key)
        if roles is None:
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return
        user = await database_sync_to_async(_active_user)(self.participant.user_id)
        _, participant, _ = await self._authorize(self.public_id, self.token, user)
        if participant is None or participant.key != self.participant.key:
            await self.close_with(CloseCode.FORBIDDEN)
            return
        self.participant = participant

    # -- group events (realtime.fanout) ---------------------------------------------------------------------

    async def chat_message(self, event: events.MessageEvent) -> None:
        if not self.is_open() or event["id"] in self._sent:
            return
        await self.send_text(event["frame"], event_id=event["id"])
        self.remember(event["id"])

    async def chat_redacted(self, event: events.RedactedEvent) -> None:
        if self.is_open():
            await self.send_frame(event["frame"])

    async def chat_status(self, event: events.StatusEvent) -> None:
        if not self.is_open() or self.participant is None:
            return
        await self.send_frame(event["frame"])
        if self.participant.kind == AuthorKind.VOLUNTEER and event["assignee_id"] != self.participant.user_id:
            # Reassigned: a volunteer may only be in the rooms of their own requests.
            await self.close_with(CloseCode.FORBIDDEN)

    async def chat_erased(self, event: events.ErasedEvent) -> None:
        # The visitor's connections close on the revocation that follows this event (4403).
        if self.is_open():
            await self.send_frame(event["frame"])

    async def chat_wait(self, event: events.FrameEvent) -> None:
        # The waiting room is the visitor's; helpers in the room see the queue instead.
        if self.is_open() and self.participant is not None and self.participant.kind == AuthorKind.VISITOR:
            await self.send_frame(event["frame"])

    async def chat_urgent(self, event: events.FrameEvent) -> None:
        if self.is_open():
            await self.send_frame(event["frame"])

    async def chat_nudge(self, event: events.NudgeEvent) -> None:
        # For the assignee alone: never the visitor, nor a colleague watching.
        if self.is_open() and self.participant is not None and self.participant.user_id == event["assignee_id"]:
            await self.send_frame(event["frame"])

    async def chat_typing(self, event: events.SenderEvent) -> None:
        await self._send_to_others(event)

    async def chat_read(self, event: events.SenderEvent) -> None:
        await self._send_to_others(event)

    async def _send_to_others(self, event: events.SenderEvent) -> None:
        if self.is_open() and self.participant is not None and event["sender"] != self.participant.key:
            await self.send_frame(event["frame"])

    async def chat_note(self, event: events.NoteEvent) -> None:
        # Only helpers' connections join the helpers-only group; the check guards that rule too.
        if not self.is_open() or self.participant is None or not self.participant.is_helper:
            return
        if event["id"] in self._notes_sent:
            return
        self._notes_sent.add(event["id"])
        await self.send_frame(event["frame"])

    async def chat_presence(self, event: events.PresenceEvent) -> None:
        if not self.is_open() or event["version"] <= self._presence_version:
            return  # an older list overtaken in flight, or the one this connection already has
        self._presence_version = event["version"]
        self.present_keys = frozenset(event.get("keys", ()))
        await self.send_frame(event["frame"])
