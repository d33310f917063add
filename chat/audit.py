"""The audit trail of help requests: who other than the visitor opened a conversation, redacted one
of its messages or exported it; when, and by which channel (docs/safeguarding.md).

Every path that shows a conversation to an account records the read here, through ``access_read``:
the room page (``views``), the REST API (``api_views``), the room's socket and SSE stream (their
shared ``rooms.RoomMember``, once per connection), the admin and the export. A read is recorded once
per person, request and channel within ``CHAT_AUDIT_READ_WINDOW`` seconds (8 hours, about a shift):
one indexed query decides, so frames, page reloads and reconnects add nothing. Two first opens at the
same instant may both write; a duplicate entry is harmless, a missing one would not be. Redactions
and exports are recorded every time (``access_record``).

An entry holds the user (set to NULL when the account is deleted) and their username then, the
request (kept while the request is anonymised; deleted only with the request row), the time, the
channel and the action, and for a redaction the message's id and the reason. Never an address, a
session id or a message's text. Entries are shown only in the admin, to staff with
``chat.view_accessrecord``; nobody can add, change or delete one there. ``audit_purge`` deletes
those older than ``CHAT_RETAIN_AUDIT_DAYS`` (365).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from charity.roles import Role, roles_for
from chat.app_settings import app_settings
from chat.models import AccessAction, AccessChannel, AccessRecord
from chat.participants import Participant

__all__ = [
    "AccessAction",
    "AccessChannel",
    "access_read",
    "access_record",
    "access_records_of",
    "audit_purge",
    "may_export",
    "may_redact",
    "may_view_audit",
    "reasons_forget",
]

#: The admin permission that shows audit entries (and, with ``view_helprequest``, allows the export).
VIEW_PERMISSION = "chat.view_accessrecord"


# -- who may ---------------------------------------------------------------------------------------


def may_redact(user: Any) -> bool:
    """Staff redact messages (the REST endpoint, the admin action and the service all ask this)."""
    return Role.STAFF in roles_for(user)


def may_view_audit(user: Any) -> bool:
    """Staff with the admin permission to view audit entries."""
    return Role.STAFF in roles_for(user) and bool(user.has_perm(VIEW_PERMISSION))


def may_export(user: Any) -> bool:
    """A subject access export holds the conversation and its audit entries: staff who may view both."""
    return may_view_audit(user) and bool(user.has_perm("chat.view_helprequest"))


# -- writes ----------------------------------------------------------------------------------------


def access_record(
    *,
    help_request_id: int,
    user: Any,
    channel: str,
    action: str = AccessAction.READ,
    reason: str = "",
    message_number: int | None = None,
    at: datetime | None = None,
) -> AccessRecord:
    """Write one audit entry, whatever came before it."""
    return AccessRecord.objects.create(
        at=at or timezone.now(),
        help_request_id=help_request_id,
        user_id=user.pk,
        username=str(user.get_username()),
        channel=channel,
        action=action,
        reason=reason,
        message_number=message_number,
    )


def access_read(
    *, help_request_id: int, participant: Participant, user: Any, channel: str, now: datetime | None = None
) -> AccessRecord | None:
    """Record that ``user`` (as ``participant``) opened the conversation by ``channel``, unless they
    did so by the same channel within ``CHAT_AUDIT_READ_WINDOW``; the visitor is never recorded.
    Returns the new entry, or None."""
    if participant.user_id is None:
        return None
    now = now or timezone.now()
    since = now - timedelta(seconds=app_settings.AUDIT_READ_WINDOW)
    recent = AccessRecord.objects.filter(
        help_request_id=help_request_id,
        user_id=participant.user_id,
        channel=channel,
        at__gte=since,
        action=AccessAction.READ,
    )
    if recent.exists():
        return None
    return access_record(help_request_id=help_request_id, user=user, channel=channel, at=now)


def audit_purge(*, now: datetime | None = None, batch_size: int = 1000, dry_run: bool = False) -> int:
    """Delete audit entries older than ``CHAT_RETAIN_AUDIT_DAYS``, ``batch_size`` rows per statement
    (short transactions on a big table). Returns how many were (or, with ``dry_run``, would be)
    deleted. For the nightly ``purge_help_requests`` command."""
    cutoff = (now or timezone.now()) - timedelta(days=app_settings.RETAIN_AUDIT_DAYS)
    old = AccessRecord.objects.filter(at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        ids = list(old.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += AccessRecord.objects.filter(id__in=ids).delete()[0]


def reasons_forget(*, help_request_id: int) -> int:
    """Blank the free-text reasons of one request's entries (what a helper typed when flagging it,
    staff when redacting or blocking): they may describe the visitor, so they go with the
    conversation. Who did what, when and how stays. Returns how many entries changed."""
    return AccessRecord.objects.filter(help_request_id=help_request_id).exclude(reason="").update(reason="")


# -- reads -----------------------------------------------------------------------------------------


def access_records_of(*, help_request_id: int) -> list[AccessRecord]:
    """One request's entries, oldest first."""
    return list(AccessRecord.objects.filter(help_request_id=help_request_id).order_by("at", "id"))
