"""The control room's figures. One function computes them; the admin dashboard, its live updates
and the Prometheus endpoint all read it, so there is no second copy of any figure."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from chat import selectors as chat_selectors
from chat.events import assigned_to
from chat.models import Category, HelpRequest, Status
from dashboard.models import Activity
from donations.models import Donation, DonationStatus
from notifications.models import Notification, Recipient
from realtime.registry import SocketEntry, get_registry

ACTIVITY_LINES = 20
#: Live conversations the control room lists (waiting first, then assigned, oldest first).
CONVERSATION_LINES = 50


def _start_of_day(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def help_request_figures(*, now: datetime) -> dict[str, Any]:
    today = _start_of_day(now)
    figures = HelpRequest.objects.aggregate(
        waiting=Count("pk", filter=Q(status=Status.WAITING)),
        urgent_waiting=Count("pk", filter=Q(status=Status.WAITING, urgent=True)),
        oldest_waiting=Min("created_at", filter=Q(status=Status.WAITING)),
        assigned_today=Count("pk", filter=Q(assigned_at__gte=today)),
        resolved_today=Count("pk", filter=Q(resolved_at__gte=today)),
    )
    oldest = figures.pop("oldest_waiting")
    figures["oldest_wait_seconds"] = int((now - oldest).total_seconds()) if oldest else 0
    # What waiting visitors are told (the waiting room's cached figures): helpers on duty now, and the
    # estimate over every category ("" when there is none to give).
    wait = chat_selectors.wait_snapshot()
    estimate = wait.range_for(Category.GENERAL)
    figures["helpers_on_duty"] = wait.helpers_available
    figures["wait_estimate"] = f"{estimate[0]} to {estimate[1]} min" if estimate else ""
    figures["helpers_at_capacity"] = chat_selectors.helpers_at_capacity()
    figures["longest_unanswered_seconds"] = longest_unanswered_seconds(now=now)
    return figures


def longest_unanswered_seconds(*, now: datetime) -> int:
    """The longest a visitor in an active conversation has waited for a helper's reply to what they
    last wrote (0: every visitor has had one)."""
    return _seconds_since(now, chat_selectors.oldest_unanswered_at()) or 0


def donation_figures(*, now: datetime) -> dict[str, Any]:
    figures = Donation.objects.filter(status=DonationStatus.CONFIRMED, confirmed_at__gte=_start_of_day(now)).aggregate(
        donations_today=Count("pk"), donations_today_amount=Sum("amount")
    )
    total = Decimal(figures["donations_today_amount"] or 0).quantize(Decimal("0.01"))
    figures["donations_today_amount"] = str(total)
    return figures


def notification_figures(*, now: datetime) -> dict[str, Any]:
    hour_ago = now - timedelta(hours=1)
    return {
        "notifications_last_hour": Notification.objects.filter(created_at__gte=hour_ago).count(),
        # Receipts of unexpired notifications that no socket of the recipient has acknowledged.
        "undelivered": Recipient.objects.filter(delivered_at__isnull=True, notification__expires_at__gt=now).count(),
    }


def connection_figures(entries: list[SocketEntry]) -> dict[str, Any]:
    by_role = Counter(entry.role or "none" for entry in entries)
    by_process = Counter(entry.process for entry in entries)
    volunteers = {entry.user_id for entry in entries if entry.role == "volunteer"}
    return {
        "connections": len(entries),
        "connections_by_role": dict(sorted(by_role.items())),
        "connections_by_process": dict(sorted(by_process.items())),
        "volunteers_online": len(volunteers),
    }


def online_people(entries: list[SocketEntry]) -> list[dict[str, Any]]:
    """One line per logged-in person with an open socket: role, since when, how many sockets."""
    people: dict[int, dict[str, Any]] = {}
    for entry in entries:
        if entry.user_id is None:
            continue
        person = people.setdefault(
            entry.user_id,
            {
                "user_id": entry.user_id,
                "username": entry.username,
                "role": entry.role,
                "since": entry.since,
                "sockets": 0,
            },
        )
        person["since"] = min(person["since"], entry.since)
        person["sockets"] += 1
    for person in people.values():
        person["since"] = datetime.fromtimestamp(person["since"], tz=timezone.get_current_timezone()).isoformat()
    return sorted(people.values(), key=lambda person: (person["role"], person["username"]))


def recent_activity(limit: int = ACTIVITY_LINES) -> list[dict[str, Any]]:
    return [
        {"id": item.pk, "kind": item.kind, "text": item.text, "created_at": item.created_at.isoformat()}
        for item in Activity.objects.order_by("-id")[:limit]
    ]


def _seconds_since(now: datetime, then: datetime | None) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def live_conversations(*, now: datetime, limit: int = CONVERSATION_LINES) -> list[dict[str, Any]]:
    """Every waiting and assigned request with what a supervisor looks at: how long since the visitor
    last wrote (their description counts, for one who has not written yet) and since a helper last
    replied (None: no reply yet), and the links to watch it or open it."""
    rows = []
    for help_request in chat_selectors.live_conversations(limit=limit):
        visitor_at = help_request.last_visitor_at or help_request.created_at  # type: ignore[attr-defined]
        rows.append(
            {
                "public_id": str(help_request.public_id),
                "name": help_request.name,
                "status": help_request.status,
                "urgent": help_request.urgent,
                "assigned_to": assigned_to(help_request),
                "since_visitor": _seconds_since(now, visitor_at),
                "since_helper": _seconds_since(now, help_request.last_helper_at),  # type: ignore[attr-defined]
                "url": help_request.get_absolute_url(),
                "watch_url": help_request.get_watch_url(),
            }
        )
    return rows


def dashboard_snapshot(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the control room shows, computed once."""
    now = now or timezone.now()
    entries = get_registry().entries()
    # Visitors' comments are for staff only: this snapshot goes to staff alone (the admin, the
    # staff-only API and the staff-only live topic), never to /metrics.
    feedback = chat_selectors.feedback_week(now=now)
    return {
        "generated_at": now.isoformat(),
        "feedback": {"comments": feedback["comments"]},
        "metrics": {
            "feedback_week_count": feedback["count"],
            "feedback_week_average": feedback["average"],
            **help_request_figures(now=now),
            **donation_figures(now=now),
            **notification_figures(now=now),
            **connection_figures(entries),
        },
        "online": online_people(entries),
        "conversations": live_conversations(now=now),
        "activity": recent_activity(),
    }


def audience_sizes() -> dict[str, int]:
    """How many people an announcement to each audience would reach now (the admin's preview)."""
    from django.contrib.auth import get_user_model

    from charity.roles import Role, users_with_role

    sizes = {"all": get_user_model().objects.filter(is_active=True).count()}
    for role in Role.account_roles():
        sizes[role.value] = users_with_role(role).count()
    return sizes
