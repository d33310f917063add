"""Email critical notifications nobody acknowledged in time. Run from cron every minute, or keep it
running with ``--every 60`` (the demo does)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from notifications.services import notifications_escalate_unacknowledged


class Command(BaseCommand):
    help = "Escalate unacknowledged critical notifications by email (once each)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="Repeat every N seconds instead of once.")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            count = notifications_escalate_unacknowledged()
            if count or not options["every"]:
                self.stdout.write(f"Escalated {count} notification(s) by email.")
            if not options["every"]:
                return
            close_old_connections()
            time.sleep(options["every"])
