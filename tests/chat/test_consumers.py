"""The help-request socket's wire contract, rule by rule (docs/chat-protocol.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from charity.roles import Role
from chat import services
from chat.models import HelpRequest, Message, ReadCursor, Status
from chat.participants import visitor_participant
from notifications.models import Notification
from tests.chat.conftest import (
    apost_as_visitor,
    avisit,
    claim,
    connect_room,
    joined,
    make,
    next_frame,
    post_before_history_read,
    queue_joined,
    receive_until,
    room,
    say,
)
from tests.conftest import connect_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_closed_with(path: str, code: int, **kwargs: Any) -> None:
    communicator, connected, _ = await connect_room(path, **kwargs)
    assert connected
    try:
        assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": code}
    finally:
        # Let the consumer finish on this test's event loop (a Redis layer receive left pending
        # would hold a lock bound to a loop that no longer runs).
        await communicator.disconnect()


@database_sync_to_async
def messages_of(visitor: Any) -> list[tuple[str, str, str | None]]:
    return list(
        Message.objects.filter(help_request__public_id=visitor.public_id)
        .order_by("id")
        .values_list("author_kind", "body", "client_id")
    )


@database_sync_to_async
def notifications_of(user: Any, kind: str) -> list[Notification]:
    return list(Notification.objects.filter(recipients__user=user, kind=kind).order_by("id"))


# -- who may join ----------------------------------------------------------------------------------


async def test_unknown_public_id_is_closed_with_4404(make_user: Any) -> None:
    staff = await make(make_user, roles=(Role.STAFF,))
    await assert_closed_with(room(str(uuid.uuid4())), 4404, user=staff)


async def test_malformed_public_id_is_closed_with_4404() -> None:
    await assert_closed_with(room("12"), 4404)
    await assert_closed_with(room("not-a-uuid"), 4404)


async def test_owning_session_joins_and_gets_history_then_presence(sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    history, presence = await joined(socket)
    assert history == {
        "type": "history",
        "help_request": {
            "public_id": visitor.public_id,
            "status": "waiting",
            "queue_position": 1,
            "assigned_to": None,
            "urgent": False,
        },
        "messages": [],
        "has_more": False,
        "read": [],
        # Nobody has the queue open: no estimate, and no opening hours set (always open).
        "wait_estimate": {
            "type": "wait_estimate",
            "queue_position": 1,
            "low_minutes": None,
            "high_minutes": None,
            "helpers_available": 0,
            "next_opening": None,
        },
    }
    assert presence == {"type": "presence", "participants": [{"kind": "visitor", "name": "Alice"}]}


async def test_token_holder_joins_without_the_session(token_sockets: Any) -> None:
    visitor = await avisit()
    socket = await token_sockets(visitor.path, visitor.token)
    history, _ = await joined(socket)
    assert history["help_request"]["public_id"] == visitor.public_id


async def test_a_token_in_the_url_is_not_believed() -> None:
    visitor = await avisit()
    await assert_closed_with(room(visitor.public_id, token=visitor.token), 4403)


async def test_nobody_without_session_token_or_role_may_join(make_user: Any) -> None:
    visitor = await avisit()
    await assert_closed_with(visitor.path, 4403)
    await assert_closed_with(visitor.path, 4403, user=await make(make_user, roles=(Role.DONOR,)))
    await assert_closed_with(visitor.path, 4403, user=await make(make_user))


async def test_a_visitor_can_never_join_another_visitors_request() -> None:
    alice = await avisit(name="Alice")
    bob = await avisit(name="Bob")
    # Alice's own session, Alice's token, guessed and mangled tokens: none opens Bob's room.
    await assert_closed_with(bob.path, 4403, cookie=alice.cookie)
    await assert_closed_with(bob.path, 4403, token=alice.token, cookie=alice.cookie)
    await assert_closed_with(bob.path, 4403, token=alice.token)
    await assert_closed_with(bob.path, 4403, token=bob.token[:-1] + ("A" if bob.token[-1] != "A" else "B"))
    await assert_closed_with(bob.path, 4403, token="")
    await assert_closed_with(bob.path, 4403, token="x" * 500)
    # A token is bound to its request: Bob's token does not open Alice's room for Bob's session either.
    await assert_closed_with(alice.path, 4403, token=bob.token, cookie=bob.cookie)


async def test_staff_join_any_room_and_only_the_assigned_volunteer_joins(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    staff = await make(make_user, roles=(Role.STAFF,))
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    victor = await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    await joined(await sockets(visitor.path, user=staff))
    await assert_closed_with(visitor.path, 4403, user=vera)  # waiting: no volunteer yet
    await claim(visitor, vera)
    await joined(await sockets(visitor.path, user=vera))
    await assert_closed_with(visitor.path, 4403, user=victor)


async def test_inactive_staff_may_not_join(make_user: Any) -> None:
    visitor = await avisit()
    staff = await make(make_user, roles=(Role.STAFF,), is_active=False)
    await assert_closed_with(visitor.path, 4403, cookie=await _forced_cookie(staff))


@database_sync_to_async
def _forced_cookie(user: Any) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)  # works for inactive users; the socket still resolves them as anonymous
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def test_foreign_or_missing_origin_is_refused_at_handshake() -> None:
    visitor = await avisit()
    _, connected, _ = await connect_socket(visitor.path, cookie=visitor.cookie, origin=b"http://evil.example")
    assert not connected
    _, connected, _ = await connect_socket(visitor.path, cookie=visitor.cookie, origin=None)
    assert not connected


# -- history ---------------------------------------------------------------------------------------


async def test_history_is_the_last_messages_oldest_first(sockets: Any, settings: Any) -> None:
    settings.CHAT_HISTORY_LIMIT = 3
    visitor = await avisit()
    sent = [await apost_as_visitor(visitor, f"m{i}") for i in range(5)]
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(socket)
    assert [m["id"] for m in history["messages"]] == [m.pk for m in sent[2:]]
    assert history["has_more"] is True


async def test_default_history_limit_is_fifty(sockets: Any) -> None:
    visitor = await avisit()
    sent = [await apost_as_visitor(visitor, f"m{i}") for i in range(52)]
    history, _ = await joined(await sockets(visitor.path, cookie=visitor.cookie))
    assert [m["id"] for m in history["messages"]] == [m.pk for m in sent[2:]]


async def test_after_returns_every_message_after_the_id(sockets: Any, settings: Any) -> None:
    settings.CHAT_HISTORY_LIMIT = 2
    visitor = await avisit()
    sent = [await apost_as_visitor(visitor, f"m{i}") for i in range(6)]
    socket = await sockets(room(visitor.public_id, after=sent[0].pk), cookie=visitor.cookie)
    history, _ = await joined(socket)
    assert [m["body"] for m in history["messages"]] == ["m1", "m2", "m3", "m4", "m5"]
    assert history["has_more"] is False


async def test_after_is_capped_and_says_so(sockets: Any, settings: Any) -> None:
    settings.CHAT_REPLAY_LIMIT = 2
    visitor = await avisit()
    sent = [await apost_as_visitor(visitor, f"m{i}") for i in range(4)]
    history, _ = await joined(await sockets(room(visitor.public_id, after=0), cookie=visitor.cookie))
    assert [m["id"] for m in history["messages"]] == [sent[0].pk, sent[1].pk]
    assert history["has_more"] is True


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "9" * 30, "%C2%B2"])
async def test_bad_after_gets_an_error_frame_then_the_latest_history(sockets: Any, after: str) -> None:
    visitor = await avisit()
    await apost_as_visitor(visitor, "hello")
    socket = await sockets(room(visitor.public_id, after=after), cookie=visitor.cookie)
    error = await next_frame(socket)
    assert error["type"] == "error" and error["code"] == "invalid" and "after" in error["detail"]
    history, _ = await joined(socket)
    assert [m["body"] for m in history["messages"]] == ["hello"]


async def test_history_carries_read_cursors(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    message = await apost_as_visitor(visitor, "hello")
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await socket.send_json_to({"type": "read", "up_to": message.pk})
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    history, _ = await joined(staff)
    assert history["read"] == [{"type": "read", "author": {"kind": "visitor", "name": "Alice"}, "up_to": message.pk}]


# -- messages --------------------------------------------------------------------------------------


async def test_message_is_persisted_and_sent_to_everyone_including_the_sender(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    staff_user = await make(make_user, "sam", roles=(Role.STAFF,), first_name="Sam", last_name="Jones")
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    staff = await sockets(visitor.path, user=staff_user)
    await joined(staff)
    await next_frame(mine)  # presence: staff joined
    await say(mine, "  Hello, I need help  ", "c-1")
    to_me, to_staff = await next_frame(mine), await next_frame(staff)
    assert to_me == to_staff
    assert to_me["client_id"] == "c-1" and to_me["body"] == "Hello, I need help"
    assert to_me["author"] == {"kind": "visitor", "name": "Alice"}
    await say(staff, "We are here", "s-1")
    reply = await next_frame(mine)
    assert reply["author"] == {"kind": "staff", "name": "Sam Jones"} and reply["id"] > to_me["id"]
    assert await next_frame(staff) == reply
    assert await messages_of(visitor) == [("visitor", "Hello, I need help", "c-1"), ("staff", "We are here", "s-1")]


async def test_resending_a_client_id_returns_the_original_and_creates_nothing(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    await next_frame(mine)  # presence
    await say(mine, "first", "same-id")
    original = await next_frame(mine)
    assert (await next_frame(staff))["id"] == original["id"]
    await say(mine, "a different body", "same-id")
    assert await next_frame(mine) == original
    assert await staff.receive_nothing(timeout=0.3)
    assert await messages_of(visitor) == [("visitor", "first", "same-id")]


async def test_a_client_id_is_per_request(sockets: Any) -> None:
    alice, bob = await avisit(name="Alice"), await avisit(name="Bob")
    a = await sockets(alice.path, cookie=alice.cookie)
    b = await sockets(bob.path, cookie=bob.cookie)
    await joined(a)
    await joined(b)
    await say(a, "from alice", "shared")
    await say(b, "from bob", "shared")
    assert (await next_frame(a))["body"] == "from alice"
    assert (await next_frame(b))["body"] == "from bob"


async def test_resend_after_reconnect_never_duplicates(sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await say(socket, "are you there?", "retry-1")
    original = await next_frame(socket)
    await socket.disconnect()
    again = await sockets(room(visitor.public_id, after=original["id"]), cookie=visitor.cookie)
    history, _ = await joined(again)
    assert history["messages"] == []
    await say(again, "are you there?", "retry-1")
    assert await next_frame(again) == original
    assert await messages_of(visitor) == [("visitor", "are you there?", "retry-1")]


async def test_body_is_trimmed_and_may_be_exactly_4000_characters(sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await say(socket, "\n  " + "é" * 4000 + "  \t", "long")
    frame = await next_frame(socket)
    assert frame["type"] == "message" and frame["body"] == "é" * 4000


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "body": "", "client_id": "a"},
        {"type": "message", "body": "   \n\t ", "client_id": "a"},
        {"type": "message", "body": "x" * 4001, "client_id": "a"},
        {"type": "message", "body": 5, "client_id": "a"},
        {"type": "message", "body": None, "client_id": "a"},
        {"type": "message", "body": ["hi"], "client_id": "a"},
        {"type": "message", "body": "nul \u0000 inside", "client_id": "a"},
        {"type": "message", "body": "lone \ud800", "client_id": "a"},
        {"type": "message", "client_id": "a"},
        {"type": "message", "body": "hi"},
        {"type": "message", "body": "hi", "client_id": ""},
        {"type": "message", "body": "hi", "client_id": "has space"},
        {"type": "message", "body": "hi", "client_id": "x" * 65},
        {"type": "message", "body": "hi", "client_id": 7},
        {"type": "message", "body": "hi", "client_id": None},
        {"type": "read"},
        {"type": "read", "up_to": "5"},
        {"type": "read", "up_to": 0},
        {"type": "read", "up_to": True},
        {"type": "read", "up_to": 1.5},
        {"type": "read", "up_to": 2**63},
        {"type": "read", "up_to": 999_999_999},  # no such message in this request
    ],
    ids=lambda frame: json.dumps(frame)[:60],
)
async def test_bad_client_frames_get_an_invalid_error_and_create_nothing(sockets: Any, frame: dict[str, Any]) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await socket.send_to(text_data=json.dumps(frame))
    error = await next_frame(socket)
    assert error["type"] == "error" and error["code"] == "invalid" and error["detail"]
    assert await socket.receive_nothing(timeout=0.1)
    await socket.send_json_to({"type": "ping"})
    assert await next_frame(socket) == {"type": "pong"}
    assert await messages_of(visitor) == []


BAD_FRAMES: list[tuple[str, str]] = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_frame"),
    ('"message"', "bad_frame"),
    ("{}", "bad_frame"),
    ('{"type": null}', "bad_frame"),
    ('{"type": "launch"}', "unknown_type"),
    ('{"type": "history"}', "unknown_type"),
    ('{"type": "status", "status": "resolved"}', "unknown_type"),
    ('{"type": "chat.message", "id": 1, "frame": "{}"}', "unknown_type"),
    ('{"type": "chat.status", "assignee_id": null, "frame": {}}', "unknown_type"),
    ('{"type": "websocket.disconnect", "code": 1000}', "unknown_type"),
    ("[" * 60_000, "bad_json"),
]


@pytest.mark.parametrize(("text", "code"), BAD_FRAMES, ids=[f"{code}-{i}" for i, (_, code) in enumerate(BAD_FRAMES)])
async def test_bad_input_gets_one_error_frame_and_the_socket_stays_open(sockets: Any, text: str, code: str) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await socket.send_to(text_data=text)
    error = await next_frame(socket)
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    assert await socket.receive_nothing(timeout=0.1)
    await say(socket, "still here", "after-error")
    assert (await next_frame(socket))["body"] == "still here"


async def test_binary_frame_gets_an_error_frame(sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await next_frame(socket))["code"] == "binary_unsupported"
    await socket.send_json_to({"type": "ping"})
    assert await next_frame(socket) == {"type": "pong"}


async def test_oversized_frame_gets_an_error_and_closes_4413(sockets: Any, settings: Any) -> None:
    settings.REALTIME_MAX_FRAME_BYTES = 1024
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await say(socket, "x" * 2000, "big")
    assert (await next_frame(socket))["code"] == "too_large"
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4413}


@pytest.mark.parametrize("final_status", [Status.RESOLVED, Status.CLOSED])
async def test_resolved_or_closed_room_is_read_only(make_user: Any, sockets: Any, final_status: str) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await say(socket, "before", "before")
    before = await next_frame(socket)
    await _finish(visitor, staff_user, final_status)
    frames = await receive_until(socket, "status")
    assert frames[-1]["status"] == final_status
    await say(socket, "after", "after")
    error = await next_frame(socket)
    assert error["type"] == "error" and error["code"] == "read_only"
    # A re-send of what was accepted before still gets the original back.
    await say(socket, "before", "before")
    assert await next_frame(socket) == before
    staff = await sockets(visitor.path, user=staff_user)
    history, _ = await joined(staff)
    assert history["help_request"]["status"] == final_status
    await say(staff, "staff too", "staff-after")
    assert (await next_frame(staff))["code"] == "read_only"
    assert [body for _, body, _ in await messages_of(visitor)][:1] == ["before"]
    assert "after" not in [body for _, body, _ in await messages_of(visitor)]


@database_sync_to_async
def _finish(visitor: Any, staff_user: Any, final_status: str) -> None:
    from chat.participants import user_participant

    by = user_participant(staff_user)
    if final_status == Status.RESOLVED:
        services.help_request_resolve(help_request=visitor.help_request(), by=by)
    else:
        services.help_request_close(help_request=visitor.help_request(), by=by)


# -- typing and read -------------------------------------------------------------------------------


async def test_typing_goes_to_the_others_only_and_is_throttled(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    my_other_tab = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    await joined(my_other_tab)
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    await next_frame(mine)
    await next_frame(my_other_tab)
    for _ in range(5):
        await mine.send_json_to({"type": "typing"})
    assert await next_frame(staff) == {"type": "typing", "author": {"kind": "visitor", "name": "Alice"}}
    assert await staff.receive_nothing(timeout=0.3)  # four dropped by the throttle
    assert await mine.receive_nothing(timeout=0.1)  # no error for the dropped ones, no echo
    assert await my_other_tab.receive_nothing(timeout=0.1)  # the same person
    assert await messages_of(visitor) == []


async def test_typing_throttle_is_per_interval(make_user: Any, sockets: Any, settings: Any) -> None:
    settings.CHAT_TYPING_INTERVAL = 0
    visitor = await avisit()
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    for _ in range(3):
        await mine.send_json_to({"type": "typing"})
    assert [(await next_frame(staff))["type"] for _ in range(3)] == ["typing"] * 3


async def test_read_is_persisted_and_sent_to_the_others(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    first = await apost_as_visitor(visitor, "one")
    second = await apost_as_visitor(visitor, "two")
    staff_user = await make(make_user, "sam", roles=(Role.STAFF,))
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    staff = await sockets(visitor.path, user=staff_user)
    await joined(staff)
    await next_frame(mine)
    await staff.send_json_to({"type": "read", "up_to": second.pk})
    assert await next_frame(mine) == {"type": "read", "author": {"kind": "staff", "name": "sam"}, "up_to": second.pk}
    assert await staff.receive_nothing(timeout=0.2)
    # A cursor never moves back, and a read that changes nothing tells nobody.
    await staff.send_json_to({"type": "read", "up_to": first.pk})
    assert await mine.receive_nothing(timeout=0.3)
    cursors = await database_sync_to_async(lambda: list(ReadCursor.objects.values_list("participant", "up_to")))()
    assert cursors == [(f"user:{staff_user.pk}", second.pk)]


async def test_read_of_another_requests_message_is_refused(sockets: Any) -> None:
    alice, bob = await avisit(), await avisit()
    bobs = await apost_as_visitor(bob, "bob's")
    socket = await sockets(alice.path, cookie=alice.cookie)
    await joined(socket)
    await socket.send_json_to({"type": "read", "up_to": bobs.pk})
    assert (await next_frame(socket))["code"] == "invalid"
    assert not await database_sync_to_async(ReadCursor.objects.exists)()


# -- presence --------------------------------------------------------------------------------------


async def test_presence_on_join_and_leave_and_tabs_count_once(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    alice = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(alice)
    tab1 = await sockets(visitor.path, user=vera)
    _, presence = await joined(tab1)
    both = [{"kind": "visitor", "name": "Alice"}, {"kind": "volunteer", "name": "vera"}]
    assert presence["participants"] == both
    assert (await next_frame(alice))["participants"] == both
    tab2 = await sockets(visitor.path, user=vera)
    _, presence = await joined(tab2)
    assert presence["participants"] == both
    assert await alice.receive_nothing(timeout=0.3)  # the same person: nothing changed for Alice
    await tab1.disconnect()
    assert await alice.receive_nothing(timeout=0.3)  # vera is still here in another tab
    await tab2.disconnect()
    assert (await next_frame(alice))["participants"] == [{"kind": "visitor", "name": "Alice"}]


async def test_visitor_on_two_devices_is_one_participant(sockets: Any, token_sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    phone = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(phone)
    laptop = await token_sockets(visitor.path, visitor.token)
    _, presence = await joined(laptop)
    assert presence["participants"] == [{"kind": "visitor", "name": "Alice"}]


# -- status and the queue --------------------------------------------------------------------------


async def test_claim_sends_status_and_a_system_message_and_notifies_the_assignee(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await claim(visitor, vera)
    system = await next_frame(socket)
    assert system["type"] == "message" and system["author"]["kind"] == "system" and system["client_id"] is None
    assert "vera" in system["body"]
    assert await next_frame(socket) == {
        "type": "status",
        "status": "assigned",
        "queue_position": None,
        "assigned_to": {"kind": "volunteer", "name": "vera"},
    }
    [notification] = await notifications_of(vera, "help_request.assigned")
    assert notification.data["public_id"] == visitor.public_id


async def test_when_a_request_leaves_the_queue_everyone_behind_moves_up(make_user: Any, sockets: Any) -> None:
    first, second, third = await avisit(), await avisit(), await avisit()
    vera = await make(make_user, roles=(Role.VOLUNTEER,))
    rooms = []
    for visitor, position in ((first, 1), (second, 2), (third, 3)):
        socket = await sockets(visitor.path, cookie=visitor.cookie)
        history, _ = await joined(socket)
        assert history["help_request"]["queue_position"] == position
        rooms.append(socket)
    await claim(second, vera)
    assert await next_frame(rooms[2]) == {
        "type": "status",
        "status": "waiting",
        "queue_position": 2,
        "assigned_to": None,
    }
    # Then its waiting room's place and estimate (tests/chat/test_waiting_room.py).
    wait = await next_frame(rooms[2])
    assert wait["type"] == "wait_estimate" and wait["queue_position"] == 2
    assert await rooms[0].receive_nothing(timeout=0.3)  # ahead of it: unchanged
    await claim(first, vera)
    assert (await next_frame(rooms[2]))["queue_position"] == 1


async def test_assign_by_staff_notifies_and_a_reassigned_volunteer_is_shown_out(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    victor = await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    assign = database_sync_to_async(services.help_request_assign)
    await assign(help_request=await database_sync_to_async(visitor.help_request)(), assignee=vera, by=staff_user)
    vera_socket = await sockets(visitor.path, user=vera)
    await joined(vera_socket)
    await assign(help_request=await database_sync_to_async(visitor.help_request)(), assignee=victor, by=staff_user)
    frames = await receive_until(vera_socket, "status")
    assert frames[-1]["assigned_to"] == {"kind": "volunteer", "name": "victor"}
    assert await vera_socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}
    assert len(await notifications_of(vera, "help_request.assigned")) == 1
    assert len(await notifications_of(victor, "help_request.assigned")) == 1


async def test_a_reassigned_volunteer_cannot_write_even_before_the_socket_closes(make_user: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    victor = await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)

    def write_as_vera() -> None:
        from chat.participants import user_participant

        help_request = visitor.help_request()
        services.help_request_assign(help_request=help_request, assignee=victor, by=staff_user)
        with pytest.raises(services.ChatError) as error:
            services.message_post(
                help_request_id=help_request.pk, participant=user_participant(vera), body="hi", client_id="v"
            )
        assert error.value.code == "forbidden"

    await database_sync_to_async(write_as_vera)()


# -- notifications to an absent assignee -------------------------------------------------------------


async def test_absent_assignee_gets_one_notification_per_quiet_period(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    for i in range(3):
        await say(socket, f"hello {i}", f"c{i}")
        assert (await next_frame(socket))["body"] == f"hello {i}"
    [notification] = await notifications_of(vera, "help_request.message")
    assert notification.title == "New message from Alice" and notification.body == "hello 0"
    assert notification.data["url"] == f"/help/{visitor.public_id}/"


async def test_after_the_quiet_period_the_assignee_is_told_again(make_user: Any, sockets: Any, settings: Any) -> None:
    settings.CHAT_NOTIFY_QUIET_PERIOD = 0
    visitor = await avisit()
    vera = await make(make_user, roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    for i in range(2):
        await say(socket, f"hello {i}", f"c{i}")
        await next_frame(socket)
    assert len(await notifications_of(vera, "help_request.message")) == 2


async def test_present_assignee_gets_no_notification_and_helpers_messages_notify_nobody(
    make_user: Any, sockets: Any
) -> None:
    visitor = await avisit()
    vera = await make(make_user, roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    hers = await sockets(visitor.path, user=vera)
    await joined(hers)
    await next_frame(mine)
    await say(mine, "are you there?", "v1")
    await next_frame(mine)
    await say(hers, "yes", "h1")
    await next_frame(mine)
    assert await notifications_of(vera, "help_request.message") == []


async def test_waiting_request_messages_notify_nobody(sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await say(socket, "hello?", "c1")
    await next_frame(socket)
    assert not await database_sync_to_async(Notification.objects.filter(kind="help_request.message").exists)()


# -- losing nothing --------------------------------------------------------------------------------


async def test_reconnecting_with_after_returns_exactly_the_missed_messages_once(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    alice = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(alice)
    hers = await sockets(visitor.path, user=vera)
    await joined(hers)
    await next_frame(alice)  # presence
    await say(alice, "before", "b")
    seen = await next_frame(hers)
    await next_frame(alice)
    await hers.disconnect()
    assert (await next_frame(alice))["type"] == "presence"
    missed = []
    for i in range(3):
        await say(alice, f"missed {i}", f"m{i}")
        missed.append(await next_frame(alice))
    back = await sockets(room(visitor.public_id, after=seen["id"]), user=vera)
    history, _ = await joined(back)
    assert history["messages"] == missed
    await say(alice, "live", "l")
    live = await next_frame(back)
    assert live["body"] == "live"
    assert await back.receive_nothing(timeout=0.3)


async def test_rolled_back_message_is_never_sent(sockets: Any) -> None:
    from django.db import transaction

    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)

    def rolled_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            help_request = visitor.help_request()
            services.message_post(
                help_request_id=help_request.pk,
                participant=visitor_participant(help_request),
                body="never",
                client_id="x",
            )
            raise RuntimeError("rollback")

    await database_sync_to_async(rolled_back)()
    assert await socket.receive_nothing(timeout=0.5)
    assert await messages_of(visitor) == []


async def test_history_and_live_overlap_never_doubles(sockets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message committed between the join and the history read is sent once, not twice."""
    visitor = await avisit()
    post_before_history_read(monkeypatch, visitor)
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(socket)
    assert [m["body"] for m in history["messages"]] == ["raced"]
    assert await socket.receive_nothing(timeout=0.3)


