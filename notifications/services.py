"""Writes of the notifications module: create and fan out, acknowledge, mark read, purge, and a
person's delivery choices (preferences, quiet hours, push subscriptions).

Only this module sends notification events, and only after the transaction commits.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from charity.roles import roles_for
from notifications import events
from notifications.app_settings import app_settings
from notifications.audience import Audience
from notifications.kinds import Channel, kind_for, kind_get
from notifications.models import (
    DeliverySettings,
    Notification,
    NotificationPreference,
    Priority,
    PushJob,
    PushSubscription,
    Recipient,
)
from notifications.wake import push_wake
from realtime import groups
from realtime.publish import group_send_on_commit

KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
# Any constant will do; it only has to be the same in every process.
_ID_ORDER_LOCK = 0x6E6F7469  # "noti"
_CHUNK = 500


class NotificationError(ValueError):
    """Raised when notify() is called with arguments that cannot make a notification."""


def _validate(*, kind: str, title: str, body: str, data: Any, priority: str, ttl: int | timedelta | None) -> timedelta:
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind) or len(kind) > 100:
        raise NotificationError(f"kind must be dotted lowercase words like 'donation.confirmed', got {kind!r}.")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise NotificationError("title must be a non-empty string of at most 200 characters.")
    if not isinstance(body, str):
        raise NotificationError("body must be a string.")
    if not isinstance(data, dict):
        raise NotificationError("data must be a JSON object (a dict).")
    try:
        # The encoding the JSONField stores and encode_frame sends: plain JSON, without NaN or
        # Infinity (which jsonb and browsers refuse), so what passes here can be saved and sent.
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise NotificationError(f"data must be JSON-serialisable: {exc}") from exc
    if priority not in Priority.values:
        raise NotificationError(f"priority must be one of {Priority.values}, got {priority!r}.")
    if ttl is None:
        seconds = app_settings.CRITICAL_TTL if priority == Priority.CRITICAL else app_settings.DEFAULT_TTL
        return timedelta(seconds=seconds)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float | timedelta):
        raise NotificationError(f"ttl must be seconds or a timedelta, got {ttl!r}.")
    try:
        lifetime = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    except (OverflowError, ValueError) as exc:
        raise NotificationError(f"ttl is out of range: {exc}") from exc
    if lifetime <= timedelta(0):
        raise NotificationError("ttl must be positive.")
    return lifetime


def _serialize_id_allocation() -> None:
    """Make notification ids follow commit order.

    Clients resume from the highest id they saw, so an id must never become visible after a greater
    one. On PostgreSQL two transactions can take ids 10 and 11 and commit 11 first; a transaction-level
    advisory lock, held until commit, rules that out. SQLite serialises writers already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ID_ORDER_LOCK])


def _recipients_sql(audience: Audience) -> tuple[str, Sequence[Any]] | None:
    """The audience's user ids as SQL selecting column ``recipient_id``; None for an empty list of users."""
    try:
        return audience.user_ids_queryset().query.sql_with_params()
    except EmptyResultSet:
        return None


def _fan_out(notification: Notification, audience: Audience) -> int:
    """Insert one Recipient row per recipient in a single INSERT … SELECT; returns how many."""
    recipients = _recipients_sql(audience)
    if recipients is None:  # nobody to add
        return 0
    users_sql, users_params = recipients
    table = connection.ops.quote_name(Recipient._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (notification_id, user_id) SELECT %s, u.recipient_id FROM ({users_sql}) u",  # noqa: S608
            [notification.pk, *users_params],
        )
        return max(cursor.rowcount, 0)


def notification_create(
    *,
    audience: Audience,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    priority: str = Priority.NORMAL,
    ttl: int | timedelta | None = None,
) -> Notification:
    """Persist a notification for ``audience`` and push it to their sockets after commit.

    Costs the same handful of queries for one recipient or ten thousand.
    """
    data = {} if data is None else data
    lifetime = _validate(kind=kind, title=title, body=body, data=data, priority=priority, ttl=ttl)
    now = timezone.now()
    try:
        expires_at = now + lifetime
    except OverflowError as exc:
        raise NotificationError("ttl is too long: the expiry would be past the end of the calendar.") from exc
    values = {
        "kind": kind,
        "title": title,
        "body": body,
        "data": data,
        "priority": priority,
        "audience": audience.label,
        "created_at": now,
        "expires_at": expires_at,
    }
    if connection.vendor == "postgresql":
        # A savepoint only inside the caller's transaction, so that a failure leaves it usable;
        # on its own the statement is its own transaction.
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            notification = _create_in_one_statement(values, audience)
            _apply_channels(notification)
            group_send_on_commit(audience.groups(), events.notification_push_event(notification))
        return notification
    with transaction.atomic():
        _serialize_id_allocation()
        notification = Notification.objects.create(**values)
        notification.recipient_count = _fan_out(notification, audience)
        Notification.objects.filter(pk=notification.pk).update(recipient_count=notification.recipient_count)
        _apply_channels(notification)
        group_send_on_commit(audience.groups(), events.notification_push_event(notification))
    return notification


