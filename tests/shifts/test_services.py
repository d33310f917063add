from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.utils import timezone

from notifications.models import Recipient
from shifts.models import Shift
from shifts.services import shift_changed

pytestmark = pytest.mark.django_db


def make_shift(*volunteers: Any) -> Shift:
    start = timezone.now() + timedelta(days=1)
    shift = Shift.objects.create(title="Food bank", starts_at=start, ends_at=start + timedelta(hours=2))
    shift.volunteers.set(volunteers)
    return shift


def test_shift_change_notifies_each_volunteer_once(make_user: Any) -> None:
    vera, victor, bystander = make_user(), make_user(), make_user()
    shift = make_shift(vera, victor)
    shift_changed(shift=shift, what="moved")
    receipts = Recipient.objects.filter(notification__kind="shift.changed")
    assert sorted(receipts.values_list("user_id", flat=True)) == sorted([vera.pk, victor.pk])
    assert receipts.first().notification.data["shift"] == shift.pk  # type: ignore[union-attr]
    assert not Recipient.objects.filter(user=bystander).exists()


def test_editing_a_shift_in_the_admin_notifies_its_volunteers(make_user: Any) -> None:
    assert Shift in site._registry
    staff = make_user(roles=("staff",), is_superuser=True)
    vera = make_user()
    shift = make_shift(vera)
    client = Client()
    client.force_login(staff)
    start = timezone.localtime(shift.starts_at + timedelta(hours=1))
    response = client.post(
        f"/admin/shifts/shift/{shift.pk}/change/",
        {
            "title": "Food bank (moved)",
            "location": "Hall",
            "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": start.strftime("%Y-%m-%d"),
            "ends_at_1": (start + timedelta(hours=2)).strftime("%H:%M:%S"),
            "volunteers": [vera.pk],
        },
    )
    assert response.status_code == 302, response.content[:500]
    receipt = Recipient.objects.get(user=vera)
    assert receipt.notification.kind == "shift.changed" and "moved" in receipt.notification.title


def test_my_shifts_lists_only_mine(make_user: Any) -> None:
    vera, victor = make_user(), make_user()
    make_shift(vera)
    theirs = make_shift(victor)
    theirs.title = "Soup run"
    theirs.save()
    client = Client()
    client.force_login(vera)
    content = client.get("/shifts/").content.decode()
    assert "Food bank" in content and "Soup run" not in content