# -- heartbeat ---------------------------------------------------------------------------------------


async def test_silent_socket_is_closed_and_leaves_presence(make_user: Any, sockets: Any, settings: Any) -> None:
    visitor = await avisit(name="Alice")
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    settings.REALTIME_HEARTBEAT_TIMEOUT = 0.5
    silent = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(silent)
    assert [p["kind"] for p in (await next_frame(staff))["participants"]] == ["visitor", "staff"]
    assert await silent.receive_output(timeout=3) == {"type": "websocket.close", "code": 4408}
    await silent.disconnect()
    assert [p["kind"] for p in (await next_frame(staff, timeout=5))["participants"]] == ["staff"]


async def test_help_request_model_is_untouched_by_a_join(sockets: Any) -> None:
    visitor = await avisit()
    before = await database_sync_to_async(lambda: HelpRequest.objects.values().get(public_id=visitor.public_id))()
    await joined(await sockets(visitor.path, cookie=visitor.cookie))
    after = await database_sync_to_async(lambda: HelpRequest.objects.values().get(public_id=visitor.public_id))()
    assert before == after


# -- the queue socket --------------------------------------------------------------------------------

QUEUE = "/ws/help-requests/queue/"


async def test_queue_socket_is_for_volunteers_and_staff(make_user: Any) -> None:
    await assert_closed_with(QUEUE, 4401)
    await assert_closed_with(QUEUE, 4403, user=await make(make_user, roles=(Role.DONOR,)))
    await assert_closed_with(QUEUE, 4403, user=await make(make_user))
    visitor = await avisit()
    await assert_closed_with(QUEUE, 4401, cookie=visitor.cookie)


