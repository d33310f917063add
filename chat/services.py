"""Writes of the chat module: create and move help requests through their states, post and read
messages, and announce what is not persisted (typing, presence).

Only this module sends chat events to groups. Everything persisted is sent after the
transaction commits (``group_send_on_commit``); typing and presence are never persisted, so the two
``a*_announce`` functions send at once, through the explicitly unsafe sender.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from charity.roles import Role, is_helper, roles_for
from chat import audit, blocks, events, presence, selectors, transcripts, triage, visitors
from chat.app_settings import app_settings
from chat.models import (
    DEFAULT_VISITOR_NAME,
    MAX_BODY_CHARS,
    MAX_CLIENT_ID_CHARS,
    MAX_CONTACT_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_FEEDBACK_CHARS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    MAX_URGENT_REASON_CHARS,
    READ_ONLY_STATUSES,
    REDACTED_BODY,
    AccessAction,
    AccessChannel,
    AuthorKind,
    Category,
    Feedback,
    HelpRequest,
    Message,
    Note,
    ReadCursor,
    Status,
    VisitorBlock,
)
from chat.participants import Participant, display_name, system_author, system_participant, user_key
from notifications import api as notifications
from realtime import activity, adb, groups, limits
from realtime.publish import (
    agroup_send_now_unsafe,
    agroup_sends_now_unsafe,
    group_send_now_unsafe,
    group_send_on_commit,
)
from realtime.revocation import REVOKE, access_revoke

logger = logging.getLogger("chat.services")


class ChatErrorCode:
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    READ_ONLY = "read_only"
    RATE_LIMITED = "rate_limited"
    AT_CAPACITY = "at_capacity"
    UNAVAILABLE = "unavailable"


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
    *, description: str, name: str = "", contact: str = "", category: str = Category.GENERAL, address: str = ""
) -> HelpRequest:
    """Put a new request at the end of the queue; volunteers' and staff's queues show it live.

    A name is never required: a visitor who gives none (or only spaces) is ``DEFAULT_VISITOR_NAME``.

    It has no visitor secret yet: the caller makes one with ``help_request_token_rotate``. The client
    ``address`` is not kept: only a block-ready check of it (``chat.blocks``)."""
    if category not in Category.values:
        raise ChatError({"category": [f"Must be one of {Category.values}."]})
    description = _text(description, field="description", max_chars=MAX_DESCRIPTION_CHARS)
    matches = triage.match(description)
    with transaction.atomic():
        help_request = HelpRequest.objects.create(
            name=_text(name, field="name", max_chars=MAX_NAME_CHARS, required=False) or DEFAULT_VISITOR_NAME,
            description=description,
            # The risk list: urgent from the start, so it is first in the queue from the start.
            urgent=bool(matches),
            urgent_reason=triage.reason(matches)[:MAX_URGENT_REASON_CHARS] if matches else "",
            contact=_text(contact, field="contact", max_chars=MAX_CONTACT_CHARS, required=False),
            category=category,
            # Nobody on duty: a message left for later, shown as such to the visitor and the helpers.
            left_offline=not selectors.wait_snapshot().on_duty,
            address_check=blocks.address_check_make(address),
        )
        if matches:
            # Ahead of every request that is not urgent: those behind it learn their new places.
            _announce_change(help_request, left_queue=False, joined_queue=True)
            _urgent_raised(help_request, by_name=RISK_LIST)
        else:
            position = selectors.queue_position(help_request=help_request)
            group_send_on_commit(
                [groups.help_request_queue_group()],
                events.queue_event(help_request, queue_position=position, waiting=selectors.waiting_count()),
            )
            _announce_waits_on_commit()
        # The activity feed is kept without a retention period: it never names the visitor.
        activity.activity_report(kind="help_request.created", text=f"New help request ({category})")
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


def _desk_changed(*user_ids: int | None) -> None:
    """These helpers' desks list other conversations now (each desk socket reads its new list)."""
    desks = [groups.help_desk_group(user_id) for user_id in dict.fromkeys(user_ids) if user_id is not None]
    if desks:
        group_send_on_commit(desks, events.desk_changed_event())


def _announce_change(help_request: HelpRequest, *, left_queue: bool, joined_queue: bool = False) -> None:
    _desk_changed(help_request.assigned_to_id)
    position = selectors.queue_position(help_request=help_request)
    group_send_on_commit(
        [groups.help_request_group(help_request.public_id)], events.status_event(help_request, queue_position=position)
    )
    # The queue sockets get this one request's change (never the whole queue), and the new count.
    waiting = selectors.waiting_count()
    queue = [groups.help_request_queue_group()]
    group_send_on_commit(queue, events.queue_event(help_request, queue_position=position, waiting=waiting))
    behind: list[tuple[Any, int]] = []
    if left_queue or joined_queue:
        # Everyone behind it moved up (or down) one place; one read for all their positions.
        behind = selectors.waiting_positions(behind=help_request)
        for public_id, waiting_position in behind:
            group_send_on_commit(
                [groups.help_request_group(public_id)], events.position_event(queue_position=waiting_position)
            )
        # Queue clients hold the first page of waiting requests: when this one left it, the request
        # that moved onto the page's last place joins them.
        page_size = app_settings.QUEUE_PAGE_SIZE
        was_on_first_page = waiting - len(behind) < page_size
        moved_up = (
            selectors.waiting_at(position=page_size)
            if left_queue and was_on_first_page and waiting >= page_size
            else None
        )
        if moved_up is not None:
            group_send_on_commit(queue, events.queue_event(moved_up, queue_position=page_size, waiting=waiting))
    # After the status frames: the waiting rooms' places and estimates.
    _announce_waits_on_commit(moved=frozenset(public_id for public_id, _ in behind))


