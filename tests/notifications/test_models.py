"""notifications/models.py: receipts go with their user and their notification without database
foreign keys (the ORM deletes them), and a receipt left without its user harms nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications import api
from notifications.models import Notification, Recipient
from notifications.services import notifications_escalate_unacknowledged, notifications_purge_expired

pytestmark = pytest.mark.django_db


def orphan_receipt(notification: Notification) -> Recipient:
    """What a user deleted while notify() wrote their receipt leaves: a receipt for nobody."""
    missing_user_id = (get_user_model().objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    return Recipient.objects.create(notification=notification, user_id=missing_user_id)


def delete_without_the_orm(user: Any) -> None:
    """As a delete racing notify()'s INSERT ... SELECT would: the user's row goes, the receipt stays."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(user._meta.db_table)} WHERE id = %s", [user.pk])


def test_deleting_a_user_deletes_their_receipts_and_nobody_elses(make_user: Any) -> None:
    leaving, staying = make_user(), make_user()
    first = api.notify_users([leaving, staying], kind="test.n", title="one")
    api.notify_users([leaving], kind="test.n", title="two")
    leaving.delete()
    assert list(Recipient.objects.values_list("user_id", "notification_id")) == [(staying.pk, first.pk)]


def test_deleting_a_notification_deletes_its_receipts(make_user: Any) -> None:
    user = make_user()
    gone = api.notify_users([user], kind="test.n", title="gone")
    kept = api.notify_users([user], kind="test.n", title="kept")
    gone.delete()
    assert list(Recipient.objects.values_list("notification_id", flat=True)) == [kept.pk]


def test_a_receipt_without_its_user_is_never_escalated_nor_holds_up_the_others(make_user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS_ESCALATE_AFTER = 0
    gone, here = make_user(email="gone@example.org"), make_user(email="here@example.org")
    first = api.notify_users([gone], kind="system.emergency", title="Flood", priority=api.CRITICAL)
    second = api.notify_users([here], kind="system.emergency", title="Fire", priority=api.CRITICAL)
    delete_without_the_orm(gone)
    orphan = Recipient.objects.get(notification=first)
    Notification.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=timezone.now() - timedelta(seconds=5))
    # One receipt per run, oldest first: the orphan must not be the one taken every time.
    assert notifications_escalate_unacknowledged(limit=1) == 1
    assert notifications_escalate_unacknowledged(limit=1) == 0
    assert [message.to for message in mail.outbox] == [["here@example.org"]]
    assert Recipient.objects.get(pk=orphan.pk).escalated_at is None


def test_a_receipt_without_its_user_goes_when_its_notification_is_purged(make_user: Any) -> None:
    user = make_user()
    notification = api.notify_users([user], kind="test.n", title="short", ttl=60)
    orphan = orphan_receipt(notification)
    assert notifications_purge_expired(now=timezone.now() + timedelta(seconds=61)) == 1
    assert not Recipient.objects.filter(pk=orphan.pk).exists()


def test_the_admin_shows_a_notification_whose_receipt_lost_its_user(make_user: Any) -> None:
    user = make_user("reader")
    notification = api.notify_users([user], kind="test.n", title="still shown")
    orphan_receipt(notification)
    client = Client()
    client.force_login(make_user(roles=("staff",), is_superuser=True))
    page = client.get(reverse("admin:notifications_notification_change", args=[notification.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "reader" in content
    # One row, the reader's: a receipt for nobody is not listed as one with an empty user.
    assert 'id="recipients-0"' in content
    assert 'id="recipients-1"' not in content
    listing = client.get(reverse("admin:notifications_recipient_changelist"))
    assert listing.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_going_back_before_0004_drops_receipts_without_their_user_so_the_keys_can_be_checked_again(
    make_user: Any,
) -> None:
    gone, here = make_user(), make_user()
    api.notify_users([gone, here], kind="test.n", title="both")
    delete_without_the_orm(gone)
    try:
        call_command("migrate", "notifications", "0003", verbosity=0)
        assert list(Recipient.objects.values_list("user_id", flat=True)) == [here.pk]
    finally:
        call_command("migrate", "notifications", verbosity=0)
