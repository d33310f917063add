"""Staff remove a message's text (services.message_redact): from the REST endpoint and the admin; the
original is kept nowhere; the room's sockets and streams replace it live; history and the REST list
show the replacement."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from charity.roles import Role
from chat import services
from chat.models import REDACTED_BODY, AccessRecord, Message
from notifications.models import Notification
from tests.chat.conftest import (
    Visitor,
    avisit,
    claim,
    joined,
    make,
    next_frame,
    open_help_request,
    post_as_visitor,
    receive_until,
    room,
)
from tests.chat.test_sse import open_room_stream, stream_path

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "I live at 12 Secret Lane, Flat 3"
REASON = "The visitor typed their address."


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def redact_url(public_id: str, message_id: Any) -> str:
    return f"/api/help-requests/{public_id}/messages/{message_id}/redact/"


def conversation(make_user: Any) -> tuple[Visitor, Any, Any, Message]:
    """Alice's request, taken by vera, with Alice's address in it; sam is staff."""
    visitor = open_help_request()
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    sam = make_user("sam", roles=(Role.STAFF,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    return visitor, vera, sam, post_as_visitor(visitor, ADDRESS)


# -- the service -------------------------------------------------------------------------------------


def test_the_text_is_replaced_and_kept_nowhere(make_user: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        _visitor, _, sam, message = conversation(make_user)
        # vera was not in the room: she was notified, with the message's start in the body.
        assert Notification.objects.filter(kind="help_request.message", body__contains="Secret Lane").exists()
        caplog.clear()
        services.message_redact(message=message, by=sam, reason=REASON)
    message.refresh_from_db()
    assert message.body == REDACTED_BODY and message.redacted_at is not None
    assert not Message.objects.filter(body__contains="Secret Lane").exists()
    assert not Notification.objects.filter(body__contains="Secret Lane").exists()
    [entry] = AccessRecord.objects.filter(action="redact")
    assert (entry.username, entry.channel, entry.reason, entry.message_number) == ("sam", "api", REASON, message.pk)
    assert "Secret Lane" not in json.dumps(list(AccessRecord.objects.values()), default=str)
    assert "Secret Lane" not in caplog.text


def test_only_staff_redact_with_a_reason_and_only_once(make_user: Any) -> None:
    _visitor, vera, sam, message = conversation(make_user)
    with pytest.raises(services.ChatError) as refused:
        services.message_redact(message=message, by=vera, reason=REASON)
    assert refused.value.code == "forbidden"
    with pytest.raises(services.ChatError) as blank:
        services.message_redact(message=message, by=sam, reason="   ")
    assert blank.value.detail == {"reason": ["This field may not be blank."]}
    assert Message.objects.get(pk=message.pk).body == ADDRESS
    services.message_redact(message=message, by=sam, reason=REASON)
    with pytest.raises(services.ChatError) as again:
        services.message_redact(message=message, by=sam, reason=REASON)
    assert again.value.code == "conflict"
    assert AccessRecord.objects.filter(action="redact").count() == 1


# -- the REST endpoint -------------------------------------------------------------------------------


def test_staff_redact_over_rest(make_user: Any) -> None:
    visitor, _, sam, message = conversation(make_user)
    response = logged_in(sam).post(
        redact_url(visitor.public_id, message.pk), {"reason": REASON}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert (data["id"], data["body"], data["redacted"]) == (message.pk, REDACTED_BODY, True)
    assert Message.objects.get(pk=message.pk).body == REDACTED_BODY


def test_rest_refuses_everyone_but_staff(make_user: Any) -> None:
    visitor, vera, _, message = conversation(make_user)
    url = redact_url(visitor.public_id, message.pk)
    body = {"reason": REASON}
    donor = make_user("dana", roles=(Role.DONOR,))
    callers = {
        "volunteer": logged_in(vera),
        "donor": logged_in(donor),
        "visitor by session": visitor.client,
        "anonymous": Client(),
    }
    for who, client in callers.items():
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 403, who
    token = Client().post(url, body, content_type="application/json", headers={"X-Help-Request-Token": visitor.token})
    assert token.status_code == 403
    # Refused before any lookup: a volunteer cannot probe which message ids exist.
    unknown = logged_in(vera).post(redact_url(visitor.public_id, 999_999), body, content_type="application/json")
    assert unknown.status_code == 403
    assert Message.objects.get(pk=message.pk).body == ADDRESS
    assert not AccessRecord.objects.filter(action="redact").exists()


def test_rest_answers_field_errors_and_unknown_ids(make_user: Any) -> None:
    visitor, _, sam, message = conversation(make_user)
    other = open_help_request()
    others = post_as_visitor(other, "another request's message")
    client = logged_in(sam)

    def post(url: str, body: Any) -> Any:
        return client.post(url, body, content_type="application/json")

    for body in ({}, {"reason": ""}, {"reason": "  "}, {"reason": 5}, {"reason": "x" * 501}):
        response = post(redact_url(visitor.public_id, message.pk), body)
        assert response.status_code == 400 and set(response.json()) == {"reason"}, body
    for url in (
        redact_url(visitor.public_id, 999_999),
        redact_url(visitor.public_id, others.pk),  # a message of another request
        redact_url(visitor.public_id, "abc"),
        redact_url(visitor.public_id, "9" * 30),
        redact_url(str(uuid.uuid4()), message.pk),
        redact_url("not-a-uuid", message.pk),
    ):
        response = post(url, {"reason": REASON})
        assert response.status_code == 404 and "detail" in response.json(), url
    assert post(redact_url(visitor.public_id, message.pk), {"reason": REASON}).status_code == 200
    again = post(redact_url(visitor.public_id, message.pk), {"reason": REASON})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert Message.objects.get(pk=others.pk).body == "another request's message"


def test_the_messages_list_shows_the_replacement(make_user: Any) -> None:
    visitor, vera, sam, message = conversation(make_user)
    services.message_redact(message=message, by=sam, reason=REASON)
    for client in (visitor.client, logged_in(vera)):
        data = client.get(f"/api/help-requests/{visitor.public_id}/messages/").json()
        [shown] = [m for m in data["messages"] if m["id"] == message.pk]
        assert (shown["body"], shown["redacted"]) == (REDACTED_BODY, True)
        assert all(m["redacted"] is False for m in data["messages"] if m["id"] != message.pk)
        assert "Secret Lane" not in json.dumps(data)


# -- the admin ---------------------------------------------------------------------------------------


def test_the_admin_action_asks_for_a_reason_then_redacts(make_user: Any) -> None:
    _visitor, _, _, message = conversation(make_user)
    boss = make_user("boss", roles=(Role.STAFF,), is_superuser=True)
    client = logged_in(boss)
    selected = {"action": "redact_messages", "_selected_action": [message.pk]}
    form = client.post("/admin/chat/message/", selected)
    assert form.status_code == 200 and "Reason" in form.content.decode()
    no_reason = client.post("/admin/chat/message/", {**selected, "apply": "1", "reason": ""})
    assert no_reason.status_code == 200 and "This field is required" in no_reason.content.decode()
    assert Message.objects.get(pk=message.pk).body == ADDRESS
    done = client.post("/admin/chat/message/", {**selected, "apply": "1", "reason": REASON})
    assert done.status_code == 302
    assert Message.objects.get(pk=message.pk).body == REDACTED_BODY
    entry = AccessRecord.objects.get(action="redact")
    assert (entry.username, entry.channel, entry.reason) == ("boss", "admin", REASON)


def test_the_admin_action_is_offered_to_staff_only(make_user: Any) -> None:
    from django.contrib.auth.models import Permission

    _visitor, _, _, message = conversation(make_user)
    clerk = make_user("clerk", roles=(Role.STAFF,))
    clerk.user_permissions.add(Permission.objects.get(codename="view_message"))
    page = logged_in(clerk).get("/admin/chat/message/")
    assert page.status_code == 200 and "redact_messages" in page.content.decode()
    # No longer staff (the permission left behind by mistake): the admin, and its action, are closed.
    clerk.is_staff = False
    clerk.save()
    refused = logged_in(clerk).post(
        "/admin/chat/message/",
        {"action": "redact_messages", "_selected_action": [message.pk], "apply": "1", "reason": REASON},
    )
    assert refused.status_code == 302 and "/login/" in refused["Location"]
    assert Message.objects.get(pk=message.pk).body == ADDRESS


# -- live ----------------------------------------------------------------------------------------------


async def test_every_socket_of_the_room_replaces_the_text_live(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    await claim(visitor, vera)
    message = await database_sync_to_async(post_as_visitor)(visitor, ADDRESS)
    visitor_socket = await sockets(visitor.path, cookie=visitor.cookie)
    vera_socket = await sockets(visitor.path, user=vera)
    await joined(visitor_socket)
    await joined(vera_socket)
    await database_sync_to_async(services.message_redact)(message=message, by=sam, reason=REASON)
    for socket in (visitor_socket, vera_socket):
        frames = await receive_until(socket, "redacted")
        assert frames[-1] == {"type": "redacted", "id": message.pk, "body": REDACTED_BODY}


async def test_the_sse_stream_replaces_the_text_live(make_user: Any) -> None:
    visitor = await avisit()
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    message = await database_sync_to_async(post_as_visitor)(visitor, ADDRESS)
    stream = await open_room_stream(stream_path(visitor.public_id), cookie=visitor.cookie)
    try:
        assert (await stream.frame())["type"] == "history"
        assert (await stream.frame())["type"] == "presence"
        await database_sync_to_async(services.message_redact)(message=message, by=sam, reason=REASON)
        frame = await stream.frame()
        assert frame == {"type": "redacted", "id": message.pk, "body": REDACTED_BODY}
    finally:
        await stream.close()


async def test_history_shows_the_replacement_and_a_resuming_socket_gets_what_it_missed(
    make_user: Any, sockets: Any
) -> None:
    visitor = await avisit()
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    message = await database_sync_to_async(post_as_visitor)(visitor, ADDRESS)
    later = await database_sync_to_async(post_as_visitor)(visitor, "thanks")
    await database_sync_to_async(services.message_redact)(message=message, by=sam, reason=REASON)
    fresh = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(fresh)
    shown = {m["id"]: (m["body"], m["redacted"]) for m in history["messages"]}
    assert shown[message.pk] == (REDACTED_BODY, True) and shown[later.pk] == ("thanks", False)
    # A client that was away since it saw `later` shows the old text: it gets the redaction after history.
    resuming = await sockets(room(visitor.public_id, after=later.pk), cookie=visitor.cookie)
    history = await next_frame(resuming)
    assert history["type"] == "history" and history["messages"] == []
    assert await next_frame(resuming) == {"type": "redacted", "id": message.pk, "body": REDACTED_BODY}
