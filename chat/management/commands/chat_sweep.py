"""Run the limits' sweep (``chat.sweep``): nudge unanswered claims and hand them back to the queue,
ask idle visitors and prompt their helpers, drop expired blocks. Idempotent and safe to run in
several places at once: from cron every minute, or kept running with ``--loop``."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from chat.app_settings import app_settings
from chat.sweep import sweep


class Command(BaseCommand):
    help = "Sweep the help-request limits once (or every CHAT_SWEEP_INTERVAL seconds with --loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Repeat every CHAT_SWEEP_INTERVAL seconds.")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            result = sweep()
            self.stdout.write(f"Swept: {result}.")
            if not options["loop"]:
                return
            close_old_connections()
            time.sleep(app_settings.SWEEP_INTERVAL)
