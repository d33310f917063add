"""The control room's figures, computed by functions that stand on their own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from chat.models import HelpRequest, Status
from dashboard.selectors import audience_sizes, connection_figures, dashboard_snapshot, online_people
from dashboard.services import activity_record
from donations.models import Donation, DonationStatus
from notifications import api
from notifications.models import Recipient
from realtime.registry import SocketEntry

pytestmark = pytest.mark.django_db


def test_help_request_figures(make_user: Any) -> None:
    now = timezone.now()
    HelpRequest.objects.create(name="a", description="x", created_at=now - timedelta(minutes=30))
    HelpRequest.objects.create(name="b", description="x", created_at=now - timedelta(minutes=5))
    HelpRequest.objects.create(name="c", description="x", status=Status.ASSIGNED, assigned_at=now)
    HelpRequest.objects.create(name="d", description="x", status=Status.RESOLVED, assigned_at=now, resolved_at=now)
    metrics = dashboard_snapshot(now=now)["metrics"]
    assert metrics["waiting"] == 2
    assert 30 * 60 - 2 <= metrics["oldest_wait_seconds"] <= 30 * 60 + 2
    assert metrics["assigned_today"] == 2 and metrics["resolved_today"] == 1


def test_urgent_waiting_and_the_longest_unanswered_visitor(make_user: Any) -> None:
    from chat.models import AuthorKind, Message

    now = timezone.now()
    vera = make_user("vera", roles=("volunteer",))
    HelpRequest.objects.create(name="u", description="x", urgent=True, urgent_reason="risk")
    HelpRequest.objects.create(name="calm", description="x")
    answered, waiting_reply = (
        HelpRequest.objects.create(name=name, description="x", status=Status.ASSIGNED, assigned_to=vera)
        for name in ("answered", "waiting for a reply")
    )

    def say(help_request: HelpRequest, kind: str, minutes_ago: int) -> None:
        Message.objects.create(
            help_request=help_request,
            author_kind=kind,
            author_name="x",
            body="x",
            created_at=now - timedelta(minutes=minutes_ago),
        )

    say(answered, AuthorKind.VISITOR, 20)
    say(answered, AuthorKind.VOLUNTEER, 19)
    say(waiting_reply, AuthorKind.VOLUNTEER, 12)
    say(waiting_reply, AuthorKind.VISITOR, 10)
    snapshot = dashboard_snapshot(now=now)
    assert snapshot["metrics"]["urgent_waiting"] == 1
    assert 10 * 60 - 2 <= snapshot["metrics"]["longest_unanswered_seconds"] <= 10 * 60 + 2
    # Urgent first among the live conversations, and said so.
    assert [(row["name"], row["urgent"]) for row in snapshot["conversations"][:2]] == [("u", True), ("calm", False)]


def test_no_waiting_means_no_wait() -> None:
    assert dashboard_snapshot()["metrics"]["oldest_wait_seconds"] == 0


def test_donation_figures_count_confirmed_today(make_user: Any) -> None:
    donor = make_user()
    now = timezone.now()
    Donation.objects.create(donor=donor, amount=Decimal("10"), status=DonationStatus.CONFIRMED, confirmed_at=now)
    Donation.objects.create(donor=donor, amount=Decimal("5.50"), status=DonationStatus.CONFIRMED, confirmed_at=now)
    Donation.objects.create(donor=donor, amount=Decimal("99"), status=DonationStatus.PROCESSING)
    Donation.objects.create(
        donor=donor, amount=Decimal("7"), status=DonationStatus.CONFIRMED, confirmed_at=now - timedelta(days=2)
    )
    metrics = dashboard_snapshot(now=now)["metrics"]
    assert metrics["donations_today"] == 2 and metrics["donations_today_amount"] == "15.50"


def test_notification_figures(make_user: Any) -> None:
    users = [make_user() for _ in range(3)]
    first = api.notify_users(users, kind="test.n", title="x")
    Recipient.objects.filter(notification=first, user=users[0]).update(delivered_at=timezone.now())
    metrics = dashboard_snapshot()["metrics"]
    assert metrics["notifications_last_hour"] == 1 and metrics["undelivered"] == 2


def entry(channel: str, user_id: int | None, role: str, since: float = 1_700_000_000.0, process: str = "p1") -> Any:
    return SocketEntry(
        channel=channel,
        endpoint="notifications",
        role=role,
        user_id=user_id,
        username=f"u{user_id}",
        since=since,
        process=process,
    )


def test_connection_figures_and_online_people() -> None:
    entries = [
        entry("a", 1, "volunteer", since=100.0),
        entry("b", 1, "volunteer", since=50.0, process="p2"),
        entry("c", 2, "staff"),
        entry("d", None, "visitor"),
    ]
    figures = connection_figures(entries)
    assert figures["connections"] == 4
    assert figures["connections_by_role"] == {"staff": 1, "visitor": 1, "volunteer": 2}
    assert figures["connections_by_process"] == {"p1": 3, "p2": 1}
    assert figures["volunteers_online"] == 1
    people = online_people(entries)
    assert [(p["username"], p["role"], p["sockets"]) for p in people] == [("u2", "staff", 1), ("u1", "volunteer", 2)]
    assert people[1]["since"].startswith("1970-01-01T00:00:50")


def test_activity_is_newest_first() -> None:
    activity_record(kind="a.b", text="first")
    activity_record(kind="a.b", text="second")
    assert [item["text"] for item in dashboard_snapshot()["activity"][:2]] == ["second", "first"]


def test_audience_sizes(make_user: Any) -> None:
    make_user(roles=("volunteer",))
    make_user(roles=("volunteer", "donor"))
    make_user(roles=("staff",))
    make_user(is_active=False, roles=("volunteer",))
    assert audience_sizes() == {"all": 3, "volunteer": 2, "donor": 1, "staff": 1}


def test_help_request_lifecycle_reaches_the_activity_feed(make_user: Any) -> None:
    from chat import services
    from chat.participants import user_participant

    vera = make_user("vera", roles=("volunteer",))
    help_request = services.help_request_create(name="Alice", description="Food")
    services.help_request_claim(help_request=help_request, user=vera)
    services.help_request_resolve(help_request=help_request, by=user_participant(vera))
    kinds = [item["kind"] for item in dashboard_snapshot()["activity"]]
    assert kinds[:3] == ["help_request.resolved", "help_request.claimed", "help_request.created"]


def test_the_control_room_shows_helpers_on_duty_and_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    from chat import selectors as chat_selectors

    replied = timezone.now() - timedelta(hours=1)
    for _ in range(5):
        HelpRequest.objects.create(
            name="p", description="x", created_at=replied - timedelta(minutes=10), first_reply_at=replied
        )
    metrics = dashboard_snapshot()["metrics"]
    assert (metrics["helpers_on_duty"], metrics["wait_estimate"]) == (0, "")  # nobody has the queue open
    monkeypatch.setattr(chat_selectors, "helpers_online", lambda: 2)
    chat_selectors.wait_snapshot_clear()
    metrics = dashboard_snapshot()["metrics"]
    assert (metrics["helpers_on_duty"], metrics["wait_estimate"]) == (2, "10 to 15 min")
