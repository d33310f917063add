"""Help requests and their chat.

A ``HelpRequest`` is what an anonymous visitor asked for; it is addressed everywhere by its random
``public_id``, never by its database id. Its ``Message`` rows are the room's history: ids only grow,
and within one request they become visible in id order (``message_post`` locks the request row), so
a client that resumes "after the last id I saw" misses nothing. A ``ReadCursor`` is how far one
participant has read.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

MAX_BODY_CHARS = 4000
MAX_NAME_CHARS = 100
MAX_CONTACT_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
MAX_CLIENT_ID_CHARS = 64


class Category(models.TextChoices):
    GENERAL = "general", "General"
    FOOD = "food", "Food"
    HOUSING = "housing", "Housing"
    MONEY = "money", "Money"
    HEALTH = "health", "Health"
    OTHER = "other", "Other"


class Status(models.TextChoices):
    WAITING = "waiting", "Waiting"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


#: Statuses whose room refuses new messages.
READ_ONLY_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})


class AuthorKind(models.TextChoices):
    VISITOR = "visitor", "Visitor"
    VOLUNTEER = "volunteer", "Volunteer"
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System"


class HelpRequest(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=MAX_NAME_CHARS, help_text="The visitor's name, as they gave it.")
    contact = models.CharField(max_length=MAX_CONTACT_CHARS, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.GENERAL)
    description = models.TextField(max_length=MAX_DESCRIPTION_CHARS)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_help_requests",
    )
    # The keyed hash of the visitor's secret (chat.visitors); "" once revoked. Never the secret itself.
    visitor_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When the assignee was last told about a visitor's message (the quiet-period rule).
    assignee_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            # The queue: waiting requests in creation (id) order.
            models.Index(fields=["status", "id"], name="help_request_status_id"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("chat:help-request", kwargs={"public_id": self.public_id})

    def get_watch_url(self) -> str:
        """The room page for staff in watch mode: read-only, and not in the visitor's presence list."""
        return f"{self.get_absolute_url()}?mode=watch"

    @property
    def is_read_only(self) -> bool:
        return self.status in READ_ONLY_STATUSES


class Message(models.Model):
    help_request = models.ForeignKey(HelpRequest, on_delete=models.CASCADE, related_name="messages")
    # NULL, not "", for messages without one (system messages): the unique constraint skips NULLs.
    client_id = models.CharField(max_length=MAX_CLIENT_ID_CHARS, null=True, blank=True)  # noqa: DJ001
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_name = models.CharField(max_length=150)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(max_length=MAX_BODY_CHARS)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Idempotency: one message per client id within a request. Also the index the lookup uses.
            models.UniqueConstraint(
                fields=["help_request", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_request_client_id_uniq",
            ),
        ]
        indexes = [models.Index(fields=["help_request", "id"], name="message_request_id")]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:50]}"


class ReadCursor(models.Model):
    """How far one participant (``visitor`` or ``user:<id>``) has read a request's messages."""

    help_request = models.ForeignKey(HelpRequest, on_delete=models.CASCADE, related_name="read_cursors")
    participant = models.CharField(max_length=40)
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_name = models.CharField(max_length=150)
    up_to = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["help_request", "participant"], name="read_cursor_request_participant_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} read {self.help_request_id} up to {self.up_to}"


class Note(models.Model):
    """An internal note in a room: written by a helper or staff (a supervisor's whisper, a handoff's
    context, a request for support), read by helpers and staff only.

    A table of its own, never a kind of ``Message``: the visitor's history, replay, REST messages,
    SSE stream and transcript read ``Message`` only, so no filter can be forgotten on any of them.
    Notes travel to the room's helpers-only group (``realtime.groups.help_request_helpers_group``)
    as ``note`` frames, which no visitor connection joins.
    """

    help_request = models.ForeignKey(HelpRequest, on_delete=models.CASCADE, related_name="notes")
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_name = models.CharField(max_length=150)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(max_length=MAX_BODY_CHARS)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["help_request", "id"], name="note_request_id")]

    def __str__(self) -> str:
        return f"{self.author_name} (note): {self.body[:50]}"
