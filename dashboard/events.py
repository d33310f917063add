"""Frames and channel-layer events of the staff dashboard topic."""

from __future__ import annotations

from typing import Any, TypedDict

from dashboard.models import Activity

ACTIVITY = "dashboard.activity"


class ActivityEvent(TypedDict):
    type: str
    activity: dict[str, Any]


def activity_frame(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "kind": activity.kind,
        "text": activity.text,
        "created_at": activity.created_at.isoformat(),
    }


def activity_event(activity: Activity) -> ActivityEvent:
    return {"type": ACTIVITY, "activity": activity_frame(activity)}
