"""The Server-Sent Events fallback of the help-request room (chat/sse.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import ApplicationCommunicator
from django.core.cache import cache
from django.test import Client

from charity.roles import Role
from chat import presence, services
from chat.participants import VISITOR_KEY
from tests.chat.conftest import (
    Visitor,
    apost_as_visitor,
    avisit,
    check_frame,
    joined,
    make,
    next_frame,
    post_before_history_read,
    say,
)
from tests.conftest import fresh_address, session_cookie_for, sse_scope
from tests.notifications.test_sse import SseClient

pytestmark = pytest.mark.django_db(transaction=True)


def stream_path(public_id: str, **query: Any) -> str:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/sse/help-requests/{public_id}/" + (f"?{suffix}" if suffix else "")


class RoomStream(SseClient):
    async def frame(self, timeout: float = 3) -> dict[str, Any]:
        """The next ``data:`` frame, checked against the socket's frame schema."""
        event = await self.event(timeout)
        assert "event" not in event, event
        return check_frame(event["data"])

    async def silent(self) -> bool:
        return "\n\n" not in self.buffer and await self.communicator.receive_nothing(timeout=0.3)


async def open_room_stream(
    path: str,
    *,
    user: Any = None,
    cookie: str | None = None,
    last_event_id: str | None = None,
    client: str = "127.0.0.1",
    token: str | None = None,
) -> RoomStream:
    from charity.asgi import application

    if user is not None:
        cookie = await database_sync_to_async(session_cookie_for)(user)
    scope = sse_scope(path, cookie=cookie, last_event_id=last_event_id, client=client)
    if token is not None:
        scope["headers"].append((b"x-help-request-token", token.encode()))
    stream = RoomStream(ApplicationCommunicator(application, scope))
    await stream.start()
    assert stream.status == 200 and stream.headers[b"content-type"].startswith(b"text/event-stream")
    return stream


@pytest.fixture
async def streams() -> Any:
    """Open streams with ``await streams(path, ...)``; all are closed at the end of the test."""
    opened: list[RoomStream] = []

    async def open_one(path: str, **kwargs: Any) -> RoomStream:
        stream = await open_room_stream(path, **kwargs)
        opened.append(stream)
        return stream

    yield open_one
    for stream in opened:
        try:
            await stream.close()
        except BaseException:
            pass


@database_sync_to_async
def post_over_http(visitor: Visitor, body: str, client_id: str) -> Any:
    return visitor.client.post(
        f"/api/help-requests/{visitor.public_id}/messages/",
        data={"body": body, "client_id": client_id},
        content_type="application/json",
    )


async def assert_refused(path: str, code: int, **kwargs: Any) -> None:
    stream = await open_room_stream(path, **kwargs)
    try:
        event = await stream.event()
        assert event["event"] == "close" and event["data"] == {"code": code}
    finally:
        await stream.close()


# -- who may listen --------------------------------------------------------------------------------


async def test_unknown_and_malformed_ids_end_with_4404(make_user: Any) -> None:
    staff = await make(make_user, roles=(Role.STAFF,))
    await assert_refused(stream_path(str(uuid.uuid4())), 4404, user=staff)
    await assert_refused(stream_path("not-a-uuid"), 4404, user=staff)
    await assert_refused(stream_path("12"), 4404)


async def test_nobody_outside_the_room_may_listen(make_user: Any) -> None:
    alice, bob = await avisit(name="Alice"), await avisit(name="Bob")
    await assert_refused(stream_path(alice.public_id), 4403)
    await assert_refused(stream_path(alice.public_id), 4403, cookie=bob.cookie)
    await assert_refused(stream_path(alice.public_id), 4403, token=bob.token)
    await assert_refused(stream_path(alice.public_id, token=alice.token), 4403)  # never from the URL
    await assert_refused(stream_path(alice.public_id), 4403, user=await make(make_user, roles=(Role.DONOR,)))
    await assert_refused(stream_path(alice.public_id), 4403, user=await make(make_user, roles=(Role.VOLUNTEER,)))


async def test_the_token_opens_the_stream_without_the_session(streams: Any) -> None:
    visitor = await avisit()
    stream = await streams(stream_path(visitor.public_id), token=visitor.token)
    history = await stream.frame()
    assert stream.headers[b"cache-control"] == b"no-store, no-transform"
    assert history["type"] == "history" and history["help_request"]["public_id"] == visitor.public_id


# -- history, then live --------------------------------------------------------------------------


