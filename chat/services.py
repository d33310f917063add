"""Writes of the chat module: create and move help requests through their states, post and read
messages, and announce what is not persisted (typing, presence).

Only this module sends chat events to groups. Everything persisted is sent after the
transaction commits (``group_send_on_commit``); typing and presence are never persisted, so the two
``a*_announce`` functions send at once, through the explicitly unsafe sender.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from charity.roles import Role, is_helper, roles_for
from chat import events, presence, selectors, visitors
from chat.app_settings import app_settings
from chat.models import (
    MAX_BODY_CHARS,
    MAX_CLIENT_ID_CHARS,
    MAX_CONTACT_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    AuthorKind,
    Category,
    HelpRequest,
    Message,
    Note,
    ReadCursor,
    Status,
)
from chat.participants import Participant, display_name, system_author, user_key
from notifications import api as notifications
from realtime import activity, groups, limits
from realtime.publish import agroup_send_now_unsafe, group_send_on_commit
from realtime.revocation import REVOKE, access_revoke


class ChatErrorCode:
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    READ_ONLY = "read_only"
    RATE_LIMITED = "rate_limited"


class ChatError(ValueError):
    """A chat rule refused the operation; ``code`` is the socket error code, ``detail`` the reason,
    ``retry_after`` the seconds to wait for a rate limit."""

    def __init__(self, detail: Any, *, code: str = ChatErrorCode.INVALID, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.retry_after = retry_after


# -- validation ------------------------------------------------------------------------------------


def _text(value: Any, *, field: str, max_chars: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ChatError({field: ["Must be a string."]})
    value = value.strip()
    if required and not value:
        raise ChatError({field: ["This field may not be blank."]})
    if len(value) > max_chars:
        raise ChatError({field: [f"At most {max_chars} characters."]})
    if "\x00" in value:
        raise ChatError({field: ["Null characters are not allowed."]})
    return value


def _require_helper(user: Any) -> None:
    roles = roles_for(user)
    if not is_helper(roles):
        raise ChatError("Only volunteers and staff can take help requests.", code=ChatErrorCode.FORBIDDEN)


# -- help requests ---------------------------------------------------------------------------------


def help_request_create(
    *, name: str, description: str, contact: str = "", category: str = Category.GENERAL
) -> HelpRequest:
    """Put a new request at the end of the queue; volunteers' and staff's queues show it live.

    It has no visitor secret yet: the caller makes one with ``help_request_token_rotate``."""
    if category not in Category.values:
        raise ChatError({"category": [f"Must be one of {Category.values}."]})
    with transaction.atomic():
        help_request = HelpRequest.objects.create(
            name=_text(name, field="name", max_chars=MAX_NAME_CHARS),
            description=_text(description, field="description", max_chars=MAX_DESCRIPTION_CHARS),
            contact=_text(contact, field="contact", max_chars=MAX_CONTACT_CHARS, required=False),
            category=category,
        )
        position = selectors.queue_position(help_request=help_request)
        group_send_on_commit(
            [groups.help_request_queue_group()],
            events.queue_event(help_request, queue_position=position, waiting=selectors.waiting_count()),
        )
        activity.activity_report(
            kind="help_request.created", text=f"Help request from {help_request.name} ({category})"
        )
    return help_request


def _revoke_visitor_connections(help_request: HelpRequest) -> None:
    """The visitor's secret changed: every open connection of the room re-checks its proof."""
    group_send_on_commit([groups.help_request_group(help_request.public_id)], {"type": REVOKE, "session": None})


def help_request_token_rotate(*, help_request: HelpRequest) -> str:
    """A new visitor secret; returns it, the only time it exists in plain. Links, sessions, tickets
    and connections that relied on the previous one stop working (``chat.visitors``)."""
    secret = visitors.new_secret()
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if visitors.access_ended(locked) or (locked.status == Status.CLOSED and not locked.visitor_token_hash):
            raise ChatError("This request's private link has ended.", code=ChatErrorCode.CONFLICT)
        locked.visitor_token_hash = visitors.secret_hash(secret)
        locked.save(update_fields=["visitor_token_hash", "updated_at"])
        _revoke_visitor_connections(locked)
    help_request.visitor_token_hash = locked.visitor_token_hash
    return secret


def _lock(help_request_id: int) -> HelpRequest:
    """The request, row-locked until commit: state changes and messages of one request are serialised."""
    return HelpRequest.objects.select_for_update(of=("self",)).select_related("assigned_to").get(pk=help_request_id)


