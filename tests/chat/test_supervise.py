"""Supervisors (watch, whisper, join, ask for support), internal notes and handoff (issue 17, §2 and §3).

A note must never reach the visitor on any path: the socket, the SSE stream, the REST messages list
and the visitor's page each have a test here. Absence on a live connection is checked by order, not
by waiting: the note is committed first, then a visible message; the visitor's next frame must be
that message.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from charity.roles import Role
from chat import selectors, services
from chat.models import HelpRequest, Message, Note, Status
from chat.participants import user_participant, visitor_participant
from dashboard.selectors import dashboard_snapshot
from notifications.models import Notification
from tests.chat.conftest import Visitor, check_frame, joined, next_frame, open_help_request, room
from tests.chat.test_sse import stream_path, streams
from tests.conftest import connect_socket

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["streams"]  # the fixture, shared with tests/chat/test_sse.py

SECRET_NOTE = "Whisper: ask about the medication she mentioned"


def _people(make_user: Any) -> tuple[Any, Any, Any]:
    return (
        make_user("vera", roles=(Role.VOLUNTEER,)),
        make_user("victor", roles=(Role.VOLUNTEER,)),
        make_user("sam", roles=(Role.STAFF,)),
    )


def _assigned(make_user: Any) -> tuple[Visitor, Any, Any, Any]:
    visitor = open_help_request(name="Alice")
    vera, victor, sam = _people(make_user)
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    return visitor, vera, victor, sam


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post_json(client: Client, path: str, body: Any = None, **headers: Any) -> Any:
    return client.post(path, data=json.dumps(body or {}), content_type="application/json", **headers)


# -- services ----------------------------------------------------------------------------------------


def test_notes_are_for_the_assignee_and_staff_only(make_user: Any) -> None:
    visitor, vera, victor, sam = _assigned(make_user)
    help_request = visitor.help_request()
    note = services.note_post(help_request_id=help_request.pk, participant=user_participant(vera), body=" Hi ")
    assert (note.body, note.author_name, note.author_kind) == ("Hi", "vera", "volunteer")
    services.note_post(help_request_id=help_request.pk, participant=user_participant(sam), body=SECRET_NOTE)
    for outsider in (visitor_participant(help_request), user_participant(victor)):
        with pytest.raises(services.ChatError) as refused:
            services.note_post(help_request_id=help_request.pk, participant=outsider, body="x")
        assert refused.value.code == services.ChatErrorCode.FORBIDDEN
    with pytest.raises(services.ChatError) as blank:
        services.note_post(help_request_id=help_request.pk, participant=user_participant(sam), body="  ")
    assert blank.value.detail == {"body": ["This field may not be blank."]}
    assert [n.body for n in selectors.notes_for(help_request_id=help_request.pk)] == ["Hi", SECRET_NOTE]
    # A note is never a message: nothing the visitor reads has it.
    assert not Message.objects.filter(body=SECRET_NOTE).exists()


def test_transfer_to_a_colleague(make_user: Any) -> None:
    visitor, vera, victor, _ = _assigned(make_user)
    by = user_participant(vera)
    services.help_request_transfer(help_request=visitor.help_request(), by=by, to=victor, note="She prefers text.")
    help_request = visitor.help_request()
    assert (help_request.status, help_request.assigned_to) == (Status.ASSIGNED, victor)
    last = Message.objects.filter(help_request=help_request).last()
    assert last is not None and last.body == "victor is now helping with this request."
    assert selectors.notes_for(help_request_id=help_request.pk)[-1].body == "Handed over to victor: She prefers text."
    told = Notification.objects.filter(kind="help_request.assigned", recipients__user=victor).get()
    assert (told.title, told.body) == ("vera handed you the request from Alice", "She prefers text.")


def test_transfer_back_to_the_queue(make_user: Any) -> None:
    visitor, vera, _, _ = _assigned(make_user)
    behind = open_help_request(name="Bob")
    services.help_request_transfer(
        help_request=visitor.help_request(), by=user_participant(vera), to=None, note="Needs a housing specialist."
    )
    help_request = visitor.help_request()
    assert (help_request.status, help_request.assigned_to) == (Status.WAITING, None)
    assert selectors.queue_position(help_request=help_request) == 1  # its old place, ahead of Bob
    assert selectors.queue_position(help_request=behind.help_request()) == 2
    last = Message.objects.filter(help_request=help_request).last()
    assert last is not None and last.body == services.BACK_IN_QUEUE.format(place="you are first in the queue")
    assert selectors.notes_for(help_request_id=help_request.pk)[-1].body == (
        "Handed back to the queue: Needs a housing specialist."
    )


def test_transfer_refusals(make_user: Any) -> None:
    visitor, vera, victor, sam = _assigned(make_user)
    help_request = visitor.help_request()
    cases = [
        (user_participant(victor), victor, "note", services.ChatErrorCode.FORBIDDEN),  # not the assignee
        (visitor_participant(help_request), None, "note", services.ChatErrorCode.FORBIDDEN),
        (user_participant(vera), vera, "note", services.ChatErrorCode.INVALID),  # to the same person
        (user_participant(vera), victor, " ", services.ChatErrorCode.INVALID),  # no note
    ]
    for by, to, note, code in cases:
        with pytest.raises(services.ChatError) as refused:
            services.help_request_transfer(help_request=help_request, by=by, to=to, note=note)
        assert refused.value.code == code, (by, to, note)
    waiting = open_help_request()
    with pytest.raises(services.ChatError) as conflict:
        services.help_request_transfer(help_request=waiting.help_request(), by=user_participant(sam), to=vera, note="n")
    assert conflict.value.code == services.ChatErrorCode.CONFLICT
    assert visitor.help_request().assigned_to == vera


def test_ask_for_support_notifies_staff_critically_with_a_watch_link(make_user: Any, settings: Any) -> None:
    settings.CHAT_SUPPORT_REQUESTS_PER_HOUR = 2
    visitor, vera, victor, _sam = _assigned(make_user)
    help_request = visitor.help_request()
    note = services.help_request_support(help_request_id=help_request.pk, by=user_participant(vera))
    assert note.body == "vera asked for support."
    sent = Notification.objects.get(kind="help_request.support")
    assert sent.priority == "critical"
    assert sent.data["url"] == f"/help/{visitor.public_id}/?mode=watch"
    assert list(sent.recipients.values_list("user__username", flat=True)) == ["sam"]
    with pytest.raises(services.ChatError) as outsider:
        services.help_request_support(help_request_id=help_request.pk, by=user_participant(victor))
    assert outsider.value.code == services.ChatErrorCode.FORBIDDEN
    services.help_request_support(help_request_id=help_request.pk, by=user_participant(vera))
    with pytest.raises(services.ChatError) as flood:
        services.help_request_support(help_request_id=help_request.pk, by=user_participant(vera))
    assert flood.value.code == services.ChatErrorCode.RATE_LIMITED


def test_a_supervisor_joins_visibly_and_only_staff_may(make_user: Any) -> None:
    visitor, vera, _, sam = _assigned(make_user)
    message = services.supervisor_join(help_request=visitor.help_request(), by=user_participant(sam))
    assert (message.author_kind, message.body) == ("system", "A supervisor joined the conversation.")
    with pytest.raises(services.ChatError) as refused:
        services.supervisor_join(help_request=visitor.help_request(), by=user_participant(vera))
    assert refused.value.code == services.ChatErrorCode.FORBIDDEN


# -- socket and SSE ------------------------------------------------------------------------------------


@database_sync_to_async
def _setup(make_user: Any) -> tuple[Visitor, Any, Any, Any]:
    return _assigned(make_user)


@database_sync_to_async
def _note(visitor: Visitor, user: Any, body: str) -> Note:
    return services.note_post(help_request_id=visitor.help_request().pk, participant=user_participant(user), body=body)


@database_sync_to_async
def _say_as(user: Any, visitor: Visitor, body: str) -> Message:
    message, _ = services.message_post(
        help_request_id=visitor.help_request().pk,
        participant=user_participant(user),
        body=body,
        client_id=uuid.uuid4().hex,
    )
    return message


async def test_a_watcher_is_not_in_presence_and_cannot_write(make_user: Any, sockets: Any) -> None:
    visitor, vera, _, sam = await _setup(make_user)
    alice = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(alice)
    watcher = await sockets(room(visitor.public_id, mode="watch"), user=sam)
    history = await next_frame(watcher)
    assert history["type"] == "history"
    assert (await next_frame(watcher))["type"] == "notes"
    presence = await next_frame(watcher)
    assert presence == {"type": "presence", "participants": [{"kind": "visitor", "name": "Alice"}]}
    for frame in (
        {"type": "message", "body": "hello", "client_id": "w1"},
        {"type": "typing"},
        {"type": "read", "up_to": history["messages"][-1]["id"]},
    ):
        await watcher.send_json_to(frame)
        error = await next_frame(watcher)
        assert (error["type"], error["code"]) == ("error", "forbidden"), frame
    assert not await database_sync_to_async(Message.objects.filter(body="hello").exists)()
    # The visitor was told nothing about the watcher: their next frame is vera's message.
    await _say_as(vera, visitor, "Still here")
    frame = await next_frame(alice)
    assert (frame["type"], frame["body"]) == ("message", "Still here")
    assert (await next_frame(watcher))["body"] == "Still here"  # watching live


async def test_only_staff_may_watch(make_user: Any) -> None:
    visitor, vera, _, _ = await _setup(make_user)
    for who in ({"user": vera}, {"cookie": visitor.cookie}):
        communicator, connected, code = await connect_socket(room(visitor.public_id, mode="watch"), **who)
        if connected:
            code = (await communicator.receive_output(timeout=3)).get("code")
        assert code == 4403, who


async def test_notes_reach_helpers_live_and_on_join_never_the_visitor_socket(make_user: Any, sockets: Any) -> None:
    visitor, vera, _victor, sam = await _setup(make_user)
    alice = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(alice)
    helper = await sockets(visitor.path, user=vera)
    await joined(helper)
    await next_frame(alice)  # vera's arrival in presence
    watcher = await sockets(room(visitor.public_id, mode="watch"), user=sam)
    await joined(watcher)
    # The whisper, over the watcher's socket.
    await watcher.send_json_to({"type": "note", "body": SECRET_NOTE})
    for socket in (helper, watcher):
        note = await next_frame(socket)
        assert (note["type"], note["body"], note["author"]) == ("note", SECRET_NOTE, {"kind": "staff", "name": "sam"})
    await _say_as(vera, visitor, "visible")
    frame = await next_frame(alice)
    assert (frame["type"], frame["body"]) == ("message", "visible")  # not the note
    # A helper (re)joining gets the notes after the history.
    later = await sockets(visitor.path, user=vera)
    assert (await next_frame(later))["type"] == "history"
    notes = await next_frame(later)
    assert [n["body"] for n in notes["notes"]] == [SECRET_NOTE]
    # A visitor joining gets no notes frame: history, then presence.
    again = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(again)
    assert SECRET_NOTE not in json.dumps(history)


async def test_a_bad_note_frame_gets_an_error_and_the_socket_stays(make_user: Any, sockets: Any) -> None:
    visitor, _vera, _, _ = await _setup(make_user)
    alice = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(alice)
    await alice.send_json_to({"type": "note", "body": "from the visitor"})
    error = await next_frame(alice)
    assert (error["type"], error["code"]) == ("error", "forbidden")
    await alice.send_json_to({"type": "note", "body": 5})
    assert (await next_frame(alice))["code"] == "invalid"
    await alice.send_json_to({"type": "support"})
    assert (await next_frame(alice))["code"] == "forbidden"
    assert not await database_sync_to_async(Note.objects.exists)()
    await alice.send_json_to({"type": "ping"})
    assert (await next_frame(alice))["type"] == "pong"


async def test_ask_for_support_over_the_socket(make_user: Any, sockets: Any) -> None:
    visitor, vera, _, _ = await _setup(make_user)
    helper = await sockets(visitor.path, user=vera)
    await joined(helper)
    await helper.send_json_to({"type": "support"})
    note = await next_frame(helper)
    assert (note["type"], note["body"]) == ("note", "vera asked for support.")
    sent = await database_sync_to_async(Notification.objects.get)(kind="help_request.support")
    assert sent.priority == "critical"


async def test_the_visitor_stream_never_gets_a_note_and_a_helper_stream_does(make_user: Any, streams: Any) -> None:
    visitor, vera, _, sam = await _setup(make_user)
    alice = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    assert (await alice.frame())["type"] == "history"
    assert (await alice.frame())["type"] == "presence"
    watcher = await streams(stream_path(visitor.public_id, mode="watch"), user=sam)
    assert (await watcher.frame())["type"] == "history"
    assert (await watcher.frame())["type"] == "notes"
    assert (await watcher.frame())["participants"] == [{"kind": "visitor", "name": "Alice"}]
    await _note(visitor, vera, SECRET_NOTE)
    assert (await watcher.frame())["body"] == SECRET_NOTE
    await _say_as(vera, visitor, "visible")
    frame = await alice.frame()
    assert (frame["type"], frame["body"]) == ("message", "visible")


async def test_after_a_transfer_the_new_helper_sees_history_and_notes_and_the_old_one_is_out(
    make_user: Any, sockets: Any
) -> None:
    visitor, vera, victor, _ = await _setup(make_user)
    old = await sockets(visitor.path, user=vera)
    await joined(old)
    alice = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(alice)
    await next_frame(old)  # alice's arrival
    await database_sync_to_async(services.help_request_transfer)(
        help_request=await database_sync_to_async(visitor.help_request)(),
        by=user_participant(vera),
        to=victor,
        note="Context for victor",
    )
    frames = [await next_frame(alice), await next_frame(alice)]
    assert frames[0]["body"] == "victor is now helping with this request."
    assert frames[1]["type"] == "status" and frames[1]["assigned_to"]["name"] == "victor"
    assert await _closed_with(old) == 4403  # vera is no longer in the room
    new = await sockets(visitor.path, user=victor)
    history = await next_frame(new)
    assert "victor is now helping with this request." in [m["body"] for m in history["messages"]]
    notes = await next_frame(new)
    assert [n["body"] for n in notes["notes"]] == ["Handed over to victor: Context for victor"]


async def _closed_with(socket: Any) -> int:
    """Read a socket's output up to its close; the close code."""
    while True:
        output = await socket.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return int(output["code"])


