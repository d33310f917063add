"""The public API of the notifications module: what Django views and consumers call.

    from notifications import api as notifications

    notifications.notify_user(request.user, kind="donation.confirmed", title="Thank you!")
    notifications.notify_role("volunteer", kind="shift.changed", title="Saturday moved to 10:00")
    await notifications.anotify_all(kind="system.alert", title="Flood warning", priority="critical")

Each call persists the notification (one row plus one receipt per recipient, in a bounded number of
queries) and pushes it to the recipients' open sockets once the surrounding transaction commits.
Offline recipients get it when they reconnect, until it expires.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Model

from charity.roles import Role
from notifications.audience import Audience
from notifications.models import Notification, Priority
from notifications.services import (
    NotificationError,
    notification_body_replace,
    notification_create,
    notifications_delete_about,
)

__all__ = [
    "CRITICAL",
    "NORMAL",
    "Audience",
    "NotificationError",
    "anotify",
    "anotify_all",
    "anotify_role",
    "anotify_user",
    "anotify_users",
    "forget",
    "notify",
    "notify_all",
    "notify_role",
    "notify_user",
    "notify_users",
    "replace_body",
]

NORMAL = Priority.NORMAL.value
CRITICAL = Priority.CRITICAL.value


def notify(
    audience: Audience,
    *,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    priority: str = NORMAL,
    ttl: int | timedelta | None = None,
) -> Notification:
    """Send a notification to ``audience``. Raises ``NotificationError`` on bad arguments."""
    return notification_create(
        audience=audience, kind=kind, title=title, body=body, data=data, priority=priority, ttl=ttl
    )


def notify_user(user: Model | int, **kwargs: Any) -> Notification:
    return notify(Audience.user(user), **kwargs)


def notify_users(users: Iterable[Model | int], **kwargs: Any) -> Notification:
    return notify(Audience.users(users), **kwargs)


def notify_role(role: Role | str, **kwargs: Any) -> Notification:
    try:
        audience = Audience.for_role(role)
    except ValueError as exc:
        raise NotificationError(str(exc)) from exc
    return notify(audience, **kwargs)


def notify_all(**kwargs: Any) -> Notification:
    return notify(Audience.all(), **kwargs)


def replace_body(*, kind: str, data_match: dict[str, Any], body: str) -> int:
    """Overwrite the body of stored notifications of ``kind`` whose ``data`` contains ``data_match``."""
    return notification_body_replace(kind=kind, data_match=data_match, body=body)


def forget(*, kind_prefix: str, key: str, value: str) -> int:
    """Delete the notifications (of kinds starting with ``kind_prefix``) whose ``data[key]`` is
    ``value``, e.g. every ``help_request.*`` one about an erased request; returns how many went.
    Clients that already show one keep it until they reload."""
    return notifications_delete_about(kind_prefix=kind_prefix, key=key, value=value)


anotify = database_sync_to_async(notify)
anotify_user = database_sync_to_async(notify_user)
anotify_users = database_sync_to_async(notify_users)
anotify_role = database_sync_to_async(notify_role)
anotify_all = database_sync_to_async(notify_all)
