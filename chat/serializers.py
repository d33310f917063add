"""REST input and output shapes of the chat API (``chat/api_views.py``).

Outputs are the socket's frames (``chat.events``) where there is one, so a client handles a message
the same whether it came over the socket, the SSE stream or an HTTP response.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from charity.roles import is_helper, roles_for
from chat import selectors
from chat.models import (
    DEFAULT_VISITOR_NAME,
    MAX_BODY_CHARS,
    MAX_CONTACT_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_FEEDBACK_CHARS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    MAX_URGENT_REASON_CHARS,
    AuthorKind,
    Category,
    Status,
)
from chat.validators import MessageFields, NoteFields, ReadFields
from realtime.validators import StrictIntegerField, TextField

MAX_ID = 2**63 - 1
#: Most messages one ``GET .../messages/`` returns.
MESSAGE_PAGE_LIMIT = 100


class ChatAuthorOut(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=AuthorKind.choices)
    name = serializers.CharField()


# -- help requests ---------------------------------------------------------------------------------


class HelpRequestCreateIn(serializers.Serializer[dict[str, Any]]):
    name = TextField(
        max_length=MAX_NAME_CHARS,
        allow_blank=True,
        default="",
        help_text=f'Any name will do; none (or blank) is shown as "{DEFAULT_VISITOR_NAME}".',
    )
    description = TextField(max_length=MAX_DESCRIPTION_CHARS)
    contact = TextField(max_length=MAX_CONTACT_CHARS, required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=Category.choices, default=Category.GENERAL)


class HelpRequestCreatedOut(serializers.Serializer[dict[str, Any]]):
    public_id = serializers.UUIDField()
    url = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    queue_position = serializers.IntegerField(allow_null=True)
    token = serializers.CharField(help_text="The visitor's secret, shown this once (X-Help-Request-Token).")


class VisitorTokenOut(serializers.Serializer[dict[str, Any]]):
    token = serializers.CharField(help_text="The visitor's new secret, shown this once.")


class ConnectTicketOut(serializers.Serializer[dict[str, Any]]):
    ticket = serializers.CharField(help_text="Single use: the room socket's or stream's ?ticket=.")
    expires_in = serializers.IntegerField(help_text="Seconds it stays usable if unused.")


class TranscriptEmailIn(serializers.Serializer[dict[str, Any]]):
    wanted = serializers.BooleanField(help_text="Email the transcript to the contact (an email address) on resolution.")


class TranscriptEmailOut(serializers.Serializer[dict[str, Any]]):
    transcript_email_requested = serializers.BooleanField()


class HelpRequestOut(serializers.Serializer[dict[str, Any]]):
    """A help request as the queue socket shows it (``chat.events.queue_item``)."""

    public_id = serializers.UUIDField()
    url = serializers.CharField(help_text="The request's page.")
    status = serializers.ChoiceField(choices=Status.choices)
    queue_position = serializers.IntegerField(allow_null=True, help_text="1-based place in the queue while waiting.")
    assigned_to = ChatAuthorOut(allow_null=True)
    name = serializers.CharField(help_text="The visitor's name, as they gave it (plain text).")
    category = serializers.ChoiceField(choices=Category.choices)
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


def helper_by_username(username: str) -> Any:
    """The active volunteer or staff member with this username, or a field error."""
    user = selectors.user_get_active(username=username)
    if user is None:
        raise serializers.ValidationError("No active user with this username.")
    roles = roles_for(user)
    if not is_helper(roles):
        raise serializers.ValidationError("Help requests can only be assigned to volunteers and staff.")
    return user


class AssignIn(serializers.Serializer[dict[str, Any]]):
    user = TextField(max_length=150, help_text="Username of the volunteer or staff member to give it to.")

    def validate_user(self, username: str) -> Any:
        return helper_by_username(username)


class UrgentIn(serializers.Serializer[dict[str, Any]]):
    urgent = serializers.BooleanField(help_text="true: flag it urgent; false: clear the flag.")
    reason = TextField(max_length=MAX_URGENT_REASON_CHARS, help_text="Why (helpers and staff only; audited).")


class TransferIn(serializers.Serializer[dict[str, Any]]):
    to = TextField(
        max_length=150,
        allow_null=True,
        help_text="Username of the volunteer or staff member to hand it to; null: back to the queue.",
    )
    note = TextField(max_length=MAX_BODY_CHARS, help_text="For whoever helps next (an internal note).")

    def validate_to(self, username: str | None) -> Any:
        return None if username is None else helper_by_username(username)


# -- messages --------------------------------------------------------------------------------------


class ChatMessageIn(MessageFields):
    """``body`` and ``client_id``, validated exactly as the socket's ``message`` frame."""