# -- REST ----------------------------------------------------------------------------------------------


def test_rest_notes_for_helpers_only(make_user: Any) -> None:
    visitor, vera, victor, sam = _assigned(make_user)
    path = f"/api/help-requests/{visitor.public_id}/notes/"
    created = _post_json(_logged_in(sam), path, {"body": SECRET_NOTE})
    assert created.status_code == 201, created.content
    check_frame(created.json())
    listed = _logged_in(vera).get(path)
    assert listed.status_code == 200 and [n["body"] for n in listed.json()["notes"]] == [SECRET_NOTE]
    check_frame(listed.json())
    # The visitor, by session or token; and a volunteer who is not the assignee.
    assert visitor.client.get(path).status_code == 403
    assert Client().get(path, HTTP_X_HELP_REQUEST_TOKEN=visitor.token).status_code == 403
    assert _post_json(Client(), path, {"body": "x"}, HTTP_X_HELP_REQUEST_TOKEN=visitor.token).status_code == 403
    assert _logged_in(victor).get(path).status_code == 403
    assert _logged_in(sam).get(f"/api/help-requests/{uuid.uuid4()}/notes/").status_code == 404
    bad = _post_json(_logged_in(vera), path, {"body": ""})
    assert bad.status_code == 400 and "body" in bad.json()
    # The visitor's messages list never has a note.
    messages = visitor.client.get(f"/api/help-requests/{visitor.public_id}/messages/")
    assert messages.status_code == 200 and SECRET_NOTE not in messages.content.decode()