def _apply_channels(notification: Notification) -> None:
    """What the kind and the recipients' preferences ask of a new notification beyond the bell.

    Costs nothing for an undeclared kind (in-app only). People who turned the kind off in-app get
    their receipt already read, so it neither rings the bell nor replays (it stays in their list,
    and their sockets skip it live: ``streams.NotificationMember``). Pushes go through the outbox
    (``PushJob``), written in this transaction and sent by the push sender after commit, so a slow
    or failing push service never holds up ``notify()``. Email needs nothing here: the email path
    (``notifications_email_due``) finds unread receipts past their kind's delay.
    """
    from notifications.preferences import Resolver

    kind = kind_get(notification.kind)
    if kind is None:
        kind_for(notification.kind)  # the once-per-kind warning
        return
    if (
        kind.may_turn_off_in_app
        and NotificationPreference.objects.filter(kind=kind.name, channel=Channel.IN_APP, enabled=False).exists()
    ):
        resolver = Resolver()
        receipts = list(
            Recipient.objects.filter(notification=notification).values_list("user_id", flat=True).iterator()
        )
        users = get_user_model().objects.filter(pk__in=receipts).prefetch_related("groups")
        off = [
            user.pk
            for user in users
            if not resolver.choice(user_id=user.pk, roles=roles_for(user), kind=kind, channel=Channel.IN_APP).enabled
        ]
        now = timezone.now()
        for chunk in _chunks(off):
            Recipient.objects.filter(notification=notification, user_id__in=chunk).update(read_at=now, delivered_at=now)
    if (
        Channel.PUSH in kind.defaults
        or NotificationPreference.objects.filter(kind=kind.name, channel=Channel.PUSH, enabled=True).exists()
    ):
        PushJob.objects.create(notification=notification)
        transaction.on_commit(push_wake)


