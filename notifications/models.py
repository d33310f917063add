"""Persisted notifications.

A ``Notification`` holds what was said once; a ``Recipient`` row per person records who it was for and
whether it was delivered (acknowledged by a socket) and read. The notification's id is what clients see:
it is the same for every recipient, and ids reach each recipient in increasing order.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Priority(models.TextChoices):
    NORMAL = "normal", "Normal"
    CRITICAL = "critical", "Critical"


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
    # A critical notification no socket acknowledged in time was emailed (once) at this moment.
    escalated_at = models.DateTimeField(null=True, blank=True)

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