def _system_message(help_request: HelpRequest, body: str) -> Message:
    author = system_author()
    message = Message.objects.create(
        help_request=help_request, author_kind=author["kind"], author_name=author["name"], body=body
    )
    group_send_on_commit([groups.help_request_group(help_request.public_id)], events.message_event(message))
    return message


def capacity_announce(user_id: int | None) -> None:
    """Tell one helper's queue sockets their count and limit (after commit)."""
    if user_id is None:
        return
    capacity = selectors.helper_capacity(user_id=user_id)
    group_send_on_commit(
        [groups.help_desk_group(user_id)],
        events.capacity_event(active=capacity.active, limit=capacity.limit),
    )


def _capacity_check(user: Any) -> None:
    """Refuse a new conversation to a helper at their cap. Called in the claim's transaction after
    locking the helper's account row, so two claims of one person are counted one after the other."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    capacity = selectors.helper_capacity(user_id=user.pk)
    if capacity.at_capacity:
        raise ChatError(capacity.reason, code=ChatErrorCode.AT_CAPACITY)


def _reset_limits(help_request: HelpRequest) -> list[str]:
    help_request.claim_nudged_at = help_request.idle_asked_at = help_request.idle_prompted_at = None
    return ["claim_nudged_at", "idle_asked_at", "idle_prompted_at"]


def _take(help_request: HelpRequest, *, assignee: Any, notice: tuple[str, str] | None = None) -> None:
    """Give the request to ``assignee``; ``notice`` is the ``(title, body)`` of their notification
    (by default: the request is theirs, with its description)."""
    left_queue = help_request.status == Status.WAITING
    previous_id = help_request.assigned_to_id
    help_request.status = Status.ASSIGNED
    help_request.assigned_to = assignee
    help_request.assigned_at = timezone.now()
    help_request.assignee_notified_at = None
    help_request.save(
        update_fields=[
            "status",
            "assigned_to",
            "assigned_at",
            "assignee_notified_at",
            "updated_at",
            *_reset_limits(help_request),
        ]
    )
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
    capacity_announce(assignee.pk)
    if previous_id is not None and previous_id != assignee.pk:
        capacity_announce(previous_id)
    activity.activity_report(
        kind="help_request.claimed", text=f"{display_name(assignee)} is helping a visitor ({help_request.category})"
    )
    if previous_id is not None and previous_id != assignee.pk:
        # The previous assignee's sockets re-check their access, in every process.
        access_revoke(user_id=previous_id)
        _desk_changed(previous_id)


def help_request_claim(*, help_request: HelpRequest, user: Any) -> HelpRequest:
    """A volunteer or staff member takes a waiting request."""
    _require_helper(user)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.status != Status.WAITING:
            raise ChatError("This request is no longer waiting.", code=ChatErrorCode.CONFLICT)
        _capacity_check(user)
        _take(locked, assignee=user)
    return locked


def help_request_assign(*, help_request: HelpRequest, assignee: Any, by: Any) -> HelpRequest:
    """Staff give a waiting or assigned request to a volunteer or staff member (reassigning it).

    Never past the assignee's cap: staff who mean it raise that person's limit in the admin first."""
    if Role.STAFF not in roles_for(by):
        raise ChatError("Only staff can assign help requests.", code=ChatErrorCode.FORBIDDEN)
    _require_helper(assignee)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.status not in (Status.WAITING, Status.ASSIGNED):
            raise ChatError("A resolved or closed request cannot be assigned.", code=ChatErrorCode.CONFLICT)
        if locked.assigned_to_id != assignee.pk:
            _capacity_check(assignee)
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
        if locked.transcript_email_requested:
            _email_transcript_on_commit(locked)
        capacity_announce(locked.assigned_to_id)
        activity.activity_report(kind="help_request.resolved", text=f"{by.name} resolved a request ({locked.category})")
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
        capacity_announce(locked.assigned_to_id)
    return locked


# -- records: transcripts, erasure, retention (docs/safeguarding.md) ---------------------------------


TRANSCRIPT_SUBJECT = "Your conversation with our helpline"


def _email_transcript_on_commit(help_request: HelpRequest) -> None:
    """Email the visitor their transcript once the resolution commits (their contact, if an email)."""
    address = selectors.contact_email(help_request)
    if address is None:
        return
    text = transcripts.transcript_text(help_request)
    transaction.on_commit(lambda: _send_transcript(address, text))


def _send_transcript(address: str, text: str) -> None:
    try:
        send_mail(subject=TRANSCRIPT_SUBJECT, message=text, from_email=None, recipient_list=[address])
    except Exception as exc:
        # The request is resolved whatever the mail server says. The error's text may name the
        # address: only its type is logged.
        logger.warning("transcript email not sent: %s", type(exc).__name__)


def help_request_transcript_email_set(*, help_request: HelpRequest, by: Participant, wanted: bool) -> HelpRequest:
    """The visitor chooses whether their transcript is emailed to their contact on resolution."""
    if by.kind != AuthorKind.VISITOR:
        raise ChatError("Only the visitor can choose this.", code=ChatErrorCode.FORBIDDEN)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if wanted and selectors.contact_email(locked) is None:
            raise ChatError({"wanted": ["Your contact is not an email address: download the transcript instead."]})
        if wanted and locked.is_read_only:
            raise ChatError(
                "This request is already resolved or closed: download the transcript instead.",
                code=ChatErrorCode.CONFLICT,
            )
        locked.transcript_email_requested = wanted
        locked.save(update_fields=["transcript_email_requested", "updated_at"])
    return locked


def _anonymise(help_request: HelpRequest, *, now: datetime, erased_by: str = "") -> tuple[int, int]:
    """Delete the conversation (messages, read cursors, internal notes, the feedback's comment, the
    reasons typed in its audit entries) and the personal fields of a row-locked request, and end the
    visitor's access; what is left is an anonymous statistic (category, times, status, assignee,
    rating). An open request is closed. Returns ``(messages, read cursors)`` deleted.

    ``erased_by`` (an erasure, not the retention period): the room gets an ``erased`` frame first,
    then the visitor's connections end."""
    messages, _ = Message.objects.filter(help_request_id=help_request.pk).delete()
    cursors, _ = ReadCursor.objects.filter(help_request_id=help_request.pk).delete()
    # What helpers wrote about the visitor, and the visitor's own words in their rating, go too; the
    # rating itself and who read or flagged it when (the audit trail) stay, without the reasons typed.
    Note.objects.filter(help_request_id=help_request.pk).delete()
    Feedback.objects.filter(help_request_id=help_request.pk).update(comment="")
    audit.reasons_forget(help_request_id=help_request.pk)
    was_open = not help_request.is_read_only
    left_queue = help_request.status == Status.WAITING
    help_request.name = help_request.contact = help_request.description = ""
    help_request.visitor_token_hash = ""
    help_request.transcript_email_requested = False
    # Why it was urgent is health data; the block-ready check of the address links it to a network.
    help_request.urgent_reason = help_request.address_check = ""
    help_request.anonymised_at = now
    fields = [
        "name",
        "contact",
        "description",
        "visitor_token_hash",
        "transcript_email_requested",
        "urgent_reason",
        "address_check",
        "anonymised_at",
    ]
    if erased_by:
        help_request.erased_at, help_request.erased_by = now, erased_by
        fields += ["erased_at", "erased_by"]
    if was_open:
        help_request.status = Status.CLOSED
        help_request.resolved_at = now
        fields += ["status", "resolved_at"]
    help_request.save(update_fields=[*fields, "updated_at"])
    if was_open:
        _announce_change(help_request, left_queue=left_queue)
    if erased_by:
        group_send_on_commit([groups.help_request_group(help_request.public_id)], events.erased_event(by=erased_by))
    _revoke_visitor_connections(help_request)
    return messages, cursors


