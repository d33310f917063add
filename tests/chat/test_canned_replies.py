"""Canned replies: placeholders filled per room, the request's category first, and only for helpers."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from chat import selectors, services
from chat.models import CannedReply, Category
from tests.chat.conftest import Visitor

pytestmark = pytest.mark.django_db


def test_placeholders_are_filled_once_for_the_room(visit: Any, helpers: Any) -> None:
    volunteer, _ = helpers()
    volunteer.first_name, volunteer.last_name = "Vera", "Jones"
    visitor: Visitor = visit(name="{helper}", category="food")
    CannedReply.objects.create(title="Hi", text="Hello {visitor}, I'm {helper}. {visitor}?")
    [reply] = selectors.canned_replies_for(help_request=visitor.help_request(), helper=volunteer)
    # A visitor who calls themselves "{helper}" is shown as typed, not expanded.
    assert reply["text"] == "Hello {helper}, I'm Vera Jones. {helper}?"


def test_the_requests_category_comes_first_and_inactive_ones_never(visit: Any, helpers: Any) -> None:
    volunteer, _ = helpers()
    CannedReply.objects.create(title="A general", text="g")
    CannedReply.objects.create(title="B food", text="f", category=Category.FOOD)
    CannedReply.objects.create(title="C housing", text="h", category=Category.HOUSING)
    CannedReply.objects.create(title="D retired", text="r", active=False)
    help_request = visit(category="food").help_request()
    titles = [reply["title"] for reply in selectors.canned_replies_for(help_request=help_request, helper=volunteer)]
    assert titles == ["B food", "A general"]


@pytest.mark.parametrize("text", ["Hi {name}", "{visitor} and {Helper}", "{}"])
def test_an_unknown_placeholder_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CannedReply(title="t", text=text).full_clean()
    assert "Unknown placeholder" in str(refused.value)


def test_known_placeholders_and_plain_braces_are_accepted() -> None:
    CannedReply(title="t", text="Hi {visitor}, I'm {helper} :-{ }").full_clean()


def test_the_helpers_room_page_lists_them_and_the_visitors_page_never(visit: Any, helpers: Any) -> None:
    volunteer, _ = helpers()
    CannedReply.objects.create(title="Opening", text="Welcome {visitor}: a canned text")
    visitor: Visitor = visit(name="Alice")
    services.help_request_claim(help_request=visitor.help_request(), user=volunteer)
    client = Client()
    client.force_login(volunteer)
    room = client.get(f"/help/{visitor.public_id}/").content.decode()
    assert 'id="canned-replies"' in room and "Welcome Alice: a canned text" in room
    own = visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    assert "canned" not in own


def test_a_logged_in_visitor_of_the_request_is_refused(make_user: Any) -> None:
    """A donor who asked for help while logged in is the room's visitor, not one of its helpers."""
    CannedReply.objects.create(title="Opening", text="Welcome {visitor}")
    client = Client()
    client.force_login(make_user("dana", roles=("donor",)))
    created = client.post(
        "/api/help-requests/", data={"name": "Dana", "description": "Help"}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    public_id = created.json()["public_id"]
    assert client.get(f"/api/help-requests/{public_id}/").status_code == 200
    response = client.get(f"/api/help-requests/{public_id}/canned-replies/")
    assert response.status_code == 403
    assert "Welcome" not in response.content.decode()
