"""Management commands of the control room: seed_demo (the demo's people, notifications and shifts)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from charity.roles import Role, roles_for
from dashboard.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from notifications.models import Notification, Recipient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def demo_state() -> tuple[list[tuple[str, bool, bool, list[str]]], list[tuple[str, int]], int]:
    users = [
        (user.username, user.is_staff, user.is_active, sorted(group.name for group in user.groups.all()))
        for user in get_user_model().objects.prefetch_related("groups").order_by("username")
    ]
    notifications = list(Notification.objects.order_by("pk").values_list("kind", "recipient_count"))
    return users, notifications, Recipient.objects.count()


def test_seed_demo_creates_the_demo_people_with_their_roles() -> None:
    output = run("seed_demo")
    users = {user.username: user for user in get_user_model().objects.all()}
    assert set(users) == {username for username, _ in DEMO_USERS}
    for username, role in DEMO_USERS:
        assert roles_for(users[username]) == {role}, username
        assert users[username].check_password(DEMO_PASSWORD)
        assert username in output
    assert {role for _, role in DEMO_USERS} == {Role.STAFF, Role.VOLUNTEER, Role.DONOR}


def test_seed_demo_notifies_everyone_and_each_role() -> None:
    run("seed_demo")
    assert demo_state()[1] == [("system.welcome", 5), ("shift.changed", 2), ("impact.update", 2)]


def test_seed_demo_is_idempotent() -> None:
    run("seed_demo")
    first = demo_state()
    run("seed_demo")
    assert demo_state() == first
    assert len(first[0]) == len(DEMO_USERS)


def test_seed_demo_opens_the_helpline_and_lists_alternatives() -> None:
    from chat.models import Alternative, OpeningHours

    run("seed_demo")
    run("seed_demo")
    assert OpeningHours.objects.count() == 9  # every day, and two overnight ranges, once
    assert list(Alternative.objects.values_list("kind", flat=True)) == ["emergency", "phone", "website"]
    from chat.models import CannedReply

    assert sorted(CannedReply.objects.values_list("title", flat=True)) == ["Closing", "Food bank hours", "Welcome"]


def test_seed_demo_sets_the_demos_notification_choices() -> None:
    from notifications.kinds import Channel
    from notifications.models import NotificationPreference
    from notifications.preferences import Resolver

    run("seed_demo")
    run("seed_demo")  # idempotent
    users = {user.username: user for user in get_user_model().objects.all()}
    resolver = Resolver()

    def choice(username: str, kind: str, channel: Channel) -> tuple[bool, bool]:
        user = users[username]
        found = resolver.choice(user_id=user.pk, roles=roles_for(user), kind=kind, channel=channel)
        return found.enabled, found.digest

    assert choice("vera", "shift.changed", Channel.EMAIL) == (False, False)
    assert choice("vera", "shift.changed", Channel.PUSH) == (True, False)
    assert choice("victor", "shift.changed", Channel.EMAIL) == (True, False)
    assert choice("dana", "impact.update", Channel.EMAIL) == (True, True)
    assert NotificationPreference.objects.filter(user=users["vera"]).count() == 2  # email and push, once each