def _announce_change(help_request: HelpRequest, *, left_queue: bool) -> None:
    position = selectors.queue_position(help_request=help_request)
    group_send_on_commit(
        [groups.help_request_group(help_request.public_id)], events.status_event(help_request, queue_position=position)
    )
    # The queue sockets get this one request's change (never the whole queue), and the new count.
    waiting = selectors.waiting_count()
    queue = [groups.help_request_queue_group()]
    group_send_on_commit(queue, events.queue_event(help_request, queue_position=position, waiting=waiting))
    if left_queue:
        # Everyone who was behind it moved up one place; one query for all their positions.
        behind = _announce_positions_behind(help_request)
        # Queue clients hold the first page of waiting requests: when this one left it, the request
        # that moved onto the page's last place joins them.
        page_size = app_settings.QUEUE_PAGE_SIZE
        was_on_first_page = waiting - len(behind) < page_size
        moved_up = selectors.waiting_at(position=page_size) if was_on_first_page and waiting >= page_size else None
        if moved_up is not None:
            group_send_on_commit(queue, events.queue_event(moved_up, queue_position=page_size, waiting=waiting))


def _announce_positions_behind(help_request: HelpRequest) -> list[tuple[Any, int]]:
    """Tell every waiting request behind this one its place now (it left or re-entered the queue)."""
    behind = selectors.waiting_positions(after_id=help_request.pk)
    for public_id, waiting_position in behind:
        group_send_on_commit(
            [groups.help_request_group(public_id)], events.position_event(queue_position=waiting_position)
        )
    return behind


def _system_message(help_request: HelpRequest, body: str) -> Message:
    author = system_author()
    message = Message.objects.create(
        help_request=help_request, author_kind=author["kind"], author_name=author["name"], body=body
    )
    group_send_on_commit([groups.help_request_group(help_request.public_id)], events.message_event(message))
    return message


def _take(help_request: HelpRequest, *, assignee: Any, notice: tuple[str, str] | None = None) -> None:
    """Give the request to ``assignee``; ``notice`` is the ``(title, body)`` of their notification
    (by default: the request is theirs, with its description)."""
    left_queue = help_request.status == Status.WAITING
    previous_id = help_request.assigned_to_id
    help_request.status = Status.ASSIGNED
    help_request.assigned_to = assignee
    help_request.assigned_at = timezone.now()
    help_request.assignee_notified_at = None
    help_request.save(update_fields=["status", "assigned_to", "assigned_at", "assignee_notified_at", "updated_at"])
    _system_message(help_request, f"{display_name(assignee)} is now helping with this request.")
    title, body = notice or (f"Help request from {help_request.name} is yours", help_request.description[:200])
    notifications.notify_user(
        assignee,
        kind="help_request.assigned",
        title=title,
        body=body,
        data={"public_id": str(help_request.public_id), "url": help_request.get_absolute_url()},
    )
    _announce_change(help_request, left_queue=left_queue)
    activity.activity_report(
        kind="help_request.claimed", text=f"{display_name(assignee)} is helping {help_request.name}"
    )
    if previous_id is not None and previous_id != assignee.pk:
        # The previous assignee's sockets re-check their access, in every process.
        access_revoke(user_id=previous_id)


def help_request_claim(*, help_request: HelpRequest, user: Any) -> HelpRequest:
    """A volunteer or staff member takes a waiting request."""
    _require_helper(user)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.status != Status.WAITING:
            raise ChatError("This request is no longer waiting.", code=ChatErrorCode.CONFLICT)
        _take(locked, assignee=user)
    return locked


def help_request_assign(*, help_request: HelpRequest, assignee: Any, by: Any) -> HelpRequest:
    """Staff give a waiting or assigned request to a volunteer or staff member (reassigning it)."""
    if Role.STAFF not in roles_for(by):
        raise ChatError("Only staff can assign help requests.", code=ChatErrorCode.FORBIDDEN)
    _require_helper(assignee)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.status not in (Status.WAITING, Status.ASSIGNED):
            raise ChatError("A resolved or closed request cannot be assigned.", code=ChatErrorCode.CONFLICT)
        if locked.assigned_to_id != assignee.pk:
            _take(locked, assignee=assignee)
    return locked


def _may_manage(help_request: HelpRequest, by: Participant) -> bool:
    return by.kind == AuthorKind.STAFF or (by.user_id is not None and by.user_id == help_request.assigned_to_id)


