"""The email channel: one path for every email a notification causes, and the daily digest.

``notifications_email_due`` is what ``manage.py escalate_notifications`` runs (cron every minute, or
``--every 60``). It takes each receipt that is due and decides once:

* a critical notification none of the person's sockets acknowledged within
  ``NOTIFICATIONS_ESCALATE_AFTER`` is emailed, whatever their preferences and quiet hours say
  (this is the escalation the module always had);
* a notification of a declared kind still unread in-app after the kind's ``email_after`` delay is
  emailed when the person's email is on for that kind, put in their digest when they chose one, or
  passed over when their email is off. During their quiet hours it waits (it is due again later),
  unless the kind is critical.

Each receipt is locked (other runners skip it), decided, and marked (``escalated_at``,
``email_outcome``) in one transaction; a failed email rolls back and is tried again next run.

``notifications_send_digests`` (``manage.py send_notification_digests``) sends each person with
digest items one email at most every ``NOTIFICATIONS_DIGEST_EVERY`` seconds, outside their quiet
hours; idempotent and safe to run every few minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from charity.roles import roles_for
from notifications.app_settings import app_settings
from notifications.kinds import Channel, kind_for, kinds_all
from notifications.models import DeliverySettings, EmailOutcome, Notification, Priority, Recipient
from notifications.preferences import Resolver, quiet_until


def _email_text(notification: Notification) -> tuple[str, str]:
    """Subject and body; a sensitive kind's words stay out of inboxes too (only the kind's notice)."""
    kind = kind_for(notification.kind)
    title, body = kind.push_title_body(title=notification.title, body=notification.body)
    url = notification.data.get("url") if isinstance(notification.data, dict) else None
    link = f"\n\nOpen it on the site: {url}" if isinstance(url, str) and url.startswith("/") else ""
    return title, f"{body}{link}".strip()


def _due(now: datetime) -> Q:
    critical = Q(
        notification__priority=Priority.CRITICAL,
        delivered_at__isnull=True,
        notification__created_at__lte=now - timedelta(seconds=app_settings.ESCALATE_AFTER),
    )
    per_kind = [
        Q(notification__kind=kind.name, notification__created_at__lte=now - timedelta(seconds=kind.email_after))
        for kind in kinds_all()
    ]
    unread_past_delay = Q(read_at__isnull=True) & reduce(or_, per_kind) if per_kind else Q(pk__in=[])
    return critical | unread_past_delay


def notifications_email_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Decide every due receipt once (module docstring); returns how many emails went out."""
    now = now or timezone.now()
    due = Recipient.objects.filter(
        _due(now),
        # A receipt whose user was deleted while it was written (models.Recipient) is never due.
        Exists(get_user_model().objects.filter(pk=OuterRef("user_id"))),
        escalated_at__isnull=True,
        notification__expires_at__gt=now,
    )
    resolver = Resolver()
    sent = 0
    for receipt_id in list(due.order_by("pk").values_list("pk", flat=True)[: limit * 4]):
        if sent >= limit:
            break
        with transaction.atomic():
            receipt = (
                Recipient.objects.select_for_update(skip_locked=True)
                .select_related("notification", "user")
                .filter(pk=receipt_id, escalated_at__isnull=True)
                .first()
            )
            if receipt is None:
                continue  # another runner has it, or had it
            outcome = _decide(receipt, resolver=resolver, now=now)
            if outcome is None:
                continue  # quiet hours: due again once they end
            if outcome == EmailOutcome.SENT:
                _send(receipt)
                sent += 1
            receipt.escalated_at = now
            receipt.email_outcome = outcome
            receipt.save(update_fields=["escalated_at", "email_outcome"])
    return sent


def _decide(receipt: Recipient, *, resolver: Resolver, now: datetime) -> str | None:
    notification = receipt.notification
    escalation = notification.priority == Priority.CRITICAL and receipt.delivered_at is None
    if escalation and notification.created_at <= now - timedelta(seconds=app_settings.ESCALATE_AFTER):
        return EmailOutcome.SENT
    kind = kind_for(notification.kind)
    choice = resolver.choice(user_id=receipt.user_id, roles=roles_for(receipt.user), kind=kind, channel=Channel.EMAIL)
    if escalation and not (choice.enabled and not choice.digest):
        return None  # no email of its own, but its escalation may still be due: decided then
    if not choice.enabled:
        return EmailOutcome.OFF
    if choice.digest:
        return EmailOutcome.DIGEST
    urgent = kind.critical or notification.priority == Priority.CRITICAL
    if not urgent and quiet_until(DeliverySettings.objects.filter(user_id=receipt.user_id).first(), now=now):
        return None
    return EmailOutcome.SENT


def _send(receipt: Recipient) -> None:
    if not receipt.user.email:
        return
    subject, body = _email_text(receipt.notification)
    if receipt.notification.priority == Priority.CRITICAL:
        subject = f"[Urgent] {subject}"
        body = f"{body}\n\nYou have not seen this urgent message on the site yet.".strip()
    send_mail(subject=subject, message=body, from_email=None, recipient_list=[receipt.user.email])


def notifications_send_digests(*, now: datetime | None = None) -> int:
    """Send each due digest (module docstring); returns how many digests went out."""
    now = now or timezone.now()
    user_ids = Recipient.objects.filter(email_outcome=EmailOutcome.DIGEST).values_list("user_id", flat=True).distinct()
    sent = 0
    for user_id in list(user_ids):
        DeliverySettings.objects.get_or_create(user_id=user_id)
        with transaction.atomic():
            settings = DeliverySettings.objects.select_for_update(skip_locked=True).filter(user_id=user_id).first()
            if settings is None:
                continue  # another runner is sending it
            if settings.last_digest_at and settings.last_digest_at > now - timedelta(seconds=app_settings.DIGEST_EVERY):
                continue
            if quiet_until(settings, now=now):
                continue
            items = list(
                Recipient.objects.select_related("notification", "user")
                .filter(user_id=user_id, email_outcome=EmailOutcome.DIGEST)
                .order_by("notification_id")
            )
            unread = [item for item in items if item.read_at is None and item.notification.expires_at > now]
            if unread and unread[0].user.email:
                lines = []
                for item in unread:
                    title, body = _email_text(item.notification)
                    lines.append(f"- {title}" + (f"\n  {body}" if body else ""))
                send_mail(
                    subject=f"Your daily digest: {len(unread)} notification(s)",
                    message="\n".join(lines),
                    from_email=None,
                    recipient_list=[unread[0].user.email],
                )
                sent += 1
                settings.last_digest_at = now
                settings.save(update_fields=["last_digest_at"])
            Recipient.objects.filter(pk__in=[item.pk for item in items]).update(email_outcome=EmailOutcome.DIGESTED)
    return sent