def help_request_erase(*, help_request: HelpRequest, by: Participant) -> HelpRequest:
    """Delete a conversation now, at its visitor's request or by staff (GDPR article 17).

    In one transaction: the messages, read cursors and personal fields go, the notifications that
    quoted the request too, the request is closed and marked erased, and the visitor's access ends.
    After commit the room gets an ``erased`` frame (helpers see it live), the visitor's connections
    close, and a waiting request leaves the queue. The anonymous statistic stays."""
    if by.kind not in (AuthorKind.VISITOR, AuthorKind.STAFF):
        raise ChatError("Only the visitor or staff can delete this conversation.", code=ChatErrorCode.FORBIDDEN)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.erased_at is not None:
            raise ChatError("This conversation is already deleted.", code=ChatErrorCode.CONFLICT)
        _anonymise(locked, now=timezone.now(), erased_by=by.kind.value)
        # Assignment and message notifications carry the visitor's name and words.
        notifications.forget(kind_prefix="help_request.", key="public_id", value=str(locked.public_id))
        if by.user_id is not None:
            # Staff erase from the admin; the entry outlives the conversation (the visitor's own
            # erasure is theirs, and like their reads it is not an entry).
            staff = get_user_model().objects.get(pk=by.user_id)
            audit.access_record(
                help_request_id=locked.pk,
                user=staff,
                channel=audit.AccessChannel.ADMIN,
                action=audit.AccessAction.ERASE,
            )
    return locked


def help_requests_anonymise(*, cutoff: datetime, limit: int) -> list[tuple[str, int, int]]:
    """One batch of the retention purge, in one transaction: anonymise at most ``limit`` requests past
    retention (``selectors.help_requests_past_retention``). Rows another run holds are skipped (on
    PostgreSQL), so overlapping runs never do one twice. ``[(public id, messages, read cursors)]``."""
    done = []
    with transaction.atomic():
        due = selectors.help_requests_past_retention(cutoff=cutoff).select_for_update(skip_locked=True, of=("self",))
        for help_request in due[:limit]:
            messages, cursors = _anonymise(help_request, now=timezone.now())
            done.append((str(help_request.public_id), messages, cursors))
    return done


