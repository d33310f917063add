"""The public API (notifications/api.py): who gets a notification, what is refused, when it is sent."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from charity.roles import Role, users_with_role
from notifications import api, events
from notifications.models import Notification, Recipient
from realtime import fanout, groups, publish
from tests.conftest import Sent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

HELLO: dict[str, Any] = {"kind": "test.hello", "title": "Hello"}


def receipts(notification: Notification) -> set[int]:
    return set(Recipient.objects.filter(notification=notification).values_list("user_id", flat=True))


def lifetime(notification: Notification) -> timedelta:
    return notification.expires_at - notification.created_at


# -- audiences -------------------------------------------------------------------------------------


def test_notify_user_persists_the_notification_and_one_receipt(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user()
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        returned = api.notify_user(
            user, kind="donation.confirmed", title="Thank you!", body="Your £20", data={"donation": 7}
        )
    stored = Notification.objects.get()
    assert stored.pk == returned.pk
    assert (stored.kind, stored.title, stored.body, stored.data, stored.priority) == (
        "donation.confirmed",
        "Thank you!",
        "Your £20",
        {"donation": 7},
        "normal",
    )
    assert stored.audience == f"user:{user.pk}"
    assert stored.recipient_count == returned.recipient_count == 1
    assert before <= stored.created_at <= timezone.now()
    receipt = Recipient.objects.get()
    assert (receipt.notification_id, receipt.user_id, receipt.delivered_at, receipt.read_at) == (
        stored.pk,
        user.pk,
        None,
        None,
    )
    assert sent == [(groups.user_group(user.pk), events.notification_push_event(stored))]


def test_notify_user_accepts_a_user_id(make_user: Any) -> None:
    user = make_user()
    notification = api.notify_user(user.pk, **HELLO)
    assert receipts(notification) == {user.pk}


def test_notify_users_reaches_each_user_once(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any
) -> None:
    alice, bob = make_user(), make_user()
    make_user()
    with django_capture_on_commit_callbacks(execute=True):
        notification = api.notify_users([alice, bob, alice, bob.pk], **HELLO)
    assert notification.recipient_count == 2
    assert Recipient.objects.count() == 2
    assert receipts(notification) == {alice.pk, bob.pk}
    assert Notification.objects.get().audience == "users"
    assert [group for group, _ in sent] == [groups.user_group(alice.pk), groups.user_group(bob.pk)]


def test_notify_users_with_nobody_persists_a_notification_without_receipts(
    sent: Sent, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        notification = api.notify_users([], **HELLO)
    assert notification.recipient_count == 0
    assert Notification.objects.count() == 1
    assert not Recipient.objects.exists()
    assert sent == []


@pytest.mark.parametrize("role", Role.account_roles())
def test_notify_role_reaches_the_active_holders_only(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any, role: Role
) -> None:
    holders = {make_user(roles=(role,)).pk, make_user(roles=Role.account_roles()).pk}
    make_user(roles=(role,), is_active=False)
    make_user()
    for other in Role.account_roles():
        if other is not role:
            make_user(roles=(other,))
    with django_capture_on_commit_callbacks(execute=True):
        notification = api.notify_role(role.value, **HELLO)
    assert receipts(notification) == holders == set(users_with_role(role).values_list("pk", flat=True))
    assert notification.recipient_count == 2
    assert Notification.objects.get().audience == f"role:{role.value}"
    assert [group for group, _ in sent] == [groups.role_group(role)]


def test_notify_all_reaches_every_active_account(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any
) -> None:
    everyone = {make_user().pk, make_user(roles=(Role.VOLUNTEER,)).pk, make_user(roles=(Role.STAFF,)).pk}
    make_user(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        notification = api.notify_all(**HELLO)
    assert receipts(notification) == everyone
    assert notification.recipient_count == 3
    assert Notification.objects.get().audience == "all"
    assert [group for group, _ in sent] == [groups.everyone_group()]


def test_inactive_users_get_no_receipt(make_user: Any) -> None:
    active, inactive = make_user(), make_user(is_active=False)
    alone = api.notify_user(inactive, **HELLO)
    assert alone.recipient_count == 0
    assert receipts(alone) == set()
    mixed = api.notify_users([active, inactive], **HELLO)
    assert mixed.recipient_count == 1
    assert receipts(mixed) == {active.pk}


def test_notify_takes_an_audience(make_user: Any) -> None:
    donor = make_user(roles=(Role.DONOR,))
    make_user(roles=(Role.VOLUNTEER,))
    notification = api.notify(api.Audience.for_role(Role.DONOR), **HELLO)
    assert receipts(notification) == {donor.pk}


@pytest.mark.parametrize("role", [Role.VISITOR, "visitor", "admin", ""])
def test_notify_role_refuses_visitors_and_unknown_roles(make_user: Any, role: str) -> None:
    make_user(roles=Role.account_roles())
    with pytest.raises(api.NotificationError):
        api.notify_role(role, **HELLO)
    assert not Notification.objects.exists()


# -- bad arguments ---------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    pytest.param({"kind": ""}, id="kind-empty"),
    pytest.param({"kind": "donation"}, id="kind-one-word"),
    pytest.param({"kind": "Donation.confirmed"}, id="kind-uppercase"),
    pytest.param({"kind": "donation..confirmed"}, id="kind-empty-word"),
    pytest.param({"kind": "donation.confirmed."}, id="kind-trailing-dot"),
    pytest.param({"kind": "1donation.confirmed"}, id="kind-leading-digit"),
    pytest.param({"kind": "donation.confirmed-x"}, id="kind-hyphen"),
    pytest.param({"kind": "donation.confirmed\n"}, id="kind-trailing-newline"),
    pytest.param({"kind": "a." + "b" * 99}, id="kind-101-chars"),
    pytest.param({"kind": None}, id="kind-none"),
    pytest.param({"title": ""}, id="title-empty"),
    pytest.param({"title": "   "}, id="title-blank"),
    pytest.param({"title": "x" * 201}, id="title-201-chars"),
    pytest.param({"title": None}, id="title-none"),
    pytest.param({"body": None}, id="body-none"),
    pytest.param({"body": 5}, id="body-int"),
    pytest.param({"data": []}, id="data-list"),
    pytest.param({"data": "{}"}, id="data-string"),
    pytest.param({"data": 1}, id="data-int"),
    pytest.param({"data": {"thing": object()}}, id="data-object"),
    pytest.param({"data": {"ids": {1, 2}}}, id="data-set"),
    pytest.param({"data": {"at": datetime(2026, 1, 1, tzinfo=UTC)}}, id="data-datetime"),
    pytest.param({"data": {"amount": Decimal("1.50")}}, id="data-decimal"),
    pytest.param({"data": {"amount": float("nan")}}, id="data-nan"),
    pytest.param({"data": {"amount": float("inf")}}, id="data-infinity"),
    pytest.param({"priority": "urgent"}, id="priority-unknown"),
    pytest.param({"priority": "Critical"}, id="priority-capitalised"),
    pytest.param({"priority": ""}, id="priority-empty"),
    pytest.param({"priority": None}, id="priority-none"),
    pytest.param({"ttl": 0}, id="ttl-zero"),
    pytest.param({"ttl": -1}, id="ttl-negative"),
    pytest.param({"ttl": timedelta(0)}, id="ttl-zero-timedelta"),
    pytest.param({"ttl": timedelta(seconds=-1)}, id="ttl-negative-timedelta"),
    pytest.param({"ttl": "60"}, id="ttl-string"),
    pytest.param({"ttl": True}, id="ttl-bool"),
    pytest.param({"ttl": float("nan")}, id="ttl-nan"),
    pytest.param({"ttl": 10**12}, id="ttl-beyond-the-calendar"),
]


@pytest.mark.parametrize("bad", BAD_ARGUMENTS)
def test_bad_argument_raises_notification_error_and_changes_nothing(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any, bad: dict[str, Any]
) -> None:
    user = make_user()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(api.NotificationError):
        api.notify_user(user, **{**HELLO, **bad})
    assert not Notification.objects.exists()
    assert not Recipient.objects.exists()
    assert sent == []


@pytest.mark.parametrize(
    "good",
    [
        pytest.param({"kind": "help_request.assigned"}, id="kind-underscore"),
        pytest.param({"kind": "a.b.c2"}, id="kind-three-words"),
        pytest.param({"kind": "a." + "b" * 98}, id="kind-100-chars"),
        pytest.param({"title": "x" * 200}, id="title-200-chars"),
        pytest.param({"title": "Merci ❤"}, id="title-unicode"),
        pytest.param({"data": {"nested": {"list": [1, 2.5, None, True, "é"]}}}, id="data-nested"),
        pytest.param({"ttl": 1}, id="ttl-one-second"),
        pytest.param({"ttl": timedelta(microseconds=1)}, id="ttl-tiny-timedelta"),
        pytest.param({"priority": api.CRITICAL}, id="priority-critical"),
    ],
)
def test_arguments_at_the_limits_are_accepted(make_user: Any, good: dict[str, Any]) -> None:
    user = make_user()
    notification = api.notify_user(user, **{**HELLO, **good})
    stored = Notification.objects.get(pk=notification.pk)
    for field, value in good.items():
        if field != "ttl":
            assert getattr(stored, field) == value


# -- lifetime --------------------------------------------------------------------------------------


def test_normal_notification_lives_seven_days_by_default(make_user: Any) -> None:
    notification = api.notify_user(make_user(), **HELLO)
    assert lifetime(notification) == timedelta(days=7)
    assert lifetime(Notification.objects.get(pk=notification.pk)) == timedelta(days=7)


def test_critical_notification_lives_thirty_days_by_default(make_user: Any) -> None:
    notification = api.notify_user(make_user(), **HELLO, priority=api.CRITICAL)
    assert lifetime(notification) == timedelta(days=30)
    assert lifetime(Notification.objects.get(pk=notification.pk)) == timedelta(days=30)


def test_default_lifetimes_come_from_settings(make_user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS_DEFAULT_TTL = 60
    settings.NOTIFICATIONS_CRITICAL_TTL = 120
    user = make_user()
    assert lifetime(api.notify_user(user, **HELLO)) == timedelta(seconds=60)
    assert lifetime(api.notify_user(user, **HELLO, priority=api.CRITICAL)) == timedelta(seconds=120)


@pytest.mark.parametrize("priority", [api.NORMAL, api.CRITICAL])
@pytest.mark.parametrize(
    ("ttl", "expected"),
    [(90, timedelta(seconds=90)), (timedelta(hours=2), timedelta(hours=2)), (1.5, timedelta(seconds=1.5))],
)
def test_explicit_ttl_wins_over_the_default(
    make_user: Any, priority: str, ttl: int | timedelta, expected: timedelta
) -> None:
    notification = api.notify_user(make_user(), **HELLO, priority=priority, ttl=ttl)
    assert lifetime(notification) == expected
    assert lifetime(Notification.objects.get(pk=notification.pk)) == expected


def test_the_returned_notification_is_the_saved_one(make_user: Any) -> None:
    users = [make_user(), make_user()]
    notification = api.notify_users(users, **HELLO, data={"amount": 12.5, "tags": ["a"]}, priority="critical")
    saved = Notification.objects.get(pk=notification.pk)
    fields = [field.name for field in Notification._meta.concrete_fields]
    assert {name: getattr(notification, name) for name in fields} == {name: getattr(saved, name) for name in fields}
    assert notification.recipient_count == 2
    assert not notification._state.adding


# -- sending after commit --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_nothing_is_published_before_commit(make_user: Any, sent: Sent) -> None:
    user = make_user()
    with transaction.atomic():
        notification = api.notify_user(user, **HELLO)
        assert Notification.objects.filter(pk=notification.pk).exists()
        assert sent == []
    assert sent == [(groups.user_group(user.pk), events.notification_push_event(notification))]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_notification_is_neither_sent_nor_kept(make_user: Any, sent: Sent) -> None:
    user = make_user()
    with pytest.raises(RuntimeError), transaction.atomic():
        api.notify_user(user, **HELLO)
        raise RuntimeError("the view failed after notifying")
    assert sent == []
    assert not Notification.objects.exists()
    assert not Recipient.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_rolled_back_savepoint_drops_only_its_own_notification(make_user: Any, sent: Sent) -> None:
    user = make_user()
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            api.notify_user(user, kind="test.dropped", title="Dropped")
            raise RuntimeError
        kept = api.notify_user(user, kind="test.kept", title="Kept")
    assert [event["id"] for _, event in sent] == [kept.pk]
    assert list(Notification.objects.values_list("kind", flat=True)) == ["test.kept"]


@pytest.mark.django_db(transaction=True)
def test_notification_is_committed_before_it_is_sent(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool, int]] = []
    send = publish.group_send_now_unsafe

    def observe(group_names: tuple[str, ...], event: dict[str, Any]) -> None:
        seen.append(
            (
                connection.in_atomic_block,
                Notification.objects.filter(pk=event["id"]).exists(),
                Recipient.objects.filter(notification_id=event["id"]).count(),
            )
        )
        send(group_names, event)

    monkeypatch.setattr(publish, "group_send_now_unsafe", observe)
    api.notify_users([make_user(), make_user()], **HELLO)
    assert seen == [(False, True, 2)]


@pytest.mark.django_db(transaction=True)
def test_failing_publish_never_breaks_notify(
    make_user: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def send(group_names: tuple[str, ...], payload: bytes) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(fanout, "_send", send)
    monkeypatch.setattr(fanout, "PUBLISH_RETRY_DELAYS", (0.001,))
    user = make_user()
    with caplog.at_level(logging.ERROR, logger="realtime.fanout"):
        notification = api.notify_user(user, **HELLO)
    assert Notification.objects.filter(pk=notification.pk).exists()
    assert receipts(notification) == {user.pk}
    assert any("publish failed" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_one_notification_to_many_people_is_one_publish(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every recipient's group goes out in one round trip (one pipeline), not one per person."""
    first, second = make_user(), make_user()
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(fanout, "_send", lambda group_names, payload: calls.append(group_names))
    api.notify_users([first, second], **HELLO)
    assert [sorted(call) for call in calls] == [sorted([groups.user_group(first.pk), groups.user_group(second.pk)])]


