"""The admin as control room: the live dashboard on the index, announcements with a preview."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard.models import Announcement
from notifications.models import Recipient

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(make_user: Any) -> Client:
    staff = make_user("boss", roles=("staff",), is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


def test_admin_index_shows_the_control_room(staff_client: Client) -> None:
    content = staff_client.get("/admin/").content.decode()
    assert 'id="control-room"' in content and 'id="cr-initial"' in content
    assert "dashboard/dashboard.js" in content


def test_visitor_text_in_activity_is_escaped_on_the_admin_index(staff_client: Client) -> None:
    from dashboard.services import activity_record

    activity_record(kind="help_request.created", text="<script>alert(1)</script>")
    content = staff_client.get("/admin/").content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E" in content


def test_announcement_form_previews_audience_sizes(staff_client: Client, make_user: Any) -> None:
    make_user(roles=("volunteer",))
    content = staff_client.get("/admin/dashboard/announcement/add/").content.decode()
    assert 'data-audience="volunteer" data-size="1"' in content
    assert 'data-audience="all" data-size="2"' in content


def test_sending_an_emergency_from_the_admin_is_critical_and_reaches_the_role(
    staff_client: Client, make_user: Any
) -> None:
    volunteers = [make_user(roles=("volunteer",)) for _ in range(2)]
    make_user(roles=("donor",))
    response = staff_client.post(
        "/admin/dashboard/announcement/add/",
        {"kind": "system.emergency", "audience": "volunteer", "title": "Flood", "body": "Stay home"},
    )
    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert announcement.priority == "critical" and announcement.reached == 2
    assert announcement.notification is not None and announcement.notification.priority == "critical"
    assert sorted(Recipient.objects.values_list("user_id", flat=True)) == sorted(v.pk for v in volunteers)


def test_sent_announcements_cannot_be_edited(staff_client: Client) -> None:
    staff_client.post("/admin/dashboard/announcement/add/", {"kind": "system.alert", "audience": "all", "title": "Hi"})
    announcement = Announcement.objects.get()
    response = staff_client.post(
        f"/admin/dashboard/announcement/{announcement.pk}/change/",
        {"kind": "system.alert", "audience": "all", "title": "Changed"},
    )
    assert response.status_code == 403
    assert Announcement.objects.get().title == "Hi"


def test_volunteer_cannot_use_the_admin(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user(roles=("volunteer",)))
    assert client.get("/admin/").status_code == 302


def test_the_admin_never_lists_api_keys(staff_client: Client) -> None:
    assert staff_client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert b"authtoken" not in staff_client.get("/admin/").content