#: Who raised a flag the risk list raised (the helpers' note says so).
RISK_LIST = "The risk list"


def help_request_set_urgent(
    *, help_request: HelpRequest, urgent: bool, reason: str, by: Any, channel: str = AccessChannel.PAGE
) -> HelpRequest:
    """A volunteer or staff member flags a request urgent (or clears the flag), with a note saying
    why: ``reason`` (up to 200 characters) is for helpers and staff only. Audited. See
    ``_urgent_change`` for what everyone else sees."""
    _require_helper(by)
    if not isinstance(urgent, bool):
        raise ChatError({"urgent": ["Must be true or false."]})
    reason = _text(reason, field="reason", max_chars=MAX_URGENT_REASON_CHARS)
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.is_read_only:
            raise ChatError(f"This request is {locked.status}.", code=ChatErrorCode.READ_ONLY)
        if locked.urgent != urgent:
            _urgent_change(locked, urgent=urgent, reason=reason, by_name=display_name(by))
            action = AccessAction.FLAG if urgent else AccessAction.UNFLAG
            audit.access_record(help_request_id=locked.pk, user=by, channel=channel, action=action, reason=reason)
    return locked


def _triage_message(locked: HelpRequest, message: Message) -> None:
    """A visitor's message that matches the risk list flags a request that is not urgent yet."""
    if locked.urgent:
        return
    matches = triage.match(message.body)
    if matches:
        _urgent_change(locked, urgent=True, reason=triage.reason(matches)[:MAX_URGENT_REASON_CHARS], by_name=RISK_LIST)


def _urgent_change(locked: HelpRequest, *, urgent: bool, reason: str, by_name: str) -> None:
    """Raise or clear the urgent flag of a row-locked request: the visitor's page shows (or hides)
    the emergency text live (``urgent`` frame), the queue reorders (urgent first), the helpers' notes
    say who and why, and a raised flag tells staff (critical)."""
    locked.urgent, locked.urgent_reason = urgent, reason if urgent else ""
    locked.save(update_fields=["urgent", "urgent_reason", "updated_at"])
    group_send_on_commit([groups.help_request_group(locked.public_id)], events.urgent_event(urgent=urgent))
    # Its place in the queue changed (urgent ones first): the queue and everyone behind it are told.
    _announce_change(locked, left_queue=False, joined_queue=locked.status == Status.WAITING)
    if urgent:
        _urgent_raised(locked, by_name=by_name)
    else:
        _note_create(locked, by=system_participant(), body=f"{by_name} cleared the urgent flag: {reason}")


def _urgent_raised(locked: HelpRequest, *, by_name: str) -> None:
    _note_create(locked, by=system_participant(), body=f"Urgent ({by_name}): {locked.urgent_reason}")
    notifications.notify_role(
        Role.STAFF,
        kind="help_request.urgent",
        title="An urgent help request",
        body=locked.urgent_reason,
        data={"public_id": str(locked.public_id), "url": locked.get_watch_url()},
        priority=notifications.CRITICAL,
    )


# -- the waiting room ------------------------------------------------------------------------------

# The figures every waiting room was last told (any process): a change is sent to all of them.
WAIT_ANNOUNCED_KEY = "chat:wait-announced"


def _announce_waits_on_commit(*, moved: frozenset[Any] = frozenset()) -> None:
    transaction.on_commit(lambda: _announce_waits(moved=moved), robust=True)


def _announce_waits(*, moved: frozenset[Any] = frozenset()) -> None:
    """Send ``wait_estimate`` to the waiting rooms that need it: all of them when the shared figures
    (estimates, helpers on duty, opening) changed since they were last told, else only those whose
    place changed (``moved``: public ids of the requests behind one that left or joined the queue).
    The figures are read at most once per ``CHAT_WAIT_ESTIMATE_CACHE_SECONDS``; the rooms' places in
    one query."""
    snapshot = selectors.wait_snapshot()
    changed = cache.get(WAIT_ANNOUNCED_KEY) != snapshot
    if changed:
        cache.set(WAIT_ANNOUNCED_KEY, snapshot, None)
    elif not moved:
        return
    for _, public_id, category, position in selectors.waiting_rooms():
        if changed or public_id in moved:
            frame = events.wait_estimate_frame(snapshot, queue_position=position, category=category)
            group_send_now_unsafe((groups.help_request_group(public_id),), dict(events.wait_event(frame)))


def wait_duty_changed() -> None:
    """A helper's queue socket opened or closed: read who is on duty now and tell the waiting rooms
    if that changed what they see. Call outside any transaction (it sends at once)."""
    selectors.wait_snapshot_clear()
    _announce_waits()


# -- supervision and handoff -------------------------------------------------------------------------

SUPERVISOR_JOINED = "A supervisor joined the conversation."
DEBRIEF_ASKED = "Asked for a debrief."
BACK_IN_QUEUE = "You are back in the queue ({place}); someone will be with you soon."


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
        if not _room_rate_allows(public_id=help_request.public_id):
            raise _room_rate_error()
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