def help_request_resolve(*, help_request: HelpRequest, by: Participant) -> HelpRequest:
    """The helper (or staff) marks a request resolved; its room becomes read-only."""
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if not _may_manage(locked, by):
            raise ChatError("Only the assignee or staff can resolve this request.", code=ChatErrorCode.FORBIDDEN)
        if locked.status not in (Status.WAITING, Status.ASSIGNED):
            raise ChatError("This request is already resolved or closed.", code=ChatErrorCode.CONFLICT)
        left_queue = locked.status == Status.WAITING
        _system_message(locked, f"{by.name} marked this request resolved.")
        locked.status = Status.RESOLVED
        locked.resolved_at = timezone.now()
        locked.save(update_fields=["status", "resolved_at", "updated_at"])
        _announce_change(locked, left_queue=left_queue)
        activity.activity_report(kind="help_request.resolved", text=f"{by.name} resolved {locked.name}'s request")
    return locked


def help_request_close(*, help_request: HelpRequest, by: Participant) -> HelpRequest:
    """The visitor, the helper or staff close a request; its room becomes read-only."""
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if by.kind != AuthorKind.VISITOR and not _may_manage(locked, by):
            raise ChatError(
                "Only the visitor, the assignee or staff can close this request.", code=ChatErrorCode.FORBIDDEN
            )
        if locked.status == Status.CLOSED:
            raise ChatError("This request is already closed.", code=ChatErrorCode.CONFLICT)
        left_queue = locked.status == Status.WAITING
        _system_message(locked, f"{by.name} closed this request.")
        locked.status = Status.CLOSED
        locked.resolved_at = locked.resolved_at or timezone.now()
        fields = ["status", "resolved_at", "updated_at"]
        if by.kind == AuthorKind.VISITOR:
            # "I no longer need help": the visitor's link, sessions and connections end now.
            locked.visitor_token_hash = ""
            fields.append("visitor_token_hash")
            _revoke_visitor_connections(locked)
        locked.save(update_fields=fields)
        _announce_change(locked, left_queue=left_queue)
    return locked


# -- supervision and handoff -------------------------------------------------------------------------

SUPERVISOR_JOINED = "A supervisor joined the conversation."
BACK_IN_QUEUE = "You are back in the queue; someone will be with you soon."


def _note_create(help_request: HelpRequest, *, by: Participant, body: str) -> Note:
    """Persist an internal note and send it, after commit, to the room's helpers-only group."""
    note = Note.objects.create(
        help_request=help_request, author_kind=by.kind, author_name=by.name, author_user_id=by.user_id, body=body
    )
    group_send_on_commit([groups.help_request_helpers_group(help_request.public_id)], events.note_event(note))
    return note


def note_post(*, help_request_id: int, participant: Participant, body: str) -> Note:
    """An internal note (a supervisor's whisper, a helper's remark): the assignee and staff only.

    Allowed in a resolved or closed room too (a debrief note); counted in the room's message rate.
    """
    body = _text(body, field="body", max_chars=MAX_BODY_CHARS)
    with transaction.atomic():
        help_request = _lock(help_request_id)
        if not _may_manage(help_request, participant):
            raise ChatError("Only the assigned helper and staff can write notes.", code=ChatErrorCode.FORBIDDEN)
        _room_rate_check(help_request)
        return _note_create(help_request, by=participant, body=body)


def help_request_support(*, help_request_id: int, by: Participant) -> Note:
    """The helper presses "ask for support": staff get a critical notification with a link to watch
    the room, and the room's notes record it. At most ``CHAT_SUPPORT_REQUESTS_PER_HOUR`` a room."""
    with transaction.atomic():
        locked = _lock(help_request_id)
        if not _may_manage(locked, by):
            raise ChatError("Only the assigned helper and staff can ask for support.", code=ChatErrorCode.FORBIDDEN)
        if locked.is_read_only:
            raise ChatError(f"This request is {locked.status}.", code=ChatErrorCode.READ_ONLY)
        keys = [(f"support:{locked.public_id.hex}", app_settings.SUPPORT_REQUESTS_PER_HOUR)]
        if not limits.within_limits(keys, window=3600, kind="support"):
            raise ChatError(
                "Support was asked for several times already; staff have been told.",
                code=ChatErrorCode.RATE_LIMITED,
                retry_after=limits.seconds_left(3600),
            )
        note = _note_create(locked, by=by, body=f"{by.name} asked for support.")
        notifications.notify_role(
            Role.STAFF,
            kind="help_request.support",
            title=f"{by.name} asks for support",
            body=f"In the conversation with {locked.name}. Open it to watch.",
            data={"public_id": str(locked.public_id), "url": locked.get_watch_url()},
            priority=notifications.CRITICAL,
        )
        activity.activity_report(kind="help_request.support", text=f"{by.name} asked for support")
    return note


