"""Reads of notifications. Each function is one query."""

from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from notifications.models import Notification, Recipient


def notifications_for_replay(*, user_id: int, since: int | None, limit: int) -> list[Notification]:
    """What a socket of ``user_id`` replays on connect, in id order.

    Without ``since``: every unexpired notification not yet acknowledged (resuming by acknowledgement).
    With ``since``: exactly the unexpired ones with a greater id, acknowledged or not (another tab or
    device may have acknowledged them); the client has everything up to ``since`` already.
    """
    wanted = Q(delivered_at__isnull=True) if since is None else Q(notification_id__gt=since)
    receipts = (
        Recipient.objects.filter(wanted, user_id=user_id, notification__expires_at__gt=timezone.now())
        .select_related("notification")
        .order_by("notification_id")[:limit]
    )
    return [receipt.notification for receipt in receipts]


def notification_unread_count(*, user_id: int) -> int:
    return Recipient.objects.filter(
        user_id=user_id, read_at__isnull=True, notification__expires_at__gt=timezone.now()
    ).count()


def notification_sync_state(*, user_id: int) -> tuple[int, int]:
    """``(unread, last_id)`` for a user: unread unexpired count and the greatest id ever addressed to them."""
    state = Recipient.objects.filter(user_id=user_id).aggregate(
        unread=Count("pk", filter=Q(read_at__isnull=True, notification__expires_at__gt=timezone.now())),
        last_id=Max("notification_id"),
    )
    return int(state["unread"] or 0), int(state["last_id"] or 0)


def recipient_list(*, user_id: int, unread_only: bool = False) -> QuerySet[Recipient]:
    """A person's unexpired notifications, newest first (for pages and the REST API)."""
    receipts = Recipient.objects.filter(user_id=user_id, notification__expires_at__gt=timezone.now())
    if unread_only:
        receipts = receipts.filter(read_at__isnull=True)
    return receipts.select_related("notification").order_by("-notification_id")