def help_request_debrief(*, help_request: HelpRequest, by: Participant) -> Note:
    """After an urgent conversation ended, its helper asks for a debrief: staff on duty are told,
    the room's notes record it. Once per helper and request."""
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if not _may_manage(locked, by):
            raise ChatError("Only the helper of this request can ask for a debrief.", code=ChatErrorCode.FORBIDDEN)
        if not (locked.urgent and locked.is_read_only):
            raise ChatError("A debrief is offered once an urgent conversation has ended.", code=ChatErrorCode.CONFLICT)
        if Note.objects.filter(help_request=locked, author_user_id=by.user_id, body=DEBRIEF_ASKED).exists():
            raise ChatError("You asked for a debrief already; staff have been told.", code=ChatErrorCode.CONFLICT)
        note = _note_create(locked, by=by, body=DEBRIEF_ASKED)
        notifications.notify_role(
            Role.STAFF,
            kind="help_request.debrief",
            title=f"{by.name} asks for a debrief",
            body="After an urgent conversation. Please get in touch today.",
            data={"public_id": str(locked.public_id), "url": locked.get_watch_url()},
        )
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
        if to is not None:
            _capacity_check(to)
            _note_create(locked, by=by, body=f"Handed over to {display_name(to)}: {note}")
            _take(locked, assignee=to, notice=(f"{by.name} handed you the request from {locked.name}", note[:200]))
            return locked
        _note_create(locked, by=by, body=f"Handed back to the queue: {note}")
        help_request_requeue(locked, notice=BACK_IN_QUEUE)
        activity.activity_report(kind="help_request.transferred", text=f"{by.name} put a request back in the queue")
    return locked


def help_request_requeue(locked: HelpRequest, *, notice: str) -> Any:
    """Put a row-locked assigned request back in the queue, at the place it had (its ``queued_at``):
    a handover to the queue, or a claim nobody answered (``chat.sweep``). The visitor reads
    ``notice`` (``{place}`` becomes their place now); the previous helper's count, desk and access
    follow. Returns the previous helper."""
    helper = locked.assigned_to
    locked.status = Status.WAITING
    locked.assigned_to = None
    locked.assigned_at = None
    locked.assignee_notified_at = None
    fields = ["status", "assigned_to", "assigned_at", "assignee_notified_at", "updated_at"]
    locked.save(update_fields=fields + _reset_limits(locked))
    position = selectors.queue_position(help_request=locked)
    place = "you are first in the queue" if position == 1 else f"you are number {position} in the queue"
    _system_message(locked, notice.format(place=place))
    _announce_change(locked, left_queue=False, joined_queue=True)
    if helper is not None:
        capacity_announce(helper.pk)
        _desk_changed(helper.pk)
        access_revoke(user_id=helper.pk)  # their connections to the room re-check (and leave)
    return helper


# -- messages --------------------------------------------------------------------------------------


def _may_write(help_request: HelpRequest, participant: Participant) -> bool:
    # Re-checked under the row lock: a helper reassigned a moment ago must not slip a message in.
    if participant.kind == AuthorKind.VOLUNTEER:
        return participant.user_id == help_request.assigned_to_id
    return participant.kind in (AuthorKind.VISITOR, AuthorKind.STAFF)


def message_post(
    *,
    help_request_id: int,
    participant: Participant,
    body: str,
    client_id: str,
    public_id: Any = None,
    present: Collection[str] = (),
) -> tuple[Message, bool]:
    """Persist a message and send it to the room; ``(message, created)``.

    ``public_id``: the request's, when the caller has it (the room's rate count is keyed by it);
    without it a message takes the transactional path. ``present``: the participant keys the
    caller's connection last heard were in the room. A
    visitor's message notifies an absent assignee; with the assignee among them, the room's presence
    is not read (the connection hears of their leaving as the shared cache does).

    Idempotent on ``client_id`` within the request: a re-send returns the original message (even once
    the room is read-only) and creates nothing, so the caller answers the sender alone.

    On PostgreSQL, outside a transaction, a new message is one statement (``_message_insert``): the
    request's row lock, the checks, the insert and the helper's first reply together, committed when
    it returns, so the room hears of it at once. Anything that statement does not insert (a re-send,
    a writer no longer allowed, a read-only room, a rate limit) takes the transactional path below,
    which says why.
    """
    body = _text(body, field="body", max_chars=MAX_BODY_CHARS)
    client_id = _text(client_id, field="client_id", max_chars=MAX_CLIENT_ID_CHARS)
    fast = (
        public_id is not None and connection.vendor == "postgresql" and not transaction.get_connection().in_atomic_block
    )
    if fast:
        if not _room_rate_allows(public_id=public_id):
            return _message_post_locked(
                help_request_id=help_request_id, participant=participant, body=body, client_id=client_id, rate="over"
            )
        inserted = _message_insert(
            help_request_id=help_request_id, participant=participant, body=body, client_id=client_id
        )
        if inserted is not None:
            help_request, message = inserted
            # With nothing to write (no flag, no notification), the block sends no statement at all.
            _message_posted_together(help_request, message, participant, present=present)
            return message, True
    return _message_post_locked(
        help_request_id=help_request_id,
        participant=participant,
        body=body,
        client_id=client_id,
        rate="counted" if fast else "check",
        present=present,
    )