def supervisor_join(*, help_request: HelpRequest, by: Participant) -> Message:
    """A staff member joins the conversation visibly: the visitor sees a system message (and, once
    the staff member's room connection is no longer a watcher, their presence)."""
    if by.kind != AuthorKind.STAFF:
        raise ChatError("Only staff can join a conversation as a supervisor.", code=ChatErrorCode.FORBIDDEN)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.is_read_only:
            raise ChatError(f"This request is {locked.status}.", code=ChatErrorCode.READ_ONLY)
        return _system_message(locked, SUPERVISOR_JOINED)


def help_request_transfer(*, help_request: HelpRequest, by: Participant, to: Any | None, note: str) -> HelpRequest:
    """The assignee (or staff) hands an assigned request to a colleague (``to``), or back to the
    queue (``to=None``), with a note for whoever takes it next.

    The note is an internal note; the new helper is notified and reads the whole history and every
    note in the room; the visitor sees who helps now (or that they are back in the queue); the
    previous assignee's connections re-check their access (a volunteer loses the room).
    """
    note = _text(note, field="note", max_chars=MAX_BODY_CHARS)
    if to is not None and not is_helper(roles_for(to)):
        raise ChatError({"to": ["Requests can only be handed to volunteers and staff."]})
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if not _may_manage(locked, by):
            raise ChatError(
                "Only the assigned helper and staff can hand this request over.", code=ChatErrorCode.FORBIDDEN
            )
        if locked.status != Status.ASSIGNED:
            raise ChatError("Only a request someone is helping with can be handed over.", code=ChatErrorCode.CONFLICT)
        if to is not None and to.pk == locked.assigned_to_id:
            raise ChatError({"to": ["This person is already helping with this request."]})
        previous_id = locked.assigned_to_id
        if to is not None:
            _note_create(locked, by=by, body=f"Handed over to {display_name(to)}: {note}")
            _take(locked, assignee=to, notice=(f"{by.name} handed you the request from {locked.name}", note[:200]))
            return locked
        _note_create(locked, by=by, body=f"Handed back to the queue: {note}")
        locked.status = Status.WAITING
        locked.assigned_to = None
        locked.assigned_at = None
        locked.assignee_notified_at = None
        locked.save(update_fields=["status", "assigned_to", "assigned_at", "assignee_notified_at", "updated_at"])
        _system_message(locked, BACK_IN_QUEUE)
        _announce_change(locked, left_queue=False)
        # Back in its old place (the queue is in creation order): those behind it moved down one.
        _announce_positions_behind(locked)
        activity.activity_report(kind="help_request.transferred", text=f"{by.name} put {locked.name} back in the queue")
        if previous_id is not None:
            access_revoke(user_id=previous_id)
    return locked


# -- messages --------------------------------------------------------------------------------------


def _may_write(help_request: HelpRequest, participant: Participant) -> bool:
    # Re-checked under the row lock: a helper reassigned a moment ago must not slip a message in.
    if participant.kind == AuthorKind.VOLUNTEER:
        return participant.user_id == help_request.assigned_to_id
    return participant.kind in (AuthorKind.VISITOR, AuthorKind.STAFF)


def message_post(*, help_request_id: int, participant: Participant, body: str, client_id: str) -> tuple[Message, bool]:
    """Persist a message and send it to the room; ``(message, created)``.

    Idempotent on ``client_id`` within the request: a re-send returns the original message (even once
    the room is read-only) and creates nothing, so the caller answers the sender alone.
    """
    body = _text(body, field="body", max_chars=MAX_BODY_CHARS)
    client_id = _text(client_id, field="client_id", max_chars=MAX_CLIENT_ID_CHARS)
    with transaction.atomic():
        help_request = _lock(help_request_id)
        existing = _message_by_client_id(help_request, client_id)
        if existing is not None:
            return existing, False
        if not _may_write(help_request, participant):
            raise ChatError("You can no longer write in this room.", code=ChatErrorCode.FORBIDDEN)
        if help_request.is_read_only:
            raise ChatError(
                f"This request is {help_request.status}; its conversation is read-only.",
                code=ChatErrorCode.READ_ONLY,
            )
        _room_rate_check(help_request)
        try:
            # The row lock serialises writers on PostgreSQL; the savepoint covers any backend where
            # it does not, so a concurrent twin becomes a re-fetch rather than an error.
            with transaction.atomic():
                message = Message.objects.create(
                    help_request=help_request,
                    client_id=client_id,
                    author_kind=participant.kind,
                    author_name=participant.name,
                    author_user_id=participant.user_id,
                    body=body,
                )
        except IntegrityError:
            return Message.objects.get(help_request=help_request, client_id=client_id), False
        group_send_on_commit([groups.help_request_group(help_request.public_id)], events.message_event(message))
        if participant.kind == AuthorKind.VISITOR and help_request.assigned_to_id is not None:
            _notify_absent_assignee(help_request, message)
    return message, True


