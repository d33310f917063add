"""The visitor-facing safety of the pages (docs/safeguarding.md): the quick exit, an optional name
and contact, the refusal page, and a queue position shown only while waiting."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from chat import services
from chat.checks import quick_exit_url_check
from chat.models import HelpRequest
from tests.chat.conftest import open_help_request

pytestmark = pytest.mark.django_db
QUICK_EXIT = re.compile(rb'<a id="quick-exit"[^>]*href="([^"]+)"[^>]*rel="noreferrer')


def first_focusable(html: bytes) -> bytes:
    """The first link or button in <body>: first in keyboard order (no page here sets tabindex)."""
    body = html.split(b"<body", 1)[1]
    return re.search(rb"<(a|button)\b[^>]*>", body).group(0)  # type: ignore[union-attr]


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_quick_exit_is_first_on_every_anonymous_page(settings: Any) -> None:
    settings.CHAT_QUICK_EXIT_URL = "https://weather.example/"
    visitor = open_help_request()
    pages = [
        Client().get("/"),
        Client().get("/help/new/"),
        visitor.client.get(f"/help/{visitor.public_id}/"),
        Client().get(f"/help/{visitor.public_id}/"),  # the refusal page
    ]
    for page in pages:
        assert QUICK_EXIT.search(page.content).group(1) == b"https://weather.example/"  # type: ignore[union-attr]
        assert b'id="quick-exit"' in first_focusable(page.content)
        assert b"/static/chat/exit.js" in page.content


def test_quick_exit_url_must_be_a_web_address(settings: Any) -> None:
    settings.CHAT_QUICK_EXIT_URL = "javascript:alert(1)"
    assert [error.id for error in quick_exit_url_check()] == ["chat.E001"]
    with pytest.raises(ImproperlyConfigured):
        Client().get("/help/new/")
    settings.CHAT_QUICK_EXIT_URL = "https://weather.example/"
    assert quick_exit_url_check() == []


def test_quick_exit_is_not_on_a_logged_in_helpers_pages(make_user: Any) -> None:
    vera = make_user(roles=("volunteer",))
    volunteer = logged_in(vera)
    visitor = open_help_request()
    services.help_request_claim(help_request=HelpRequest.objects.get(public_id=visitor.public_id), user=vera)
    for path in ("/", f"/help/{visitor.public_id}/", "/help/queue/"):
        page = volunteer.get(path)
        assert page.status_code == 200 and b'id="quick-exit"' not in page.content


def test_the_form_asks_for_no_name_and_no_contact() -> None:
    page = Client().get("/help/new/").content.decode()
    assert re.search(r"<label[^>]*>What should we call you\? \(optional\)</label>", page)
    assert re.search(r"<label[^>]*>How to reach you \(optional\)</label>", page)
    assert "Any name will do" in page
    assert not re.search(r'<input[^>]*name="name"[^>]*required', page)
    assert not re.search(r'<input[^>]*name="contact"[^>]*required', page)
    # The safety notice: what the exit does, what it does not, and how to browse privately.
    assert "does not clear your browser&#x27;s history" in page or "does not clear your browser's history" in page
    assert "private window" in page


def test_a_request_without_a_name_is_from_visitor() -> None:
    client = Client()
    response = client.post("/help/new/", {"name": "", "description": "Need food", "category": "food"})
    assert response.status_code == 302
    assert HelpRequest.objects.get().name == "Visitor"
    assert b"Hello Visitor." in client.get(response["Location"]).content


def test_the_private_link_is_offered_with_a_copy_button_and_a_warning() -> None:
    client = Client()
    created = client.post("/help/new/", {"description": "Need food", "category": "food"})
    page = client.get(created["Location"]).content.decode()
    assert 'id="copy-link"' in page and 'id="copy-link-status" role="status"' in page
    assert "shared or family computer" in page


def test_queue_position_shows_only_while_waiting(make_user: Any) -> None:
    open_help_request(name="First")
    visitor = open_help_request(name="Second")
    page = visitor.client.get(f"/help/{visitor.public_id}/").content
    assert b"you are number 2 in the queue" in page and b'data-queue-position="2"' in page
    vera = make_user("vera", roles=("volunteer",))
    services.help_request_claim(help_request=HelpRequest.objects.get(public_id=visitor.public_id), user=vera)
    page = visitor.client.get(f"/help/{visitor.public_id}/").content
    assert b"in the queue" not in page and b'data-queue-position=""' in page


def test_a_refused_visitor_gets_a_page_in_plain_words() -> None:
    visitor = open_help_request(description="my secret worry")
    other_device = Client()
    page = other_device.get(f"/help/{visitor.public_id}/")
    assert page.status_code == 403
    html = page.content.decode()
    assert '<main id="main">' in html  # the site's layout, not a bare "403 Forbidden"
    assert "This device has no access to this conversation" in html
    assert 'href="/help/new/"' in html and "Ask for help again" in html
    assert "my secret worry" not in html and "Alice" not in html


def test_an_old_private_link_says_it_no_longer_works() -> None:
    visitor = open_help_request()
    old = visitor.token
    services.help_request_token_rotate(help_request=HelpRequest.objects.get(public_id=visitor.public_id))
    page = Client().get(f"/help/{visitor.public_id}/?token={old}")
    assert page.status_code == 403
    assert "This private link no longer works" in page.content.decode()


def test_other_refusals_use_the_site_layout_and_the_api_stays_json(make_user: Any) -> None:
    donor = logged_in(make_user(roles=("donor",)))
    page = donor.get("/help/queue/")
    assert page.status_code == 403 and b"You cannot open this page" in page.content
    visitor = open_help_request()
    api = Client().get(f"/api/help-requests/{visitor.public_id}/messages/")
    assert api.status_code == 403 and api["Content-Type"] == "application/json"
    assert "detail" in api.json()


def test_quick_exit_tells_the_site_to_forget_this_browsers_requests() -> None:
    """exit.js posts to help/leave/ (data-leave-url, with the page's CSRF token): the session no
    longer opens the conversation, and an anonymous visitor's session ends."""
    visitor = open_help_request()
    page = visitor.client.get(f"/help/{visitor.public_id}/")
    assert page.status_code == 200
    leave = re.search(rb'data-leave-url="([^"]+)" data-csrf="([^"]+)"', page.content)
    assert leave is not None and leave.group(1) == b"/help/leave/"
    session_before = visitor.client.session.session_key

    assert visitor.client.post("/help/leave/", {"csrfmiddlewaretoken": leave.group(2).decode()}).status_code == 204
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 403
    assert visitor.client.session.session_key != session_before
    # The private link still opens it (the visitor may come back on purpose).
    assert visitor.client.get(f"/help/{visitor.public_id}/?token={visitor.token}").status_code == 302


def test_leaving_needs_the_pages_csrf_token_and_keeps_a_helper_logged_in(make_user: Any) -> None:
    checked = Client(enforce_csrf_checks=True)
    assert checked.post("/help/leave/").status_code == 403
    helper = logged_in(make_user("vera", roles=("volunteer",)))
    assert helper.post("/help/leave/").status_code == 204
    assert helper.get("/help/queue/").status_code == 200