async def test_queue_snapshot_then_live_changes(make_user: Any, sockets: Any) -> None:
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    victor = await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    staff_user = await make(make_user, roles=(Role.STAFF,))
    first, second = await avisit(name="First"), await avisit(name="Second <b>")
    await claim(first, victor)
    vera_queue = await sockets(QUEUE, user=vera)
    staff_queue = await sockets(QUEUE, user=staff_user)
    snapshot, _ = await queue_joined(vera_queue)
    # A volunteer sees what waits and what is theirs, not others' requests.
    assert [(i["name"], i["status"], i["queue_position"]) for i in snapshot["help_requests"]] == [
        ("Second <b>", "waiting", 1)
    ]
    assert (snapshot["waiting"], snapshot["limit"]) == (1, 50)
    staff_snapshot, _ = await queue_joined(staff_queue)
    assert [(i["name"], i["status"]) for i in staff_snapshot["help_requests"]] == [
        ("Second <b>", "waiting"),
        ("First", "assigned"),
    ]
    third = await avisit(name="Third")
    for socket in (vera_queue, staff_queue):
        item = await next_frame(socket)
        assert item["type"] == "queue.item" and item["help_request"]["public_id"] == third.public_id
        assert item["help_request"]["queue_position"] == 2 and item["waiting"] == 2
    await claim(second, victor)
    assert await next_frame(vera_queue) == {"type": "queue.removed", "public_id": second.public_id, "waiting": 1}
    staff_item = await next_frame(staff_queue)
    assert staff_item["help_request"]["status"] == "assigned"
    assert staff_item["help_request"]["assigned_to"] == {"kind": "volunteer", "name": "victor"}
    await claim(third, vera)
    desk, mine = await next_frame(vera_queue), await next_frame(vera_queue)
    assert [item["public_id"] for item in desk["help_requests"]] == [third.public_id]
    assert mine["help_request"]["status"] == "assigned" and mine["help_request"]["public_id"] == third.public_id


