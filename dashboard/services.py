"""Writes of the control room: the activity feed and announcements."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from charity.roles import Role
from dashboard.live import dashboard_touch
from dashboard.models import Activity, Announcement, AnnouncementKind, Audience
from notifications import api as notifications


def activity_on_report(sender: Any, *, kind: str, text: str, **kwargs: Any) -> None:
    """Receiver of ``realtime.activity.activity_reported`` (connected in ``apps.py``)."""
    activity_record(kind=kind, text=text)


def activity_record(*, kind: str, text: str) -> Activity:
    """Persist an activity line; watching staff see it with the next coalesced dashboard update."""
    activity = Activity.objects.create(kind=kind, text=text[:300])
    dashboard_touch()
    return activity


def announcement_send(
    *,
    audience: str,
    title: str,
    body: str = "",
    kind: str = AnnouncementKind.SYSTEM_ALERT,
    priority: str | None = None,
    by: Any = None,
) -> Announcement:
    """Send an announcement to everyone or a role. Emergencies are always critical.

    Returns the saved announcement; ``reached`` is how many people it was addressed to.
    """
    if priority is None or kind == AnnouncementKind.EMERGENCY:
        priority = notifications.CRITICAL if kind == AnnouncementKind.EMERGENCY else (priority or notifications.NORMAL)
    target = (
        notifications.Audience.all() if audience == Audience.ALL else notifications.Audience.for_role(Role(audience))
    )
    with transaction.atomic():
        notification = notifications.notify(target, kind=str(kind), title=title, body=body, priority=priority)
        announcement = Announcement.objects.create(
            kind=kind,
            audience=audience,
            title=title,
            body=body,
            priority=priority,
            notification=notification,
            reached=notification.recipient_count,
            sent_by=by if getattr(by, "pk", None) else None,
        )
        activity_record(
            kind="announcement.sent",
            text=f"{announcement.get_kind_display().split(' (')[0]} to {announcement.get_audience_display()}: {title}",
        )
    return announcement
