"""Web Push without a vendor: VAPID-signed, RFC 8291-encrypted pushes to each subscribed device.

``notify()`` only writes a ``PushJob`` (the outbox) in its transaction. The sender, after commit:

1. expands each job into one ``PushDelivery`` per device of each recipient who wants the kind pushed
   (``preferences.Resolver``) and has not read it yet; in the person's quiet hours the delivery
   waits until they end (not for a critical kind or notification);
2. sends each due delivery: accepted (2xx) → done; 404/410 → the subscription is gone, deleted;
   anything else (or no answer within ``NOTIFICATIONS_PUSH_TIMEOUT``) → tried again with
   exponential backoff, up to ``NOTIFICATIONS_PUSH_MAX_ATTEMPTS`` tries.

The sender runs as a background task of the server process (``PushSenderStart``, the embedded
default) or as ``manage.py send_push --loop`` (scale-out). Either way its database and HTTP work
happen on a thread of its own, so a slow push service never holds up the threads that deliver
in-app notifications. A delivery is leased (its ``next_attempt_at`` pushed ahead) before it is
sent, so several senders never send the same push twice at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import close_old_connections, transaction
from django.utils import timezone

from charity.roles import roles_for
from notifications import wake
from notifications.app_settings import app_settings
from notifications.kinds import Channel, kind_for
from notifications.models import DeliverySettings, Priority, PushDelivery, PushJob, PushSubscription, Recipient
from notifications.preferences import Resolver, quiet_until

logger = logging.getLogger(__name__)

BACKOFF_BASE = 30  # seconds before the second try; doubled each time, at most an hour
BACKOFF_MAX = 3600
POLL_SECONDS = 5.0
MAX_PUSH_BODY = 500  # characters: with the title (200) and the URL, well inside 4 KiB encrypted


def push_configured() -> bool:
    return bool(app_settings.VAPID_PRIVATE_KEY and app_settings.VAPID_PUBLIC_KEY)


def push_url(data: Any) -> str:
    """Where a click on the push goes: the notification's own page when it names one on this site."""
    url = data.get("url") if isinstance(data, dict) else None
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        return url
    return "/notifications/"


def push_payload(delivery: PushDelivery) -> str:
    """What the service worker shows. A sensitive kind shows only its notice, never its words."""
    notification = delivery.notification
    title, body = kind_for(notification.kind).push_title_body(title=notification.title, body=notification.body)
    if len(body) > MAX_PUSH_BODY:  # push services refuse payloads over 4 KiB; a body has no limit
        body = body[: MAX_PUSH_BODY - 1] + "…"
    return json.dumps(
        {"id": notification.pk, "title": title, "body": body, "url": push_url(notification.data)},
        separators=(",", ":"),
    )


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


