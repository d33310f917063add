"""Subject access export: everything held about one help request, as one JSON-ready dict.

``help_request_export`` is the one function that gathers it (the admin's export view serves it as
an attachment, ``chat.admin``): the request's fields, its messages (redacted ones with the fixed
text, as stored), the read cursors, the audit entries and the notifications about it. A later kind
of data about a request (internal notes, say) adds its section here, and the export carries it.

Credentials stay out: the visitor secret's hash is reported only as present or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from chat import audit, selectors
from chat.models import Feedback, HelpRequest, Message, Note, VisitorBlock
from notifications.models import Notification

#: Bumped when a section changes shape, so whoever reads an export knows which one they have.
EXPORT_FORMAT = "charity.help_request_export/2"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _help_request(help_request: HelpRequest) -> dict[str, Any]:
    assignee = help_request.assigned_to
    return {
        "public_id": str(help_request.public_id),
        "name": help_request.name,
        "contact": help_request.contact,
        "category": help_request.category,
        "description": help_request.description,
        "status": help_request.status,
        "assigned_to": assignee.get_username() if assignee is not None else None,
        "created_at": _iso(help_request.created_at),
        "updated_at": _iso(help_request.updated_at),
        "assigned_at": _iso(help_request.assigned_at),
        "resolved_at": _iso(help_request.resolved_at),
        "assignee_notified_at": _iso(help_request.assignee_notified_at),
        "visitor_secret_set": bool(help_request.visitor_token_hash),
        "first_reply_at": _iso(help_request.first_reply_at),
        "queued_at": _iso(help_request.queued_at),
        "left_offline": help_request.left_offline,
        "urgent": help_request.urgent,
        "urgent_reason": help_request.urgent_reason,
        "transcript_email_requested": help_request.transcript_email_requested,
        "anonymised_at": _iso(help_request.anonymised_at),
        "erased_at": _iso(help_request.erased_at),
        # Whether a block-ready check of the address is held (never the check itself, nor an address).
        "address_check_held": bool(help_request.address_check),
    }


def _messages(help_request: HelpRequest) -> list[dict[str, Any]]:
    return [
        {
            "id": message.pk,
            "client_id": message.client_id,
            "author_kind": message.author_kind,
            "author_name": message.author_name,
            "body": message.body,
            "created_at": _iso(message.created_at),
            "redacted_at": _iso(message.redacted_at),
        }
        for message in Message.objects.filter(help_request=help_request).order_by("id")
    ]


def _read_cursors(help_request: HelpRequest) -> list[dict[str, Any]]:
    return [
        {
            "participant": cursor.participant,
            "author_kind": cursor.author_kind,
            "author_name": cursor.author_name,
            "up_to": cursor.up_to,
            "updated_at": _iso(cursor.updated_at),
        }
        for cursor in selectors.read_cursors(help_request_id=help_request.pk)
    ]


def _access_records(help_request: HelpRequest) -> list[dict[str, Any]]:
    return [
        {
            "at": _iso(entry.at),
            "username": entry.username,
            "channel": entry.channel,
            "action": entry.action,
            "message_id": entry.message_number,
            "reason": entry.reason,
        }
        for entry in audit.access_records_of(help_request_id=help_request.pk)
    ]


def _notifications(help_request: HelpRequest) -> list[dict[str, Any]]:
    """Notifications whose data names this request (``help_request.assigned``, ``.message``)."""
    rows = Notification.objects.filter(data__public_id=str(help_request.public_id)).order_by("id")
    return [
        {
            "kind": row.kind,
            "title": row.title,
            "body": row.body,
            "created_at": _iso(row.created_at),
            "expires_at": _iso(row.expires_at),
            "recipients": sorted(row.recipients.values_list("user__username", flat=True)),
        }
        for row in rows
    ]


def _notes(help_request: HelpRequest) -> list[dict[str, Any]]:
    """The helpers' internal notes: held about the request, so part of a subject access export."""
    return [
        {"id": note.pk, "at": _iso(note.created_at), "author": note.author_name, "body": note.body}
        for note in Note.objects.filter(help_request=help_request).order_by("id")
    ]


def _feedback_and_blocks(help_request: HelpRequest) -> dict[str, Any]:
    feedback = Feedback.objects.filter(help_request=help_request).first()
    return {
        "feedback": None if feedback is None else {"rating": feedback.rating, "comment": feedback.comment},
        "blocks": [
            {"created_at": _iso(block.created_at), "expires_at": _iso(block.expires_at), "reason": block.reason}
            for block in VisitorBlock.objects.filter(help_request=help_request).order_by("id")
        ],
    }


def help_request_export(*, help_request: HelpRequest, now: datetime | None = None) -> dict[str, Any]:
    """Everything held about ``help_request``, ready for ``json.dumps``."""
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(now or timezone.now()),
        "help_request": _help_request(help_request),
        "messages": _messages(help_request),
        "read_cursors": _read_cursors(help_request),
        "access_records": _access_records(help_request),
        "notifications": _notifications(help_request),
        "notes": _notes(help_request),
        **_feedback_and_blocks(help_request),
    }
