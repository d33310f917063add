"""The chat's pages: the form, the visitor's page and private link, the queue and the room."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client

from charity.roles import Role
from chat import services, visitors
from chat.models import HelpRequest, Status
from tests.chat.conftest import open_help_request

pytestmark = pytest.mark.django_db
XSS = "<script>alert('x')</script>"
XSS_ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_new_request_form_creates_owns_and_redirects() -> None:
    client = Client()
    assert client.get("/help/new/").status_code == 200
    response = client.post("/help/new/", {"name": "Alice", "description": "Need food", "category": "food"})
    help_request = HelpRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/help/{help_request.public_id}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Waiting: you are number 1 in the queue." in page.content


def test_new_request_form_shows_errors() -> None:
    response = Client().post("/help/new/", {"name": "", "description": "", "category": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"description", "category"}
    assert not HelpRequest.objects.exists()


def test_new_request_form_is_refused_past_the_address_limit(settings: Any) -> None:
    from chat.api_views import RATE_LIMITED
    from tests.chat.test_api import BODY
    from tests.conftest import fresh_address

    settings.REALTIME_HELP_REQUESTS_PER_IP = 1
    address = fresh_address()
    assert Client().post("/help/new/", BODY, REMOTE_ADDR=address).status_code == 302
    refused = Client().post("/help/new/", BODY, REMOTE_ADDR=address)
    assert refused.status_code == 429
    assert refused.context["form"].non_field_errors() == [RATE_LIMITED]
    assert RATE_LIMITED.encode() in refused.content
    assert HelpRequest.objects.count() == 1


def test_new_request_form_needs_csrf() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/help/new/", {"name": "Alice", "description": "x", "category": "food"}).status_code == 403


def test_visitor_page_shows_position_and_the_private_link_once() -> None:
    open_help_request(name="First")
    client = Client()
    created = client.post("/help/new/", {"name": "Second", "description": "Need food", "category": "food"})
    page = client.get(created["Location"])
    assert b"you are number 2 in the queue" in page.content
    link = re.search(rb'value="(http://testserver/help/[0-9a-f-]+/\?token=([^"]+))"', page.content)
    assert link is not None
    help_request = HelpRequest.objects.get(name="Second")
    assert visitors.token_is_valid(help_request, link.group(2).decode())
    # Shown once: the secret is not kept anywhere to show it again.
    again = client.get(created["Location"])
    assert again.status_code == 200 and link.group(2) not in again.content and b"?token=" not in again.content


def test_private_link_grants_ownership_and_drops_the_token_from_the_address() -> None:
    visitor = open_help_request()
    other_device = Client()
    response = other_device.get(f"/help/{visitor.public_id}/?token={visitor.token}")
    assert response.status_code == 302 and response["Location"] == f"/help/{visitor.public_id}/"
    assert other_device.get(f"/help/{visitor.public_id}/").status_code == 200


def test_another_visitor_can_never_see_a_request() -> None:
    alice = open_help_request(name="Alice")
    bob = open_help_request(name="Bob")
    assert alice.client.get(f"/help/{bob.public_id}/").status_code == 403
    assert alice.client.get(f"/help/{bob.public_id}/?token={alice.token}").status_code == 403
    assert alice.client.get(f"/help/{bob.public_id}/?token=guess").status_code == 403
    assert alice.client.get(f"/help/{bob.public_id}/").status_code == 403  # and nothing was granted
    assert alice.client.post(f"/help/{bob.public_id}/close/").status_code == 403
    assert HelpRequest.objects.get(public_id=bob.public_id).status == Status.WAITING


def test_unknown_request_is_404() -> None:
    assert Client().get(f"/help/{uuid.uuid4()}/").status_code == 404
    assert Client().get("/help/123/").status_code == 404


def test_visitor_text_is_escaped_on_every_page(make_user: Any) -> None:
    visitor = open_help_request(name=XSS, description=XSS, contact=XSS)
    staff = make_user(roles=(Role.STAFF,), is_superuser=True)
    client = logged_in(staff)
    help_request = HelpRequest.objects.get(public_id=visitor.public_id)
    pages = [
        visitor.client.get(f"/help/{visitor.public_id}/"),
        client.get(f"/help/{visitor.public_id}/"),
        client.get("/help/queue/"),
        client.get("/admin/chat/helprequest/"),
        client.get(f"/admin/chat/helprequest/{help_request.pk}/change/"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert XSS.encode() not in page.content
        assert XSS_ESCAPED.encode() in page.content


def test_page_scripts_insert_text_never_html() -> None:
    from django.contrib.staticfiles import finders

    visitor = open_help_request()
    page = visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    scripts = "".join(re.findall(r"<script>(.*?)</script>", page, flags=re.S))
    for path in re.findall(r'<script src="/static/([^"]+)"', page):
        found = finders.find(path)
        assert isinstance(found, str), path
        with open(found, encoding="utf-8") as script:
            scripts += script.read()
    assert "chat/chat.js" in page and "textContent" in scripts
    assert "innerHTML" not in scripts and "insertAdjacentHTML" not in scripts and "document.write" not in scripts


def test_queue_is_for_volunteers_and_staff(make_user: Any) -> None:
    assert Client().get("/help/queue/").status_code == 302  # to the login page
    assert logged_in(make_user(roles=(Role.DONOR,))).get("/help/queue/").status_code == 403
    assert logged_in(make_user(roles=(Role.VOLUNTEER,))).get("/help/queue/").status_code == 200


def test_queue_lists_waiting_and_own_assigned_requests(make_user: Any) -> None:
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    victor = make_user("victor", roles=(Role.VOLUNTEER,))
    waiting = open_help_request(name="Waiting")
    theirs = open_help_request(name="Victors")
    mine = open_help_request(name="Veras")
    logged_in(victor).post(f"/help/{theirs.public_id}/claim/")
    logged_in(vera).post(f"/help/{mine.public_id}/claim/")
    names = [row.name for row, _ in logged_in(vera).get("/help/queue/").context["rows"]]
    assert names == ["Waiting", "Veras"]
    staff_names = [row.name for row, _ in logged_in(make_user(roles=(Role.STAFF,))).get("/help/queue/").context["rows"]]
    assert staff_names == ["Waiting", "Victors", "Veras"]
    assert waiting.public_id


def test_claim_then_the_volunteer_sees_the_room(make_user: Any) -> None:
    vera = logged_in(make_user("vera", roles=(Role.VOLUNTEER,)))
    visitor = open_help_request()
    assert vera.get(f"/help/{visitor.public_id}/").status_code == 403
    response = vera.post(f"/help/{visitor.public_id}/claim/")
    assert response.status_code == 302
    assert HelpRequest.objects.get(public_id=visitor.public_id).status == Status.ASSIGNED
    assert vera.get(f"/help/{visitor.public_id}/").status_code == 200
    # A second claim is refused politely and changes nothing.
    victor = logged_in(make_user("victor", roles=(Role.VOLUNTEER,)))
    assert victor.post(f"/help/{visitor.public_id}/claim/", follow=True).status_code == 200
    assert HelpRequest.objects.get(public_id=visitor.public_id).assigned_to.username == "vera"  # type: ignore[union-attr]


def test_claim_is_post_only_and_for_helpers(make_user: Any) -> None:
    visitor = open_help_request()
    assert logged_in(make_user(roles=(Role.VOLUNTEER,))).get(f"/help/{visitor.public_id}/claim/").status_code == 405
    assert logged_in(make_user(roles=(Role.DONOR,))).post(f"/help/{visitor.public_id}/claim/").status_code == 403
    assert visitor.client.post(f"/help/{visitor.public_id}/claim/").status_code == 302  # to the login page
    assert HelpRequest.objects.get(public_id=visitor.public_id).status == Status.WAITING


def test_staff_assign_and_volunteers_cannot(make_user: Any) -> None:
    visitor = open_help_request()
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    donor = make_user(roles=(Role.DONOR,))
    staff = logged_in(make_user(roles=(Role.STAFF,)))
    assert logged_in(vera).post(f"/help/{visitor.public_id}/assign/", {"assignee": vera.pk}).status_code == 403
    assert staff.post(f"/help/{visitor.public_id}/assign/", {"assignee": "x"}).status_code == 400
    staff.post(f"/help/{visitor.public_id}/assign/", {"assignee": donor.pk})
    assert HelpRequest.objects.get(public_id=visitor.public_id).assigned_to is None
    staff.post(f"/help/{visitor.public_id}/assign/", {"assignee": vera.pk})
    assert HelpRequest.objects.get(public_id=visitor.public_id).assigned_to == vera


def test_resolve_is_for_the_assignee_or_staff_and_close_for_the_visitor_too(make_user: Any) -> None:
    visitor = open_help_request()
    vera = logged_in(make_user("vera", roles=(Role.VOLUNTEER,)))
    vera.post(f"/help/{visitor.public_id}/claim/")
    visitor.client.post(f"/help/{visitor.public_id}/resolve/")
    assert HelpRequest.objects.get(public_id=visitor.public_id).status == Status.ASSIGNED
    vera.post(f"/help/{visitor.public_id}/resolve/")
    assert HelpRequest.objects.get(public_id=visitor.public_id).status == Status.RESOLVED
    visitor.client.post(f"/help/{visitor.public_id}/close/")
    assert HelpRequest.objects.get(public_id=visitor.public_id).status == Status.CLOSED


def test_token_is_a_random_secret_bound_to_its_request_and_stored_hashed() -> None:
    from chat import services

    first, second = open_help_request().help_request(), open_help_request().help_request()
    token = services.help_request_token_rotate(help_request=first)
    assert len(token) >= 40 and str(first.public_id) not in token and first.public_id.hex not in token
    first.refresh_from_db()
    assert first.visitor_token_hash and token not in first.visitor_token_hash
    assert visitors.token_is_valid(first, token)
    assert not visitors.token_is_valid(second, token)
    assert not visitors.token_is_valid(first, token.upper() if token != token.upper() else token.lower())
    assert not visitors.token_is_valid(first, None)


def test_the_queue_page_shows_one_page_with_the_count_and_links(make_user: Any, settings: Any) -> None:
    settings.CHAT_QUEUE_PAGE_SIZE = 50
    for i in range(53):
        services.help_request_create(name=f"visitor{i}", description="x")
    client = logged_in(make_user(roles=(Role.VOLUNTEER,)))
    first = client.get("/help/queue/")
    assert len(first.context["rows"]) == 50
    assert first.content.count(b"<tr data-public-id=") == 50
    assert b'<span id="queue-waiting">53</span> waiting' in first.content
    assert b'href="?page=2"' in first.content
    assert first.context["queue_config"]["live"] is True
    second = client.get("/help/queue/?page=2")
    assert [(row.name, position) for row, position in second.context["rows"]] == [
        ("visitor50", 51),
        ("visitor51", 52),
        ("visitor52", 53),
    ]
    assert second.context["queue_config"]["live"] is False
    assert client.get("/help/queue/?page=nope").status_code == 200  # the first page
