from typing import Any

from django.core.management.base import BaseCommand

from notifications.services import notifications_purge_expired


class Command(BaseCommand):
    help = "Delete expired notifications (and their receipts). Safe to run from cron at any interval."

    def handle(self, *args: Any, **options: Any) -> None:
        count = notifications_purge_expired()
        self.stdout.write(f"Purged {count} expired notification(s).")
