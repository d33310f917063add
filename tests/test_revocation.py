"""Taking access away closes or downgrades open sockets (realtime.revocation)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.test import Client

from notifications import api

pytestmark = pytest.mark.django_db(transaction=True)
WS = "/ws/notifications/"


async def synced(socket: Any) -> None:
    while json.loads(await socket.receive_from())["type"] != "synced":
        pass


async def test_logout_closes_that_sessions_sockets_4401(make_user: Any, sockets: Any) -> None:
    user = await database_sync_to_async(make_user)()
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    socket = await sockets(WS, cookie=cookie)
    other_session = await sockets(WS, user=user)
    await synced(socket)
    await synced(other_session)
    await database_sync_to_async(client.post)("/accounts/logout/")
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    # Another device of the same person stays logged in.
    await other_session.send_json_to({"type": "ping"})
    assert json.loads(await other_session.receive_from()) == {"type": "pong"}


async def test_deactivation_closes_every_socket_4401(make_user: Any, sockets: Any) -> None:
    user = await database_sync_to_async(make_user)()
    socket = await sockets(WS, user=user)
    await synced(socket)

    def deactivate() -> None:
        user.is_active = False
        user.save()

    await database_sync_to_async(deactivate)()
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_role_removal_stops_role_broadcasts_and_addition_starts_them(make_user: Any, sockets: Any) -> None:
    user = await database_sync_to_async(make_user)(roles=("volunteer",))
    socket = await sockets(WS, user=user)
    await synced(socket)
    volunteers = await database_sync_to_async(Group.objects.get)(name="volunteer")
    await database_sync_to_async(user.groups.remove)(volunteers)
    assert json.loads(await socket.receive_from(timeout=3)) == {"type": "roles", "roles": []}
    await api.anotify_role("volunteer", kind="shift.changed", title="not for you any more")
    # Still connected, just not in the role's group: the next thing it hears is its own pong.
    await socket.send_json_to({"type": "ping"})
    assert json.loads(await socket.receive_from()) == {"type": "pong"}
    await database_sync_to_async(user.groups.add)(volunteers)
    assert json.loads(await socket.receive_from(timeout=3)) == {"type": "roles", "roles": ["volunteer"]}
    sent = await api.anotify_role("volunteer", kind="shift.changed", title="welcome back")
    assert json.loads(await socket.receive_from())["id"] == sent.pk


async def test_losing_staff_drops_the_dashboard_topic(make_user: Any, sockets: Any) -> None:
    user = await database_sync_to_async(make_user)(roles=("staff",))
    socket = await sockets(WS, user=user)
    await synced(socket)
    await socket.send_json_to({"type": "subscribe", "topics": ["dashboard"]})
    assert json.loads(await socket.receive_from())["topics"] == ["dashboard"]
    assert json.loads(await socket.receive_from())["type"] == "dashboard"  # the first snapshot

    def demote() -> None:
        user.is_staff = False
        user.save()

    await database_sync_to_async(demote)()
    assert json.loads(await socket.receive_from(timeout=3)) == {"type": "roles", "roles": []}
    assert json.loads(await socket.receive_from(timeout=3)) == {"type": "subscriptions", "muted": [], "topics": []}
