"""``manage.py purge_help_requests``: apply the retention periods (chat.retention), from cron hourly."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chat.app_settings import app_settings
from chat.retention import purge_all


class Command(BaseCommand):
    help = (
        "Delete what is past its retention period: the conversation and personal fields of help requests "
        "resolved, closed or abandoned more than CHAT_RETAIN_CONVERSATIONS_DAYS ago (an anonymous "
        "statistic stays), and audit entries older than CHAT_RETAIN_AUDIT_DAYS. Idempotent, in short "
        "batches; overlapping runs skip each other's rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would go; change nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help=f"Rows per transaction (default CHAT_PURGE_BATCH_SIZE, {app_settings.PURGE_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = app_settings.PURGE_BATCH_SIZE if options["batch_size"] is None else options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        dry_run = bool(options["dry_run"])
        reports = purge_all(now=timezone.now(), batch_size=batch_size, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for report in reports:
            counts = ", ".join(f"{count} {name}" for name, count in report.counts.items())
            self.stdout.write(f"{report.data_type}: {verb} {counts}")
            for public_id in report.ids:
                self.stdout.write(f"  {public_id}")
        total = sum(next(iter(report.counts.values()), 0) for report in reports)
        prefix = "Dry run, nothing changed" if dry_run else "Purged"
        self.stdout.write(f"{prefix}: {total} record(s) past retention across {len(reports)} data type(s).")
