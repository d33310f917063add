"""Visitor credentials (chat.visitors): a secret stored hashed, rotated, revoked, ending; connect
tickets; sessions that end with the browser; and every path (page, API, socket, SSE) refusing a
proof that no longer holds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from django.utils import timezone

from charity.roles import Role
from chat import services, visitors
from chat.models import HelpRequest, Status
from tests.chat.conftest import Visitor, avisit, connect_room, joined, make, open_help_request
from tests.chat.test_sse import open_room_stream, stream_path

pytestmark = pytest.mark.django_db(transaction=True)


def api(public_id: str, suffix: str = "") -> str:
    return f"/api/help-requests/{public_id}/{suffix}"


def ticket_for(visitor: Visitor) -> str:
    response = Client(HTTP_X_HELP_REQUEST_TOKEN=visitor.token).post(api(visitor.public_id, "ticket/"))
    assert response.status_code == 200, response.content
    return str(response.json()["ticket"])


def end_access(visitor: Visitor, *, days_ago: float) -> None:
    """Resolved ``days_ago`` days ago (by staff: the secret itself stays)."""
    HelpRequest.objects.filter(public_id=visitor.public_id).update(
        status=Status.RESOLVED, resolved_at=timezone.now() - timedelta(days=days_ago)
    )


# -- what each path says to a proof ----------------------------------------------------------------


def page_with_link(visitor: Visitor) -> int:
    """The private link on a fresh device: 302 (made an owner) or 403."""
    return int(Client().get(f"/help/{visitor.public_id}/?token={visitor.token}").status_code)


def api_with_token(visitor: Visitor) -> int:
    return int(Client(HTTP_X_HELP_REQUEST_TOKEN=visitor.token).get(api(visitor.public_id)).status_code)


async def socket_close_code(visitor: Visitor, **proof: Any) -> int | None:
    """None when the socket joined, else the code it was closed with."""
    ticket = proof.pop("ticket", None)
    path = visitor.path + (f"?ticket={ticket}" if ticket else "")
    communicator, connected, _ = await connect_room(path, **proof)
    assert connected
    try:
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return int(output["code"])
        return None
    finally:
        await communicator.disconnect()


async def stream_close_code(visitor: Visitor, **proof: Any) -> int | None:
    ticket = proof.pop("ticket", None)
    path = stream_path(visitor.public_id, **({"ticket": ticket} if ticket else {}))
    stream = await open_room_stream(path, **proof)
    try:
        event = await stream.event()
        return int(event["data"]["code"]) if event.get("event") == "close" else None
    finally:
        await stream.close()


async def every_path(visitor: Visitor) -> dict[str, Any]:
    return {
        "page": await database_sync_to_async(page_with_link)(visitor),
        "api": await database_sync_to_async(api_with_token)(visitor),
        "socket": await socket_close_code(visitor, token=visitor.token),
        "stream": await stream_close_code(visitor, token=visitor.token),
        "session page": (await database_sync_to_async(visitor.client.get)(f"/help/{visitor.public_id}/")).status_code,
        "session socket": await socket_close_code(visitor, cookie=visitor.cookie),
    }


OPEN = {"page": 302, "api": 200, "socket": None, "stream": None, "session page": 200, "session socket": None}
SHUT = {"page": 403, "api": 403, "socket": 4403, "stream": 4403, "session page": 403, "session socket": 4403}


async def test_a_live_token_and_session_open_every_path() -> None:
    assert await every_path(await avisit()) == OPEN


async def test_access_ends_after_the_window_on_every_path(settings: Any) -> None:
    settings.CHAT_VISITOR_ACCESS_AFTER_END = 7 * 24 * 3600
    within, past = await avisit(), await avisit()
    await database_sync_to_async(end_access)(within, days_ago=6.9)
    await database_sync_to_async(end_access)(past, days_ago=7.1)
    assert await every_path(within) == OPEN  # read-only, but still theirs
    assert await every_path(past) == SHUT


async def test_closing_by_the_visitor_revokes_the_token_and_the_sessions() -> None:
    visitor = await avisit()
    other_device = Client()
    await database_sync_to_async(other_device.get)(f"/help/{visitor.public_id}/?token={visitor.token}")
    closed = await database_sync_to_async(visitor.client.post)(api(visitor.public_id, "close/"))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert await every_path(visitor) == SHUT
    assert (await database_sync_to_async(other_device.get)(f"/help/{visitor.public_id}/")).status_code == 403


async def test_closing_by_staff_leaves_the_visitor_read_access_for_the_window(make_user: Any) -> None:
    visitor = await avisit()
    staff = await make(make_user, roles=(Role.STAFF,))
    client = Client()
    await database_sync_to_async(client.force_login)(staff)
    assert (await database_sync_to_async(client.post)(f"/help/{visitor.public_id}/close/")).status_code == 302
    assert await every_path(visitor) == OPEN


async def test_rotation_ends_the_old_token_other_sessions_and_open_connections() -> None:
    visitor = await avisit()
    phone = Client()
    await database_sync_to_async(phone.get)(f"/help/{visitor.public_id}/?token={visitor.token}")
    socket, connected, _ = await connect_room(visitor.path, token=visitor.token)
    assert connected
    await joined(socket)
    rotated = await database_sync_to_async(visitor.client.post)(api(visitor.public_id, "token/"))
    assert rotated.status_code == 200
    new_token = rotated.json()["token"]
    assert new_token != visitor.token
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}
    await socket.disconnect()
    old = {**(await every_path(visitor)), "session page": None, "session socket": None}
    assert old == {**SHUT, "session page": None, "session socket": None}
    # The phone's session relied on the old token; the rotating browser stays an owner.
    assert (await database_sync_to_async(phone.get)(f"/help/{visitor.public_id}/")).status_code == 403
    assert (await database_sync_to_async(visitor.client.get)(f"/help/{visitor.public_id}/")).status_code == 200
    fresh = Visitor(client=visitor.client, public_id=visitor.public_id, token=new_token, data={})
    assert await every_path(fresh) == OPEN


def test_the_page_makes_a_new_private_link_and_shows_it_once() -> None:
    visitor = open_help_request()
    page = visitor.client.post(f"/help/{visitor.public_id}/new-link/", follow=True)
    link = re.search(r"\?token=([\w-]+)", page.content.decode())
    assert page.status_code == 200 and link is not None
    assert visitors.token_is_valid(visitor.help_request(), link.group(1))
    assert not visitors.token_is_valid(visitor.help_request(), visitor.token)
    assert page.headers["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert "?token=" not in visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    # Nobody else may rotate it: not another visitor, not staff (they have no private link).
    other = open_help_request()
    assert other.client.post(f"/help/{visitor.public_id}/new-link/").status_code == 403
    assert Client().post(api(visitor.public_id, "token/"), HTTP_X_HELP_REQUEST_TOKEN=other.token).status_code == 403


def test_a_plain_secret_is_never_kept_in_the_session() -> None:
    client = Client()
    created = client.post("/help/new/", {"name": "Alice", "description": "Need food", "category": "food"})
    token = re.search(r"\?token=([\w-]+)", client.get(created["Location"]).content.decode())
    assert token is not None
    assert token.group(1) not in str(dict(client.session.items()))


# -- connect tickets -----------------------------------------------------------------------------


async def test_a_ticket_opens_one_socket_once() -> None:
    visitor = await avisit()
    ticket = await database_sync_to_async(ticket_for)(visitor)
    assert await socket_close_code(visitor, ticket=ticket) is None
    assert await socket_close_code(visitor, ticket=ticket) == 4403  # used


async def test_a_ticket_opens_one_stream_once() -> None:
    visitor = await avisit()
    ticket = await database_sync_to_async(ticket_for)(visitor)
    assert await stream_close_code(visitor, ticket=ticket) is None
    assert await stream_close_code(visitor, ticket=ticket) == 4403


async def test_a_ticket_is_bound_to_its_request_its_secret_and_its_time(settings: Any) -> None:
    alice, bob = await avisit(), await avisit()
    assert await socket_close_code(bob, ticket=await database_sync_to_async(ticket_for)(alice)) == 4403
    stale = await database_sync_to_async(ticket_for)(alice)
    await database_sync_to_async(alice.client.post)(api(alice.public_id, "token/"))
    assert await socket_close_code(alice, ticket=stale) == 4403  # minted under the old secret
    assert await socket_close_code(alice, ticket="made-up") == 4403
    settings.CHAT_TICKET_TTL = 1
    fresh = Visitor(client=alice.client, public_id=alice.public_id, token="", data={})
    session_ticket = await database_sync_to_async(fresh.client.post)(api(alice.public_id, "ticket/"))
    ticket = session_ticket.json()["ticket"]
    assert session_ticket.json()["expires_in"] == 1
    import asyncio

    await asyncio.sleep(2.1)
    assert await socket_close_code(alice, ticket=ticket) == 4403  # expired


def test_only_the_visitor_gets_tickets(make_user: Any) -> None:
    visitor = open_help_request()
    staff = Client()
    staff.force_login(make_user("sam", roles=(Role.STAFF,)))
    assert staff.post(api(visitor.public_id, "ticket/")).status_code == 403
    assert Client().post(api(visitor.public_id, "ticket/")).status_code == 403
    response = Client(HTTP_X_HELP_REQUEST_TOKEN=visitor.token).post(api(visitor.public_id, "ticket/"))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]


# -- the browser ---------------------------------------------------------------------------------


def test_an_anonymous_visitors_session_ends_with_the_browser() -> None:
    for path in ("/api/help-requests/", "/help/new/"):
        client = Client()
        body = {"name": "Alice", "description": "Need food", "category": "food"}
        if path.startswith("/api/"):
            client.post(path, data=body, content_type="application/json")
        else:
            client.post(path, body)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        assert cookie["max-age"] == "" and cookie["expires"] == "", path
    visitor = open_help_request()
    other_device = Client()
    other_device.get(f"/help/{visitor.public_id}/?token={visitor.token}")
    cookie = other_device.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""


def test_forget_this_device_removes_the_request_and_the_session() -> None:
    visitor = open_help_request()
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 200
    old_key = visitor.client.session.session_key
    assert Client().post(f"/help/{visitor.public_id}/forget/").status_code == 302  # nobody's: harmless
    forgotten = visitor.client.post(f"/help/{visitor.public_id}/forget/", follow=True)
    assert b"This device no longer has access" in forgotten.content
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 403
    assert visitor.client.session.session_key != old_key
    # The private link still brings them back.
    assert visitor.client.get(f"/help/{visitor.public_id}/?token={visitor.token}").status_code == 302


def test_forget_this_device_needs_csrf() -> None:
    visitor = open_help_request()
    strict = Client(enforce_csrf_checks=True)
    strict.get(f"/help/{visitor.public_id}/?token={visitor.token}")
    assert strict.post(f"/help/{visitor.public_id}/forget/").status_code == 403


def test_pages_and_answers_with_conversation_text_are_never_stored(make_user: Any) -> None:
    visitor = open_help_request()
    staff = Client()
    staff.force_login(make_user("sam", roles=(Role.STAFF,)))
    answers = [
        visitor.client.get(f"/help/{visitor.public_id}/"),
        staff.get(f"/help/{visitor.public_id}/"),
        staff.get("/help/queue/"),
        visitor.client.get(api(visitor.public_id)),
        visitor.client.get(api(visitor.public_id, "messages/")),
        Client().post("/api/help-requests/", data={"name": "B", "description": "x"}, content_type="application/json"),
    ]
    for response in answers:
        assert response.status_code in (200, 201), response
        assert "no-store" in response["Cache-Control"], response.wsgi_request.path


def test_a_private_link_of_an_ended_request_makes_nobody_an_owner() -> None:
    visitor = open_help_request()
    end_access(visitor, days_ago=30)
    device = Client()
    assert device.get(f"/help/{visitor.public_id}/?token={visitor.token}").status_code == 403
    assert not device.session.get(visitors.SESSION_KEY)


def test_sessions_written_before_grants_still_own_until_revoked() -> None:
    visitor = open_help_request()
    session = visitor.client.session
    session[visitors.SESSION_KEY] = [visitor.help_request().public_id.hex]  # the old format
    session.save()
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 200
    services.help_request_close(help_request=visitor.help_request(), by=_visitor_of(visitor))
    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 403


def _visitor_of(visitor: Visitor) -> Any:
    from chat.participants import visitor_participant

    return visitor_participant(visitor.help_request())


@pytest.mark.django_db
def test_a_session_from_before_grants_is_bound_on_first_use_and_ended_by_a_new_link() -> None:
    visitor = open_help_request()
    session = visitor.client.session
    session[visitors.SESSION_KEY] = [visitor.public_id.replace("-", "")]  # as the old code stored it
    session.save()
    copy = Client()  # someone who copied the cookie (the id was shown in the admin before 0002)
    copy.cookies[settings.SESSION_COOKIE_NAME] = visitor.client.cookies[settings.SESSION_COOKIE_NAME].value
    assert copy.get(f"/help/{visitor.public_id}/").status_code == 200

    assert visitor.client.post(f"/help/{visitor.public_id}/new-link/").status_code == 302

    assert visitor.client.get(f"/help/{visitor.public_id}/").status_code == 200
    assert copy.get(f"/help/{visitor.public_id}/").status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_a_new_link_made_while_a_socket_joins_still_reaches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret is replaced after the socket was identified but before it joined the room's group:
    the revocation event went out to a group it was not in yet, so the join checks again."""
    from chat.rooms import RoomMember

    visitor = await avisit()
    admit = RoomMember.room_admit

    async def admit_then_rotate(self: Any) -> bool:
        admitted = await admit(self)
        await database_sync_to_async(lambda: services.help_request_token_rotate(help_request=visitor.help_request()))()
        return admitted

    monkeypatch.setattr(RoomMember, "room_admit", admit_then_rotate)
    assert await socket_close_code(visitor, cookie=visitor.cookie) == 4403
