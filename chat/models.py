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
MAX_FEEDBACK_CHARS = 2000


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
    # The queue's order (``selectors.queue_order``): when the request joined the queue. A request
    # handed back by the unanswered-claim rule keeps its first value, so it goes back to the front.
    queued_at = models.DateTimeField(default=timezone.now, editable=False)
    # The limits of docs/helpline.md, kept by ``chat.limits`` and the sweep (``chat_sweep``).
    claim_nudged_at = models.DateTimeField(null=True, blank=True, editable=False)
    idle_asked_at = models.DateTimeField(null=True, blank=True, editable=False)
    idle_prompted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # "<random salt>$<HMAC of the client's network under SECRET_KEY and that salt>", made when the
    # request was opened: only a block can use it (chat.blocks), no two requests share a salt so it
    # links nothing, and it goes with the request. Never the address itself.
    address_check = models.CharField(max_length=120, blank=True, editable=False)

    class Meta:
        indexes = [
            # The queue: waiting requests in creation (id) order.
            models.Index(fields=["status", "id"], name="help_request_status_id"),
            models.Index(fields=["status", "queued_at"], name="help_request_status_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("chat:help-request", kwargs={"public_id": self.public_id})

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


class HelperLimit(models.Model):
    """One helper's own cap on concurrent active conversations (over ``CHAT_MAX_ACTIVE_PER_HELPER``)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="helper_limit")
    max_active = models.PositiveSmallIntegerField(help_text="Conversations this person may hold at once.")
    note = models.CharField(max_length=200, blank=True, help_text="Why (seen by staff only).")

    def __str__(self) -> str:
        return f"{self.user} may hold {self.max_active}"


class VisitorBlock(models.Model):
    """Staff stopped an abusive visitor until ``expires_at``: their device (the request's visitor
    secret, so every session it vouched for) and their address (``HelpRequest.address_check``)."""

    help_request = models.ForeignKey(
        HelpRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="blocks"
    )
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    address_check = models.CharField(max_length=120, blank=True, editable=False)
    reason = models.TextField(max_length=1000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="visitor_block_expires")]

    def __str__(self) -> str:
        return f"Block until {self.expires_at:%Y-%m-%d %H:%M}"


class Feedback(models.Model):
    """The visitor's rating of the help, once per request; it goes with the request."""

    help_request = models.OneToOneField(HelpRequest, on_delete=models.CASCADE, related_name="feedback")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(max_length=MAX_FEEDBACK_CHARS, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="feedback_created")]
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5"
