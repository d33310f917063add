"""Every frame and group event of the notification socket is built here, by pure functions.

Wire frames are what clients see (docs/protocol.md); group events are what services send to
groups and consumers turn into frames. A notification frame is encoded to JSON once, by the sender,
and carried as text so each consumer forwards it without encoding it again.
"""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from typing import Any, TypedDict

from notifications.models import Notification

NOTIFICATION_PUSH = "notification.push"
UNREAD_CHANGED = "notification.unread"
PREFERENCES_CHANGED = "notification.preferences"
#: What host code sends with Channels' ``group_send`` to reach the module's notification sockets and
#: streams with a frame of its own (nothing persisted: for live-only signals).
HOST_EVENT = "realtime.event"
MAX_HOST_EVENT_NAME = 100


class NotificationPushEvent(TypedDict):
    type: str
    id: int
    kind: str
    frame: str
    created: float  # epoch seconds of notify(), for the notify-to-send latency metric


class UnreadChangedEvent(TypedDict):
    type: str
    unread: int
    # What was just read (on any tab or device): these ids, or everything (``all_read``).
    read: list[int]
    all_read: bool


class PreferencesChangedEvent(TypedDict):
    type: str
    in_app_off: list[str]  # the kinds the person's connections leave out from now on


def preferences_changed_event(in_app_off: frozenset[str]) -> PreferencesChangedEvent:
    return {"type": PREFERENCES_CHANGED, "in_app_off": sorted(in_app_off)}


def notification_frame(notification: Notification) -> dict[str, Any]:
    return {
        "type": "notification",
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "priority": notification.priority,
        "created_at": notification.created_at.isoformat(),
        "expires_at": notification.expires_at.isoformat(),
    }


def encode_frame(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def notification_push_event(notification: Notification) -> NotificationPushEvent:
    return {
        "type": NOTIFICATION_PUSH,
        "id": notification.pk,
        "kind": notification.kind,
        "frame": encode_frame(notification_frame(notification)),
        "created": notification.created_at.timestamp(),
    }


def unread_changed_event(unread: int, *, read: list[int] | None = None, all_read: bool = False) -> UnreadChangedEvent:
    return {"type": UNREAD_CHANGED, "unread": unread, "read": read or [], "all_read": all_read}


def synced_frame(*, last_id: int, unread: int) -> dict[str, Any]:
    return {"type": "synced", "last_id": last_id, "unread": unread}


def unread_frame(unread: int, *, read: list[int] | None = None, all_read: bool = False) -> dict[str, Any]:
    """The unread count, and what was just read (ids, or "all") so every tab and device clears it
    from its list and toasts (``read`` is left out when nothing was read)."""
    frame: dict[str, Any] = {"type": "unread", "unread": unread}
    if all_read:
        frame["read"] = "all"
    elif read:
        frame["read"] = read
    return frame


def acked_frame(*, up_to: int, count: int) -> dict[str, Any]:
    return {"type": "acked", "up_to": up_to, "count": count}


def subscriptions_frame(*, muted: AbstractSet[str], topics: AbstractSet[str]) -> dict[str, Any]:
    return {"type": "subscriptions", "muted": sorted(muted), "topics": sorted(topics)}


def roles_frame(roles: frozenset[Any]) -> dict[str, Any]:
    """Sent when the person's roles changed while connected (the socket already follows them)."""
    return {"type": "roles", "roles": sorted(str(role) for role in roles)}


def host_event_frame(event: dict[str, Any]) -> dict[str, Any] | None:
    """The ``event`` frame of a host app's ``{"type": "realtime.event", "name": ..., "data": ...}``;
    None when the name is not a non-empty string of at most 100 characters."""
    name = event.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_HOST_EVENT_NAME:
        return None
    return {"type": "event", "name": name, "data": event.get("data")}