class ChatMessageOut(serializers.Serializer[dict[str, Any]]):
    """The socket's ``message`` frame."""

    type = serializers.ChoiceField(choices=["message"])
    id = serializers.IntegerField()
    client_id = serializers.CharField(allow_null=True)
    author = ChatAuthorOut()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    redacted = serializers.BooleanField(help_text="Staff removed the text; body is the fixed replacement.")


class ChatMessagePageQuery(serializers.Serializer[dict[str, Any]]):
    after = serializers.IntegerField(
        min_value=0, max_value=MAX_ID, default=0, help_text="Only messages with a greater id (default 0: all)."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=MESSAGE_PAGE_LIMIT, default=MESSAGE_PAGE_LIMIT, help_text="Most messages returned."
    )


class ChatMessagePageOut(serializers.Serializer[dict[str, Any]]):
    messages = ChatMessageOut(many=True)
    has_more = serializers.BooleanField(help_text="More messages follow: ask again with after= the last id.")
    next = serializers.URLField(allow_null=True, help_text="The URL of the next page, or null.")


class RedactIn(serializers.Serializer[dict[str, Any]]):
    reason = TextField(max_length=MAX_REASON_CHARS, help_text="Why the text is removed (kept in the audit trail).")


class ReadCursorIn(ReadFields):
    """``up_to``, validated exactly as the socket's ``read`` frame."""


class ReadCursorOut(serializers.Serializer[dict[str, Any]]):
    up_to = serializers.IntegerField()
    moved = serializers.BooleanField(help_text="False when the cursor was already there or further.")


class NoteIn(NoteFields):
    """``body``, validated exactly as the socket's ``note`` frame."""


class NoteOut(serializers.Serializer[dict[str, Any]]):
    """The socket's ``note`` frame (helpers and staff only)."""

    type = serializers.ChoiceField(choices=["note"])
    id = serializers.IntegerField()
    author = ChatAuthorOut()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class NoteListOut(serializers.Serializer[dict[str, Any]]):
    """The socket's ``notes`` frame."""

    type = serializers.ChoiceField(choices=["notes"])
    notes = NoteOut(many=True)


class ChatErrorOut(serializers.Serializer[dict[str, Any]]):
    """A refusal that is not about one field: ``code`` as on the socket (``read_only``, ``conflict``, ...)."""

    code = serializers.CharField(required=False)
    detail = serializers.CharField()


class CannedReplyOut(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField(help_text="Placeholders already filled for this room.")
    category = serializers.CharField(help_text="Blank: offered in every category.")
    language = serializers.CharField()


class FeedbackIn(serializers.Serializer[dict[str, Any]]):
    rating = StrictIntegerField(min_value=1, max_value=5, help_text="1 (poor) to 5 (very good).")
    comment = TextField(
        max_length=MAX_FEEDBACK_CHARS, required=False, allow_blank=True, default="", trim_whitespace=True
    )


class FeedbackOut(serializers.Serializer[dict[str, Any]]):
    rating = serializers.IntegerField()
    comment = serializers.CharField()
