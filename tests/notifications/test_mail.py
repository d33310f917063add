"""The email path (notifications/mail.py): per-kind fallback after a delay, quiet hours, digests;
the escalation of critical notifications goes the same way (test_escalation.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from notifications import api
from notifications.kinds import Channel, register_kind, unregister_kind
from notifications.mail import notifications_email_due, notifications_send_digests
from notifications.models import DeliverySettings, EmailOutcome, Notification, NotificationPreference, Recipient
from notifications.services import recipient_mark_read

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def kinds() -> Iterator[None]:
    register_kind("test.news", label="News", defaults={Channel.IN_APP, Channel.EMAIL}, email_after=600)
    register_kind("test.secret", label="Secret", defaults={Channel.EMAIL}, sensitive=True, push_text="Something new")
    register_kind("test.fire", label="Fire", defaults={Channel.IN_APP, Channel.EMAIL}, critical=True, email_after=0)
    yield
    for name in ("test.news", "test.secret", "test.fire"):
        unregister_kind(name)


def age(notification: Notification, seconds: int) -> None:
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def quiet_now(user: Any) -> None:
    now = timezone.now()
    DeliverySettings.objects.update_or_create(
        user=user,
        defaults={
            "time_zone": "UTC",
            "quiet_start": (now - timedelta(hours=1)).time(),
            "quiet_end": (now + timedelta(hours=1)).time(),
        },
    )


def test_unread_past_the_kinds_delay_is_emailed_once(make_user: Any, kinds: None) -> None:
    reader, absent, opted_out = (make_user(email=f"{name}@example.org") for name in ("reader", "absent", "out"))
    NotificationPreference.objects.create(user=opted_out, kind="test.news", channel="email", enabled=False)
    news = api.notify_users([reader, absent, opted_out], kind="test.news", title="News", body="Read me")
    age(news, 599)
    assert notifications_email_due() == 0  # not yet
    age(news, 601)
    recipient_mark_read(user_id=reader.pk, notification_ids=[news.pk])
    assert notifications_email_due() == 1
    assert [message.to for message in mail.outbox] == [["absent@example.org"]]
    assert (mail.outbox[0].subject, "Read me" in mail.outbox[0].body) == ("News", True)
    assert notifications_email_due() == 0  # once
    outcomes = dict(Recipient.objects.values_list("user_id", "email_outcome"))
    assert outcomes == {reader.pk: "", absent.pk: EmailOutcome.SENT, opted_out.pk: EmailOutcome.OFF}


def test_a_sensitive_kinds_email_carries_only_its_notice(make_user: Any, kinds: None) -> None:
    user = make_user(email="u@example.org")
    age(api.notify_user(user, kind="test.secret", title="From Sam", body="private words", data={"url": "/x/"}), 901)
    assert notifications_email_due() == 1
    message = mail.outbox[0]
    assert message.subject == "Something new" and "private" not in message.body and "Sam" not in message.subject
    assert "/x/" in message.body


def test_quiet_hours_hold_email_back_but_not_critical_kinds(make_user: Any, kinds: None) -> None:
    user = make_user(email="u@example.org")
    quiet_now(user)
    age(api.notify_user(user, kind="test.news", title="News"), 601)
    api.notify_user(user, kind="test.fire", title="Fire")
    assert notifications_email_due() == 1
    assert [message.subject for message in mail.outbox] == ["Fire"]
    DeliverySettings.objects.filter(user=user).update(quiet_start=None, quiet_end=None)
    assert notifications_email_due() == 1  # the held one, once the quiet hours are over
    assert [message.subject for message in mail.outbox] == ["Fire", "News"]


def test_a_daily_digest_instead_of_one_email_each(make_user: Any, kinds: None, settings: Any) -> None:
    dana = make_user(email="dana@example.org")
    NotificationPreference.objects.create(user=dana, kind="test.news", channel="email", enabled=True, digest=True)
    first = api.notify_user(dana, kind="test.news", title="First")
    second = api.notify_user(dana, kind="test.news", title="Second")
    read = api.notify_user(dana, kind="test.news", title="Read already")
    for notification in (first, second, read):
        age(notification, 601)
    recipient_mark_read(user_id=dana.pk, notification_ids=[read.pk])
    assert notifications_email_due() == 0 and mail.outbox == []  # into the digest instead
    call_command("send_notification_digests")
    assert len(mail.outbox) == 1
    assert "First" in mail.outbox[0].body and "Second" in mail.outbox[0].body
    assert "Read already" not in mail.outbox[0].body
    assert notifications_send_digests() == 0  # idempotent: nothing left, and not a day later yet
    age(api.notify_user(dana, kind="test.news", title="Third"), 601)
    notifications_email_due()
    assert notifications_send_digests() == 0  # at most one a day
    assert notifications_send_digests(now=timezone.now() + timedelta(days=1, seconds=1)) == 1
    assert "Third" in mail.outbox[1].body


def test_a_digest_waits_for_the_quiet_hours_to_end(make_user: Any, kinds: None) -> None:
    dana = make_user(email="dana@example.org")
    NotificationPreference.objects.create(user=dana, kind="test.news", channel="email", enabled=True, digest=True)
    age(api.notify_user(dana, kind="test.news", title="First"), 601)
    notifications_email_due()
    quiet_now(dana)
    assert notifications_send_digests() == 0
    DeliverySettings.objects.filter(user=dana).update(quiet_start=None, quiet_end=None)
    assert notifications_send_digests() == 1


def test_role_defaults_decide_for_people_who_chose_nothing(make_user: Any, kinds: None) -> None:
    donor = make_user(roles=("donor",), email="d@example.org")
    volunteer = make_user(roles=("volunteer",), email="v@example.org")
    NotificationPreference.objects.create(role="donor", kind="test.news", channel="email", enabled=False)
    age(api.notify_users([donor, volunteer], kind="test.news", title="News"), 601)
    assert notifications_email_due() == 1
    assert mail.outbox[0].to == ["v@example.org"]


def test_a_critical_one_without_email_of_its_own_is_still_escalated_when_unseen(
    make_user: Any, kinds: None, settings: Any
) -> None:
    settings.NOTIFICATIONS_ESCALATE_AFTER = 3600
    register_kind("test.siren", label="Siren", defaults={Channel.IN_APP}, email_after=0)
    try:
        user = make_user(email="u@example.org")
        siren = api.notify_user(user, kind="test.siren", title="Siren", priority=api.CRITICAL)
        assert notifications_email_due() == 0  # its kind sends no email; the escalation is not due yet
        age(siren, 3601)
        assert notifications_email_due() == 1
        assert mail.outbox[0].subject == "[Urgent] Siren"
    finally:
        unregister_kind("test.siren")
