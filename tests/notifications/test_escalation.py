"""Critical notifications nobody acknowledged are escalated by email, once, and shown in the admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from notifications import api
from notifications.models import Notification, Recipient
from notifications.services import notifications_escalate_unacknowledged

pytestmark = pytest.mark.django_db


def age(notification: Notification, seconds: int) -> None:
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_unacknowledged_critical_is_emailed_once(make_user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS_ESCALATE_AFTER = 600
    seen, unseen = make_user(email="seen@example.org"), make_user(email="unseen@example.org")
    alert = api.notify_users([seen, unseen], kind="system.emergency", title="Flood", priority=api.CRITICAL)
    Recipient.objects.filter(notification=alert, user=seen).update(delivered_at=timezone.now())
    age(alert, 601)
    assert notifications_escalate_unacknowledged() == 1
    assert [message.to for message in mail.outbox] == [["unseen@example.org"]]
    assert "Flood" in mail.outbox[0].subject
    assert notifications_escalate_unacknowledged() == 0
    assert len(mail.outbox) == 1
    assert Recipient.objects.get(user=unseen).escalated_at is not None


def test_not_yet_due_normal_or_expired_are_not_escalated(make_user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS_ESCALATE_AFTER = 600
    user = make_user(email="u@example.org")
    young = api.notify_user(user, kind="system.emergency", title="young", priority=api.CRITICAL)
    age(young, 10)
    normal = api.notify_user(user, kind="system.welcome", title="normal (its kind is in-app only)")
    age(normal, 6000)
    expired = api.notify_user(user, kind="system.emergency", title="expired", priority=api.CRITICAL)
    age(expired, 6000)
    Notification.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert notifications_escalate_unacknowledged() == 0
    assert mail.outbox == []


def test_command_and_admin_filter(make_user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS_ESCALATE_AFTER = 0
    user = make_user("someone", email="u@example.org")
    api.notify_user(user, kind="system.emergency", title="Now", priority=api.CRITICAL)
    call_command("escalate_notifications")
    assert len(mail.outbox) == 1
    staff = make_user(roles=("staff",), is_superuser=True)
    client = Client()
    client.force_login(staff)
    escalated = client.get("/admin/notifications/recipient/?escalated=yes").content.decode()
    assert "someone" in escalated
    not_escalated = client.get("/admin/notifications/recipient/?escalated=no").content.decode()
    assert "someone" not in not_escalated


@pytest.mark.parametrize(
    ("query", "expected"),
    [("delivered=yes", {"a"}), ("delivered=no", {"b", "c"}), ("read=yes", {"b"}), ("expired=yes", {"c"})],
)
def test_receipt_admin_filters(make_user: Any, query: str, expected: set[str]) -> None:
    a, b, c = make_user("a"), make_user("b"), make_user("c")
    for user in (a, b):
        api.notify_user(user, kind="test.n", title=f"note-for-{user.username}")
    old = api.notify_user(c, kind="test.n", title="note-for-c")
    Notification.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    Recipient.objects.filter(user=a).update(delivered_at=timezone.now())
    Recipient.objects.filter(user=b).update(read_at=timezone.now())
    client = Client()
    client.force_login(make_user("boss", roles=("staff",), is_superuser=True))
    content = client.get(f"/admin/notifications/recipient/?{query}").content.decode()
    shown = {name for name in ("a", "b", "c") if f"note-for-{name}<" in content}
    assert shown == expected