async def test_the_queue_snapshot_is_one_page_with_the_count_and_short_descriptions(
    make_user: Any, sockets: Any, settings: Any
) -> None:
    settings.CHAT_QUEUE_PAGE_SIZE = 3
    vera = await make(make_user, roles=(Role.VOLUNTEER,))
    visitors = [await avisit(name=f"v{i}", description="x" * 4000) for i in range(5)]
    socket = await sockets(QUEUE, user=vera)
    snapshot, _ = await queue_joined(socket)
    assert [item["public_id"] for item in snapshot["help_requests"]] == [v.public_id for v in visitors[:3]]
    assert [item["queue_position"] for item in snapshot["help_requests"]] == [1, 2, 3]
    assert (snapshot["waiting"], snapshot["limit"]) == (5, 3)
    item = snapshot["help_requests"][0]
    assert item["description"] == "x" * 280 and item["description_truncated"] is True


async def test_queue_socket_answers_pings_and_refuses_other_frames(make_user: Any, sockets: Any) -> None:
    socket = await sockets(QUEUE, user=await make(make_user, roles=(Role.VOLUNTEER,)))
    await queue_joined(socket)
    await socket.send_json_to({"type": "message", "body": "hi", "client_id": "x"})
    assert (await next_frame(socket))["code"] == "unknown_type"
    await socket.send_json_to({"type": "ping"})
    assert await next_frame(socket) == {"type": "pong"}


