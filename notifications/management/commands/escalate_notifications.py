"""The email path (notifications/mail.py): critical notifications nobody acknowledged, and any
notification left unread past its kind's delay when the person wants email. Run from cron every minute,
or keep it running with ``--every 60`` (the demo does)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from notifications.mail import notifications_email_due


class Command(BaseCommand):
    help = "Escalate unacknowledged critical notifications by email (once each)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="Repeat every N seconds instead of once.")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            count = notifications_email_due()
            if count or not options["every"]:
                self.stdout.write(f"Sent {count} notification email(s).")
            if not options["every"]:
                return
            close_old_connections()
            time.sleep(options["every"])
