"""Web Push (notifications/push.py): the outbox, the sender, and what a push service receives.

The push service is a stand-in on loopback (pushservice.py) that verifies the VAPID signature and
decrypts each payload with the subscriber's keys (RFC 8291), as a browser's push service and the
browser would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from notifications import api
from notifications.kinds import Channel, register_kind, unregister_kind
from notifications.management.commands.vapid_keys import vapid_key_pair
from notifications.models import DeliverySettings, NotificationPreference, PushDelivery, PushJob, PushSubscription
from notifications.push import PushSender, PushSenderStart, backoff, push_expand_jobs, push_send_due
from tests.notifications.pushservice import PushService, Subscriber

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def vapid(settings: Any) -> str:
    private, public = vapid_key_pair()
    settings.NOTIFICATIONS_VAPID_PRIVATE_KEY = private
    settings.NOTIFICATIONS_VAPID_PUBLIC_KEY = public
    settings.NOTIFICATIONS_VAPID_SUBJECT = "mailto:ops@example.org"
    return public


@pytest.fixture
def kinds() -> Iterator[None]:
    register_kind("test.pushed", label="Pushed", defaults={Channel.IN_APP, Channel.PUSH})
    register_kind(
        "test.private",
        label="Private",
        defaults={Channel.IN_APP, Channel.PUSH},
        sensitive=True,
        push_text="New message in a help request",
    )
    yield
    unregister_kind("test.pushed")
    unregister_kind("test.private")


@pytest.fixture
def service(vapid: str) -> Iterator[PushService]:
    with PushService(vapid) as running:
        yield running


def subscribe(user: Any, service: PushService, name: str, status: int = 201) -> tuple[PushSubscription, Subscriber]:
    subscriber = Subscriber()
    subscription = PushSubscription.objects.create(
        user=user, endpoint=service.endpoint(name, subscriber, status), p256dh=subscriber.p256dh, auth=b64(subscriber)
    )
    return subscription, subscriber


def b64(subscriber: Subscriber) -> str:
    from tests.notifications.pushservice import b64url

    return b64url(subscriber.auth)


def send_all() -> int:
    push_expand_jobs()
    return push_send_due()


def test_a_push_arrives_signed_and_encrypted_and_opens_its_page(
    make_user: Any, service: PushService, kinds: None
) -> None:
    vera = make_user("vera")
    subscribe(vera, service, "vera-phone")
    subscribe(vera, service, "vera-laptop")
    api.notify_user(vera, kind="test.pushed", title="Shift moved", body="Sat 10:00", data={"url": "/shifts/"})
    assert service.received == []  # notify() only wrote the outbox
    assert send_all() == 2
    assert sorted(got.path for got in service.received) == ["/push/vera-laptop", "/push/vera-phone"]
    for got in service.received:
        assert got.error == ""
        assert got.claims["sub"] == "mailto:ops@example.org"
        assert got.payload is not None
        assert (got.payload["title"], got.payload["body"], got.payload["url"]) == (
            "Shift moved",
            "Sat 10:00",
            "/shifts/",
        )
    assert not PushDelivery.objects.exists()
    assert not PushJob.objects.exists()


def test_a_sensitive_kind_pushes_only_its_notice(make_user: Any, service: PushService, kinds: None) -> None:
    vera = make_user()
    subscribe(vera, service, "vera")
    api.notify_user(
        vera, kind="test.private", title="New message from Sam", body="I can't go home tonight", data={"url": "//evil"}
    )
    assert send_all() == 1
    payload = service.received[0].payload
    assert payload is not None
    assert (payload["title"], payload["body"]) == ("New message in a help request", "")
    assert "Sam" not in str(payload) and "home" not in str(payload)
    assert payload["url"] == "/notifications/"  # never another site


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_removed(make_user: Any, service: PushService, kinds: None, status: int) -> None:
    vera = make_user()
    gone, _ = subscribe(vera, service, "old", status=status)
    kept, _ = subscribe(vera, service, "new")
    api.notify_user(vera, kind="test.pushed", title="Hi")
    assert send_all() == 1
    assert list(PushSubscription.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not PushDelivery.objects.filter(subscription_id=gone.pk).exists()


def test_a_failing_push_service_is_retried_with_backoff_then_given_up(
    make_user: Any, service: PushService, kinds: None, settings: Any
) -> None:
    settings.NOTIFICATIONS_PUSH_MAX_ATTEMPTS = 3
    vera = make_user()
    subscription, _ = subscribe(vera, service, "flaky", status=500)
    api.notify_user(vera, kind="test.pushed", title="Hi")
    assert send_all() == 0
    delivery = PushDelivery.objects.get()
    assert (delivery.attempts, delivery.last_error) == (1, "HTTP 500")
    assert delivery.next_attempt_at > timezone.now() + backoff(1) - timedelta(seconds=5)
    assert push_send_due() == 0 and len(service.received) == 1  # not due again yet
    service.status[subscription.endpoint.removeprefix(service.origin)] = 201
    assert push_send_due(now=timezone.now() + backoff(1) + timedelta(seconds=1)) == 1
    assert len(service.received) == 2 and not PushDelivery.objects.exists()
    assert backoff(2) == 2 * backoff(1)

    service.status["/push/flaky"] = 500
    api.notify_user(vera, kind="test.pushed", title="Again")
    later = timezone.now()
    push_expand_jobs()
    for _ in range(3):
        later += timedelta(hours=2)
        push_send_due(now=later)
    assert not PushDelivery.objects.exists()  # given up after 3 tries
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()  # but the device is kept


def test_a_stored_endpoint_read_two_ways_is_never_posted_to(make_user: Any, service: PushService, kinds: None) -> None:
    subscription, _ = subscribe(make_user(), service, "x")
    # As a row stored before the serializer's rule: the sender refuses it too, and removes it.
    PushSubscription.objects.filter(pk=subscription.pk).update(endpoint="https://127.0.0.2\\@fcm.googleapis.com/x")
    api.notify_user(subscription.user, kind="test.pushed", title="Hi")
    assert send_all() == 0
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()
    assert service.received == []


def test_no_answer_is_retried(make_user: Any, vapid: str, kinds: None) -> None:
    vera = make_user()
    subscriber = Subscriber()
    with PushService(vapid) as closed:
        endpoint = closed.endpoint("x", subscriber)
    PushSubscription.objects.create(user=vera, endpoint=endpoint, p256dh=subscriber.p256dh, auth=b64(subscriber))
    api.notify_user(vera, kind="test.pushed", title="Hi")
    assert send_all() == 0
    assert PushDelivery.objects.get().last_error == "no answer"


def test_push_follows_preferences_reads_and_quiet_hours(make_user: Any, service: PushService, kinds: None) -> None:
    off, reader, sleeper, awake = make_user(), make_user(), make_user(), make_user()
    for user in (off, reader, sleeper, awake):
        subscribe(user, service, user.username)
    NotificationPreference.objects.create(user=off, kind="test.pushed", channel="push", enabled=False)
    now = timezone.now()
    DeliverySettings.objects.create(
        user=sleeper,
        time_zone="UTC",
        quiet_start=(now - timedelta(hours=1)).time(),
        quiet_end=(now + timedelta(hours=1)).time(),
    )
    notification = api.notify_users([off, reader, sleeper, awake], kind="test.pushed", title="Hi")
    api.notify_users([sleeper], kind="test.pushed", title="Urgent", priority=api.CRITICAL)
    from notifications.services import recipient_mark_read

    recipient_mark_read(user_id=reader.pk, notification_ids=[notification.pk])
    assert send_all() == 2
    assert sorted(got.path for got in service.received) == sorted(
        [f"/push/{awake.username}", f"/push/{sleeper.username}"]
    )
    assert {got.payload["title"] for got in service.received if got.payload} == {"Hi", "Urgent"}
    waiting = PushDelivery.objects.get()  # the sleeper's normal one, until the quiet hours end
    assert waiting.subscription.user_id == sleeper.pk
    assert now + timedelta(minutes=59) < waiting.next_attempt_at <= now + timedelta(hours=1)


def test_undeclared_and_in_app_only_kinds_write_no_outbox(make_user: Any, service: PushService, kinds: None) -> None:
    vera = make_user()
    subscribe(vera, service, "vera")
    api.notify_user(vera, kind="test.undeclared", title="Hi")
    assert not PushJob.objects.exists()
    NotificationPreference.objects.create(user=vera, kind="test.pushed", channel="push", enabled=True)
    api.notify_user(vera, kind="test.pushed", title="Hi")
    assert PushJob.objects.count() == 1


def test_without_vapid_keys_nothing_is_sent(make_user: Any, service: PushService, kinds: None, settings: Any) -> None:
    vera = make_user()
    subscribe(vera, service, "vera")
    api.notify_user(vera, kind="test.pushed", title="Hi")
    settings.NOTIFICATIONS_VAPID_PRIVATE_KEY = ""
    assert send_all() == 0
    assert service.received == []


# -- subscriptions over REST, and the service worker ---------------------------------------------

VALID = {
    "endpoint": "https://fcm.googleapis.com/fcm/send/abc123",
    "keys": {"p256dh": Subscriber().p256dh, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
}


def test_a_device_subscribes_and_unsubscribes(make_user: Any) -> None:
    vera, other = make_user(), make_user()
    client = Client()
    client.force_login(vera)
    url = "/api/notifications/push-subscriptions/"
    assert client.post(url, VALID, content_type="application/json").status_code == 201
    stored = PushSubscription.objects.get()
    assert (stored.user_id, stored.endpoint) == (vera.pk, VALID["endpoint"])
    intruder = Client()
    intruder.force_login(other)
    assert intruder.delete(url, {"endpoint": VALID["endpoint"]}, content_type="application/json").status_code == 204
    assert PushSubscription.objects.exists()  # not theirs to remove
    assert client.delete(url, {"endpoint": VALID["endpoint"]}, content_type="application/json").status_code == 204
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "endpoint": "https://127.0.0.1/push"}, "endpoint"),
        ({**VALID, "endpoint": "http://fcm.googleapis.com/x"}, "endpoint"),
        ({**VALID, "endpoint": "https://fcm.googleapis.com.evil.example/x"}, "endpoint"),
        # urlsplit reads fcm.googleapis.com, requests would post to evil.example.
        ({**VALID, "endpoint": "https://evil.example\\@fcm.googleapis.com/x"}, "endpoint"),
        ({**VALID, "endpoint": "https://user@fcm.googleapis.com/x"}, "endpoint"),
        ({**VALID, "keys": {"p256dh": "short", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys"),
        ({"endpoint": VALID["endpoint"]}, "keys"),
    ],
)
def test_a_bad_subscription_is_refused_with_field_errors(make_user: Any, body: dict[str, Any], field: str) -> None:
    client = Client()
    client.force_login(make_user())
    response = client.post("/api/notifications/push-subscriptions/", body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not PushSubscription.objects.exists()


def test_subscribing_needs_a_login(db: None) -> None:
    response = Client().post("/api/notifications/push-subscriptions/", VALID, content_type="application/json")
    assert response.status_code == 403
    assert not PushSubscription.objects.exists()


def test_the_service_worker_is_served_from_the_root(db: None) -> None:
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    text = response.content.decode()
    assert 'addEventListener("push"' in text and 'addEventListener("notificationclick"' in text


def test_a_notification_read_before_its_push_goes_is_not_pushed(
    make_user: Any, service: PushService, kinds: None
) -> None:
    vera = make_user()
    subscribe(vera, service, "vera")
    notification = api.notify_user(vera, kind="test.pushed", title="Hi")
    assert push_expand_jobs() == 1
    from notifications.services import recipient_mark_read

    recipient_mark_read(user_id=vera.pk, notification_ids=[notification.pk])  # in another tab, meanwhile
    assert push_send_due() == 0
    assert service.received == [] and not PushDelivery.objects.exists()


# -- the sender loop -------------------------------------------------------------------------------


async def _until(condition: Any, what: str) -> None:
    """Wait (bounded) for something another thread does; the test asserts on it, not on time."""
    for _ in range(400):
        if await database_sync_to_async(condition)():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.scaleout  # the sender's own thread needs its own database connection
@pytest.mark.django_db(transaction=True)
async def test_a_hanging_push_service_does_not_hold_up_in_app_delivery(
    make_user: Any, vapid: str, kinds: None, sockets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("notifications.push.POLL_SECONDS", 3600)  # only a commit's wake-up starts a round
    release = threading.Event()
    with PushService(vapid, hold=release) as hanging:
        vera = await database_sync_to_async(make_user)()
        await database_sync_to_async(subscribe)(vera, hanging, "vera")
        sender = asyncio.ensure_future(PushSender().run())
        try:
            socket = await sockets("/ws/notifications/", user=vera)
            assert json.loads(await socket.receive_from(timeout=5))["type"] == "synced"
            first = await api.anotify_user(vera, kind="test.pushed", title="First")
            assert json.loads(await socket.receive_from(timeout=5))["id"] == first.pk
            # The commit woke the sender, which is now stuck on the push service...
            await _until(hanging.arrived.is_set, "the push reached the push service")
            # ...while in-app delivery goes on.
            second = await api.anotify_user(vera, kind="test.pushed", title="Second")
            assert json.loads(await socket.receive_from(timeout=5))["id"] == second.pk
            assert not hanging.answered.is_set()  # the push service still has not answered
            release.set()
            await _until(lambda: not PushDelivery.objects.exists() and not PushJob.objects.exists(), "all sent")
            assert {got.payload["title"] for got in hanging.received if got.payload} == {"First", "Second"}
        finally:
            release.set()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def test_the_server_starts_the_sender_once_and_only_with_keys(settings: Any, monkeypatch: Any) -> None:
    started: list[str] = []

    async def run(self: PushSender) -> None:
        started.append("run")

    monkeypatch.setattr(PushSender, "run", run)

    settings.NOTIFICATIONS_VAPID_PRIVATE_KEY = settings.NOTIFICATIONS_VAPID_PUBLIC_KEY = ""
    without_keys = PushSenderStart()
    without_keys({"type": "http"})
    private, public = vapid_key_pair()
    settings.NOTIFICATIONS_VAPID_PRIVATE_KEY, settings.NOTIFICATIONS_VAPID_PUBLIC_KEY = private, public
    without_keys({"type": "http"})  # decided at the first connection
    with_keys = PushSenderStart()
    for _ in range(3):
        with_keys({"type": "websocket"})
    await asyncio.sleep(0)
    assert started == ["run"]
    settings.NOTIFICATIONS_PUSH_IN_PROCESS = False
    separate = PushSenderStart()
    separate({"type": "http"})
    await asyncio.sleep(0)
    assert started == ["run"]


def test_a_long_body_is_cut_to_fit_a_push(make_user: Any, service: PushService, kinds: None) -> None:
    vera = make_user()
    subscribe(vera, service, "vera")
    api.notify_user(vera, kind="test.pushed", title="Long", body="x" * 5000)
    assert send_all() == 1
    payload = service.received[0].payload
    assert payload is not None and len(payload["body"]) == 500 and payload["body"].endswith("…")
