"""Create the demo's people, a few notifications, and the waiting room's opening hours and alternatives.
Idempotent: running it twice changes nothing."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from charity.roles import GROUP_ROLES, Role
from chat.models import Alternative, AlternativeKind, CannedReply, OpeningHours
from notifications import api
from notifications.models import Notification
from notifications.services import preferences_update
from shifts.models import Shift

DEMO_PASSWORD = "charity-demo"  # noqa: S105 (printed for the demo on purpose)
# Every day 08:00 to 22:00, and Friday and Saturday nights on to 02:00 (an overnight range).
DEMO_OPENING_HOURS = [(day, time(8), time(22)) for day in range(7)] + [(4, time(22), time(2)), (5, time(22), time(2))]
# Replies the demo's helpers insert with "/" in a room (Admin: Canned replies).
DEMO_CANNED_REPLIES = [
    ("Welcome", "Hello {visitor}, I'm {helper} and I'm here to help. Take your time: what's happening?"),
    ("Food bank hours", "Hi {visitor}, the food bank opens Monday to Saturday, 10:00 to 16:00."),
    ("Closing", "Thank you for reaching out, {visitor}. You can come back here any time. Take care."),
]
DEMO_ALTERNATIVES = [
    ("Emergency services", "If you or someone else is in danger now.", AlternativeKind.EMERGENCY, "999", ""),
    ("Samaritans", "Free, any time, day or night.", AlternativeKind.PHONE, "116 123", ""),
    ("NHS 111", "Urgent medical help that is not an emergency.", AlternativeKind.WEBSITE, "111", "https://111.nhs.uk/"),
]
DEMO_USERS: list[tuple[str, Role]] = [
    ("staff", Role.STAFF),
    ("vera", Role.VOLUNTEER),
    ("victor", Role.VOLUNTEER),
    ("dana", Role.DONOR),
    ("dmitri", Role.DONOR),
]


class Command(BaseCommand):
    help = "Seed demo users (password 'charity-demo') and a few notifications."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        role_groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in GROUP_ROLES}
        User = get_user_model()
        for username, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = user.is_superuser = role is Role.STAFF
                user.save()
                if role in role_groups:
                    user.groups.add(role_groups[role])
        if not Shift.objects.exists():
            start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
            shift = Shift.objects.create(
                title="Food bank", location="Church hall", starts_at=start, ends_at=start + timedelta(hours=3)
            )
            shift.volunteers.set(User.objects.filter(username__in=["vera", "victor"]))
        if not Notification.objects.exists():
            api.notify_all(kind="system.welcome", title="Welcome to the charity's live updates")
            api.notify_role(Role.VOLUNTEER, kind="shift.changed", title="Saturday's food bank shift starts at 10:00")
            api.notify_role(Role.DONOR, kind="impact.update", title="Your gifts fed 120 families this week")
        if not OpeningHours.objects.exists():
            for weekday, opens, closes in DEMO_OPENING_HOURS:
                OpeningHours.objects.create(weekday=weekday, opens=opens, closes=closes)
        if not CannedReply.objects.exists():
            for title, text in DEMO_CANNED_REPLIES:
                CannedReply.objects.create(title=title, text=text)
        if not Alternative.objects.exists():
            for order, (name, description, kind, phone, url) in enumerate(DEMO_ALTERNATIVES):
                Alternative.objects.create(
                    name=name, description=description, kind=kind, phone=phone, url=url, order=order
                )
        # What people choose on /notifications/preferences/: vera wants shift changes pushed to her
        # phone rather than emailed; dana reads her impact updates in one daily email.
        vera, dana = User.objects.get(username="vera"), User.objects.get(username="dana")
        preferences_update(user_id=vera.pk, kinds=[{"kind": "shift.changed", "email": False, "push": True}])
        preferences_update(
            user_id=dana.pk,
            kinds=[
                {"kind": "impact.update", "email": True, "email_digest": True},
                {"kind": "donation.confirmed", "email": True, "email_digest": True},
            ],
        )
        logins = ", ".join(f"{username} ({role.value})" for username, role in DEMO_USERS)
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}): {logins}")