async def test_history_then_presence_then_live_messages_with_ids(make_user: Any, streams: Any) -> None:
    visitor = await avisit(name="Alice")
    first = await apost_as_visitor(visitor, "before")
    stream = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    history = await stream.event()
    assert history["id"] == str(first.pk)  # a reconnect resumes after what the history held
    assert history["data"]["type"] == "history"
    assert [m["body"] for m in history["data"]["messages"]] == ["before"]
    assert await stream.frame() == {"type": "presence", "participants": [{"kind": "visitor", "name": "Alice"}]}
    live = await apost_as_visitor(visitor, "live")
    event = await stream.event()
    assert event["id"] == str(live.pk)
    assert check_frame(event["data"])["body"] == "live"
    assert await stream.silent()


async def test_an_empty_history_carries_no_id(streams: Any) -> None:
    visitor = await avisit()
    stream = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    history = await stream.event()
    assert "id" not in history and history["data"]["messages"] == []


async def test_last_event_id_resumes_with_exactly_the_missed_messages(streams: Any) -> None:
    visitor = await avisit()
    sent = [await apost_as_visitor(visitor, f"m{i}") for i in range(4)]
    # The URL still says after=0 (as when the stream first opened); the browser's header is newer.
    stream = await streams(
        stream_path(visitor.public_id, after=0), cookie=visitor.cookie, last_event_id=str(sent[1].pk)
    )
    history = await stream.event()
    assert [m["id"] for m in history["data"]["messages"]] == [sent[2].pk, sent[3].pk]
    assert history["id"] == str(sent[3].pk)
    assert (await stream.frame())["type"] == "presence"
    assert await stream.silent()


async def test_after_alone_resumes_too(streams: Any) -> None:
    visitor = await avisit()
    sent = [await apost_as_visitor(visitor, f"m{i}") for i in range(3)]
    stream = await streams(stream_path(visitor.public_id, after=sent[0].pk), cookie=visitor.cookie)
    assert [m["body"] for m in (await stream.frame())["messages"]] == ["m1", "m2"]


async def test_a_malformed_after_gets_an_error_then_the_latest_history(streams: Any) -> None:
    visitor = await avisit()
    await apost_as_visitor(visitor, "latest")
    stream = await streams(stream_path(visitor.public_id, after="abc"), cookie=visitor.cookie)
    error = await stream.frame()
    assert error["type"] == "error" and error["code"] == "invalid" and "after" in error["detail"]
    assert [m["body"] for m in (await stream.frame())["messages"]] == ["latest"]


