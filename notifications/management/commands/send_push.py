"""The Web Push sender as its own process (scale-out), or one round from cron.

python manage.py send_push --loop     # keep sending (set NOTIFICATIONS_PUSH_IN_PROCESS=false
                                      # for the servers so only this process sends)
python manage.py send_push            # one round, then exit
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.push import PushSender, push_configured, push_run_once


class Command(BaseCommand):
    help = "Send queued Web Push notifications (once, or with --loop until stopped)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep running, sending as notifications commit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not push_configured():
            raise CommandError(
                "Web Push is off: set NOTIFICATIONS_VAPID_PRIVATE_KEY and NOTIFICATIONS_VAPID_PUBLIC_KEY."
            )
        if options["loop"]:
            asyncio.run(PushSender().run())
            return
        self.stdout.write(f"Sent {push_run_once()} push(es).")
