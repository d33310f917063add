"""The audit trail (chat/audit.py): every path that shows a conversation to an account records it, once
per window; the visitor is never recorded; entries outlive anonymisation and are seen only by staff
with ``chat.view_accessrecord``, read-only for everyone; nothing about them reaches volunteers or visitors."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from charity.roles import Role
from chat import audit, services
from chat.models import AccessRecord, HelpRequest, Message
from chat.participants import user_participant, visitor_participant
from tests.chat.conftest import Visitor, avisit, claim, make, open_help_request, post_as_visitor, receive_until
from tests.chat.test_sse import open_room_stream, stream_path

pytestmark = pytest.mark.django_db(transaction=True)

# Distinctive, so that a leak anywhere is found by a substring search.
READER = "supervisor-sam-77"
REASON = "REASON-visitor-gave-street-name-42"


def entries(**filters: Any) -> list[tuple[str, str, str]]:
    rows = AccessRecord.objects.filter(**filters).order_by("id")
    return [(row.username, row.channel, row.action) for row in rows]


aentries = database_sync_to_async(entries)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assigned(make_user: Any) -> tuple[Visitor, Any]:
    visitor = open_help_request()
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    return visitor, vera


# -- every path records an account's read, once --------------------------------------------------


def test_the_room_page_records_a_helper_once_per_window_and_never_the_visitor(make_user: Any) -> None:
    visitor, vera = assigned(make_user)
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 200
    assert entries() == []
    client = logged_in(vera)
    for _ in range(3):
        assert client.get(f"/help/{visitor.public_id}/").status_code == 200
    assert entries() == [("vera", "page", "read")]
    [entry] = AccessRecord.objects.all()
    assert entry.user == vera and entry.help_request.public_id.hex == visitor.public_id.replace("-", "")


def test_a_refused_page_records_nothing(make_user: Any) -> None:
    visitor = open_help_request()
    other = make_user("otto", roles=(Role.VOLUNTEER,))
    assert logged_in(other).get(f"/help/{visitor.public_id}/").status_code == 403
    assert entries() == []


def test_the_api_records_detail_and_messages_once_for_staff_and_never_the_visitor(make_user: Any) -> None:
    visitor = open_help_request()
    sam = make_user(READER, roles=(Role.STAFF,))
    base = f"/api/help-requests/{visitor.public_id}/"
    assert visitor.client.get(base).status_code == 200
    assert visitor.client.get(base + "messages/").status_code == 200
    assert entries() == []
    client = logged_in(sam)
    assert client.get(base).status_code == 200
    assert client.get(base + "messages/").status_code == 200
    assert entries() == [(READER, "api", "read")]
    # Each endpoint records on its own (a second staff member uses only the messages list).
    assert logged_in(make_user("stan", roles=(Role.STAFF,))).get(base + "messages/").status_code == 200
    assert entries() == [(READER, "api", "read"), ("stan", "api", "read")]


def test_a_new_window_records_again_and_channels_count_apart(make_user: Any, settings: Any) -> None:
    visitor, vera = assigned(make_user)
    help_request = visitor.help_request()
    participant = user_participant(vera)
    now = timezone.now()

    def read(channel: str, at: Any) -> AccessRecord | None:
        return audit.access_read(
            help_request_id=help_request.pk, participant=participant, user=vera, channel=channel, now=at
        )

    settings.CHAT_AUDIT_READ_WINDOW = 3600
    assert read("page", now) is not None
    assert read("page", now + timedelta(minutes=59)) is None
    assert read("api", now + timedelta(minutes=59)) is not None
    assert read("page", now + timedelta(minutes=61)) is not None
    assert entries() == [("vera", "page", "read"), ("vera", "api", "read"), ("vera", "page", "read")]


def test_the_visitor_participant_is_never_recorded(make_user: Any) -> None:
    visitor = open_help_request()
    help_request = visitor.help_request()
    donor = make_user("dana", roles=(Role.DONOR,))  # a logged-in visitor joins as the visitor
    recorded = audit.access_read(
        help_request_id=help_request.pk, participant=visitor_participant(help_request), user=donor, channel="page"
    )
    assert recorded is None and entries() == []


async def test_the_socket_records_a_helper_once_even_across_reconnects(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    visitor_socket = await sockets(visitor.path, cookie=visitor.cookie)
    await receive_until(visitor_socket, "presence")
    assert await aentries() == []
    for _ in range(2):
        socket = await sockets(visitor.path, user=vera)
        await receive_until(socket, "presence")
        await socket.disconnect()
    assert await aentries() == [("vera", "socket", "read")]


async def test_the_sse_stream_records_staff_once(make_user: Any) -> None:
    visitor = await avisit()
    sam = await make(make_user, READER, roles=(Role.STAFF,))
    for _ in range(2):
        stream = await open_room_stream(stream_path(visitor.public_id), user=sam)
        assert (await stream.frame())["type"] == "history"
        await stream.close()
    visitor_stream = await open_room_stream(stream_path(visitor.public_id), cookie=visitor.cookie)
    assert (await visitor_stream.frame())["type"] == "history"
    await visitor_stream.close()
    assert await aentries() == [(READER, "sse", "read")]


def admin_client(make_user: Any, username: str = "boss") -> tuple[Client, Any]:
    boss = make_user(username, roles=(Role.STAFF,), is_superuser=True)
    return logged_in(boss), boss


def test_the_admin_records_the_request_page_and_the_messages_it_lists(make_user: Any) -> None:
    first, second = open_help_request(), open_help_request()
    post_as_visitor(first, "first's words")
    post_as_visitor(second, "second's words")
    client, _ = admin_client(make_user)
    assert client.get("/admin/chat/helprequest/").status_code == 200
    assert entries() == []  # the list of requests shows no conversation
    pk = first.help_request().pk
    assert client.get(f"/admin/chat/helprequest/{pk}/change/").status_code == 200
    assert entries(help_request_id=pk) == [("boss", "admin", "read")]
    assert client.get("/admin/chat/message/").status_code == 200
    assert entries(help_request_id=second.help_request().pk) == [("boss", "admin", "read")]
    assert entries(help_request_id=pk) == [("boss", "admin", "read")]  # within the window
    message = Message.objects.filter(help_request=second.help_request()).last()
    assert message is not None
    assert client.get(f"/admin/chat/message/{message.pk}/change/").status_code == 200
    assert len(entries()) == 2


# -- what an entry holds, and how long --------------------------------------------------------------


def test_an_entry_holds_no_address_no_session_and_no_text(make_user: Any) -> None:
    visitor, vera = assigned(make_user)
    post_as_visitor(visitor, "my words")
    client = logged_in(vera)
    assert client.get(f"/help/{visitor.public_id}/").status_code == 200
    assert {field.name for field in AccessRecord._meta.get_fields()} == {
        "id",
        "help_request",
        "user",
        "username",
        "at",
        "channel",
        "action",
        "message_number",
        "reason",
    }
    [row] = AccessRecord.objects.values()
    stored = json.dumps(row, default=str)
    session_keys = [client.session.session_key, visitor.client.session.session_key]
    assert all(session_keys) and not any(key in stored for key in session_keys if key)
    assert "127.0.0.1" not in stored and "my words" not in stored


def test_entries_outlive_anonymisation_and_the_account(make_user: Any) -> None:
    visitor, vera = assigned(make_user)
    assert logged_in(vera).get(f"/help/{visitor.public_id}/").status_code == 200
    help_request = visitor.help_request()
    # What an erasure does: the request row stays, its personal data goes.
    HelpRequest.objects.filter(pk=help_request.pk).update(name="(erased)", contact="", description="(erased)")
    Message.objects.filter(help_request=help_request).delete()
    vera.delete()
    [entry] = AccessRecord.objects.all()
    assert entry.user is None and entry.username == "vera" and entry.help_request_id == help_request.pk
    help_request.delete()  # only deleting the request row itself takes its entries
    assert AccessRecord.objects.count() == 0


def test_purge_deletes_entries_past_retention_in_batches(make_user: Any, settings: Any) -> None:
    settings.CHAT_RETAIN_AUDIT_DAYS = 365
    visitor = open_help_request()
    sam = make_user("sam", roles=(Role.STAFF,))
    now = timezone.now()
    for age in (400, 380, 366, 364, 1):
        audit.access_record(
            help_request_id=visitor.help_request().pk, user=sam, channel="api", at=now - timedelta(days=age)
        )
    assert audit.audit_purge(now=now, dry_run=True) == 3
    assert AccessRecord.objects.count() == 5
    assert audit.audit_purge(now=now, batch_size=2) == 3
    ages = sorted((now - at).days for at in AccessRecord.objects.values_list("at", flat=True))
    assert ages == [1, 364]
    assert audit.audit_purge(now=now) == 0


# -- who sees the entries ----------------------------------------------------------------------------


def test_nobody_adds_changes_or_deletes_an_entry_in_the_admin_not_even_a_superuser(make_user: Any) -> None:
    visitor = open_help_request()
    client, boss = admin_client(make_user)
    entry = audit.access_record(help_request_id=visitor.help_request().pk, user=boss, channel="api")
    assert client.get("/admin/chat/accessrecord/").status_code == 200
    assert client.get("/admin/chat/accessrecord/add/").status_code == 403
    assert client.post(f"/admin/chat/accessrecord/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/chat/accessrecord/{entry.pk}/change/", {"username": "someone"}).status_code == 403
    changelist = client.post(
        "/admin/chat/accessrecord/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert changelist.status_code in (200, 302)
    assert AccessRecord.objects.filter(pk=entry.pk, username="boss").exists()


def test_the_audit_list_filters_by_person_and_finds_a_request_by_public_id(make_user: Any) -> None:
    first, second = open_help_request(), open_help_request()
    client, boss = admin_client(make_user)
    sam = make_user("sam", roles=(Role.STAFF,))
    audit.access_record(help_request_id=first.help_request().pk, user=sam, channel="socket")
    audit.access_record(help_request_id=second.help_request().pk, user=boss, channel="export", action="export")
    by_sam = client.get(f"/admin/chat/accessrecord/?user__id__exact={sam.pk}").context["cl"].result_list
    assert [(row.username, row.channel) for row in by_sam] == [("sam", "socket")]
    found = client.get(f"/admin/chat/accessrecord/?q={second.public_id}").context["cl"].result_list
    assert [(row.username, row.action) for row in found] == [("boss", "export")]


def test_only_staff_with_the_view_permission_see_entries(make_user: Any) -> None:
    visitor, vera = assigned(make_user)
    pk = visitor.help_request().pk
    audit.access_record(help_request_id=pk, user=vera, channel="page")
    staff = make_user("stan", roles=(Role.STAFF,))
    staff.user_permissions.add(Permission.objects.get(codename="view_helprequest"))
    client = logged_in(staff)
    assert client.get("/admin/chat/accessrecord/").status_code == 403
    page = client.get(f"/admin/chat/helprequest/{pk}/change/")
    assert page.status_code == 200 and "access_records-group" not in page.content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="view_accessrecord"))
    client = logged_in(staff)
    assert client.get("/admin/chat/accessrecord/").status_code == 200
    page = client.get(f"/admin/chat/helprequest/{pk}/change/")
    content = page.content.decode()
    assert 'id="access_records-group"' in content and "Audit trail: who read" in content and "<td" in content
    # A volunteer, even one given the permission, is no staff member: the admin sends them to log in.
    vera.user_permissions.add(Permission.objects.get(codename="view_accessrecord"))
    assert logged_in(vera).get("/admin/chat/accessrecord/").status_code == 302


# -- nothing about audits reaches a volunteer or a visitor --------------------------------------------


def audited_conversation(make_user: Any) -> tuple[Visitor, Any, Message]:
    """A conversation staff read over the API and redacted a message of, with REASON."""
    visitor, vera = assigned(make_user)
    message = post_as_visitor(visitor, "I live at 1 Example Street")
    sam = make_user(READER, roles=(Role.STAFF,))
    assert logged_in(sam).get(f"/api/help-requests/{visitor.public_id}/messages/").status_code == 200
    services.message_redact(message=message, by=sam, reason=REASON)
    assert entries() == [(READER, "api", "read"), (READER, "api", "redact")]
    return visitor, vera, message


def assert_nothing_about_audits(text: str) -> None:
    for secret in (READER, REASON, "access_record", "audit"):
        assert secret not in text, secret


def test_no_audit_in_the_page_or_the_api_of_a_volunteer_or_the_visitor(make_user: Any) -> None:
    visitor, vera, _ = audited_conversation(make_user)
    base = f"/api/help-requests/{visitor.public_id}/"
    for client in (logged_in(vera), visitor.client):
        for path in (f"/help/{visitor.public_id}/", base, base + "messages/"):
            response = client.get(path)
            assert response.status_code == 200, path
            # The handover form lists every colleague by name, the reader among them: by design, and
            # nothing of the audit trail.
            text = re.sub(r'<select id="transfer-to".*?</select>', "", response.content.decode(), flags=re.S)
            assert_nothing_about_audits(text)


async def test_no_audit_in_the_socket_frames_of_a_volunteer_or_the_visitor(make_user: Any, sockets: Any) -> None:
    visitor, vera, _ = await database_sync_to_async(audited_conversation)(make_user)
    for socket in (await sockets(visitor.path, user=vera), await sockets(visitor.path, cookie=visitor.cookie)):
        frames = await receive_until(socket, "presence")
        await socket.send_json_to({"type": "ping"})
        frames += await receive_until(socket, "pong")
        assert_nothing_about_audits(json.dumps(frames))


async def test_no_audit_in_the_sse_stream_of_a_volunteer_or_the_visitor(make_user: Any) -> None:
    visitor, vera, _ = await database_sync_to_async(audited_conversation)(make_user)
    for kwargs in ({"user": vera}, {"cookie": visitor.cookie}):
        stream = await open_room_stream(stream_path(visitor.public_id), **kwargs)
        frames = [await stream.frame()]
        while frames[-1]["type"] != "presence":
            frames.append(await stream.frame())
        await stream.close()
        assert [frame["type"] for frame in frames] in (["history", "presence"], ["history", "notes", "presence"])
        assert_nothing_about_audits(json.dumps(frames))


def test_reading_the_internal_notes_over_the_api_is_audited(make_user: Any) -> None:
    visitor, _ = assigned(make_user)
    sam = make_user(READER, roles=(Role.STAFF,))
    assert logged_in(sam).get(f"/api/help-requests/{visitor.public_id}/notes/").status_code == 200
    assert entries() == [(READER, "api", "read")]
