"""Help requests and their chat.

A ``HelpRequest`` is what an anonymous visitor asked for; it is addressed everywhere by its random
``public_id``, never by its database id. Its ``Message`` rows are the room's history: ids only grow,
and within one request they become visible in id order (``message_post`` locks the request row), so
a client that resumes "after the last id I saw" misses nothing. A ``ReadCursor`` is how far one
participant has read. An ``AccessRecord`` says who (other than the visitor) opened a conversation,
redacted a message or exported it, when and how: the audit trail (``chat.audit``).
participant has read.

The waiting room's configuration (``HelplineSettings``, ``OpeningHours``, ``Alternative``) is edited
in the admin and read through ``chat.selectors.helpline_config`` (cached; saving clears it).
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

MAX_BODY_CHARS = 4000
MAX_NAME_CHARS = 100
#: The name a visitor who gives none is shown by: a name is never required (any name will do).
DEFAULT_VISITOR_NAME = "Visitor"
MAX_CONTACT_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
MAX_CLIENT_ID_CHARS = 64
MAX_URGENT_REASON_CHARS = 200
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
    name = models.CharField(
        max_length=MAX_NAME_CHARS,
        blank=True,
        default=DEFAULT_VISITOR_NAME,
        help_text='The name the visitor chose (any name will do); "Visitor" when they gave none.',
    )
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
    # The visitor asked for the transcript by email when the request is resolved (their contact must
    # be an email address; chat.transcripts).
    transcript_email_requested = models.BooleanField(default=False)
    # Records (docs/safeguarding.md): when the conversation and the personal fields were deleted,
    # leaving an anonymous statistic (category, times, status); and when that was an erasure asked
    # for by the visitor or done by staff ("visitor" or "staff" in erased_by) rather than the
    # retention period (chat.retention).
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    erased_by = models.CharField(max_length=10, blank=True, editable=False)
    # When a volunteer or staff member first wrote in the room: the end of the visitor's wait
    # (the wait estimate's history, chat.selectors.wait_history).
    first_reply_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Made while nobody was on duty (closed, or no helper online): a message left for later.
    left_offline = models.BooleanField(default=False, editable=False)
    # Flagged for immediate attention (chat.services.help_request_set_urgent); the visitor sees the
    # emergency text above the conversation. The reason is for helpers only, never for the visitor.
    urgent = models.BooleanField(default=False, editable=False)
    urgent_reason = models.CharField(max_length=MAX_URGENT_REASON_CHARS, blank=True, editable=False)
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
            # The wait estimate's history: the most recently answered requests.
            models.Index(fields=["first_reply_at"], name="help_request_first_reply"),
            models.Index(fields=["status", "queued_at"], name="help_request_status_queued"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'Anonymised request'} ({self.get_status_display()})"

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
    # Set when staff removed the text (``services.message_redact``): ``body`` is then REDACTED_BODY.
    redacted_at = models.DateTimeField(null=True, blank=True, editable=False)

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


class Severity(models.IntegerChoices):
    """How urgent a risk-list match makes a request. Every match flags it urgent; the severity is
    the reason's weight (helpers see it, staff on duty are told) and orders urgent requests."""

    CONCERN = 1, "Concern"
    HIGH = 2, "High"
    CRITICAL = 3, "Critical"


MAX_RISK_PHRASE_CHARS = 100


class RiskTerm(models.Model):
    """A word or phrase of the risk list (``chat.triage``): kept in the admin, reviewed with the
    charity's safeguarding lead. Never shown to a visitor."""

    phrase = models.CharField(
        max_length=MAX_RISK_PHRASE_CHARS,
        unique=True,
        help_text="Matched as whole words, ignoring case and accents: 'self harm' matches 'Self-harm'.",
    )
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.HIGH)
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, help_text="Why it is on the list (for reviewers).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-severity", "phrase"]

    def __str__(self) -> str:
        return f"{self.phrase} ({self.get_severity_display()})"

    def clean(self) -> None:
        if not re.search(r"\w", self.phrase):
            raise ValidationError({"phrase": "A phrase needs at least one letter or digit."})


#: The placeholders a canned reply may use, filled in for the room it is inserted in.
CANNED_PLACEHOLDERS = {"{visitor}": "the visitor's display name", "{helper}": "the helper's name"}
_PLACEHOLDER = re.compile(r"\{[^{}\s]*\}")


