"""Writes of the control room: the activity feed."""

from __future__ import annotations

from charity import groups
from charity.broadcast import group_send_on_commit
from dashboard import events
from dashboard.models import Activity


def activity_record(*, kind: str, text: str) -> Activity:
    """Persist an activity line and push it to staff watching the dashboard, after commit."""
    activity = Activity.objects.create(kind=kind, text=text[:300])
    group_send_on_commit([groups.topic_group("dashboard")], events.activity_event(activity))
    return activity
