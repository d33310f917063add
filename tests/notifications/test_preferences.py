"""Kinds (notifications/kinds.py), preferences and quiet hours (preferences.py), and the page and
REST endpoint where people set them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

import pytest
from django.test import Client

from charity.roles import Role
from notifications import api
from notifications.kinds import Channel, kind_for, kinds_all, register_kind, unregister_kind
from notifications.models import DeliverySettings, NotificationPreference, Recipient
from notifications.preferences import Resolver, quiet_until

pytestmark = pytest.mark.usefixtures("fast_passwords")
URL = "/api/notifications/preferences/"


@pytest.fixture
def kinds() -> Iterator[None]:
    register_kind("test.news", label="News", defaults={Channel.IN_APP, Channel.EMAIL})
    register_kind("test.alarm", label="Alarm", defaults={Channel.IN_APP}, critical=True)
    yield
    unregister_kind("test.news")
    unregister_kind("test.alarm")


def test_the_projects_kinds_are_declared() -> None:
    names = {kind.name for kind in kinds_all()}
    assert {"shift.changed", "donation.confirmed", "donation.failed", "system.emergency", "impact.update"} <= names
    emergency = kind_for("system.emergency")
    assert emergency.critical and not emergency.may_turn_off_in_app


def test_a_kind_cannot_be_declared_twice_differently(kinds: None) -> None:
    register_kind("test.news", label="News", defaults={Channel.IN_APP, Channel.EMAIL})  # the same: fine
    with pytest.raises(ValueError, match="twice"):
        register_kind("test.news", label="Other news")
    with pytest.raises(ValueError, match="dotted"):
        register_kind("Bad Kind", label="x")


def test_an_undeclared_kind_is_in_app_only_and_warned_about_once(
    make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user()
    with caplog.at_level(logging.WARNING, logger="notifications.kinds"):
        api.notify_user(user, kind="test.mystery", title="one")
        api.notify_user(user, kind="test.mystery", title="two")
    warnings = [record for record in caplog.records if "test.mystery" in record.getMessage()]
    assert len(warnings) == 1
    assert Recipient.objects.filter(user=user, read_at__isnull=True).count() == 2
    resolver = Resolver()
    assert resolver.choice(user_id=user.pk, roles=[], kind="test.mystery", channel=Channel.EMAIL).enabled is False
    assert resolver.choice(user_id=user.pk, roles=[], kind="test.mystery", channel=Channel.IN_APP).enabled is True


def test_own_choice_beats_role_default_beats_kind_default(make_user: Any, kinds: None) -> None:
    donor, volunteer, both = make_user(roles=("donor",)), make_user(roles=("volunteer",)), make_user()
    NotificationPreference.objects.create(role="donor", kind="test.news", channel="email", enabled=False)
    NotificationPreference.objects.create(user=both, kind="test.news", channel="email", enabled=True, digest=True)
    resolver = Resolver()

    def email(user: Any, roles: list[str]) -> tuple[bool, bool]:
        choice = resolver.choice(
            user_id=user.pk, roles=[Role(role) for role in roles], kind="test.news", channel=Channel.EMAIL
        )
        return choice.enabled, choice.digest

    assert email(donor, ["donor"]) == (False, False)  # the role's default
    assert email(volunteer, ["volunteer"]) == (True, False)  # the kind's default
    assert email(both, ["donor"]) == (True, True)  # their own choice


def test_turning_a_kind_off_in_app_keeps_it_from_the_bell(make_user: Any, kinds: None) -> None:
    quiet, loud = make_user(), make_user()
    NotificationPreference.objects.create(user=quiet, kind="test.news", channel="in_app", enabled=False)
    NotificationPreference.objects.create(user=quiet, kind="test.alarm", channel="in_app", enabled=False)
    api.notify_users([quiet, loud], kind="test.news", title="News")
    api.notify_users([quiet, loud], kind="test.alarm", title="Alarm")
    unread = set(Recipient.objects.filter(read_at__isnull=True).values_list("user_id", "notification__kind"))
    assert unread == {(loud.pk, "test.news"), (loud.pk, "test.alarm"), (quiet.pk, "test.alarm")}


def test_quiet_hours_are_a_daily_window_in_the_persons_own_zone() -> None:
    settings = DeliverySettings(time_zone="Europe/London", quiet_start=time(22, 0), quiet_end=time(7, 0))
    assert quiet_until(settings, now=datetime(2026, 1, 10, 23, 30, tzinfo=UTC)) == datetime(2026, 1, 11, 7, tzinfo=UTC)
    # 05:30 UTC is 06:30 in London in summer: quiet until 07:00 London, 06:00 UTC.
    assert quiet_until(settings, now=datetime(2026, 7, 10, 5, 30, tzinfo=UTC)) == datetime(2026, 7, 10, 6, tzinfo=UTC)
    assert quiet_until(settings, now=datetime(2026, 7, 10, 12, 0, tzinfo=UTC)) is None
    daytime = DeliverySettings(time_zone="UTC", quiet_start=time(9, 0), quiet_end=time(17, 0))
    assert quiet_until(daytime, now=datetime(2026, 7, 10, 12, 0, tzinfo=UTC)) == datetime(2026, 7, 10, 17, tzinfo=UTC)
    assert quiet_until(daytime, now=datetime(2026, 7, 10, 18, 0, tzinfo=UTC)) is None
    assert quiet_until(DeliverySettings(time_zone="UTC"), now=datetime(2026, 7, 10, 12, tzinfo=UTC)) is None


# -- REST ---------------------------------------------------------------------------------------


def test_get_and_put_preferences(make_user: Any, kinds: None) -> None:
    user = make_user()
    client = Client()
    client.force_login(user)
    state = client.get(URL).json()
    news = next(row for row in state["kinds"] if row["kind"] == "test.news")
    assert (news["in_app"], news["email"], news["push"], news["email_digest"]) == (True, True, False, False)
    body = {
        "time_zone": "Europe/London",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "kinds": [{"kind": "test.news", "email": True, "email_digest": True, "push": True}],
    }
    response = client.put(URL, body, content_type="application/json")
    assert response.status_code == 200
    news = next(row for row in response.json()["kinds"] if row["kind"] == "test.news")
    assert (news["in_app"], news["email"], news["push"], news["email_digest"]) == (True, True, True, True)
    assert (response.json()["quiet_start"], response.json()["quiet_end"]) == ("22:00", "07:00")
    settings = DeliverySettings.objects.get(user=user)
    assert (settings.time_zone, settings.quiet_start, settings.quiet_end) == ("Europe/London", time(22), time(7))
    cleared = client.put(URL, {"quiet_start": None, "quiet_end": None}, content_type="application/json")
    assert cleared.json()["quiet_start"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"quiet_start": "22:00"}, "quiet_end"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
        ({"kinds": [{"kind": "test.nope", "email": False}]}, "kinds"),
        ({"kinds": [{"kind": "test.alarm", "in_app": False}]}, "kinds"),
        ({"kinds": [{"kind": "test.news", "email": "sometimes"}]}, "kinds"),
        ({"kinds": "all"}, "kinds"),
    ],
)
def test_bad_preferences_are_refused_with_field_errors(
    make_user: Any, kinds: None, body: dict[str, Any], field: str
) -> None:
    client = Client()
    client.force_login(make_user())
    response = client.put(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not NotificationPreference.objects.exists() and not DeliverySettings.objects.exists()


def test_preferences_are_each_persons_own(db: None, make_user: Any, kinds: None) -> None:
    assert Client().get(URL).status_code == 403
    assert Client().put(URL, {}, content_type="application/json").status_code == 403
    mine, theirs = make_user(), make_user()
    NotificationPreference.objects.create(user=theirs, kind="test.news", channel="email", enabled=False)
    client = Client()
    client.force_login(mine)
    news = next(row for row in client.get(URL).json()["kinds"] if row["kind"] == "test.news")
    assert news["email"] is True


def test_the_endpoints_are_in_the_openapi_schema(db: None) -> None:
    schema = Client().get("/api/schema/").content.decode()
    assert "/api/notifications/preferences/" in schema
    assert "/api/notifications/push-subscriptions/" in schema


# -- the page -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("volunteer", "Shift changes", "Donation confirmed"),
        ("donor", "Donation confirmed", "Shift changes"),
        ("staff", "Shift changes", None),
    ],
)
def test_every_logged_in_role_has_the_page_with_its_kinds(
    make_user: Any, role: str, shown: str, hidden: str | None
) -> None:
    client = Client()
    client.force_login(make_user(roles=(role,)))
    page = client.get("/notifications/preferences/")
    assert page.status_code == 200
    html = page.content.decode()
    assert shown in html and "Emergencies" in html
    assert hidden is None or hidden not in html
    assert "/notifications/preferences/" in client.get("/notifications/").content.decode()


def test_the_page_needs_a_login(db: None) -> None:
    response = Client().get("/notifications/preferences/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_saves_the_form(make_user: Any, kinds: None) -> None:
    user = make_user()
    client = Client()
    client.force_login(user)
    form = {
        "test.news:in_app": "on",
        "test.news:push": "on",
        "test.news:email_mode": "each",
        "test.alarm:email": "on",
        "test.alarm:email_mode": "digest",
        "time_zone": "America/New_York",
        "quiet_start": "21:30",
        "quiet_end": "06:45",
    }
    response = client.post("/notifications/preferences/", form)
    assert response.status_code == 302
    resolver = Resolver()

    def on(kind: str, channel: Channel) -> tuple[bool, bool]:
        choice = resolver.choice(user_id=user.pk, roles=[], kind=kind, channel=channel)
        return choice.enabled, choice.digest

    assert on("test.news", Channel.EMAIL) == (False, False)
    assert on("test.news", Channel.PUSH) == (True, False)
    assert on("test.alarm", Channel.EMAIL) == (True, True)
    assert on("test.alarm", Channel.IN_APP) == (True, False)  # critical: not the form's to turn off
    settings = DeliverySettings.objects.get(user=user)
    assert (settings.time_zone, settings.quiet_start) == ("America/New_York", time(21, 30))


def test_the_page_shows_what_was_wrong(make_user: Any, kinds: None) -> None:
    client = Client()
    client.force_login(make_user())
    response = client.post("/notifications/preferences/", {"time_zone": "Nowhere/Town", "quiet_start": "22:00"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "time_zone" in html and "quiet_end" in html
    assert not DeliverySettings.objects.exists()
