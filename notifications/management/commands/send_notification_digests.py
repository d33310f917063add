"""Send the daily email digests that are due. Cron-friendly: idempotent and safe to run every few
minutes (each person gets at most one digest per NOTIFICATIONS_DIGEST_EVERY)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from notifications.mail import notifications_send_digests


class Command(BaseCommand):
    help = "Send the email digests that are due (at most one per person per day)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Sent {notifications_send_digests()} digest(s).")