def _create_in_one_statement(values: dict[str, Any], audience: Audience) -> Notification:
    """PostgreSQL: the id-order lock, the notification and its receipts in one statement.

    The same work as the ORM path (``_serialize_id_allocation``, the row, ``_fan_out``, the count) in
    one round trip instead of four, and outside a transaction without BEGIN and COMMIT either: at
    a steady rate each round trip waits for an idle server to wake up, and they were most of what
    ``notify()`` cost. The notification row selects from the lock, so its id (the column default,
    evaluated for that row) is taken only once the lock is held; the lock is held until commit as
    before. The audience is read once, for both the receipts and the count.
    """
    fields = [field for field in Notification._meta.concrete_fields if field.name in values]
    quote = connection.ops.quote_name
    columns = ", ".join([*(quote(field.column) for field in fields), quote("recipient_count")])
    users_sql, users_params = _recipients_sql(audience) or ("SELECT NULL::integer AS recipient_id WHERE false", ())
    sql = f"""
        WITH id_order AS (SELECT pg_advisory_xact_lock(%s)),
        members AS MATERIALIZED (SELECT u.recipient_id FROM ({users_sql}) u),
        notification AS (
            INSERT INTO {quote(Notification._meta.db_table)} ({columns})
            SELECT {", ".join(["%s"] * len(fields))}, (SELECT count(*) FROM members) FROM id_order
            RETURNING id, recipient_count
        ),
        receipts AS (
            INSERT INTO {quote(Recipient._meta.db_table)} (notification_id, user_id)
            SELECT notification.id, members.recipient_id FROM notification, members
        )
        SELECT id, recipient_count FROM notification
    """  # noqa: S608 (identifiers from the models, values as parameters)
    params = [
        _ID_ORDER_LOCK,
        *users_params,
        *(field.get_db_prep_save(values[field.name], connection) for field in fields),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk, count = cursor.fetchone()
    notification = Notification(pk=pk, recipient_count=count, **values)
    notification._state.adding = False
    notification._state.db = connection.alias
    return notification


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def notification_body_replace(*, kind: str, data_match: dict[str, Any], body: str) -> int:
    """Overwrite the body of the stored notifications of ``kind`` whose ``data`` has every key and
    value of ``data_match`` (text that must not be kept, e.g. a redacted chat message). Returns how
    many changed. Copies already shown in a browser are not reached."""
    lookups = {f"data__{key}": value for key, value in data_match.items()}
    return Notification.objects.filter(kind=kind, **lookups).update(body=body)


def recipient_ack(*, user_id: int, notification_ids: Iterable[int]) -> int:
    """Mark as delivered the given notifications of ``user_id``; returns how many changed."""
    ids = sorted(set(notification_ids))
    now = timezone.now()
    changed = 0
    for chunk in _chunks(ids):
        changed += Recipient.objects.filter(
            user_id=user_id, notification_id__in=chunk, delivered_at__isnull=True
        ).update(delivered_at=now)
    return changed


def recipient_ack_up_to(*, user_id: int, up_to: int) -> int:
    """Mark delivered every notification of ``user_id`` through ``up_to`` (the HTTP fallback's ack)."""
    return Recipient.objects.filter(user_id=user_id, notification_id__lte=up_to, delivered_at__isnull=True).update(
        delivered_at=timezone.now()
    )


def recipient_mark_read(*, user_id: int, notification_ids: Iterable[int]) -> int:
    """Mark notifications read (and so delivered); every socket of the user gets the new unread count."""
    ids = sorted(set(notification_ids))
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        for chunk in _chunks(ids):
            changed += Recipient.objects.filter(
                user_id=user_id, notification_id__in=chunk, read_at__isnull=True
            ).update(read_at=now, delivered_at=Coalesce("delivered_at", now))
        if changed:
            _send_unread(user_id, read=ids)
    return changed


def recipient_mark_all_read(*, user_id: int) -> int:
    now = timezone.now()
    with transaction.atomic():
        changed = Recipient.objects.filter(user_id=user_id, read_at__isnull=True).update(
            read_at=now, delivered_at=Coalesce("delivered_at", now)
        )
        if changed:
            _send_unread(user_id, all_read=True)
    return changed


def _send_unread(user_id: int, *, read: list[int] | None = None, all_read: bool = False) -> None:
    """Every tab and device of the person: the new count, and what was read, to clear it there too."""
    from notifications.selectors import notification_unread_count

    unread = notification_unread_count(user_id=user_id)
    group_send_on_commit(
        [groups.user_group(user_id)], events.unread_changed_event(unread, read=read, all_read=all_read)
    )


def notifications_purge_expired(*, now: Any = None) -> int:
    """Delete expired notifications and their receipts; returns how many notifications went."""
    cutoff = now or timezone.now()
    _deleted, per_model = Notification.objects.filter(expires_at__lte=cutoff).delete()
    return int(per_model.get(Notification._meta.label, 0))


def notifications_delete_about(*, kind_prefix: str, key: str, value: str) -> int:
    """Delete now, with their receipts, the notifications of kinds starting with ``kind_prefix`` whose
    ``data[key]`` is ``value`` (what they quoted was erased at its owner's request); returns how many."""
    if not key.isidentifier():
        raise NotificationError("key must be a plain data key.")
    about = Notification.objects.filter(kind__startswith=kind_prefix, **{f"data__{key}": value})
    _deleted, per_model = about.delete()
    return int(per_model.get(Notification._meta.label, 0))


def notifications_escalate_unacknowledged(*, now: datetime | None = None, limit: int = 500) -> int:
    """The email path (``notifications.mail``): critical escalation and per-kind email, one path."""
    from notifications.mail import notifications_email_due

    return notifications_email_due(now=now, limit=limit)


def preferences_update(
    *,
    user_id: int,
    kinds: Iterable[dict[str, Any]] = (),
    time_zone: str | None = None,
    quiet: tuple[time | None, time | None] | None = None,
) -> None:
    """Save a person's choices (already validated: ``serializers.PreferencesIn``).

    ``kinds`` holds ``{"kind", "in_app", "email", "push", "email_digest"}`` entries (a missing
    channel is left as it was); ``quiet`` is ``(start, end)``, ``(None, None)`` for none.
    """
    kinds = list(kinds)
    with transaction.atomic():
        for entry in kinds:
            for channel in Channel:
                if channel.value not in entry:
                    continue
                digest = bool(entry.get("email_digest", False)) if channel == Channel.EMAIL else False
                NotificationPreference.objects.update_or_create(
                    user_id=user_id,
                    kind=entry["kind"],
                    channel=channel.value,
                    defaults={"enabled": bool(entry[channel.value]), "digest": digest, "role": ""},
                )
        if any(Channel.IN_APP.value in entry for entry in kinds):
            _send_preferences(user_id)
        if time_zone is not None or quiet is not None:
            settings, _created = DeliverySettings.objects.get_or_create(user_id=user_id)
            if time_zone is not None:
                settings.time_zone = time_zone
            if quiet is not None:
                settings.quiet_start, settings.quiet_end = quiet
            settings.save()


def _send_preferences(user_id: int) -> None:
    """Every connection of the person follows their new in-app choices (after commit)."""
    from notifications.preferences import in_app_off_kinds

    user = get_user_model().objects.filter(pk=user_id).prefetch_related("groups").first()
    off = in_app_off_kinds(user_id=user_id, roles=roles_for(user))
    group_send_on_commit([groups.user_group(user_id)], events.preferences_changed_event(off))


def push_subscription_save(*, user_id: int, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Store (or move to this person) one device's subscription; a browser has one per endpoint."""
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user_id": user_id, "p256dh": p256dh, "auth": auth}
    )
    return subscription


def push_subscription_delete(*, user_id: int, endpoint: str) -> int:
    """Forget one of the person's devices; returns how many went (0 for someone else's endpoint)."""
    deleted, _per_model = PushSubscription.objects.filter(user_id=user_id, endpoint=endpoint).delete()
    return 1 if deleted else 0
