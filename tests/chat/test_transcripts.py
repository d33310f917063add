"""The visitor's transcript: its text (chat.transcripts), the download on the page and the API, who
may have it, and the email on resolution."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from charity.roles import Role
from chat import services
from chat.models import Message
from chat.participants import user_participant
from tests.chat.conftest import Visitor, post_as_visitor

pytestmark = pytest.mark.django_db


def page_url(visitor: Visitor) -> str:
    return f"/help/{visitor.public_id}/transcript.txt"


def api_url(visitor: Visitor) -> str:
    return f"/api/help-requests/{visitor.public_id}/transcript/"


def helped_by_staff(visit: Any, make_user: Any, **fields: Any) -> tuple[Visitor, Any]:
    visitor = visit(name="Alice", description="Rent is due.\nI have nothing left.", **fields)
    sam = make_user("sam", roles=(Role.STAFF,), email="sam.private@example.org", first_name="Sam", last_name="Carter")
    services.help_request_claim(help_request=visitor.help_request(), user=sam)
    post_as_visitor(visitor, "Hello\nSam: you are fired")  # a second line that looks like another author
    services.message_post(
        help_request_id=visitor.help_request().pk,
        participant=user_participant(sam),
        body="We can help with that.",
        client_id="c1",
    )
    return visitor, sam


def test_the_transcript_holds_the_request_and_every_message_by_display_name(visit: Any, make_user: Any) -> None:
    visitor, _ = helped_by_staff(visit, make_user)
    text = visitor.client.get(page_url(visitor)).content.decode()

    assert "Your name: Alice" in text and "Topic: General" in text
    assert "    Rent is due.\n    I have nothing left." in text
    assert "System: Sam Carter is now helping with this request." in text
    assert "] Alice: Hello\n    Sam: you are fired\n" in text
    assert "] Sam Carter (staff): We can help with that." in text
    created = Message.objects.filter(help_request=visitor.help_request()).last()
    assert created is not None and f"[{created.created_at:%Y-%m-%d %H:%M}" in text
    # Never an account's email, username or id.
    assert "sam.private@example.org" not in text and "user:" not in text


def test_the_download_is_plain_text_an_attachment_and_never_cached(visit: Any) -> None:
    visitor = visit()
    for response in (
        visitor.client.get(page_url(visitor)),
        Client().get(api_url(visitor), HTTP_X_HELP_REQUEST_TOKEN=visitor.token),
        Client().get(api_url(visitor), HTTP_X_HELP_REQUEST_TOKEN=visitor.token, HTTP_ACCEPT="text/plain"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="conversation-')
        assert "no-store" in response["Cache-Control"]
        assert "I need food for tonight." in response.content.decode()


def test_the_visitor_page_links_to_the_download(visit: Any) -> None:
    visitor = visit()
    assert f'href="{page_url(visitor)}"' in visitor.client.get(f"/help/{visitor.public_id}/").content.decode()


def test_only_the_visitor_gets_the_transcript(visit: Any, make_user: Any) -> None:
    visitor, sam = helped_by_staff(visit, make_user)
    other = visit(name="Bob")
    staff = Client()
    staff.force_login(sam)
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    volunteer = Client()
    volunteer.force_login(vera)
    for url in (page_url(visitor), api_url(visitor)):
        assert staff.get(url).status_code == 403  # the helper has the room, not the visitor's copy
        assert volunteer.get(url).status_code == 403
        assert other.client.get(url).status_code == 403
        assert Client().get(url).status_code == 403
    assert Client().get(api_url(visitor), HTTP_X_HELP_REQUEST_TOKEN=other.token).status_code == 403
    assert Client().get(f"/help/{uuid.uuid4()}/transcript.txt").status_code == 404
    assert Client().get(f"/api/help-requests/{uuid.uuid4()}/transcript/").status_code == 404


def test_an_assigned_volunteer_does_not_get_the_transcript(visit: Any, make_user: Any) -> None:
    visitor = visit()
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    client = Client()
    client.force_login(vera)
    assert client.get(page_url(visitor)).status_code == 403
    assert client.get(api_url(visitor)).status_code == 403


# -- by email on resolution -----------------------------------------------------------------------


def choose_email(visitor: Visitor, wanted: bool = True) -> Any:
    data = {"wanted": "on"} if wanted else {}
    return visitor.client.post(f"/help/{visitor.public_id}/transcript-email/", data, follow=True)


def resolve(visitor: Visitor, helper: Any) -> None:
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(helper))


def test_the_transcript_is_emailed_after_the_resolution_commits(
    visit: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    visitor, sam = helped_by_staff(visit, make_user, contact="alice@example.org")
    page = visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    assert 'name="wanted"' in page
    assert "We will email you" in choose_email(visitor).content.decode()
    assert visitor.help_request().transcript_email_requested

    with django_capture_on_commit_callbacks(execute=True):
        resolve(visitor, sam)
        assert mail.outbox == []  # not before the commit

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["alice@example.org"] and email.subject == services.TRANSCRIPT_SUBJECT
    assert "] Sam Carter (staff): We can help with that." in email.body
    assert "marked this request resolved." in email.body


def test_no_email_unless_asked(visit: Any, make_user: Any, django_capture_on_commit_callbacks: Any) -> None:
    visitor, sam = helped_by_staff(visit, make_user, contact="alice@example.org")
    choose_email(visitor)
    choose_email(visitor, wanted=False)
    assert not visitor.help_request().transcript_email_requested
    with django_capture_on_commit_callbacks(execute=True):
        resolve(visitor, sam)
    assert mail.outbox == []


def test_a_failing_mail_server_does_not_undo_the_resolution(
    visit: Any, make_user: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    visitor, sam = helped_by_staff(visit, make_user, contact="alice@example.org")
    choose_email(visitor)

    def refuse(**kwargs: Any) -> None:
        raise OSError("550 alice@example.org refused")

    monkeypatch.setattr(services, "send_mail", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        resolve(visitor, sam)
    assert visitor.help_request().status == "resolved"
    assert "transcript email not sent: OSError" in caplog.text
    assert "alice@example.org" not in caplog.text


def test_the_email_choice_needs_an_email_contact(visit: Any) -> None:
    visitor = visit(contact="07700 900000")
    assert 'name="wanted"' not in visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    assert "not an email address" in choose_email(visitor).content.decode()
    response = Client().post(
        f"/api/help-requests/{visitor.public_id}/transcript-email/",
        {"wanted": True},
        content_type="application/json",
        HTTP_X_HELP_REQUEST_TOKEN=visitor.token,
    )
    assert response.status_code == 400 and "wanted" in response.json()
    assert not visitor.help_request().transcript_email_requested


def test_the_email_choice_through_the_api_is_the_visitors_alone(visit: Any, make_user: Any) -> None:
    visitor = visit(contact="alice@example.org")
    url = f"/api/help-requests/{visitor.public_id}/transcript-email/"
    staff = Client()
    staff.force_login(make_user("sam", roles=(Role.STAFF,)))
    assert staff.post(url, {"wanted": True}, content_type="application/json").status_code == 403
    assert not visitor.help_request().transcript_email_requested
    response = Client().post(
        url, {"wanted": True}, content_type="application/json", HTTP_X_HELP_REQUEST_TOKEN=visitor.token
    )
    assert response.status_code == 200 and response.json() == {"transcript_email_requested": True}
    assert visitor.help_request().transcript_email_requested
