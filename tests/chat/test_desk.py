"""The helper's desk: their conversations with unread counts, on the queue socket, live."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from charity.roles import Role
from chat import selectors, services
from chat.participants import user_participant
from tests.chat.conftest import (
    apost_as_visitor,
    avisit,
    claim,
    joined,
    make,
    next_frame,
    post_as_visitor,
    queue_joined,
    say,
)

QUEUE = "/ws/help-requests/queue/"


async def drain(socket: Any) -> list[dict[str, Any]]:
    """Every frame the socket has been sent, until none comes for a moment."""
    frames = []
    while not await socket.receive_nothing(timeout=0.3):
        frames.append(await next_frame(socket))
    return frames


@pytest.mark.django_db
def test_the_desk_lists_a_helpers_open_conversations_with_what_they_have_not_read(visit: Any, helpers: Any) -> None:
    vera, sam = helpers()
    first, second, other = visit(name="First"), visit(name="Second"), visit(name="Other")
    for visitor in (first, second):
        services.help_request_claim(help_request=visitor.help_request(), user=vera)
    services.help_request_claim(help_request=other.help_request(), user=sam)
    read, unread = post_as_visitor(first, "one").pk, post_as_visitor(first, "two").pk
    services.message_post(
        help_request_id=first.help_request().pk, participant=user_participant(vera), body="mine", client_id="m"
    )
    services.read_mark(help_request_id=first.help_request().pk, participant=user_participant(vera), up_to=read)
    post_as_visitor(other, "not hers")

    desk = selectors.desk_for(user=vera)
    # Her own message and the system's "vera is now helping" do not count; the read one neither.
    assert [(room.name, ids) for room, ids in desk] == [("First", [unread]), ("Second", [])]
    services.help_request_resolve(help_request=second.help_request(), by=user_participant(vera))
    assert [room.name for room, _ in selectors.desk_for(user=vera)] == ["First"]


@pytest.mark.django_db(transaction=True)
async def test_the_desk_follows_messages_reads_and_assignments_live(make_user: Any, sockets: Any) -> None:
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    victor = await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    staff = await make(make_user, "sam", roles=(Role.STAFF,))
    alice = await avisit(name="Alice")
    await claim(alice, vera)
    vera_desk, victor_desk = await sockets(QUEUE, user=vera), await sockets(QUEUE, user=victor)
    _, desk = await queue_joined(vera_desk)
    assert [(item["name"], item["unread_ids"]) for item in desk["help_requests"]] == [("Alice", [])]
    await queue_joined(victor_desk)

    message = await apost_as_visitor(alice, "are you there?")
    frame = await next_frame(vera_desk)
    assert frame == {
        "type": "desk.message",
        "public_id": alice.public_id,
        "id": message.pk,
        "author": {"kind": "visitor", "name": "Alice"},
        "created_at": message.created_at.isoformat(),
    }
    assert "are you there?" not in str(frame)

    # She reads it in the room: every desk socket of hers learns it.
    room = await sockets(alice.path, user=vera)
    await joined(room)
    await room.send_json_to({"type": "read", "up_to": message.pk})
    assert await next_frame(vera_desk) == {"type": "desk.read", "public_id": alice.public_id, "up_to": message.pk}
    # Her own messages are not news to her desk.
    await say(room, "yes, I am here", "v1")
    assert await vera_desk.receive_nothing(timeout=0.3)

    # Staff give the request to victor: both desks change, only his gets the next message.
    await database_sync_to_async(services.help_request_assign)(
        help_request=await database_sync_to_async(alice.help_request)(), assignee=victor, by=staff
    )
    vera_frames, victor_frames = await drain(vera_desk), await drain(victor_desk)
    assert [f["help_requests"] for f in vera_frames if f["type"] == "desk"] == [[]]
    [victors] = [f["help_requests"] for f in victor_frames if f["type"] == "desk"]
    assert [item["name"] for item in victors] == ["Alice"]
    await apost_as_visitor(alice, "hello again")
    assert (await next_frame(victor_desk))["type"] == "desk.message"
    assert await vera_desk.receive_nothing(timeout=0.3)


@pytest.mark.django_db
def test_the_queue_page_shows_the_desk(visit: Any, helpers: Any) -> None:
    vera, _ = helpers()
    alice = visit(name="Alice <i>")
    services.help_request_claim(help_request=alice.help_request(), user=vera)
    post_as_visitor(alice, "one")
    post_as_visitor(alice, "two")
    client = Client()
    client.force_login(vera)
    page = client.get("/help/queue/").content.decode()
    assert "My conversations" in page
    assert "Alice &lt;i&gt;</a>" in page and "2 unread messages" in page
