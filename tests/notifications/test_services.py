"""Writes of notifications (notifications/services.py): acknowledge, mark read, purge.

Creating notifications is tested through the public API in test_api.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import api, events
from notifications.models import Notification, Recipient
from notifications.services import (
    notifications_purge_expired,
    recipient_ack,
    recipient_mark_all_read,
    recipient_mark_read,
)
from realtime import groups
from tests.conftest import Sent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

Expire = Callable[[Notification], None]


def send(users: list[Any], count: int = 1) -> list[int]:
    return [api.notify_users(users, kind="test.n", title=f"n{index}").pk for index in range(count)]


def receipt(user: Any, notification_id: int) -> Recipient:
    return Recipient.objects.get(user=user, notification_id=notification_id)


def delivered(user: Any) -> set[int]:
    return set(
        Recipient.objects.filter(user=user, delivered_at__isnull=False).values_list("notification_id", flat=True)
    )


def read(user: Any) -> set[int]:
    return set(Recipient.objects.filter(user=user, read_at__isnull=False).values_list("notification_id", flat=True))


def many_notifications(user: Any, count: int) -> list[int]:
    """``count`` notifications with a receipt for ``user``, in two queries."""
    now = timezone.now()
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                kind="test.bulk", title="bulk", audience="users", created_at=now, expires_at=now + timedelta(days=1)
            )
            for _ in range(count)
        ]
    )
    ids = [notification.pk for notification in notifications]
    Recipient.objects.bulk_create([Recipient(user=user, notification_id=notification_id) for notification_id in ids])
    return ids


# -- recipient_ack ---------------------------------------------------------------------------------


def test_ack_marks_only_the_given_notifications_of_that_user(make_user: Any) -> None:
    user, other = make_user(), make_user()
    shared = send([user, other], 3)
    assert recipient_ack(user_id=user.pk, notification_ids=shared[:2]) == 2
    assert delivered(user) == set(shared[:2])
    assert delivered(other) == set()
    assert read(user) == set()


def test_ack_ignores_ids_that_are_not_the_users(make_user: Any) -> None:
    user, other = make_user(), make_user()
    theirs = send([other])
    assert recipient_ack(user_id=user.pk, notification_ids=[*theirs, 999_999_999]) == 0
    assert delivered(other) == set()


def test_ack_is_idempotent_and_keeps_the_first_delivery_time(make_user: Any) -> None:
    user = make_user()
    ids = send([user], 2)
    assert recipient_ack(user_id=user.pk, notification_ids=[ids[0], ids[0], ids[0]]) == 1
    first = receipt(user, ids[0]).delivered_at
    assert recipient_ack(user_id=user.pk, notification_ids=ids) == 1
    assert recipient_ack(user_id=user.pk, notification_ids=ids) == 0
    assert receipt(user, ids[0]).delivered_at == first


def test_ack_of_nothing_changes_nothing(make_user: Any, django_assert_num_queries: Any) -> None:
    user = make_user()
    send([user])
    with django_assert_num_queries(0):
        assert recipient_ack(user_id=user.pk, notification_ids=[]) == 0


def test_ack_of_more_ids_than_one_chunk_marks_them_all(make_user: Any) -> None:
    user = make_user()
    ids = many_notifications(user, 1201)
    assert recipient_ack(user_id=user.pk, notification_ids=reversed(ids)) == 1201
    assert delivered(user) == set(ids)


# -- recipient_mark_read ---------------------------------------------------------------------------


def test_mark_read_sets_read_and_delivered_for_the_given_ids_only(make_user: Any) -> None:
    user, other = make_user(), make_user()
    ids = send([user, other], 3)
    assert recipient_mark_read(user_id=user.pk, notification_ids=ids[:2]) == 2
    assert read(user) == delivered(user) == set(ids[:2])
    assert read(other) == delivered(other) == set()


def test_mark_read_keeps_an_earlier_delivery_time(make_user: Any) -> None:
    user = make_user()
    (notification_id,) = send([user])
    earlier = timezone.now() - timedelta(hours=1)
    Recipient.objects.filter(user=user).update(delivered_at=earlier)
    recipient_mark_read(user_id=user.pk, notification_ids=[notification_id])
    marked = receipt(user, notification_id)
    assert marked.delivered_at == earlier
    assert marked.read_at is not None
    assert marked.read_at > earlier


def test_mark_read_is_idempotent(make_user: Any) -> None:
    user = make_user()
    ids = send([user], 2)
    assert recipient_mark_read(user_id=user.pk, notification_ids=ids[:1]) == 1
    first = receipt(user, ids[0]).read_at
    assert recipient_mark_read(user_id=user.pk, notification_ids=ids) == 1
    assert recipient_mark_read(user_id=user.pk, notification_ids=ids) == 0
    assert receipt(user, ids[0]).read_at == first


def test_mark_read_of_more_ids_than_one_chunk_marks_them_all(make_user: Any) -> None:
    user = make_user()
    ids = many_notifications(user, 1201)
    assert recipient_mark_read(user_id=user.pk, notification_ids=ids) == 1201
    assert read(user) == set(ids)


@pytest.mark.django_db(transaction=True)
def test_mark_read_sends_the_new_unread_count_to_the_user_after_commit(make_user: Any, sent: Sent) -> None:
    user, other = make_user(), make_user()
    ids = send([user, other], 3)
    sent.clear()
    with transaction.atomic():
        recipient_mark_read(user_id=user.pk, notification_ids=ids[:1])
        assert sent == []
    assert sent == [(groups.user_group(user.pk), events.unread_changed_event(2, read=ids[:1]))]


@pytest.mark.django_db(transaction=True)
def test_mark_read_rolled_back_sends_nothing(make_user: Any, sent: Sent) -> None:
    user = make_user()
    ids = send([user])
    sent.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        recipient_mark_read(user_id=user.pk, notification_ids=ids)
        raise RuntimeError
    assert sent == []
    assert read(user) == set()


def test_mark_read_that_changes_nothing_sends_nothing(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any
) -> None:
    user, other = make_user(), make_user()
    mine = send([user])
    theirs = send([other])
    recipient_mark_read(user_id=user.pk, notification_ids=mine)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert recipient_mark_read(user_id=user.pk, notification_ids=[*mine, *theirs]) == 0
    assert callbacks == []
    assert sent == []


# -- recipient_mark_all_read -----------------------------------------------------------------------


def test_mark_all_read_marks_every_unread_of_that_user_only(make_user: Any) -> None:
    user, other = make_user(), make_user()
    ids = send([user, other], 3)
    earlier = timezone.now() - timedelta(hours=1)
    Recipient.objects.filter(user=user, notification_id=ids[0]).update(delivered_at=earlier)
    recipient_mark_read(user_id=user.pk, notification_ids=ids[1:2])
    assert recipient_mark_all_read(user_id=user.pk) == 2
    assert read(user) == delivered(user) == set(ids)
    assert receipt(user, ids[0]).delivered_at == earlier
    assert read(other) == set()
    assert recipient_mark_all_read(user_id=user.pk) == 0


@pytest.mark.django_db(transaction=True)
def test_mark_all_read_sends_zero_unread_after_commit(make_user: Any, sent: Sent) -> None:
    user = make_user()
    send([user], 2)
    sent.clear()
    with transaction.atomic():
        recipient_mark_all_read(user_id=user.pk)
        assert sent == []
    assert sent == [(groups.user_group(user.pk), events.unread_changed_event(0, all_read=True))]
    sent.clear()
    recipient_mark_all_read(user_id=user.pk)
    assert sent == []


# -- notifications_purge_expired -------------------------------------------------------------------


def test_purge_deletes_expired_notifications_and_their_receipts_only(make_user: Any, expire: Expire) -> None:
    user, other = make_user(), make_user()
    ids = send([user, other], 4)
    for notification in Notification.objects.filter(pk__in=ids[:2]):
        expire(notification)
    assert notifications_purge_expired() == 2
    assert set(Notification.objects.values_list("pk", flat=True)) == set(ids[2:])
    assert set(Recipient.objects.values_list("notification_id", flat=True)) == set(ids[2:])
    assert Recipient.objects.count() == 4
    assert notifications_purge_expired() == 0


def test_purge_takes_expiry_up_to_and_including_now(make_user: Any) -> None:
    user = make_user()
    notification = api.notify_user(user, kind="test.n", title="n", ttl=60)
    expires_at = Notification.objects.get(pk=notification.pk).expires_at
    assert notifications_purge_expired(now=expires_at - timedelta(microseconds=1)) == 0
    assert Notification.objects.exists()
    assert notifications_purge_expired(now=expires_at) == 1
    assert not Notification.objects.exists()
    assert not Recipient.objects.exists()