def _room_rate_check(help_request: HelpRequest) -> None:
    """Every sender of one room together: at most ``CHAT_ROOM_MESSAGES_PER_MINUTE`` new messages a
    minute (shared cache, so every process counts together). Re-sends never count."""
    keys = [(f"room:{help_request.public_id.hex}", app_settings.ROOM_MESSAGES_PER_MINUTE)]
    if not limits.within_limits(keys, window=60, kind="room"):
        raise ChatError(
            "This conversation is receiving too many messages; wait a moment and send again.",
            code=ChatErrorCode.RATE_LIMITED,
            retry_after=limits.seconds_left(60),
        )


def _message_by_client_id(help_request: HelpRequest, client_id: str) -> Message | None:
    return Message.objects.filter(help_request=help_request, client_id=client_id).first()


def _notify_absent_assignee(help_request: HelpRequest, message: Message) -> None:
    """Tell the assignee about a visitor's message when none of their sockets is in the room, at most
    once per quiet period (the conditional update decides, atomically, across processes)."""
    assignee_id = help_request.assigned_to_id
    assert assignee_id is not None
    if presence.presence_includes(public_id=help_request.public_id, participant_key=user_key(assignee_id)):
        return
    now = timezone.now()
    quiet_since = now - timedelta(seconds=app_settings.NOTIFY_QUIET_PERIOD)
    claimed = (
        HelpRequest.objects.filter(pk=help_request.pk)
        .filter(Q(assignee_notified_at__isnull=True) | Q(assignee_notified_at__lte=quiet_since))
        .update(assignee_notified_at=now)
    )
    if not claimed:
        return
    notifications.notify_user(
        assignee_id,
        kind="help_request.message",
        title=f"New message from {help_request.name}",
        body=message.body[:200],
        data={"public_id": str(help_request.public_id), "url": help_request.get_absolute_url()},
    )


def read_mark(*, help_request_id: int, participant: Participant, up_to: int) -> bool:
    """Move ``participant``'s read cursor forward to message ``up_to``; True if it moved.

    The others in the room are told after commit. A cursor never moves back.
    """
    if not selectors.message_exists(help_request_id=help_request_id, message_id=up_to):
        raise ChatError({"up_to": ["No such message in this help request."]})
    with transaction.atomic():
        cursor, created = ReadCursor.objects.get_or_create(
            help_request_id=help_request_id,
            participant=participant.key,
            defaults={"up_to": up_to, "author_kind": participant.kind, "author_name": participant.name},
        )
        moved = created or bool(
            ReadCursor.objects.filter(pk=cursor.pk, up_to__lt=up_to).update(
                up_to=up_to, author_name=participant.name, updated_at=timezone.now()
            )
        )
        if moved:
            public_id = HelpRequest.objects.values_list("public_id", flat=True).get(pk=help_request_id)
            group_send_on_commit(
                [groups.help_request_group(public_id)],
                events.read_event(sender=participant.key, author=participant.author(), up_to=up_to),
            )
    return moved


# -- not persisted ---------------------------------------------------------------------------------


async def atyping_announce(*, public_id: Any, participant: Participant) -> None:
    await agroup_send_now_unsafe(
        (groups.help_request_group(public_id),),
        dict(events.typing_event(sender=participant.key, author=participant.author())),
    )


async def apresence_announce(*, public_id: Any, snapshot: presence.PresenceSnapshot) -> None:
    await agroup_send_now_unsafe(
        (groups.help_request_group(public_id),),
        dict(events.presence_event(version=snapshot.version, participants=snapshot.participants)),
    )


__all__ = [
    "ChatError",
    "ChatErrorCode",
    "apresence_announce",
    "atyping_announce",
    "help_request_assign",
    "help_request_claim",
    "help_request_close",
    "help_request_create",
    "help_request_resolve",
    "help_request_support",
    "help_request_token_rotate",
    "help_request_transfer",
    "message_post",
    "note_post",
    "read_mark",
    "supervisor_join",
]