# -- cost ------------------------------------------------------------------------------------------


def notify_queries() -> int:
    # Never one per recipient. Inside a transaction (as in these tests) SAVEPOINT and RELEASE around:
    # on PostgreSQL one statement (lock, notification, receipts and count); on SQLite the
    # notification, the receipts' INSERT … SELECT and the count's UPDATE.
    return 3 if connection.vendor == "postgresql" else 5


BROADCASTS: dict[str, tuple[dict[str, Any], Callable[[list[int]], Notification]]] = {
    "role": ({"role": Role.VOLUNTEER}, lambda ids: api.notify_role(Role.VOLUNTEER, **HELLO)),
    "all": ({}, lambda ids: api.notify_all(**HELLO)),
    "users": ({}, lambda ids: api.notify_users(ids, **HELLO)),
}


@pytest.mark.parametrize("audience", BROADCASTS)
def test_broadcast_costs_the_same_queries_for_one_or_three_hundred(
    bulk_users: Callable[..., list[int]], audience: str
) -> None:
    options, send = BROADCASTS[audience]
    ids = bulk_users(1, **options)
    with CaptureQueriesContext(connection) as to_one:
        one = send(ids)
    ids += bulk_users(299, **options)
    bulk_users(5, is_active=False, **options)
    with CaptureQueriesContext(connection) as to_many:
        many = send(ids)
    assert (one.recipient_count, many.recipient_count) == (1, 300)
    assert receipts(many) == set(ids)
    assert len(to_one) == len(to_many) == notify_queries()