# One statement: lock the request's row (messages and state changes of one request stay serialised,
# so ids are committed in order and a helper reassigned a moment ago cannot slip a message in), insert
# if this writer may write in a room that is not read-only and the client id is new, and record the
# helper's first reply. Returns the request's columns the caller needs, and the new message's id
# (NULL when nothing was inserted); no row when the request does not exist.
# The read-only statuses are one parameter each, not an array: psycopg's array adapter refers back to
# the statement's adapters, a reference cycle (some 60 objects) left for the garbage collector by
# every message.
_READ_ONLY = {f"read_only_{index}": str(status) for index, status in enumerate(READ_ONLY_STATUSES)}
_READ_ONLY_PARAMS = ", ".join(f"%({name})s" for name in _READ_ONLY)
_INSERT_SQL = f"""
WITH hr AS (
    SELECT id, public_id, name, status, assigned_to_id, urgent
    FROM chat_helprequest WHERE id = %(help_request_id)s FOR UPDATE
), ins AS (
    INSERT INTO chat_message (help_request_id, client_id, author_kind, author_name, author_user_id, body, created_at)
    SELECT hr.id, %(client_id)s, %(kind)s, %(name)s, %(user_id)s, %(body)s, %(now)s FROM hr
    WHERE hr.status NOT IN ({_READ_ONLY_PARAMS})
      AND (%(kind)s <> %(volunteer)s OR hr.assigned_to_id = %(user_id)s)
    ON CONFLICT (help_request_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
    RETURNING id
), reply AS (
    UPDATE chat_helprequest SET first_reply_at = %(now)s FROM ins
    WHERE chat_helprequest.id = %(help_request_id)s AND chat_helprequest.first_reply_at IS NULL AND %(is_reply)s
    RETURNING chat_helprequest.id
)
SELECT ins.id, hr.public_id, hr.name, hr.status, hr.assigned_to_id, hr.urgent, (SELECT count(*) FROM reply)
FROM hr LEFT JOIN ins ON TRUE
"""  # noqa: S608 (parameter names only; every value is a parameter)


def _insert_params(
    *, help_request_id: int, participant: Participant, body: str, client_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "help_request_id": help_request_id,
        "client_id": client_id,
        "kind": str(participant.kind),
        "name": participant.name,
        "user_id": participant.user_id,
        "body": body,
        "now": now,
        **_READ_ONLY,
        "volunteer": str(AuthorKind.VOLUNTEER),
        "is_reply": participant.kind != AuthorKind.VISITOR,
    }


def _inserted(
    row: Any, *, help_request_id: int, participant: Participant, body: str, client_id: str, now: datetime
) -> tuple[HelpRequest, Message] | None:
    """The new message and (the columns read of) its request from ``_INSERT_SQL``'s row, or None."""
    if row is None or row[0] is None:
        return None
    message_id, public_id, name, status, assigned_to_id, urgent, _replied = row
    help_request = HelpRequest(
        pk=help_request_id, public_id=public_id, name=name, status=status, assigned_to_id=assigned_to_id, urgent=urgent
    )
    message = Message(
        pk=message_id,
        help_request=help_request,
        client_id=client_id,
        author_kind=participant.kind,
        author_name=participant.name,
        author_user_id=participant.user_id,
        body=body,
        created_at=now,
    )
    return help_request, message


def _message_insert(
    *, help_request_id: int, participant: Participant, body: str, client_id: str
) -> tuple[HelpRequest, Message] | None:
    """The new message and (the columns read of) its request, or None if nothing was inserted."""
    fields: dict[str, Any] = {
        "help_request_id": help_request_id,
        "participant": participant,
        "body": body,
        "client_id": client_id,
    }
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, _insert_params(**fields, now=now))
        row = cursor.fetchone()
    return _inserted(row, **fields, now=now)


async def amessage_post(
    *,
    help_request_id: int,
    public_id: Any,
    participant: Participant,
    body: str,
    client_id: str,
    present: Collection[str] = (),
) -> tuple[Message, bool]:
    """``message_post`` for the sockets, in the event loop: on PostgreSQL a new message is the
    rate count (one Redis round trip), the one statement (``realtime.adb``) and the pushes, without a
    thread. What needs Django's ORM goes to a thread: a message the statement did not insert (the
    transactional path says why), and a visitor's message that may raise the urgent flag or notify
    an absent assignee (there, as in ``message_post``, what it causes is sent after the message)."""
    body = _text(body, field="body", max_chars=MAX_BODY_CHARS)
    client_id = _text(client_id, field="client_id", max_chars=MAX_CLIENT_ID_CHARS)
    fields: dict[str, Any] = {
        "help_request_id": help_request_id,
        "participant": participant,
        "body": body,
        "client_id": client_id,
    }
    if not adb.available():
        return await database_sync_to_async(message_post)(**fields, public_id=public_id, present=present)
    keys = [(_room_rate_key(public_id), app_settings.ROOM_MESSAGES_PER_MINUTE)]
    if not await limits.awithin_limits(keys, window=60, kind="room"):
        return await database_sync_to_async(_message_post_locked)(**fields, rate="over", present=present)
    now = timezone.now()
    row = await adb.fetchone(_INSERT_SQL, _insert_params(**fields, now=now), pool_size=app_settings.MESSAGE_CONNECTIONS)
    inserted = _inserted(row, **fields, now=now)
    if inserted is None:
        return await database_sync_to_async(_message_post_locked)(**fields, rate="counted", present=present)
    help_request, message = inserted
    if _follow_up_needed(help_request, message, participant, present=present):
        await database_sync_to_async(_message_posted_together)(help_request, message, participant, present=present)
        return message, True
    # Committed: the room, and the assignee's desk when someone else wrote, in one round trip.
    sends = [((groups.help_request_group(help_request.public_id),), dict(events.message_event(message)))]
    assignee_id = help_request.assigned_to_id
    if assignee_id is not None and participant.user_id != assignee_id:
        desk_event = events.desk_message_event(help_request, message)
        sends.append(((groups.help_desk_group(assignee_id),), dict(desk_event)))
    await agroup_sends_now_unsafe(sends)
    return message, True