# -- access taken away ---------------------------------------------------------------------------


async def test_staff_who_lose_staff_status_are_shown_out(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    socket = await sockets(visitor.path, user=staff_user)
    await joined(socket)

    def demote() -> None:
        staff_user.is_staff = False
        staff_user.save()

    await database_sync_to_async(demote)()
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


async def test_logging_out_closes_that_sessions_room_sockets(make_user: Any, sockets: Any) -> None:
    from django.conf import settings
    from django.test import Client

    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    client = Client()
    await database_sync_to_async(client.force_login)(staff_user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    socket = await sockets(visitor.path, cookie=cookie)
    await joined(socket)
    await database_sync_to_async(client.post)("/accounts/logout/")
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_a_password_change_closes_the_persons_room_and_queue_sockets(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    room_socket = await sockets(visitor.path, user=staff_user)
    await joined(room_socket)
    queue_socket = await sockets(QUEUE, user=staff_user)
    await queue_joined(queue_socket)

    def change_password() -> None:
        staff_user.set_password("a-new-pw-for-tests-2")
        staff_user.save()

    await database_sync_to_async(change_password)()
    for socket in (room_socket, queue_socket):
        assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_typing_does_not_spend_the_frame_budget(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    for _ in range(60):
        await socket.send_json_to({"type": "typing"})
    assert await socket.receive_nothing(timeout=0.3)  # no rate_limited error
    await say(socket, "still allowed", "s")
    assert (await next_frame(socket))["body"] == "still allowed"


# -- the visitor's cap of open connections -------------------------------------------------------


async def test_a_visitor_may_hold_only_so_many_connections_to_one_room(
    settings: Any, sockets: Any, make_user: Any
) -> None:
    from tests.chat.test_sse import open_room_stream, stream_path

    settings.CHAT_VISITOR_CONNECTIONS = 2
    visitor = await avisit()
    tab = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(tab)
    stream = await open_room_stream(stream_path(visitor.public_id), cookie=visitor.cookie)
    try:
        assert (await stream.event())["data"]["type"] == "history"  # streams count too
        refused, connected, _ = await connect_room(visitor.path, cookie=visitor.cookie)
        assert connected
        error = json.loads((await refused.receive_output(timeout=3))["text"])
        assert error["type"] == "error" and error["code"] == "rate_limited"
        assert await refused.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}
        await refused.disconnect()
        refused_stream = await open_room_stream(stream_path(visitor.public_id), cookie=visitor.cookie)
        assert (await refused_stream.event())["data"]["code"] == "rate_limited"
        assert (await refused_stream.event())["data"] == {"code": 4429}
        await refused_stream.close()
        # Staff are not the visitor: they still join.
        staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
        await joined(staff)
    finally:
        await stream.close()
    # A connection that left frees its place.
    await tab.disconnect()
    again = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(again)