def test_rest_transfer(make_user: Any) -> None:
    visitor, vera, victor, _ = _assigned(make_user)
    path = f"/api/help-requests/{visitor.public_id}/transfer/"
    assert _post_json(visitor.client, path, {"to": None, "note": "n"}).status_code == 403
    assert _post_json(_logged_in(victor), path, {"to": None, "note": "n"}).status_code == 403
    unknown = _post_json(_logged_in(vera), path, {"to": "nobody", "note": "n"})
    assert unknown.status_code == 400 and "to" in unknown.json()
    missing = _post_json(_logged_in(vera), path, {"to": "victor"})
    assert missing.status_code == 400 and "note" in missing.json()
    handed = _post_json(_logged_in(vera), path, {"to": "victor", "note": "Over to you"})
    assert handed.status_code == 200 and handed.json()["assigned_to"]["name"] == "victor"
    queued = _post_json(_logged_in(victor), path, {"to": None, "note": "Back you go"})
    assert queued.status_code == 200 and queued.json()["status"] == "waiting"
    again = _post_json(_logged_in(make_user("boss", roles=(Role.STAFF,))), path, {"to": None, "note": "n"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert _post_json(_logged_in(vera), f"/api/help-requests/{uuid.uuid4()}/transfer/", {}).status_code == 404


def test_rest_join_and_support(make_user: Any) -> None:
    visitor, vera, _, sam = _assigned(make_user)
    join = f"/api/help-requests/{visitor.public_id}/join/"
    assert _post_json(_logged_in(vera), join).status_code == 403
    assert _post_json(visitor.client, join).status_code == 403
    joined_answer = _post_json(_logged_in(sam), join)
    assert joined_answer.status_code == 201 and joined_answer.json()["body"] == services.SUPERVISOR_JOINED
    support = f"/api/help-requests/{visitor.public_id}/support/"
    assert _post_json(visitor.client, support).status_code == 403
    asked = _post_json(_logged_in(vera), support)
    assert asked.status_code == 201 and asked.json()["body"] == "vera asked for support."


# -- pages ---------------------------------------------------------------------------------------------


def test_the_visitor_page_never_shows_a_note_and_the_room_page_does(make_user: Any) -> None:
    visitor, vera, _, sam = _assigned(make_user)
    services.note_post(help_request_id=visitor.help_request().pk, participant=user_participant(sam), body=SECRET_NOTE)
    page = visitor.client.get(f"/help/{visitor.public_id}/")
    assert page.status_code == 200 and SECRET_NOTE not in page.content.decode()
    assert "notes-log" not in page.content.decode()
    assert visitor.client.get(f"/help/{visitor.public_id}/?mode=watch").status_code == 403
    room_page = _logged_in(vera).get(f"/help/{visitor.public_id}/")
    assert SECRET_NOTE in room_page.content.decode()
    assert _logged_in(vera).get(f"/help/{visitor.public_id}/?mode=watch").status_code == 403


def test_the_watch_page_is_read_only_with_a_join_button(make_user: Any) -> None:
    visitor, _, _, sam = _assigned(make_user)
    html = _logged_in(sam).get(f"/help/{visitor.public_id}/?mode=watch").content.decode()
    assert 'id="chat-form"' not in html and 'id="join-button"' in html
    assert '"mode": "watch"' in html
    assert 'id="chat-form"' in _logged_in(sam).get(f"/help/{visitor.public_id}/").content.decode()


def test_page_forms_note_support_join_transfer(make_user: Any) -> None:
    visitor, vera, victor, sam = _assigned(make_user)
    base = f"/help/{visitor.public_id}/"
    staff = _logged_in(sam)
    whisper = staff.post(base + "notes/", {"body": "from the form", "mode": "watch"})
    assert whisper.status_code == 302 and whisper["Location"] == base + "?mode=watch"
    assert visitor.client.post(base + "notes/", {"body": "x"}).status_code == 403
    assert _logged_in(vera).post(base + "support/").status_code == 302
    assert staff.post(base + "join/")["Location"] == base
    handed = _logged_in(vera).post(base + "transfer/", {"to": "victor", "note": "yours"})
    assert handed["Location"] == "/help/queue/"
    help_request = HelpRequest.objects.get(public_id=visitor.public_id)
    assert help_request.assigned_to == victor
    bodies = list(help_request.notes.values_list("body", flat=True))
    assert bodies == ["from the form", "vera asked for support.", "Handed over to victor: yours"]
    assert Message.objects.filter(help_request=help_request, body=services.SUPERVISOR_JOINED).exists()


def test_the_control_room_lists_live_conversations_with_watch_links(make_user: Any) -> None:
    visitor, vera, _, _ = _assigned(make_user)
    waiting = open_help_request(name="Bob")
    services.message_post(
        help_request_id=visitor.help_request().pk,
        participant=user_participant(vera),
        body="hi",
        client_id="c1",
    )
    rows = dashboard_snapshot()["conversations"]
    assert [(row["name"], row["status"]) for row in rows] == [("Bob", "waiting"), ("Alice", "assigned")]
    bob, alice = rows
    assert bob["since_helper"] is None and bob["assigned_to"] is None
    assert alice["since_helper"] is not None and alice["assigned_to"]["name"] == "vera"
    assert alice["watch_url"] == f"/help/{visitor.public_id}/?mode=watch"
    assert waiting.public_id == bob["public_id"]