def _follow_up_needed(
    help_request: HelpRequest, message: Message, participant: Participant, *, present: Collection[str]
) -> bool:
    """Whether a new message needs more than its pushes: a visitor's words the risk list may flag
    (the matcher not at hand without I/O, or a match), or an assignee not known to be in the room."""
    if participant.kind != AuthorKind.VISITOR:
        return False
    assignee_id = help_request.assigned_to_id
    if assignee_id is not None and user_key(assignee_id) not in present:
        return True
    return not help_request.urgent and triage.match_cached(message.body) != []


def _message_posted_together(
    help_request: HelpRequest, message: Message, participant: Participant, *, present: Collection[str]
) -> None:
    # The message is committed. What follows it commits together, and the room hears of it all
    # after, in the order of the transactional path: the message, then what it caused.
    with transaction.atomic():
        _message_posted(help_request, message, participant, present=present)


def _message_post_locked(
    *,
    help_request_id: int,
    participant: Participant,
    body: str,
    client_id: str,
    rate: str,
    present: Collection[str] = (),
) -> tuple[Message, bool]:
    """``message_post`` in a transaction on the locked row: every case, with the reason of a refusal.
    ``rate``: ``check`` (count this message now), ``counted`` (the caller counted it: a re-send is
    refunded) or ``over`` (the caller counted it past the room's limit)."""
    with transaction.atomic():
        help_request = _lock(help_request_id)
        existing = _message_by_client_id(help_request, client_id)
        if existing is not None:
            if rate != "check":
                _room_rate_refund(public_id=help_request.public_id)  # a re-send never counts
            return existing, False
        if not _may_write(help_request, participant):
            raise ChatError("You can no longer write in this room.", code=ChatErrorCode.FORBIDDEN)
        if help_request.is_read_only:
            raise ChatError(
                f"This request is {help_request.status}; its conversation is read-only.",
                code=ChatErrorCode.READ_ONLY,
            )
        if rate == "over" or (rate == "check" and not _room_rate_allows(public_id=help_request.public_id)):
            raise _room_rate_error()
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
        if participant.kind != AuthorKind.VISITOR and help_request.first_reply_at is None:
            # The visitor's wait ends with a helper's first words (the wait estimate's history).
            help_request.first_reply_at = message.created_at
            help_request.save(update_fields=["first_reply_at"])
        _message_posted(help_request, message, participant, present=present)
    return message, True


def _message_posted(
    help_request: HelpRequest, message: Message, participant: Participant, *, present: Collection[str] = ()
) -> None:
    """What follows a new message: the room and the assignee's desk hear of it (after commit), a
    visitor's words are matched against the risk list, an absent assignee is notified."""
    group_send_on_commit([groups.help_request_group(help_request.public_id)], events.message_event(message))
    assignee_id = help_request.assigned_to_id
    if assignee_id is not None and participant.user_id != assignee_id:
        desk = [groups.help_desk_group(assignee_id)]
        group_send_on_commit(desk, events.desk_message_event(help_request, message))
    if participant.kind == AuthorKind.VISITOR:
        _triage_message(help_request, message)
    if participant.kind == AuthorKind.VISITOR and assignee_id is not None and user_key(assignee_id) not in present:
        _notify_absent_assignee(help_request, message)


def _room_rate_key(public_id: Any) -> str:
    return f"room:{UUID(str(public_id)).hex}"


def _room_rate_allows(*, public_id: Any) -> bool:
    """Count one new message of the room: every sender together, at most
    ``CHAT_ROOM_MESSAGES_PER_MINUTE`` a minute (shared cache, so every process counts together)."""
    keys = [(_room_rate_key(public_id), app_settings.ROOM_MESSAGES_PER_MINUTE)]
    return limits.within_limits(keys, window=60, kind="room")


def _room_rate_refund(*, public_id: Any) -> None:
    """Take back a count that turned out to be a re-send (re-sends never count)."""
    limits.refund(_room_rate_key(public_id), window=60, kind="room")


