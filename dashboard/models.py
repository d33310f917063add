"""The staff activity feed: what happened in the charity, newest first."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Activity(models.Model):
    kind = models.CharField(max_length=60, db_index=True, help_text="Dotted kind, e.g. donation.confirmed")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.text


class AnnouncementKind(models.TextChoices):
    SYSTEM_ALERT = "system.alert", "System alert"
    MAINTENANCE = "system.maintenance", "Maintenance announcement"
    EMERGENCY = "system.emergency", "Emergency (critical: kept longer, shown until dismissed)"


class Audience(models.TextChoices):
    ALL = "all", "Everyone"
    STAFF = "staff", "Staff"
    VOLUNTEER = "volunteer", "Volunteers"
    DONOR = "donor", "Donors"


class Announcement(models.Model):
    """What staff sent to everyone or to a role; the notification it became carries delivery state."""

    kind = models.CharField(max_length=30, choices=AnnouncementKind.choices, default=AnnouncementKind.SYSTEM_ALERT)
    audience = models.CharField(max_length=20, choices=Audience.choices, default=Audience.ALL)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    priority = models.CharField(max_length=10, default="normal", editable=False)
    notification = models.OneToOneField(
        "notifications.Notification", on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    reached = models.PositiveIntegerField(default=0, editable=False, help_text="People it was addressed to")
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
