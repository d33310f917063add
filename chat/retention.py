"""How long records are kept, one purge per data type (docs/safeguarding.md, GDPR article 5(1)(e)).

``PURGES`` lists every purge ``manage.py purge_help_requests`` runs, in order: one function per data
type, each taking ``now``, ``batch_size`` and ``dry_run`` and returning a ``PurgeReport``. A new data
type with a retention period is one function and one line here.

Notifications are not in the list: they expire by their own lifetime (``NOTIFICATIONS_DEFAULT_TTL``,
``NOTIFICATIONS_CRITICAL_TTL``) and ``manage.py purge_notifications`` deletes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count

from chat import audit, selectors, services
from chat.app_settings import app_settings
from chat.models import ReadCursor


@dataclass
class PurgeReport:
    """What one purge did (or, in a dry run, would do): ``counts`` per kind of row, and the ids."""

    data_type: str
    counts: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    def add(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count


Purge = Callable[..., PurgeReport]


def conversations_cutoff(now: datetime) -> datetime:
    return now - timedelta(days=app_settings.RETAIN_CONVERSATIONS_DAYS)


def purge_conversations(*, now: datetime, batch_size: int, dry_run: bool) -> PurgeReport:
    """Anonymise the help requests past ``CHAT_RETAIN_CONVERSATIONS_DAYS``: their messages, read
    cursors and personal fields go, the anonymous statistic stays. Each batch is its own short
    transaction (committed before the next starts); a run that stops half-way leaves whole batches
    done and the next run carries on."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    report = PurgeReport("conversations")
    cutoff = conversations_cutoff(now)
    if dry_run:
        due = selectors.help_requests_past_retention(cutoff=cutoff)
        rows = list(due.annotate(message_count=Count("messages")).values_list("public_id", "message_count"))
        report.ids = [str(public_id) for public_id, _ in rows]
        report.add("help requests", len(rows))
        report.add("messages", sum(count for _, count in rows))
        report.add("read cursors", ReadCursor.objects.filter(help_request__in=due).count())
        return report
    report.counts = {"help requests": 0, "messages": 0, "read cursors": 0}
    while True:
        batch = services.help_requests_anonymise(cutoff=cutoff, limit=batch_size)
        for public_id, messages, cursors in batch:
            report.ids.append(public_id)
            report.add("help requests", 1)
            report.add("messages", messages)
            report.add("read cursors", cursors)
        if len(batch) < batch_size:
            return report


def purge_audit_entries(*, now: datetime, batch_size: int, dry_run: bool) -> PurgeReport:
    """Delete the audit entries older than ``CHAT_RETAIN_AUDIT_DAYS`` (``chat.audit.audit_purge``)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    report = PurgeReport("audit entries")
    report.add("audit entries", audit.audit_purge(now=now, batch_size=batch_size, dry_run=dry_run))
    return report


#: Every purge, one per data type (see the module docstring).
PURGES: tuple[Purge, ...] = (purge_conversations, purge_audit_entries)


def purge_all(*, now: datetime, batch_size: int, dry_run: bool) -> list[PurgeReport]:
    return [purge(now=now, batch_size=batch_size, dry_run=dry_run) for purge in PURGES]


__all__ = ["PURGES", "PurgeReport", "purge_all", "purge_audit_entries", "purge_conversations"]