def _room_rate_error() -> ChatError:
    return ChatError(
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
        # message_id: a redaction (message_redact) finds this copy of the text and removes it too.
        data={
            "public_id": str(help_request.public_id),
            "url": help_request.get_absolute_url(),
            "message_id": message.pk,
        },
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
            public_id, assignee_id = HelpRequest.objects.values_list("public_id", "assigned_to_id").get(
                pk=help_request_id
            )
            group_send_on_commit(
                [groups.help_request_group(public_id)],
                events.read_event(sender=participant.key, author=participant.author(), up_to=up_to),
            )
            if participant.user_id is not None and participant.user_id == assignee_id:
                group_send_on_commit(
                    [groups.help_desk_group(assignee_id)], events.desk_read_event(public_id=str(public_id), up_to=up_to)
                )
    return moved


def message_redact(*, message: Message, by: Any, reason: str, channel: str = AccessChannel.API) -> Message:
    """Staff remove a message's text for good (a visitor typed their address by mistake).

    The body becomes ``REDACTED_BODY`` in the database, and so does the body of the assignee's
    notification about it; the original is kept nowhere (not in the audit entry, not in a log).
    The redaction is audited with ``reason`` (and ``channel``: api or admin), and after commit
    every open socket and stream of the room gets a ``redacted`` frame.
    """
    if not audit.may_redact(by):
        raise ChatError("Only staff can remove a message.", code=ChatErrorCode.FORBIDDEN)
    reason = _text(reason, field="reason", max_chars=MAX_REASON_CHARS)
    with transaction.atomic():
        help_request = _lock(message.help_request_id)  # serialised with the room's other writes
        locked = Message.objects.get(pk=message.pk)
        if locked.redacted_at is not None:
            raise ChatError("This message was already removed.", code=ChatErrorCode.CONFLICT)
        locked.body = REDACTED_BODY
        locked.redacted_at = timezone.now()
        locked.save(update_fields=["body", "redacted_at"])
        notifications.replace_body(
            kind="help_request.message", data_match={"message_id": locked.pk}, body=REDACTED_BODY
        )
        audit.access_record(
            help_request_id=help_request.pk,
            user=by,
            channel=channel,
            action=AccessAction.REDACT,
            reason=reason,
            message_number=locked.pk,
        )
        group_send_on_commit([groups.help_request_group(help_request.public_id)], events.redacted_event(locked))
    message.body, message.redacted_at = locked.body, locked.redacted_at
    return locked


# -- feedback and blocks ---------------------------------------------------------------------------


def feedback_submit(*, help_request: HelpRequest, by: Participant, rating: Any, comment: Any = "") -> Feedback:
    """The visitor rates the help of a resolved request: 1 to 5 and an optional comment, once."""
    if by.kind != AuthorKind.VISITOR:
        raise ChatError("Only the visitor can rate the help.", code=ChatErrorCode.FORBIDDEN)
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ChatError({"rating": ["A whole number from 1 to 5."]})
    comment = _text(
        comment if comment is not None else "", field="comment", max_chars=MAX_FEEDBACK_CHARS, required=False
    )
    with transaction.atomic():
        locked = _lock(help_request.pk)
        if locked.status != Status.RESOLVED:
            raise ChatError("Help can be rated once the request is resolved.", code=ChatErrorCode.CONFLICT)
        if Feedback.objects.filter(help_request=locked).exists():
            raise ChatError("This help was rated already; thank you.", code=ChatErrorCode.CONFLICT)
        return Feedback.objects.create(help_request=locked, rating=rating, comment=comment)


def visitor_block(
    *, help_request: HelpRequest, by: Any, reason: str, days: int | None = None, now: datetime | None = None
) -> VisitorBlock:
    """Staff block an abusive visitor for ``days`` (``CHAT_BLOCK_DAYS``): their device and address
    (``chat.blocks``). The request is closed and the visitor's secret revoked, so their links,
    sessions and connections end; they see the neutral ``CHAT_UNAVAILABLE_TEXT``."""
    if Role.STAFF not in roles_for(by):
        raise ChatError("Only staff can block a visitor.", code=ChatErrorCode.FORBIDDEN)
    reason = _text(reason, field="reason", max_chars=1000)
    days = app_settings.BLOCK_DAYS if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise ChatError({"days": ["A whole number of days from 1 to 365."]})
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(help_request.pk)
        block = VisitorBlock.objects.create(
            help_request=locked,
            token_hash=locked.visitor_token_hash,
            address_check=locked.address_check,
            reason=reason,
            created_by=by,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        fields = ["visitor_token_hash", "updated_at"]
        if locked.status != Status.CLOSED:
            left_queue = locked.status == Status.WAITING
            _system_message(locked, "This conversation has ended.")
            locked.status = Status.CLOSED
            locked.resolved_at = locked.resolved_at or now
            fields += ["status", "resolved_at"]
            locked.visitor_token_hash = ""
            locked.save(update_fields=fields)
            _announce_change(locked, left_queue=left_queue)
            capacity_announce(locked.assigned_to_id)
        else:
            locked.visitor_token_hash = ""
            locked.save(update_fields=fields)
        _revoke_visitor_connections(locked)
        audit.access_record(
            help_request_id=locked.pk, user=by, channel=AccessChannel.ADMIN, action=AccessAction.BLOCK, reason=reason
        )
    return block


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
    "amessage_post",
    "apresence_announce",
    "atyping_announce",
    "capacity_announce",
    "feedback_submit",
    "help_request_assign",
    "help_request_claim",
    "help_request_close",
    "help_request_create",
    "help_request_erase",
    "help_request_resolve",
    "help_request_set_urgent",
    "help_request_support",
    "help_request_token_rotate",
    "help_request_transcript_email_set",
    "help_request_transfer",
    "help_requests_anonymise",
    "message_post",
    "message_redact",
    "note_post",
    "read_mark",
    "supervisor_join",
    "visitor_block",
    "wait_duty_changed",
]