class CannedReply(models.Model):
    """A reply helpers insert in a room and edit before sending (never sent by itself)."""

    title = models.CharField(max_length=100)
    text = models.TextField(
        max_length=MAX_BODY_CHARS,
        help_text="Placeholders: " + ", ".join(f"{key} ({what})" for key, what in CANNED_PLACEHOLDERS.items()) + ".",
    )
    category = models.CharField(
        max_length=20, choices=Category.choices, blank=True, help_text="Blank: offered in every category."
    )
    language = models.CharField(max_length=16, blank=True, help_text="A language code such as 'en' or 'fr'; optional.")
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        unknown = sorted(set(_PLACEHOLDER.findall(self.text)) - set(CANNED_PLACEHOLDERS))
        if unknown:
            known = ", ".join(CANNED_PLACEHOLDERS)
            raise ValidationError({"text": f"Unknown placeholder {', '.join(unknown)}: use {known}."})


#: What a redacted message's body becomes; the original text is kept nowhere.
REDACTED_BODY = "[removed by staff]"
MAX_REASON_CHARS = 500


class AccessChannel(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "REST API"
    SOCKET = "socket", "WebSocket"
    SSE = "sse", "SSE stream"
    ADMIN = "admin", "Admin"
    EXPORT = "export", "Export"


class AccessAction(models.TextChoices):
    READ = "read", "Read"
    REDACT = "redact", "Redact"
    EXPORT = "export", "Export"
    ERASE = "erase", "Erase"
    FLAG = "flag", "Flag urgent"
    UNFLAG = "unflag", "Clear urgent"
    BLOCK = "block", "Block the visitor"


class AccessRecord(models.Model):
    """One audit entry: ``user`` (and their username then) did ``action`` on a request by ``channel``.

    Never a session id, an address or a message's text. Kept while the request is anonymised
    (only deleting the request row itself deletes its entries); purged after
    ``CHAT_RETAIN_AUDIT_DAYS`` (``chat.audit.audit_purge``)."""

    help_request = models.ForeignKey(HelpRequest, on_delete=models.CASCADE, related_name="access_records")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="The account's username at the time.")
    at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=AccessChannel.choices)
    action = models.CharField(max_length=10, choices=AccessAction.choices, default=AccessAction.READ)
    # The redacted message's id (a plain number: the entry outlives the message's erasure).
    message_number = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(max_length=MAX_REASON_CHARS, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The once-per-window check of reads (chat.audit.access_read), and one request's entries.
            models.Index(fields=["help_request", "user", "channel", "at"], name="access_record_dedupe"),
            # One person's entries, newest first; and the retention purge.
            models.Index(fields=["user", "at"], name="access_record_user_at"),
            models.Index(fields=["at"], name="access_record_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username or '?'} {self.action} by {self.channel} at {self.at:%Y-%m-%d %H:%M}"


# -- the waiting room's configuration ----------------------------------------------------------------

DEFAULT_EMERGENCY_TEXT = (
    "If you are in danger now, call 999. If you are thinking about ending your life, call Samaritans free on 116 123."
)
MAX_EMERGENCY_TEXT_CHARS = 300


class HelplineSettings(models.Model):
    """The one row of helpline-wide texts (``pk`` 1; ``helpline_settings_get`` makes it on first use)."""

    emergency_text = models.CharField(
        max_length=MAX_EMERGENCY_TEXT_CHARS,
        default=DEFAULT_EMERGENCY_TEXT,
        help_text="Shown at the top of every visitor page, and above the conversation of an urgent request.",
    )

    class Meta:
        verbose_name = "helpline settings"
        verbose_name_plural = "helpline settings"

    def __str__(self) -> str:
        return "Helpline settings"

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # a singleton: every save is the one row
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class OpeningHours(models.Model):
    """One opening of the helpline: from ``opens`` on ``weekday`` to ``closes``, in the charity's time
    zone (``settings.TIME_ZONE``). A range whose ``closes`` is not after ``opens`` runs overnight, into
    the next day (22:00 to 02:00). No rows at all: the helpline is always open."""

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="At or before the opening time: the range ends the next day.")

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = "opening hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M} to {self.closes:%H:%M}"


class AlternativeKind(models.TextChoices):
    EMERGENCY = "emergency", "Emergency"
    PHONE = "phone", "Phone line"
    WEBSITE = "website", "Website"


class Alternative(models.Model):
    """Another way to get help, shown to visitors when nobody is available (and in the waiting room)."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=AlternativeKind.choices, default=AlternativeKind.PHONE)
    phone = models.CharField(max_length=40, blank=True, help_text="A number to call, as people dial it.")
    url = models.URLField(blank=True, help_text="A web address (https://…).")
    order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.phone and not self.url:
            raise ValidationError("Give a phone number or a web address.")
        if self.url and not self.url.lower().startswith(("https://", "http://")):
            raise ValidationError({"url": "Only http and https addresses."})


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
