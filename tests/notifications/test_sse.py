"""The Server-Sent Events fallback of the notification stream."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import ApplicationCommunicator

from notifications import api
from realtime import registry
from tests.conftest import fresh_address, session_cookie_for, sse_scope

pytestmark = pytest.mark.django_db(transaction=True)


class SseClient:
    def __init__(self, communicator: ApplicationCommunicator) -> None:
        self.communicator = communicator
        self.buffer = ""
        self.status: int | None = None
        self.headers: dict[bytes, bytes] = {}

    async def start(self) -> None:
        await self.communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.communicator.receive_output(timeout=5)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = dict(start["headers"])

    async def event(self, timeout: float = 3) -> dict[str, Any]:
        """The next event that is not a comment: ``{"id":..., "event":..., "data": parsed}``."""
        while "\n\n" not in self.buffer:
            message = await self.communicator.receive_output(timeout=timeout)
            assert message["type"] == "http.response.body"
            self.buffer += message["body"].decode()
            if not message.get("more_body", False) and "\n\n" not in self.buffer:
                raise AssertionError("stream ended")
        block, self.buffer = self.buffer.split("\n\n", 1)
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if not fields:
            return await self.event(timeout)
        fields["data"] = json.loads(fields["data"])
        return fields

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(timeout=2)


async def open_stream(
    path: str, *, user: Any = None, last_event_id: str | None = None, address: str = "127.0.0.1"
) -> SseClient:
    from charity.asgi import application

    cookie = await database_sync_to_async(session_cookie_for)(user) if user is not None else None
    scope = sse_scope(path, cookie=cookie, last_event_id=last_event_id, client=address)
    client = SseClient(ApplicationCommunicator(application, scope))
    await client.start()
    return client


async def test_anonymous_stream_ends_with_a_4401_close_event() -> None:
    client = await open_stream("/sse/notifications/")
    event = await client.event()
    assert event["event"] == "close" and event["data"] == {"code": 4401}


async def test_stream_replays_then_syncs_then_goes_live(make_user: Any) -> None:
    user = await database_sync_to_async(make_user)()
    first = await api.anotify_user(user, kind="test.sse", title="missed")
    client = await open_stream("/sse/notifications/", user=user)
    assert client.status == 200 and client.headers[b"content-type"].startswith(b"text/event-stream")
    replayed = await client.event()
    assert replayed["id"] == str(first.pk) and replayed["data"]["title"] == "missed"
    synced = await client.event()
    assert synced["data"] == {"type": "synced", "last_id": first.pk, "unread": 1}
    live = await api.anotify_user(user, kind="test.sse", title="live")
    event = await client.event()
    assert event["id"] == str(live.pk) and event["data"]["type"] == "notification"
    await client.close()


async def test_last_event_id_resumes_after_that_id(make_user: Any) -> None:
    from notifications.models import Recipient

    user = await database_sync_to_async(make_user)()
    ids = [(await api.anotify_user(user, kind="test.sse", title=f"n{i}")).pk for i in range(3)]
    await database_sync_to_async(lambda: Recipient.objects.update(delivered_at="2026-01-01T00:00Z"))()
    client = await open_stream("/sse/notifications/?since=0", user=user, last_event_id=str(ids[0]))
    events = [await client.event() for _ in range(3)]
    assert [event["data"].get("id") for event in events[:2]] == ids[1:]
    assert events[2]["data"]["type"] == "synced"
    await client.close()


async def test_a_non_ascii_last_event_id_gets_an_error_and_the_stream_carries_on(make_user: Any) -> None:
    # The header's raw byte 0xB2 is "²" (latin-1): it used to raise inside the handler, after the
    # headers were sent, and the response never ended.
    from charity.asgi import application

    user = await database_sync_to_async(make_user)()
    sent = await api.anotify_user(user, kind="test.sse", title="n")
    cookie = await database_sync_to_async(session_cookie_for)(user)
    scope = sse_scope("/sse/notifications/", cookie=cookie)
    scope["headers"].append((b"last-event-id", "²".encode("latin-1")))
    client = SseClient(ApplicationCommunicator(application, scope))
    await client.start()
    error = (await client.event())["data"]
    assert error["type"] == "error" and error["code"] == "invalid" and "since" in error["detail"]
    assert (await client.event())["data"]["id"] == sent.pk
    assert (await client.event())["data"]["type"] == "synced"
    live = await api.anotify_user(user, kind="test.sse", title="live")
    assert (await client.event())["id"] == str(live.pk)
    await client.close()


async def test_an_exception_in_a_stream_handler_ends_the_response_and_frees_its_slot(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import streams

    async def broken(**kwargs: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(streams, "read_replay", broken)
    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    while True:
        message = await client.communicator.receive_output(timeout=3)
        assert message["type"] == "http.response.body"
        if not message.get("more_body", False):
            break
    assert streams_of(user) == []  # the registry entry (and admission slot) went with it


async def test_an_exception_in_a_group_event_handler_ends_the_response(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications.sse import NotificationStreamConsumer

    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"

    async def broken(self: Any, event: Any) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(NotificationStreamConsumer, "notification_push", broken)
    await api.anotify_user(user, kind="test.sse", title="boom")
    message = await client.communicator.receive_output(timeout=3)
    assert message == {"type": "http.response.body", "body": b"", "more_body": False}
    assert streams_of(user) == []
    await client.close()


async def test_read_over_http_updates_the_stream_unread_count(make_user: Any) -> None:
    from django.test import AsyncClient

    user = await database_sync_to_async(make_user)()
    sent = await api.anotify_user(user, kind="test.sse", title="x")
    client = await open_stream("/sse/notifications/", user=user)
    await client.event()
    await client.event()
    http = AsyncClient()
    await http.aforce_login(user)
    response = await http.post("/api/notifications/read/", {"ids": [sent.pk]}, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"count": 1}
    assert (await client.event())["data"] == {"type": "unread", "unread": 0, "read": [sent.pk]}
    await client.close()


# -- admission: the sockets' limits, and the registry ------------------------------------------------


def streams_of(user: Any) -> list[str]:
    return [entry.endpoint for entry in registry.get_registry().entries() if entry.user_id == user.pk]


async def assert_refused(client: SseClient) -> None:
    error = await client.event()
    assert error["data"]["type"] == "error" and error["data"]["code"] == "rate_limited"
    closing = await client.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4429}


async def test_a_stream_counts_as_one_of_the_persons_connections_while_it_is_open(
    make_user: Any, settings: Any
) -> None:
    settings.REALTIME_SOCKETS_PER_USER = 1
    user = await database_sync_to_async(make_user)()
    first = await open_stream("/sse/notifications/", user=user)
    assert (await first.event())["data"]["type"] == "synced"
    assert streams_of(user) == ["notifications_sse"]
    await assert_refused(await open_stream("/sse/notifications/", user=user))
    await first.close()
    assert streams_of(user) == []
    again = await open_stream("/sse/notifications/", user=user)
    assert (await again.event())["data"]["type"] == "synced"
    await again.close()


async def test_too_many_new_streams_from_one_address_are_refused_with_4429(make_user: Any, settings: Any) -> None:
    settings.REALTIME_CONNECTIONS_PER_IP = 1
    address = fresh_address()
    first_user, second_user = await database_sync_to_async(lambda: (make_user(), make_user()))()
    first = await open_stream("/sse/notifications/", user=first_user, address=address)
    assert (await first.event())["data"]["type"] == "synced"
    await assert_refused(await open_stream("/sse/notifications/", user=second_user, address=address))
    elsewhere = await open_stream("/sse/notifications/", user=second_user, address=fresh_address())
    assert (await elsewhere.event())["data"]["type"] == "synced"
    for client in (first, elsewhere):
        await client.close()


# -- losing access, as sockets do (realtime.revocation) ------------------------------------------------


async def test_a_deactivated_account_loses_its_stream_with_4401(make_user: Any) -> None:
    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"

    def deactivate() -> None:
        user.is_active = False
        user.save()

    await database_sync_to_async(deactivate)()
    closing = await client.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4401}


async def test_a_new_role_reaches_the_stream_and_its_notifications_follow(make_user: Any) -> None:
    from django.contrib.auth.models import Group

    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"

    def make_volunteer() -> None:
        user.groups.add(Group.objects.get_or_create(name="volunteer")[0])

    await database_sync_to_async(make_volunteer)()
    roles = await client.event()
    assert roles["data"]["type"] == "roles" and "volunteer" in roles["data"]["roles"]
    sent = await api.anotify_role("volunteer", kind="test.sse", title="to volunteers")
    pushed = await client.event()
    assert pushed["id"] == str(sent.pk) and pushed["data"]["title"] == "to volunteers"
    await client.close()


async def test_group_events_reach_a_stream_without_a_database_thread_hop_each(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As sockets: channels' dispatch closes old connections through the database thread before every
    message; behind replays and acks on that thread, live events would fall behind."""
    import channels.consumer

    hops: list[None] = []

    async def counted() -> None:
        hops.append(None)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"
    for n in range(3):
        await api.anotify_user(user, kind="test.sse", title=f"live {n}")
        assert (await client.event())["data"]["title"] == f"live {n}"
    assert hops == []
    await client.close()


