"""Writes of shifts: every change reaches the shift's volunteers live, after commit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from notifications import api as notifications
from realtime import activity
from shifts.models import Shift


def shift_changed(*, shift: Shift, what: str = "updated") -> None:
    """Tell the shift's volunteers (one notification, one receipt each) and the activity feed."""
    volunteer_ids = list(shift.volunteers.values_list("pk", flat=True))
    when = timezone.localtime(shift.starts_at).strftime("%a %d %b, %H:%M")
    with transaction.atomic():
        if volunteer_ids:
            notifications.notify_users(
                volunteer_ids,
                kind="shift.changed",
                title=f"Shift {what}: {shift.title}",
                body=f"{when}{' at ' + shift.location if shift.location else ''}",
                data={
                    "shift": shift.pk,
                    "starts_at": shift.starts_at.isoformat(),
                    "ends_at": shift.ends_at.isoformat(),
                },
            )
        activity.activity_report(
            kind="shift.changed", text=f"Shift {what}: {shift.title} ({len(volunteer_ids)} volunteers)"
        )
