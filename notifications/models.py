"""Persisted notifications.

A ``Notification`` holds what was said once; a ``Recipient`` row per person records who it was for and
whether it was delivered (acknowledged by a socket) and read. The notification's id is what clients see:
it is the same for every recipient, and ids reach each recipient in increasing order.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from notifications.kinds import Channel


class Priority(models.TextChoices):
    NORMAL = "normal", "Normal"
    CRITICAL = "critical", "Critical"


class EmailOutcome(models.TextChoices):
    SENT = "sent", "Emailed"
    OFF = "off", "Email off"
    DIGEST = "digest", "Waiting for the digest"
    DIGESTED = "digested", "Sent in a digest"


class Notification(models.Model):
    kind = models.CharField(max_length=100, db_index=True, help_text="Dotted kind, e.g. donation.confirmed")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    audience = models.CharField(
        max_length=100, help_text="Who it was addressed to: user:<id>, users, role:<role> or all"
    )
    recipient_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class Recipient(models.Model):
    # Neither foreign key is a database constraint. notify() writes a row per recipient (a thousand
    # for a role), and PostgreSQL checks each row's keys one at a time: a lookup of the notification
    # and a lookup and row lock of the user, per row. That was nearly half of what notify() cost
    # (docs/performance.md). The rows are written by one INSERT ... SELECT of existing users for the
    # notification the same statement creates, and everything that deletes users or notifications
    # goes through the ORM, which deletes their receipts (on_delete=CASCADE, done by Django). What
    # the database would otherwise have refused: a user deleted while their receipt was being
    # written leaves it without a user; every read joins the user or skips such rows, and they
    # go when their notification expires and is purged.
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="recipients", db_constraint=False
    )
    # No index of its own: the unique constraint's index starts with user_id and serves every lookup
    # by user (replay, acks, deleting a user). A third index on a table that gets a row per
    # recipient of every notification costs each notify() a fifth more WAL for nothing.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_receipts",
        db_index=False,
        db_constraint=False,
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # When the email path (services.notifications_email_due) dealt with this receipt, once: emailed
    # (a critical one no socket acknowledged, or one left unread past its kind's delay), put in the
    # person's digest, or passed over because the person turned email off (``email_outcome``).
    escalated_at = models.DateTimeField(null=True, blank=True)
    email_outcome = models.CharField(max_length=10, choices=EmailOutcome.choices, blank=True, db_default="")

    class Meta:
        constraints = [
            # Also the index every replay and ack walks: (user, notification id).
            models.UniqueConstraint(fields=["user", "notification"], name="recipient_user_notification_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} → {self.user_id}"

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None

    @property
    def read(self) -> bool:
        return self.read_at is not None


class PreferenceRole(models.TextChoices):
    VOLUNTEER = "volunteer", "Volunteers"
    DONOR = "donor", "Donors"
    STAFF = "staff", "Staff"


class NotificationPreference(models.Model):
    """Whether one channel is on for one kind: a person's own choice (``user``), or a role-wide
    default staff set in the admin (``role``) for the people of that role who chose nothing."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_preferences",
    )
    role = models.CharField(max_length=20, choices=PreferenceRole.choices, blank=True)
    kind = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=[(c.value, c.value) for c in Channel])
    enabled = models.BooleanField()
    # Email only: one daily digest instead of an email per notification.
    digest = models.BooleanField(default=False)

    class Meta:
        verbose_name = "role-wide notification default"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "channel"],
                condition=models.Q(user__isnull=False),
                name="preference_user_kind_channel_uniq",
            ),
            models.UniqueConstraint(
                fields=["role", "kind", "channel"],
                condition=models.Q(user__isnull=True),
                name="preference_role_kind_channel_uniq",
            ),
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, role="") | models.Q(user__isnull=True) & ~models.Q(role="")),
                name="preference_user_xor_role",
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else f"role {self.role}"
        return f"{who}: {self.kind} {self.channel} {'on' if self.enabled else 'off'}"


class DeliverySettings(models.Model):
    """A person's quiet hours (a daily window in their own time zone) and when their digest last went."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="notification_settings"
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"delivery settings of user {self.user_id}"


class PushSubscription(models.Model):
    """One browser's Web Push subscription (one per device and browser profile). No IP address."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"push subscription {self.pk} of user {self.user_id}"

    def subscription_info(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class PushJob(models.Model):
    """The outbox: a notification whose pushes are still to be worked out (written with it, in its
    transaction; the sender expands it into one ``PushDelivery`` per subscribed device)."""

    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="push_job")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"pushes of notification {self.notification_id}"


class PushDelivery(models.Model):
    """One push to one device, sent by the sender; retried with backoff until it is accepted."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="push_deliveries")
    subscription = models.ForeignKey(PushSubscription, on_delete=models.CASCADE, related_name="deliveries")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notification", "subscription"], name="push_delivery_uniq"),
        ]

    def __str__(self) -> str:
        return f"push of notification {self.notification_id} to device {self.subscription_id}"