# -- id order --------------------------------------------------------------------------------------


def test_ids_increase_with_each_notification(make_user: Any) -> None:
    user = make_user()
    ids = [api.notify_user(user, **HELLO).pk for _ in range(5)]
    assert ids == sorted(set(ids))


def test_id_allocation_is_serialised_until_commit(make_user: Any) -> None:
    user = make_user()
    with CaptureQueriesContext(connection) as queries:
        api.notify_user(user, **HELLO)
    statements = [query["sql"] for query in queries]
    locks = [sql for sql in statements if "pg_advisory_xact_lock" in sql]
    if connection.vendor == "postgresql":
        # A transaction-level lock (held until commit), and the notification's row selected from it:
        # its id, the column's default, is taken only once the lock is held.
        [statement] = locks
        assert re.search(r'INSERT INTO "notifications_notification" \([^)]*\)\s+SELECT .* FROM id_order', statement)
        assert statement.index("pg_advisory_xact_lock") < statement.index('INSERT INTO "notifications_notification"')
    else:
        # SQLite has one writer at a time, and IMMEDIATE transactions take the write lock at BEGIN.
        assert connection.vendor == "sqlite"
        assert locks == []
        assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


# -- the async twins -------------------------------------------------------------------------------


def test_every_sync_function_has_an_async_twin() -> None:
    names = set(api.__all__)
    assert all(hasattr(api, name) for name in names)
    notifiers = {name for name in names if name.startswith("notify")}
    assert notifiers == {"notify", "notify_user", "notify_users", "notify_role", "notify_all"}
    assert {f"a{name}" for name in notifiers} <= names


