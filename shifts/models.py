"""Volunteer shifts. A change to a shift notifies its volunteers live (``shift.changed``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Shift(models.Model):
    title = models.CharField(max_length=120)
    location = models.CharField(max_length=120, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    volunteers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="shifts", blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%a %d %b %H:%M})"
