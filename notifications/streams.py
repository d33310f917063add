"""What the notification socket and the notification SSE stream share: groups and the replay read."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from charity.roles import Role
from notifications import selectors
from notifications.app_settings import app_settings
from notifications.models import Notification
from realtime import groups
from realtime.cursors import parse_cursor


def notification_groups(*, user_id: int, roles: frozenset[Role]) -> list[str]:
    """The groups a person's notification stream listens on: their own, each role's, everyone's."""
    return [groups.user_group(user_id), groups.everyone_group()] + [groups.role_group(role) for role in sorted(roles)]


def regroup(*, user_id: int, before: frozenset[Role], after: frozenset[Role]) -> tuple[list[str], list[str]]:
    """The groups to leave and to join when a person's roles change from ``before`` to ``after``."""
    old = set(notification_groups(user_id=user_id, roles=before))
    new = set(notification_groups(user_id=user_id, roles=after))
    return sorted(old - new), sorted(new - old)


@dataclass(frozen=True)
class Replay:
    notifications: list[Notification]
    unread: int
    last_id: int


def replay_read(*, user_id: int, since: int | None) -> Replay:
    """The replay and sync state of a stream that (re)connects; read only after joining the groups.

    Both reads see one snapshot. Otherwise a notification committed between them is missing from
    the replay yet counted as unread, then arrives live and the client counts it a second time. On
    PostgreSQL that takes a repeatable-read transaction (each statement of a read-committed one sees
    a new snapshot); SQLite's transaction keeps the snapshot of its first read. Inside a caller's
    transaction, its isolation applies.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        notifications = selectors.notifications_for_replay(
            user_id=user_id, since=since, limit=app_settings.REPLAY_LIMIT
        )
        unread, last_id = selectors.notification_sync_state(user_id=user_id)
    if len(notifications) == app_settings.REPLAY_LIMIT:
        # Cut short: report the last id actually sent so a resuming client asks for the rest.
        last_id = notifications[-1].pk
    return Replay(notifications=notifications, unread=unread, last_id=max(last_id, since or 0))


#: How many sent ids a stream remembers to drop duplicates (and a socket waits for acks on).
REMEMBERED_IDS = 10_000


def remember(ids: dict[int, None], notification_id: int) -> None:
    """Add an id; past ``REMEMBERED_IDS`` forget the oldest (dicts keep insertion order)."""
    ids[notification_id] = None
    if len(ids) > REMEMBERED_IDS:
        del ids[next(iter(ids))]


def parse_since(raw: str | None) -> tuple[int | None, str | None]:
    """``since`` from a query string or Last-Event-ID: ``(value, error message)``."""
    return parse_cursor(raw, name="since", fallback="replaying everything unacknowledged")
