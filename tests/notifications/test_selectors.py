"""Reads of notifications (notifications/selectors.py): replay, unread count, sync state."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from notifications import api
from notifications.models import Notification, NotificationPreference, Recipient
from notifications.selectors import (
    notification_replay_state,
    notification_sync_state,
    notification_unread_count,
    notifications_for_replay,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

Expire = Callable[[Notification], None]


def send(user: Any, count: int) -> list[int]:
    return [api.notify_user(user, kind="test.n", title=f"n{index}").pk for index in range(count)]


def deliver(user: Any, ids: list[int]) -> None:
    Recipient.objects.filter(user=user, notification_id__in=ids).update(delivered_at=timezone.now())


def read(user: Any, ids: list[int]) -> None:
    Recipient.objects.filter(user=user, notification_id__in=ids).update(
        read_at=timezone.now(), delivered_at=timezone.now()
    )


def replay_ids(user: Any, since: int | None = None, limit: int = 1000) -> list[int]:
    return [notification.pk for notification in notifications_for_replay(user_id=user.pk, since=since, limit=limit)]


# -- notifications_for_replay ----------------------------------------------------------------------


def test_replay_without_since_is_every_undelivered_notification_in_id_order(make_user: Any) -> None:
    user = make_user()
    ids = send(user, 5)
    deliver(user, [ids[1], ids[3]])
    assert replay_ids(user) == [ids[0], ids[2], ids[4]]


def test_replay_with_since_is_exactly_the_greater_ids_acknowledged_or_not(make_user: Any) -> None:
    user = make_user()
    ids = send(user, 6)
    deliver(user, ids[1:])
    # ids[0] is still unacknowledged but not after since: the client has it. ids[3:] are
    # acknowledged (by another tab) but newer: this one has not seen them.
    assert replay_ids(user, since=ids[2]) == ids[3:]


def test_replay_since_the_last_id_is_nothing(make_user: Any) -> None:
    user = make_user()
    ids = send(user, 3)
    deliver(user, ids[:2])
    assert replay_ids(user, since=ids[-1]) == []
    assert replay_ids(user) == [ids[2]]  # resuming by acknowledgement still has it


def test_replay_never_includes_expired_notifications(make_user: Any, expire: Expire) -> None:
    user = make_user()
    ids = send(user, 3)
    expire(Notification.objects.get(pk=ids[1]))
    assert replay_ids(user) == [ids[0], ids[2]]
    assert replay_ids(user, since=0) == [ids[0], ids[2]]


def test_replay_respects_the_limit_keeping_the_oldest(make_user: Any) -> None:
    user = make_user()
    ids = send(user, 5)
    assert replay_ids(user, limit=2) == ids[:2]
    assert replay_ids(user, since=ids[0], limit=3) == ids[1:4]


def test_replay_never_includes_other_peoples_notifications(make_user: Any) -> None:
    user, other = make_user(), make_user()
    mine = send(user, 2)
    send(other, 2)
    api.notify_users([other], kind="test.other", title="not yours")
    assert replay_ids(user) == mine
    assert replay_ids(user, since=0) == mine


def test_replay_returns_whole_notifications_in_one_query(make_user: Any, django_assert_num_queries: Any) -> None:
    user = make_user()
    sent = api.notify_user(user, kind="donation.confirmed", title="Thanks", data={"donation": 7})
    with django_assert_num_queries(1):
        replay = notifications_for_replay(user_id=user.pk, since=None, limit=10)
        assert [(item.pk, item.kind, item.title, item.data) for item in replay] == [
            (sent.pk, "donation.confirmed", "Thanks", {"donation": 7})
        ]


# -- notification_unread_count ---------------------------------------------------------------------


def test_unread_count_is_unexpired_unread_notifications_of_that_user(make_user: Any, expire: Expire) -> None:
    user, other = make_user(), make_user()
    ids = send(user, 4)
    send(other, 3)
    read(user, [ids[0]])
    deliver(user, [ids[1]])  # delivered is still unread
    expire(Notification.objects.get(pk=ids[2]))
    assert notification_unread_count(user_id=user.pk) == 2
    assert notification_unread_count(user_id=other.pk) == 3


def test_unread_count_is_one_query(make_user: Any, django_assert_num_queries: Any) -> None:
    user = make_user()
    send(user, 3)
    with django_assert_num_queries(1):
        assert notification_unread_count(user_id=user.pk) == 3


# -- notification_sync_state -----------------------------------------------------------------------


def test_sync_state_of_someone_never_notified_is_zero_and_zero(make_user: Any) -> None:
    assert notification_sync_state(user_id=make_user().pk) == (0, 0)


def test_sync_state_is_unread_count_and_greatest_id_ever_addressed(make_user: Any, expire: Expire) -> None:
    user, other = make_user(), make_user()
    ids = send(user, 4)
    send(other, 2)  # greater ids, not addressed to user
    read(user, [ids[0]])
    expire(Notification.objects.get(pk=ids[3]))
    # The newest is expired: not unread any more, but still the last id addressed to the user.
    assert notification_sync_state(user_id=user.pk) == (2, ids[3])
    assert notification_sync_state(user_id=user.pk)[0] == notification_unread_count(user_id=user.pk)


def test_sync_state_is_one_query(make_user: Any, django_assert_num_queries: Any) -> None:
    user = make_user()
    ids = send(user, 2)
    with django_assert_num_queries(1):
        assert notification_sync_state(user_id=user.pk) == (2, ids[-1])


# -- notification_replay_state (PostgreSQL: the replay and the sync state in one statement) ----------


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
def test_replay_state_is_the_replay_and_the_sync_state_in_one_statement(
    make_user: Any, expire: Expire, django_assert_num_queries: Any
) -> None:
    user, other = make_user(), make_user()
    ids = send(user, 8)
    send(other, 2)
    deliver(user, [ids[1]])
    read(user, [ids[2]])
    expire(Notification.objects.get(pk=ids[4]))
    for since, limit in ((None, 1000), (None, 2), (ids[2], 1000), (ids[-1], 1000), (None, 0)):
        with django_assert_num_queries(1):
            state = notification_replay_state(user_id=user.pk, since=since, limit=limit, roles=["volunteer"])
        assert [notification.pk for notification in state.notifications] == replay_ids(user, since, limit)
        assert (state.unread, state.last_id) == notification_sync_state(user_id=user.pk)
        assert not state.has_in_app_preferences
    first = state_of(user).notifications[0]
    assert (first.title, first.data, first.kind) == ("n0", {}, "test.n")


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
def test_replay_state_of_someone_never_notified(make_user: Any) -> None:
    state = state_of(make_user())
    assert (state.notifications, state.unread, state.last_id) == ([], 0, 0)


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
def test_replay_state_says_whether_in_app_preferences_may_apply(make_user: Any) -> None:
    mine, theirs, other_channel = make_user(), make_user(), make_user()
    NotificationPreference.objects.create(user=mine, kind="test.n", channel="in_app", enabled=False)
    NotificationPreference.objects.create(user=other_channel, kind="test.n", channel="email", enabled=False)
    assert state_of(mine).has_in_app_preferences
    assert not state_of(theirs).has_in_app_preferences
    assert not state_of(other_channel).has_in_app_preferences
    NotificationPreference.objects.create(role="donor", kind="test.n", channel="in_app", enabled=False)
    assert state_of(theirs, roles=["donor"]).has_in_app_preferences
    assert not state_of(theirs, roles=["volunteer"]).has_in_app_preferences


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
@pytest.mark.parametrize("roles", [["volunteer", "donor"], []])
def test_replay_state_leaves_nothing_for_the_garbage_collector(make_user: Any, roles: list[str]) -> None:
    """Every connecting socket runs it: objects in reference cycles pile up until the collector runs,
    which a server tuned for broadcasts seldom does (``realtime.server.tune_gc``)."""
    user = make_user()
    send(user, 2)
    state_of(user, roles=roles)  # the connection opens, its types load
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        state = state_of(user, roles=roles)
        gc.collect()
        cyclic = sorted({type(thing).__qualname__ for thing in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert len(state.notifications) == 2
    assert cyclic == []


def state_of(user: Any, roles: list[str] | None = None) -> Any:
    return notification_replay_state(user_id=user.pk, since=None, limit=1000, roles=roles or [])


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
@pytest.mark.django_db(transaction=True)
async def test_on_the_event_loop_the_replay_state_is_the_same_field_for_field(make_user: Any, expire: Expire) -> None:
    """``anotification_replay_state`` (``realtime.adb``'s connections) reads what the ORM's cursor does."""
    from channels.db import database_sync_to_async

    from notifications.selectors import anotification_replay_state

    def arrange() -> tuple[Any, list[int]]:
        user = make_user()
        ids = send(user, 5)
        Notification.objects.filter(pk=ids[0]).update(data={"amount": 5, "nested": ["a", None]})
        deliver(user, [ids[1]])
        read(user, [ids[2]])
        expire(Notification.objects.get(pk=ids[3]))
        NotificationPreference.objects.create(user=user, kind="test.n", channel="in_app", enabled=False)
        return user, ids

    user, ids = await database_sync_to_async(arrange)()
    fields = Notification._meta.concrete_fields
    for since, limit in ((None, 1000), (None, 2), (ids[1], 1000), (ids[-1], 1000)):
        kwargs = {"user_id": user.pk, "since": since, "limit": limit, "roles": ["volunteer"]}
        expected = await database_sync_to_async(notification_replay_state)(**kwargs)
        state = await anotification_replay_state(**kwargs)
        assert (state.unread, state.last_id, state.has_in_app_preferences) == (
            expected.unread,
            expected.last_id,
            expected.has_in_app_preferences,
        )
        assert [[getattr(n, f.attname) for f in fields] for n in state.notifications] == [
            [getattr(n, f.attname) for f in fields] for n in expected.notifications
        ]
        assert [n.created_at.utcoffset() for n in state.notifications] == [
            n.created_at.utcoffset() for n in expected.notifications
        ]
    first = (await anotification_replay_state(user_id=user.pk, since=None, limit=1, roles=[])).notifications[0]
    assert (first.pk, first.data, first._state.adding) == (ids[0], {"amount": 5, "nested": ["a", None]}, False)