def push_expand_jobs(*, now: datetime | None = None, limit: int = 100) -> int:
    """Turn outbox jobs into deliveries (module docstring, step 1); returns how many deliveries."""
    now = now or timezone.now()
    created = 0
    resolver = Resolver()
    for job_id in list(PushJob.objects.order_by("pk").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            job = (
                PushJob.objects.select_for_update(skip_locked=True)
                .select_related("notification")
                .filter(pk=job_id)
                .first()
            )
            if job is None:
                continue
            notification = job.notification
            kind = kind_for(notification.kind)
            urgent = kind.critical or notification.priority == Priority.CRITICAL
            unread = Recipient.objects.filter(notification=notification, read_at__isnull=True).values("user_id")
            users = (
                get_user_model()
                .objects.filter(pk__in=unread, push_subscriptions__isnull=False)
                .distinct()
                .prefetch_related("groups", "push_subscriptions")
            )
            rows = []
            for user in users:
                choice = resolver.choice(user_id=user.pk, roles=roles_for(user), kind=kind, channel=Channel.PUSH)
                if not choice.enabled:
                    continue
                quiet = None if urgent else quiet_until(DeliverySettings.objects.filter(user=user).first(), now=now)
                rows += [
                    PushDelivery(notification=notification, subscription=subscription, next_attempt_at=quiet or now)
                    for subscription in user.push_subscriptions.all()
                ]
            PushDelivery.objects.bulk_create(rows, ignore_conflicts=True)
            created += len(rows)
            job.delete()
    return created


def _lease(delivery_id: int, *, now: datetime) -> PushDelivery | None:
    """Claim a due delivery for one send (no other sender takes it meanwhile)."""
    lease_until = now + timedelta(seconds=app_settings.PUSH_TIMEOUT * 3 + 30)
    claimed = PushDelivery.objects.filter(pk=delivery_id, next_attempt_at__lte=now).update(next_attempt_at=lease_until)
    if not claimed:
        return None
    return PushDelivery.objects.select_related("notification", "subscription").filter(pk=delivery_id).first()


def endpoint_unambiguous(url: str) -> bool:
    """Whether every HTTP library reads the same host in ``url``: no user part, no backslash, and
    Python's ``urlsplit`` and urllib3 (which ``requests`` sends with) agree.
    ``https://evil.example\\@push.example/`` is one host to the first and another to the second."""
    from urllib3.util import parse_url

    parts = urlsplit(url)
    if "\\" in url or "@" in parts.netloc:
        return False
    try:
        return (parse_url(url).host or "").lower() == (parts.hostname or "").lower()
    except ValueError:
        return False


def endpoint_allowed(url: str) -> bool:
    """Whether a browser may subscribe with ``url``: an unambiguous https address of a known browser
    push service (``NOTIFICATIONS_PUSH_SERVICE_HOSTS``), the only places the sender posts to."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    known = any(host == name or host.endswith("." + name) for name in app_settings.PUSH_SERVICE_HOSTS)
    return parts.scheme == "https" and known and endpoint_unambiguous(url)


def _send(delivery: PushDelivery) -> int | None:
    """Send one push; the push service's status, or None when it did not answer. A stored endpoint
    whose host libraries could read two ways is answered as gone (404): it is removed, never sent to."""
    from pywebpush import WebPushException, webpush

    if not endpoint_unambiguous(delivery.subscription.endpoint):
        return 404
    try:
        response = webpush(
            subscription_info=delivery.subscription.subscription_info(),
            data=push_payload(delivery),
            vapid_private_key=app_settings.VAPID_PRIVATE_KEY,
            vapid_claims={"sub": app_settings.VAPID_SUBJECT},
            timeout=app_settings.PUSH_TIMEOUT,
            ttl=24 * 3600,
        )
    except WebPushException as exc:
        return exc.response.status_code if exc.response is not None else None
    except Exception as exc:
        logger.info("Push %s not sent: %s", delivery.pk, type(exc).__name__)
        return None
    return int(getattr(response, "status_code", 201))


def push_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send the due deliveries (module docstring, step 2); returns how many push services accepted."""
    if not push_configured():
        return 0
    now = now or timezone.now()
    due = PushDelivery.objects.filter(next_attempt_at__lte=now).order_by("next_attempt_at", "pk")
    accepted = 0
    for delivery_id in list(due.values_list("pk", flat=True)[:limit]):
        delivery = _lease(delivery_id, now=now)
        if delivery is None:
            continue
        if Recipient.objects.filter(
            notification_id=delivery.notification_id, user_id=delivery.subscription.user_id, read_at__isnull=False
        ).exists():
            delivery.delete()  # read meanwhile, on some tab or device: nothing to say
            continue
        status = _send(delivery)
        if status is not None and 200 <= status < 300:
            delivery.delete()
            accepted += 1
        elif status in (404, 410):
            PushSubscription.objects.filter(pk=delivery.subscription_id).delete()  # and its deliveries
        else:
            delivery.attempts += 1
            if delivery.attempts >= app_settings.PUSH_MAX_ATTEMPTS:
                logger.warning("Push %s given up after %s tries (last: %s).", delivery.pk, delivery.attempts, status)
                delivery.delete()
                continue
            delivery.next_attempt_at = timezone.now() + backoff(delivery.attempts)
            delivery.last_error = f"HTTP {status}" if status else "no answer"
            delivery.save(update_fields=["attempts", "next_attempt_at", "last_error"])
    return accepted


def push_run_once() -> int:
    """One round of the sender: expand the outbox, then send what is due."""
    close_old_connections()
    try:
        push_expand_jobs()
        return push_send_due()
    finally:
        close_old_connections()


class PushSender:
    """The sender loop: a round now, then whenever a notification with pushes commits in this
    process (``wake.push_wake``) or every ``POLL_SECONDS``, on a thread of its own."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-sender")
        self._event = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wake.register(loop, self._event)
        try:
            while True:
                self._event.clear()
                try:
                    await loop.run_in_executor(self._executor, push_run_once)
                except Exception:
                    logger.exception("Push sender round failed; trying again shortly.")
                try:
                    await asyncio.wait_for(self._event.wait(), POLL_SECONDS)
                except TimeoutError:
                    pass
        finally:
            wake.unregister()
            self._executor.shutdown(wait=False)


class PushSenderStart:
    """Starts the push sender on the server's event loop with the first connection (the embedded
    default; ``NOTIFICATIONS_PUSH_IN_PROCESS=false`` when ``send_push --loop`` runs instead).

    Called with each connection's scope by the server's application (``realtime.entry.Application``)."""

    def __init__(self) -> None:
        self._decided = False
        self._task: asyncio.Task[None] | None = None  # held, so the loop keeps the task alive

    def __call__(self, scope: Any) -> None:
        if not self._decided and scope.get("type") in ("http", "websocket"):
            self._decided = True
            if app_settings.PUSH_IN_PROCESS and push_configured():
                self._task = asyncio.get_running_loop().create_task(PushSender().run())
