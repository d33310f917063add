"""Management commands of the notifications module: notify, purge_notifications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from charity.roles import Role
from notifications import api
from notifications.models import Notification, Recipient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

HELLO = ["--kind", "test.hello", "--title", "Hello"]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def recipients_of(notification: Notification) -> set[str]:
    return set(Recipient.objects.filter(notification=notification).values_list("user__username", flat=True))


# -- notify ----------------------------------------------------------------------------------------


def test_notify_users_by_username_and_reports_the_count(make_user: Any) -> None:
    make_user("alice"), make_user("bob"), make_user("carol")
    output = run("notify", "--user", "alice", "--user", "bob", "--user", "alice", *HELLO)
    notification = Notification.objects.get()
    assert recipients_of(notification) == {"alice", "bob"}
    assert f"Sent notification {notification.pk} to 2 recipient(s)." in output


@pytest.mark.parametrize("role", Role.account_roles())
def test_notify_a_role(make_user: Any, role: Role) -> None:
    make_user("holder", roles=(role,))
    make_user("inactive", roles=(role,), is_active=False)
    make_user("nobody")
    output = run("notify", "--role", role.value, *HELLO)
    notification = Notification.objects.get()
    assert recipients_of(notification) == {"holder"}
    assert notification.audience == f"role:{role.value}"
    assert "to 1 recipient(s)" in output


def test_notify_everyone(make_user: Any) -> None:
    make_user("alice"), make_user("bob", roles=(Role.DONOR,)), make_user("gone", is_active=False)
    output = run("notify", "--all", *HELLO)
    assert recipients_of(Notification.objects.get()) == {"alice", "bob"}
    assert "to 2 recipient(s)" in output


def test_notify_passes_every_field(make_user: Any) -> None:
    make_user("alice")
    run(
        "notify", "--user", "alice", "--kind", "system.alert", "--title", "Flood warning",
        "--body", "Stay home", "--data", '{"area": "north", "level": 3}',
    )  # fmt: skip
    notification = Notification.objects.get()
    assert (notification.kind, notification.title, notification.body, notification.data) == (
        "system.alert",
        "Flood warning",
        "Stay home",
        {"area": "north", "level": 3},
    )
    assert notification.priority == api.NORMAL
    assert notification.expires_at - notification.created_at == timedelta(days=7)


def test_critical_notification_is_critical_and_lives_thirty_days(make_user: Any) -> None:
    make_user("alice")
    run("notify", "--user", "alice", *HELLO, "--critical")
    notification = Notification.objects.get()
    assert notification.priority == api.CRITICAL
    assert notification.expires_at - notification.created_at == timedelta(days=30)


def test_ttl_sets_the_lifetime_in_seconds(make_user: Any) -> None:
    make_user("alice")
    run("notify", "--user", "alice", *HELLO, "--critical", "--ttl", "90")
    notification = Notification.objects.get()
    assert notification.expires_at - notification.created_at == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--user", "ghost", *HELLO], "ghost", id="unknown-user"),
        pytest.param(["--user", "alice", "--user", "ghost", *HELLO], "ghost", id="one-unknown-user"),
        pytest.param(["--user", "alice", "--kind", "Not A Kind", "--title", "Hi"], "kind", id="bad-kind"),
        pytest.param(["--user", "alice", "--kind", "test.hello", "--title", " "], "title", id="blank-title"),
        pytest.param(["--user", "alice", *HELLO, "--data", "{nope"], "--data", id="data-not-json"),
        pytest.param(["--user", "alice", *HELLO, "--data", "[1, 2]"], "data", id="data-not-an-object"),
        pytest.param(["--user", "alice", *HELLO, "--ttl", "0"], "ttl", id="ttl-zero"),
        pytest.param(["--role", "visitor", *HELLO], "visitor", id="role-visitor"),
        pytest.param([*HELLO], "one of the arguments", id="no-audience"),
        pytest.param(["--all", "--user", "alice", *HELLO], "not allowed with", id="two-audiences"),
        pytest.param(["--all", "--title", "Hi"], "--kind", id="no-kind"),
    ],
)
def test_notify_refuses_bad_input_with_a_command_error(make_user: Any, args: list[str], message: str) -> None:
    make_user("alice")
    with pytest.raises(CommandError, match=message):
        run("notify", *args)
    assert not Notification.objects.exists()


# -- purge_notifications ---------------------------------------------------------------------------


def test_purge_notifications_deletes_the_expired_only(make_user: Any, expire: Callable[[Notification], None]) -> None:
    user = make_user()
    expired = api.notify_user(user, kind="test.old", title="Old")
    kept = api.notify_user(user, kind="test.new", title="New")
    expire(expired)
    output = run("purge_notifications")
    assert "Purged 1 expired notification(s)." in output
    assert list(Notification.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(Recipient.objects.values_list("notification_id", flat=True)) == [kept.pk]
    assert "Purged 0 expired notification(s)." in run("purge_notifications")
