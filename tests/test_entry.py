"""realtime.entry: one ASGI layer in front of every socket and stream."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.urls import path, re_path

from charity.asgi import authenticate
from realtime.entry import Entry
from tests.conftest import ORIGIN, connect_socket, session_cookie_for

pytestmark = pytest.mark.django_db(transaction=True)


def coroutine_chain(communicator: Any) -> list[str]:
    """The qualified names of the coroutines a connection's task is suspended in, outermost first."""
    names = []
    coroutine = communicator.future.get_coro()
    while coroutine is not None and hasattr(coroutine, "cr_code"):
        names.append(coroutine.cr_code.co_qualname)
        coroutine = coroutine.cr_await
    return names


async def test_an_idle_socket_keeps_one_coroutine_above_its_consumers_loop(make_user: Any) -> None:
    """Each ASGI layer that awaits the next keeps a frame (and often a scope) for the socket's life."""
    from channels.db import database_sync_to_async

    user = await database_sync_to_async(make_user)()
    communicator, connected, _ = await connect_socket("/ws/notifications/", user=user)
    assert connected
    assert json.loads(await communicator.receive_from(timeout=5))["type"] == "synced"
    chain = coroutine_chain(communicator)
    assert chain[:2] == ["Entry.__call__", "GroupMember.__call__"], chain
    await communicator.disconnect()


async def test_a_socket_for_no_route_is_refused_at_the_handshake(make_user: Any) -> None:
    from channels.db import database_sync_to_async

    user = await database_sync_to_async(make_user)()
    communicator, connected, _ = await connect_socket("/ws/nowhere/", user=user)
    assert not connected
    await communicator.disconnect()


async def test_a_stream_for_no_route_is_not_found() -> None:
    from charity.asgi import application

    response = await HttpCommunicator(application, "GET", "/sse/nowhere/").get_response(timeout=5)
    assert response["status"] == 404


class Echo(AsyncWebsocketConsumer):
    """Plain Channels code: what it reads from the scope, sent back on connect."""

    def __init__(self, *args: Any, greeting: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.greeting = greeting

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        await self.send(
            json.dumps(
                {
                    "greeting": self.greeting,
                    "user": user.get_username() if user.is_authenticated else None,
                    "roles": sorted(self.scope["roles"]),
                    "session": self.scope["session"].session_key is not None,
                    "kwargs": self.scope["url_route"]["kwargs"],
                }
            )
        )


def refusing(app: Any) -> Any:
    """A decorator around an ``as_asgi()`` app (it copies the app's attributes): it must still run."""

    @functools.wraps(app)
    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 4000})

    return wrapper


ROUTES = [
    path("plain/<int:number>/", Echo.as_asgi(greeting="hello")),
    re_path(r"^nested/", URLRouter([path("inner/<str:word>/", Echo.as_asgi(greeting="nested"))])),
    path("prefix/", URLRouter([path("leaf/<str:word>/", Echo.as_asgi(greeting="prefixed"))])),
    path("decorated/", refusing(Echo.as_asgi())),
]


async def echo(route: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", b"localhost"), (b"origin", ORIGIN)]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(Entry(ROUTES, authenticate, check_origin=True), route, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    answer: dict[str, Any] = json.loads(await communicator.receive_from(timeout=5))
    await communicator.disconnect()
    return answer


async def test_standard_channels_consumers_and_routers_get_the_scope_channels_gives(make_user: Any) -> None:
    from channels.db import database_sync_to_async

    user = await database_sync_to_async(make_user)(roles=("volunteer",))
    cookie = await database_sync_to_async(session_cookie_for)(user)
    assert await echo("/plain/7/", cookie) == {
        "greeting": "hello",
        "user": user.get_username(),
        "roles": ["volunteer"],
        "session": True,
        "kwargs": {"number": 7},
    }
    assert (await echo("/prefix/leaf/x/", None))["greeting"] == "prefixed"  # a path() prefix, as URLRouter makes it
    assert await echo("/nested/inner/word/", None) == {
        "greeting": "nested",
        "user": None,
        "roles": ["visitor"],
        "session": False,
        "kwargs": {"word": "word"},
    }


async def test_a_decorated_consumer_app_runs_its_decorator() -> None:
    headers = [(b"host", b"localhost"), (b"origin", ORIGIN)]
    communicator = WebsocketCommunicator(Entry(ROUTES, authenticate, check_origin=True), "/decorated/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    assert (connected, code) == (False, 4000)
    await communicator.disconnect()
