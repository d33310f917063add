"""The subject access export (chat/exports.py, served by the admin): everything held about one
request, as an attachment nobody caches, for staff who may view requests and audit entries; audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from charity.roles import Role
from chat import services
from chat.exports import EXPORT_FORMAT, help_request_export
from chat.models import REDACTED_BODY, AccessRecord
from chat.participants import visitor_participant
from tests.chat.conftest import Visitor, open_help_request, post_as_visitor

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def export_url(visitor: Visitor) -> str:
    return f"/admin/chat/helprequest/{visitor.help_request().pk}/export/"


def rich_request(make_user: Any) -> tuple[Visitor, Any, Any]:
    """A request taken by vera, with messages (one redacted), a read cursor, notifications, audits."""
    visitor = open_help_request(name="Alice", contact="alice@example.org")
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    sam = make_user("sam", roles=(Role.STAFF,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    first = post_as_visitor(visitor, "my address is 1 Road")
    post_as_visitor(visitor, "thank you")
    help_request = visitor.help_request()
    services.read_mark(help_request_id=help_request.pk, participant=visitor_participant(help_request), up_to=first.pk)
    services.message_redact(message=first, by=sam, reason="address")
    return visitor, vera, sam


def test_the_export_holds_everything_about_the_request(make_user: Any) -> None:
    visitor, _, _ = rich_request(make_user)
    data = help_request_export(help_request=visitor.help_request())
    assert data["format"] == EXPORT_FORMAT
    assert data["help_request"]["public_id"] == visitor.public_id
    assert (data["help_request"]["name"], data["help_request"]["contact"]) == ("Alice", "alice@example.org")
    assert data["help_request"]["assigned_to"] == "vera" and data["help_request"]["visitor_secret_set"] is True
    bodies = [(m["author_kind"], m["body"], m["redacted_at"] is not None) for m in data["messages"]]
    assert ("visitor", REDACTED_BODY, True) in bodies and ("visitor", "thank you", False) in bodies
    assert any(m["author_kind"] == "system" for m in data["messages"])
    assert [(c["participant"], c["author_name"]) for c in data["read_cursors"]] == [("visitor", "Alice")]
    assert [(a["username"], a["action"], a["reason"]) for a in data["access_records"]] == [("sam", "redact", "address")]
    kinds = sorted(n["kind"] for n in data["notifications"])
    assert kinds == ["help_request.assigned", "help_request.message"]
    assert all(n["recipients"] == ["vera"] for n in data["notifications"])
    assert "1 Road" not in json.dumps(data)  # the redacted text is nowhere, the export included
    assert visitor.help_request().visitor_token_hash not in json.dumps(data)


def test_the_export_holds_the_helpers_notes_the_feedback_and_blocks(make_user: Any) -> None:
    from chat.participants import user_participant

    visitor, vera, sam = rich_request(make_user)
    services.note_post(
        help_request_id=visitor.help_request().pk, participant=user_participant(vera), body="Mentioned a sister"
    )
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    services.feedback_submit(
        help_request=visitor.help_request(), by=visitor_participant(visitor.help_request()), rating=5, comment="kind"
    )
    services.visitor_block(help_request=visitor.help_request(), by=sam, reason="abuse later", days=2)
    data = help_request_export(help_request=visitor.help_request())
    assert [note["body"] for note in data["notes"]] == ["Mentioned a sister"]
    assert data["feedback"] == {"rating": 5, "comment": "kind"}
    assert [block["reason"] for block in data["blocks"]] == ["abuse later"]
    # Whether a block-ready check of the address is held is said; the check itself is not exported.
    check = visitor.help_request().address_check
    assert data["help_request"]["address_check_held"] is True and check and check not in json.dumps(data)


def test_staff_with_the_permissions_download_it_and_the_export_is_audited(make_user: Any) -> None:
    visitor, _, _ = rich_request(make_user)
    boss = make_user("boss", roles=(Role.STAFF,), is_superuser=True)
    page = logged_in(boss).get(f"/admin/chat/helprequest/{visitor.help_request().pk}/change/")
    assert export_url(visitor) in page.content.decode()
    response = logged_in(boss).get(export_url(visitor))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="help-request-{visitor.public_id}.json"'
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["help_request"]["public_id"] == visitor.public_id
    assert ("boss", "export", "export") in [(a["username"], a["action"], a["action"]) for a in data["access_records"]]
    entry = AccessRecord.objects.get(action="export")
    assert (entry.username, entry.channel, entry.help_request_id) == ("boss", "export", visitor.help_request().pk)


def test_everyone_else_is_refused_and_nothing_is_recorded(make_user: Any) -> None:
    visitor, vera, _ = rich_request(make_user)
    donor = make_user("dana", roles=(Role.DONOR,))
    for client in (Client(), logged_in(vera), logged_in(donor), visitor.client):
        response = client.get(export_url(visitor))
        assert response.status_code == 302 and "/login/" in response["Location"]
    stan = make_user("stan", roles=(Role.STAFF,))  # staff, but without the permissions
    assert logged_in(stan).get(export_url(visitor)).status_code == 403
    stan.user_permissions.add(Permission.objects.get(codename="view_helprequest"))
    assert logged_in(stan).get(export_url(visitor)).status_code == 403
    stan.user_permissions.add(Permission.objects.get(codename="view_accessrecord"))
    assert logged_in(stan).get(export_url(visitor)).status_code == 200
    assert list(AccessRecord.objects.filter(action="export").values_list("username", flat=True)) == ["stan"]


def test_an_unknown_request_is_not_found(make_user: Any) -> None:
    boss = make_user("boss", roles=(Role.STAFF,), is_superuser=True)
    assert logged_in(boss).get("/admin/chat/helprequest/999999/export/").status_code == 404
    assert logged_in(boss).get("/admin/chat/helprequest/abc/export/").status_code == 404
    assert not AccessRecord.objects.exists()
