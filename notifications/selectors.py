"""Reads of notifications. Each function is one query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Count, JSONField, Max, Q, QuerySet
from django.utils import timezone

from notifications.kinds import Channel
from notifications.models import Notification, NotificationPreference, Recipient


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


@dataclass(frozen=True)
class ReplayState:
    """What a (re)connecting stream reads, as of one moment (``notification_replay_state``)."""

    notifications: list[Notification]
    unread: int
    last_id: int
    #: Whether any in-app preference could apply (the person's own, or a default of one of their roles).
    has_in_app_preferences: bool


def notification_replay_state(*, user_id: int, since: int | None, limit: int, roles: list[str]) -> ReplayState:
    """``notifications_for_replay``, ``notification_sync_state`` and whether in-app preferences exist,
    in one PostgreSQL statement.

    One statement sees one snapshot at any isolation level, so the replay and the unread count agree
    without a repeatable-read transaction (three more round trips, and a query compiled each time,
    per connect). The conditions are those of the two ORM selectors above; the tests hold them equal.
    """
    sql, params = _replay_state_statement(user_id=user_id, since=since, limit=limit, roles=roles)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _replay_state(cursor.fetchall())


async def anotification_replay_state(*, user_id: int, since: int | None, limit: int, roles: list[str]) -> ReplayState:
    """``notification_replay_state`` on the event loop: the same statement on ``realtime.adb``'s
    asynchronous connections (pool ``"connect"``, ``REALTIME_CONNECT_CONNECTIONS``), for connecting
    sockets: no thread hop, no queryset."""
    from realtime import adb
    from realtime.conf import app_settings as realtime_settings

    sql, params = _replay_state_statement(user_id=user_id, since=since, limit=limit, roles=roles)
    rows = await adb.fetchall(sql, params, pool="connect", pool_size=realtime_settings.CONNECT_CONNECTIONS)
    return _replay_state(rows)


def _replay_state_statement(
    *, user_id: int, since: int | None, limit: int, roles: list[str]
) -> tuple[str, dict[str, Any]]:
    """The statement of ``notification_replay_state``: each row a notification's columns (in the
    model's order; JSON as text, decoded by its field as the ORM does), then the state."""
    recipient, notification = Recipient._meta.db_table, Notification._meta.db_table
    preference = NotificationPreference._meta.db_table
    columns = ", ".join(
        f'n."{field.column}"::text' if isinstance(field, JSONField) else f'n."{field.column}"'
        for field in Notification._meta.concrete_fields
    )
    wanted = 'r."delivered_at" IS NULL' if since is None else 'r."notification_id" > %(since)s'
    # One parameter per role rather than an array: psycopg's array adapter refers back to the query's
    # adapters, so every statement that passes a list leaves a reference cycle (some 60 objects) for
    # the garbage collector, per connecting socket. NULL matches no role.
    role_values = {f"role{index}": role for index, role in enumerate(roles)}
    role_params = ", ".join(f"%({name})s" for name in role_values) or "NULL"
    # Only the models' own table and column names are formatted in; every value is a parameter.
    sql = f"""
        SELECT {columns}, s."unread", s."last_id", s."has_preferences"
        FROM (
            SELECT COUNT(r."id") FILTER (WHERE n."expires_at" > %(now)s AND r."read_at" IS NULL) AS "unread",
                   MAX(r."notification_id") AS "last_id",
                   EXISTS (
                       SELECT 1 FROM "{preference}" p WHERE p."channel" = %(channel)s
                       AND (p."user_id" = %(user_id)s OR (p."user_id" IS NULL AND p."role" IN ({role_params})))
                   ) AS "has_preferences"
            FROM "{recipient}" r INNER JOIN "{notification}" n ON r."notification_id" = n."id"
            WHERE r."user_id" = %(user_id)s
        ) s
        LEFT JOIN LATERAL (
            SELECT n.* FROM "{recipient}" r INNER JOIN "{notification}" n ON r."notification_id" = n."id"
            WHERE r."user_id" = %(user_id)s AND n."expires_at" > %(now)s AND {wanted}
            ORDER BY r."notification_id" LIMIT %(limit)s
        ) n ON TRUE
        ORDER BY n."id"
    """  # noqa: S608
    params = {
        "now": timezone.now(),
        "user_id": user_id,
        "since": since,
        "limit": limit,
        "channel": Channel.IN_APP.value,
        **role_values,
    }
    return sql, params


def _replay_state(rows: Sequence[Sequence[Any]]) -> ReplayState:
    """A ``ReplayState`` from the statement's rows: the state is on every row; with nothing to
    replay, on one row of NULLs."""
    fields = Notification._meta.concrete_fields
    names = [field.attname for field in fields]
    decoders = [(index, field) for index, field in enumerate(fields) if hasattr(field, "from_db_value")]
    notifications = []
    for row in rows:
        if row[0] is None:
            continue
        values = list(row[: len(fields)])
        for index, field in decoders:
            values[index] = field.from_db_value(values[index], None, connection)
        notifications.append(Notification.from_db(DEFAULT_DB_ALIAS, names, values))
    unread, last_id, has_preferences = rows[0][len(fields) :]
    return ReplayState(
        notifications=notifications,
        unread=int(unread or 0),
        last_id=int(last_id or 0),
        has_in_app_preferences=bool(has_preferences),
    )
