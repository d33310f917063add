"""Deleting a conversation: ``services.help_request_erase`` and every path to it (page, API, admin),
who may use each, and the live ``erased`` frame on sockets and streams (docs/safeguarding.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from charity.roles import Role
from chat import services
from chat.models import AccessAction, AccessChannel, AccessRecord, HelpRequest, Message, ReadCursor, Status
from chat.participants import user_participant, visitor_participant
from notifications import api as notifications
from notifications.models import Notification
from tests.chat.conftest import (
    Visitor,
    avisit,
    claim,
    joined,
    make,
    open_help_request,
    post_as_visitor,
    receive_until,
)
from tests.chat.test_sse import open_room_stream, stream_path

ERASE_API = "/api/help-requests/{}/erase/"


def erase_page(visitor: Visitor) -> str:
    return f"/help/{visitor.public_id}/delete/"


def a_conversation(make_user: Any) -> tuple[Visitor, Any]:
    """A visitor with a contact, helped by a volunteer, with messages and read cursors."""
    visitor = open_help_request(name="Alice", contact="alice@example.org", description="Money for the rent.")
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    message = post_as_visitor(visitor, "My landlord is at the door.")
    services.read_mark(help_request_id=message.help_request_id, participant=user_participant(vera), up_to=message.pk)
    return visitor, vera


def erase_as_visitor(visitor: Visitor) -> HelpRequest:
    help_request = visitor.help_request()
    return services.help_request_erase(help_request=help_request, by=visitor_participant(help_request))


# -- the service --------------------------------------------------------------------------------------


def test_erasure_deletes_the_conversation_and_personal_fields_and_keeps_the_statistic(make_user: Any) -> None:
    visitor, vera = a_conversation(make_user)
    before = visitor.help_request()
    assert Message.objects.filter(help_request=before).exists() and ReadCursor.objects.filter(help_request=before)

    erase_as_visitor(visitor)

    after = visitor.help_request()
    assert not Message.objects.filter(help_request=after).exists()
    assert not ReadCursor.objects.filter(help_request=after).exists()
    assert (after.name, after.contact, after.description, after.visitor_token_hash) == ("", "", "", "")
    assert after.status == Status.CLOSED and after.erased_by == "visitor"
    assert after.erased_at is not None and after.anonymised_at == after.erased_at and after.resolved_at
    # The anonymous statistic: category, times, outcome and who helped.
    assert after.category == before.category and after.created_at == before.created_at
    assert after.assigned_at == before.assigned_at and after.assigned_to_id == vera.pk


def test_erasure_takes_what_helpers_wrote_and_every_reason_typed(make_user: Any) -> None:
    from chat.models import Feedback, Note

    visitor, vera = a_conversation(make_user)
    sam = make_user("sam", roles=(Role.STAFF,))
    services.help_request_set_urgent(help_request=visitor.help_request(), urgent=True, reason="Jane, 5 Elm St", by=vera)
    services.note_post(
        help_request_id=visitor.help_request().pk, participant=user_participant(vera), body="Partner violent"
    )
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    services.feedback_submit(
        help_request=visitor.help_request(),
        by=visitor_participant(visitor.help_request()),
        rating=4,
        comment="I'm Jane",
    )
    assert visitor.help_request().address_check  # opened over the API: a block-ready check was made
    services.help_request_erase(help_request=visitor.help_request(), by=user_participant(sam))

    after = visitor.help_request()
    assert (after.urgent_reason, after.address_check) == ("", "")
    assert not Note.objects.filter(help_request=after).exists()
    assert list(Feedback.objects.filter(help_request=after).values_list("rating", "comment")) == [(4, "")]
    entries = AccessRecord.objects.filter(help_request=after)
    assert entries.filter(action=AccessAction.FLAG).exists() and not entries.exclude(reason="").exists()


def test_erasure_ends_every_visitor_proof(make_user: Any) -> None:
    visitor, _ = a_conversation(make_user)
    erase_as_visitor(visitor)
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 403
    fresh = Client()
    assert fresh.get(f"/help/{visitor.public_id}/?token={visitor.token}").status_code == 403
    api = f"/api/help-requests/{visitor.public_id}/"
    assert fresh.get(api, HTTP_X_HELP_REQUEST_TOKEN=visitor.token).status_code == 403


def test_erasure_deletes_the_notifications_that_quoted_the_request(make_user: Any) -> None:
    visitor, vera = a_conversation(make_user)
    other = open_help_request(name="Bob")
    services.help_request_claim(help_request=other.help_request(), user=vera)
    unrelated = notifications.notify_user(vera, kind="shift.changed", title="Saturday moved")
    assert Notification.objects.filter(data__public_id=visitor.public_id).exists()

    erase_as_visitor(visitor)

    assert not Notification.objects.filter(data__public_id=visitor.public_id).exists()
    assert not Notification.objects.filter(title__contains="Alice").exists()
    assert Notification.objects.filter(data__public_id=other.public_id).exists()
    assert Notification.objects.filter(pk=unrelated.pk).exists()


def test_the_activity_feed_never_names_the_visitor(make_user: Any) -> None:
    from dashboard.models import Activity

    visitor, vera = a_conversation(make_user)
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    texts = list(Activity.objects.values_list("text", flat=True))
    assert len(texts) == 3 and not [text for text in texts if "Alice" in text or "rent" in text]


def test_volunteers_cannot_erase_and_staff_can(make_user: Any) -> None:
    visitor, vera = a_conversation(make_user)
    with pytest.raises(services.ChatError) as refused:
        services.help_request_erase(help_request=visitor.help_request(), by=user_participant(vera))
    assert refused.value.code == services.ChatErrorCode.FORBIDDEN
    assert Message.objects.filter(help_request__public_id=visitor.public_id).exists()

    sam = make_user("sam", roles=(Role.STAFF,))
    services.help_request_erase(help_request=visitor.help_request(), by=user_participant(sam))
    assert visitor.help_request().erased_by == "staff"


def test_erasing_twice_is_a_conflict(make_user: Any) -> None:
    visitor, _ = a_conversation(make_user)
    erase_as_visitor(visitor)
    sam = make_user("sam", roles=(Role.STAFF,))
    with pytest.raises(services.ChatError) as refused:
        services.help_request_erase(help_request=visitor.help_request(), by=user_participant(sam))
    assert refused.value.code == services.ChatErrorCode.CONFLICT


def test_the_room_gets_the_erased_frame_only_after_commit(
    sent: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    visitor, _ = a_conversation(make_user)
    with django_capture_on_commit_callbacks(execute=True):
        erase_as_visitor(visitor)
        assert not [event for _, event in sent if event.get("type") == "chat.erased"]
    room = [event for group, event in sent if event.get("type") == "chat.erased"]
    assert [event["frame"] for event in room] == [{"type": "erased", "by": "visitor"}]


# -- the page ---------------------------------------------------------------------------------------


def test_the_visitor_page_links_to_the_confirmation_which_deletes_on_post(visit: Any) -> None:
    visitor = visit(contact="07700 900000")
    page = visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    assert f'href="/help/{visitor.public_id}/delete/"' in page

    confirm = visitor.client.get(erase_page(visitor))
    assert confirm.status_code == 200 and "no-store" in confirm["Cache-Control"]
    assert f'action="/help/{visitor.public_id}/delete/"' in confirm.content.decode()
    assert visitor.help_request().erased_at is None  # asking is not deleting

    response = visitor.client.post(erase_page(visitor), follow=True)
    assert response.redirect_chain[-1][0] == "/help/new/"
    assert "Your conversation has been deleted." in response.content.decode()
    help_request = visitor.help_request()
    assert help_request.erased_at is not None and help_request.contact == ""


@pytest.mark.parametrize("method", ["get", "post"])
def test_only_the_visitor_may_use_the_erase_page(visit: Any, make_user: Any, method: str) -> None:
    visitor = visit()
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    staff, assignee, other = Client(), Client(), visit(name="Bob").client
    staff.force_login(make_user("sam", roles=(Role.STAFF,)))
    assignee.force_login(vera)
    for client in (staff, assignee, other, Client()):
        assert getattr(client, method)(erase_page(visitor)).status_code == 403
    assert getattr(Client(), method)(f"/help/{uuid.uuid4()}/delete/").status_code == 404
    assert visitor.help_request().erased_at is None


def test_the_helpers_room_page_of_an_erased_request_says_so(visit: Any, make_user: Any) -> None:
    visitor = visit()
    sam = make_user("sam", roles=(Role.STAFF,))
    erase_as_visitor(visitor)
    staff = Client()
    staff.force_login(sam)
    page = staff.get(f"/help/{visitor.public_id}/").content.decode()
    assert "The visitor deleted this conversation." in page


# -- the API --------------------------------------------------------------------------------------------


def test_the_visitor_erases_through_the_api(visit: Any) -> None:
    visitor = visit()
    response = Client().post(ERASE_API.format(visitor.public_id), HTTP_X_HELP_REQUEST_TOKEN=visitor.token)
    assert response.status_code == 204 and "no-store" in response["Cache-Control"]
    assert visitor.help_request().erased_by == "visitor"
    # The token went with it: a second call is refused, not a second erasure.
    again = Client().post(ERASE_API.format(visitor.public_id), HTTP_X_HELP_REQUEST_TOKEN=visitor.token)
    assert again.status_code == 403


def test_only_the_visitor_may_erase_through_the_api(visit: Any, make_user: Any) -> None:
    visitor, bob = visit(), visit(name="Bob")
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    staff, assignee = Client(), Client()
    staff.force_login(make_user("sam", roles=(Role.STAFF,)))
    assignee.force_login(vera)
    url = ERASE_API.format(visitor.public_id)
    assert staff.post(url).status_code == 403
    assert assignee.post(url).status_code == 403
    assert bob.client.post(url).status_code == 403
    assert Client().post(url, HTTP_X_HELP_REQUEST_TOKEN=bob.token).status_code == 403
    assert Client().post(url).status_code == 403
    assert Client().post(ERASE_API.format(uuid.uuid4())).status_code == 404
    assert visitor.help_request().erased_at is None


def test_a_session_visitor_needs_the_csrf_token(visit: Any) -> None:
    visitor = visit()
    visitor.client.handler.enforce_csrf_checks = True
    assert visitor.client.post(ERASE_API.format(visitor.public_id)).status_code == 403
    assert visitor.help_request().erased_at is None


# -- the admin ------------------------------------------------------------------------------------------


def test_staff_erase_from_the_admin_after_confirming(visit: Any, make_user: Any) -> None:
    visitor = visit()
    sam = make_user("sam", roles=(Role.STAFF,), is_superuser=True)
    staff = Client()
    staff.force_login(sam)
    pk = visitor.help_request().pk
    url = "/admin/chat/helprequest/"
    confirm = staff.post(url, {"action": "erase_conversations", "_selected_action": [pk]})
    assert confirm.status_code == 200 and "Yes, delete" in confirm.content.decode()
    assert visitor.help_request().erased_at is None

    staff.post(url, {"action": "erase_conversations", "_selected_action": [pk], "apply": "1"})
    help_request = visitor.help_request()
    assert help_request.erased_by == "staff" and help_request.name == ""
    # The erasure is in the audit trail, which outlives the conversation.
    erasures = AccessRecord.objects.filter(help_request=help_request, action=AccessAction.ERASE)
    assert [(entry.username, entry.channel) for entry in erasures] == [("sam", AccessChannel.ADMIN)]


def test_a_visitors_own_erasure_writes_no_audit_entry(visit: Any) -> None:
    visitor = visit()
    assert visitor.client.post(f"/api/help-requests/{visitor.public_id}/erase/").status_code == 204
    assert not AccessRecord.objects.filter(action=AccessAction.ERASE).exists()


# -- live: sockets and streams --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_socket_room_sees_erased_and_the_visitors_socket_closes(sockets: Any, make_user: Any) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    helper = await sockets(visitor.path, user=vera)
    await joined(helper)
    own = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(own)
    await receive_until(helper, "presence")

    await database_sync_to_async(erase_as_visitor)(visitor)

    helper_frames = await receive_until(helper, "erased")
    assert helper_frames[-1] == {"type": "erased", "by": "visitor"}
    assert any(frame["type"] == "status" and frame["status"] == "closed" for frame in helper_frames)
    assert (await receive_until(own, "erased"))[-1]["by"] == "visitor"
    assert await own.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}
    # The helper stays (the room is theirs to read the notice in), and nothing of the text is replayed.
    await helper.send_json_to({"type": "ping"})
    assert (await receive_until(helper, "pong"))[-1] == {"type": "pong"}


@pytest.mark.django_db(transaction=True)
async def test_the_stream_room_sees_erased_and_the_visitors_stream_ends(make_user: Any) -> None:
    visitor = await avisit()
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    helper = await open_room_stream(stream_path(visitor.public_id), user=sam)
    own = await open_room_stream(stream_path(visitor.public_id), token=visitor.token)
    try:
        for stream in (helper, own):
            assert (await stream.frame())["type"] == "history"
        await database_sync_to_async(erase_as_visitor)(visitor)

        async def until_erased(stream: Any) -> dict[str, Any]:
            while True:
                frame = await stream.frame()
                if frame["type"] == "erased":
                    return frame

        assert await until_erased(helper) == {"type": "erased", "by": "visitor"}
        assert await until_erased(own) == {"type": "erased", "by": "visitor"}
        assert await own.event() == {"event": "close", "data": {"code": 4403}}
    finally:
        await helper.close()
        await own.close()


@pytest.mark.django_db(transaction=True)
async def test_a_waiting_request_leaves_the_queue_when_erased(sockets: Any, make_user: Any) -> None:
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    queue = await sockets("/ws/help-requests/queue/", user=sam)
    visitor = await avisit()
    first = await receive_until(queue, "queue.item")
    assert first[-1]["help_request"]["public_id"] == visitor.public_id
    await database_sync_to_async(erase_as_visitor)(visitor)
    removed = await receive_until(queue, "queue.removed")
    assert removed[-1] == {"type": "queue.removed", "public_id": visitor.public_id, "waiting": 0}