@pytest.mark.django_db(transaction=True)
async def test_async_twins_notify_and_send_after_commit(make_user: Any, sent: Sent) -> None:
    make = database_sync_to_async(make_user)
    donor = await make(roles=(Role.DONOR,))
    volunteer = await make(roles=(Role.VOLUNTEER,))
    sent.clear()  # role changes send their own events (realtime.revocation); only notify's count here

    @database_sync_to_async
    def recipients(notification: Notification) -> set[int]:
        return receipts(notification)

    to_audience = await api.anotify(api.Audience.user(donor), **HELLO)
    to_user = await api.anotify_user(donor, **HELLO)
    to_users = await api.anotify_users([donor, volunteer, donor], **HELLO)
    to_role = await api.anotify_role("volunteer", **HELLO)
    to_all = await api.anotify_all(**HELLO, priority=api.CRITICAL)
    assert await recipients(to_audience) == await recipients(to_user) == {donor.pk}
    assert await recipients(to_users) == await recipients(to_all) == {donor.pk, volunteer.pk}
    assert await recipients(to_role) == {volunteer.pk}
    assert lifetime(to_all) == timedelta(days=30)
    assert [(group, event["id"]) for group, event in sent] == [
        (groups.user_group(donor.pk), to_audience.pk),
        (groups.user_group(donor.pk), to_user.pk),
        (groups.user_group(donor.pk), to_users.pk),
        (groups.user_group(volunteer.pk), to_users.pk),
        (groups.role_group(Role.VOLUNTEER), to_role.pk),
        (groups.everyone_group(), to_all.pk),
    ]


@pytest.mark.django_db(transaction=True)
async def test_async_twin_refuses_bad_arguments(make_user: Any) -> None:
    user = await database_sync_to_async(make_user)()
    with pytest.raises(api.NotificationError):
        await api.anotify_user(user, kind="Bad kind", title="Hello")
    with pytest.raises(api.NotificationError):
        await api.anotify_role(Role.VISITOR, **HELLO)
    assert not await database_sync_to_async(Notification.objects.exists)()
