"""The staff activity feed: what happened in the charity, newest first."""

from __future__ import annotations

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