async def test_a_streams_events_skip_the_session_middlewares_send(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Channels' session wrapper would read the session and settings on every event, a sixth of a
    stream's CPU; streams never change the session, so the entry (``realtime.entry``) does not wrap."""
    from channels.sessions import InstanceSessionWrapper

    wrapped: list[str] = []
    original = InstanceSessionWrapper.send

    async def counting(self: Any, message: dict[str, Any]) -> None:
        wrapped.append(message["type"])
        await original(self, message)

    monkeypatch.setattr(InstanceSessionWrapper, "send", counting)
    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"
    for n in range(3):
        await api.anotify_user(user, kind="test.sse", title=f"live {n}")
        assert (await client.event())["data"]["title"] == f"live {n}"
    assert wrapped == []
    await client.close()


async def test_an_event_is_encoded_once_for_all_the_streams_it_reaches(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtime import sse

    encoded: list[int | None] = []
    original = sse.sse_event

    def counting(data: str, *, event_id: int | None = None, event: str | None = None) -> bytes:
        encoded.append(event_id)
        return original(data, event_id=event_id, event=event)

    users = [await database_sync_to_async(make_user)(roles=("volunteer",)) for _ in range(3)]
    clients = [await open_stream("/sse/notifications/", user=user) for user in users]
    for client in clients:
        assert (await client.event())["data"]["type"] == "synced"
    monkeypatch.setattr(sse, "sse_event", counting)
    sent = await api.anotify_role("volunteer", kind="test.sse", title="to all three")
    for client in clients:
        event = await client.event()
        assert event["id"] == str(sent.pk) and event["data"]["title"] == "to all three"
    assert encoded == [sent.pk]
    for client in clients:
        await client.close()


async def test_a_stream_has_no_channel_layer_channel_of_its_own(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's streams get group events from the hub; a channel per stream would cost a task."""
    from realtime.layer import FanoutChannelLayer

    made: list[str] = []

    async def new_channel(self: Any, prefix: str = "specific.") -> str:
        made.append(prefix)
        return f"{prefix}unused!x"

    monkeypatch.setattr(FanoutChannelLayer, "new_channel", new_channel)
    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"
    assert made == []
    await client.close()


async def test_a_host_apps_group_send_reaches_the_stream_as_an_event_frame(make_user: Any) -> None:
    from channels.layers import get_channel_layer

    from realtime import groups

    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"
    layer = get_channel_layer()
    await layer.group_send(groups.user_group(user.pk), {"type": "realtime.event", "name": "ping", "data": {"n": 1}})
    assert (await client.event())["data"] == {"type": "event", "name": "ping", "data": {"n": 1}}
    await client.close()


async def test_a_password_change_ends_the_stream_with_4401(make_user: Any) -> None:
    user = await database_sync_to_async(make_user)()
    client = await open_stream("/sse/notifications/", user=user)
    assert (await client.event())["data"]["type"] == "synced"

    def change_password() -> None:
        user.set_password("a-new-pw-for-tests-2")
        user.save()

    await database_sync_to_async(change_password)()
    closing = await client.event()
    assert closing["event"] == "close" and closing["data"] == {"code": 4401}