async def test_history_and_live_overlap_never_doubles(streams: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message committed between the join and the history read is sent once, not twice."""
    visitor = await avisit()
    post_before_history_read(monkeypatch, visitor)
    stream = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    history = await stream.frame()
    assert [m["body"] for m in history["messages"]] == ["raced"]
    assert (await stream.frame())["type"] == "presence"
    assert await stream.silent()


# -- the room, shared with sockets -----------------------------------------------------------------


async def test_a_message_posted_over_http_reaches_the_stream_and_the_sockets(
    make_user: Any, sockets: Any, streams: Any
) -> None:
    visitor = await avisit(name="Alice")
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    stream = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    await stream.frame()  # history
    await stream.frame()  # presence
    await next_frame(staff)  # presence: the visitor came, by SSE
    response = await post_over_http(visitor, "Hello over HTTP", "h-1")
    assert response.status_code == 201
    event = await stream.event()
    assert event["id"] == str(response.json()["id"])
    assert event["data"] == response.json() == await next_frame(staff)
    # A re-post of the same client_id reaches nobody.
    assert (await post_over_http(visitor, "Hello over HTTP", "h-1")).status_code == 200
    assert await stream.silent()
    assert await staff.receive_nothing(timeout=0.3)


async def test_the_stream_gets_the_others_typing_and_reads_but_not_its_own(
    make_user: Any, sockets: Any, streams: Any
) -> None:
    visitor = await avisit(name="Alice")
    staff_user = await make(make_user, "sam", roles=(Role.STAFF,))
    stream = await streams(stream_path(visitor.public_id), user=staff_user)
    await stream.frame()  # history
    await stream.frame()  # notes (a helper's or staff member's stream)
    await stream.frame()  # presence
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    assert [p["kind"] for p in (await stream.frame())["participants"]] == ["visitor", "staff"]
    await socket.send_json_to({"type": "typing"})
    assert await stream.frame() == {"type": "typing", "author": {"kind": "visitor", "name": "Alice"}}
    await say(socket, "hi", "c-1")
    message = await stream.frame()
    assert await next_frame(socket) == message
    # The staff member reads over HTTP: the visitor's socket hears it, their own stream does not.
    http = Client()
    await database_sync_to_async(http.force_login)(staff_user)
    response = await database_sync_to_async(http.post)(
        f"/api/help-requests/{visitor.public_id}/read/", {"up_to": message["id"]}, content_type="application/json"
    )
    assert response.status_code == 200
    assert (await next_frame(socket))["type"] == "read"
    assert await stream.silent()


async def test_status_changes_reach_the_stream(make_user: Any, streams: Any) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    stream = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    await stream.frame()  # history
    await stream.frame()  # presence
    await database_sync_to_async(services.help_request_claim)(
        help_request=await database_sync_to_async(visitor.help_request)(), user=vera
    )
    assert (await stream.frame())["author"]["kind"] == "system"
    assert await stream.frame() == {
        "type": "status",
        "status": "assigned",
        "queue_position": None,
        "assigned_to": {"kind": "volunteer", "name": "vera"},
    }


# -- presence ----------------------------------------------------------------------------------------


async def test_a_stream_is_here_for_the_others_until_it_goes(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    stream = await open_room_stream(stream_path(visitor.public_id), cookie=visitor.cookie)
    await stream.frame()  # history
    await stream.frame()  # presence
    assert [p["kind"] for p in (await next_frame(staff))["participants"]] == ["visitor", "staff"]
    await stream.close()
    assert [p["kind"] for p in (await next_frame(staff))["participants"]] == ["staff"]


async def test_the_keep_alive_refreshes_the_streams_presence(
    streams: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat import rooms

    settings.CHAT_PRESENCE_REFRESH_INTERVAL = 0.05
    refreshed = asyncio.Event()
    original = rooms._presence_refresh
    state = {"lost": False}

    async def recording(**kwargs: Any) -> Any:
        after_the_loss = state["lost"]
        result = await original(**kwargs)
        if after_the_loss and kwargs["participant"].key == VISITOR_KEY:
            refreshed.set()
        return result

    monkeypatch.setattr(rooms, "_presence_refresh", recording)
    visitor = await avisit()
    stream = await streams(stream_path(visitor.public_id), cookie=visitor.cookie)
    await stream.frame()  # history
    await stream.frame()  # presence
    # The cache lost the room (say Redis restarted); the stream's next refresh puts it back.
    await database_sync_to_async(cache.delete)(presence._room_key(visitor.public_id))
    state["lost"] = True
    await asyncio.wait_for(refreshed.wait(), timeout=10)
    assert await database_sync_to_async(presence.presence_includes)(
        public_id=visitor.public_id, participant_key=VISITOR_KEY
    )


# -- losing access -----------------------------------------------------------------------------------


async def test_a_reassigned_volunteer_gets_the_status_then_a_4403_close(make_user: Any, streams: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    victor = await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    assign = database_sync_to_async(services.help_request_assign)
    await assign(help_request=await database_sync_to_async(visitor.help_request)(), assignee=vera, by=staff_user)
    stream = await streams(stream_path(visitor.public_id), user=vera)
    await stream.frame()  # history
    await stream.frame()  # notes (a helper's or staff member's stream)
    await stream.frame()  # presence
    await assign(help_request=await database_sync_to_async(visitor.help_request)(), assignee=victor, by=staff_user)
    while (frame := await stream.event())["data"].get("type") != "status":
        pass
    assert frame["data"]["assigned_to"] == {"kind": "volunteer", "name": "victor"}
    closing = await stream.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4403}


async def test_losing_the_staff_role_ends_the_stream_with_4403(make_user: Any, streams: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    stream = await streams(stream_path(visitor.public_id), user=staff_user)
    await stream.frame()  # history
    await stream.frame()  # notes (a helper's or staff member's stream)
    await stream.frame()  # presence

    def demote() -> None:
        staff_user.is_staff = False
        staff_user.save()

    await database_sync_to_async(demote)()
    closing = await stream.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4403}


async def test_logging_out_ends_that_sessions_stream_with_4401(make_user: Any, sockets: Any) -> None:
    from django.conf import settings

    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    watcher = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(watcher)
    client = Client()
    await database_sync_to_async(client.force_login)(staff_user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    stream = await open_room_stream(stream_path(visitor.public_id), cookie=cookie)
    await stream.frame()  # history
    await stream.frame()  # notes (a helper's or staff member's stream)
    await stream.frame()  # presence
    assert [p["kind"] for p in (await next_frame(watcher))["participants"]] == ["visitor", "staff"]
    await database_sync_to_async(client.post)("/accounts/logout/")
    closing = await stream.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4401}
    # Ending the stream takes the person out of the room at once, before the client hangs up.
    assert [p["kind"] for p in (await next_frame(watcher))["participants"]] == ["visitor"]
    await stream.close()


async def test_room_streams_are_admitted_as_room_sockets_are(streams: Any, settings: Any) -> None:
    visitor = await avisit()
    settings.REALTIME_CONNECTIONS_PER_IP = 1
    address = fresh_address()
    first = await streams(stream_path(visitor.public_id), token=visitor.token, client=address)
    assert (await first.frame())["type"] == "history"
    refused = await streams(stream_path(visitor.public_id), token=visitor.token, client=address)
    assert (await refused.frame())["code"] == "rate_limited"
    closing = await refused.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4429}
