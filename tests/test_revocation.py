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


# -- a new password: sessions made with the old one stop vouching for the account -----------------


def change_password(user: Any, password: str = "a-new-pw-for-tests-2") -> None:
    user.set_password(password)
    user.save()


async def test_a_password_change_closes_the_other_sessions_sockets_4401(make_user: Any, sockets: Any) -> None:
    user = await database_sync_to_async(make_user)()
    socket = await sockets(WS, user=user)
    await synced(socket)
    await database_sync_to_async(change_password)(user)
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_a_password_change_through_the_page_keeps_the_changing_session_and_ends_the_others(
    make_user: Any, sockets: Any
) -> None:
    from django.conf import settings

    user = await database_sync_to_async(make_user)()
    changer, other = Client(), Client()
    for client in (changer, other):
        await database_sync_to_async(client.force_login)(user)
    other_socket = await sockets(WS, cookie=f"sessionid={other.cookies['sessionid'].value}")
    await synced(other_socket)
    response = await database_sync_to_async(changer.post)(
        "/accounts/password_change/",
        {"old_password": "pw-for-tests-1", "new_password1": "b-new-pw-2x!", "new_password2": "b-new-pw-2x!"},
    )
    assert response.status_code == 302
    assert await other_socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    # The changing browser (its session key cycled, its hash updated, as Django does) connects again.
    cookie = f"{settings.SESSION_COOKIE_NAME}={changer.cookies[settings.SESSION_COOKIE_NAME].value}"
    again = await sockets(WS, cookie=cookie)
    await synced(again)


async def test_a_session_from_before_the_password_change_is_refused_at_connect(make_user: Any) -> None:
    from tests.conftest import connect_socket, session_cookie_for

    user = await database_sync_to_async(make_user)()
    cookie = await database_sync_to_async(session_cookie_for)(user)
    await database_sync_to_async(change_password)(user)
    socket, connected, _ = await connect_socket(WS, cookie=cookie)
    assert connected
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_unrelated_saves_leave_sockets_open(make_user: Any, sockets: Any) -> None:
    user = await database_sync_to_async(make_user)()
    socket = await sockets(WS, user=user)
    await synced(socket)

    def rename() -> None:
        user.first_name = "Renamed"
        user.save()

    await database_sync_to_async(rename)()
    await socket.send_json_to({"type": "ping"})
    assert json.loads(await socket.receive_from(timeout=3)) == {"type": "pong"}


def test_session_vouches_for_follows_the_password_and_secret_key_fallbacks(make_user: Any, settings: Any) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    from realtime.revocation import session_vouches_for

    user, someone_else = make_user(), make_user()
    client = Client()
    client.force_login(user)
    key = client.cookies["sessionid"].value
    assert session_vouches_for(session_key=key, user=user)
    assert not session_vouches_for(session_key=key, user=someone_else)
    assert not session_vouches_for(session_key="no-such-session", user=user)
    # A rotated SECRET_KEY keeps sessions made with the old one, as Django's get_user() does.
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "another-secret-key-for-tests-" + "x" * 40
    assert session_vouches_for(session_key=key, user=user)
    settings.SECRET_KEY = settings.SECRET_KEY_FALLBACKS[0]
    settings.SECRET_KEY_FALLBACKS = []
    change_password(user)
    assert not session_vouches_for(session_key=key, user=user)
    assert SessionStore(key).exists(key)  # the row is there; it just no longer logs anyone in
