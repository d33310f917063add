"""End to end over real daphne processes sharing PostgreSQL and Redis (``make test``'s scale-out pass).

A visitor on one process and a volunteer on another must see each other's messages and presence,
and a participant who drops out and comes back with ``?after=`` gets exactly what they missed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import ClientConnection, connect

from charity.roles import Role
from tests.chat.conftest import avisit, check_frame, claim, make
from tests.conftest import session_cookie_for

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]


def open_socket(server: Any, path: str, cookie: str | None = None) -> Any:
    return connect(
        server.ws_base + path,
        origin=f"http://127.0.0.1:{server.port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie} if cookie else None,
        open_timeout=10,
    )


async def recv(socket: ClientConnection) -> dict[str, Any]:
    return check_frame(json.loads(await asyncio.wait_for(socket.recv(), timeout=10)))


async def recv_type(socket: ClientConnection, frame_type: str) -> dict[str, Any]:
    """The next frame of ``frame_type``, failing on any other frame but presence (and a helper's notes)."""
    while True:
        frame = await recv(socket)
        if frame["type"] == frame_type:
            return frame
        assert frame["type"] in ("presence", "notes"), frame


async def say(socket: ClientConnection, body: str, client_id: str) -> None:
    await socket.send(json.dumps({"type": "message", "body": body, "client_id": client_id}))


def names(frame: dict[str, Any]) -> list[str]:
    assert frame["type"] == "presence", frame
    return [participant["name"] for participant in frame["participants"]]


async def test_visitor_and_volunteer_on_two_processes(daphne_servers: Any, make_user: Any) -> None:
    first, second = daphne_servers(2)
    visitor = await avisit(name="Alice")
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    vera_cookie = await database_sync_to_async(session_cookie_for)(vera)

    async with open_socket(first, visitor.path, visitor.cookie) as alice:
        assert (await recv(alice))["type"] == "history"
        assert names(await recv(alice)) == ["Alice"]
        async with open_socket(second, visitor.path, vera_cookie) as hers:
            history = await recv(hers)
            assert history["help_request"]["assigned_to"] == {"kind": "volunteer", "name": "vera"}
            assert await recv(hers) == {"type": "notes", "notes": []}  # a helper's join
            assert names(await recv(hers)) == ["Alice", "vera"]
            assert names(await recv(alice)) == ["Alice", "vera"]  # presence crossed processes

            await say(alice, "Hello from process one", "a1")
            from_alice = await recv(alice)
            assert await recv(hers) == from_alice
            assert from_alice["author"] == {"kind": "visitor", "name": "Alice"}

            await say(hers, "Hello from process two", "v1")
            from_vera = await recv(hers)
            assert await recv(alice) == from_vera
            assert from_vera["author"] == {"kind": "volunteer", "name": "vera"}

            await hers.send(json.dumps({"type": "typing"}))
            assert await recv(alice) == {"type": "typing", "author": {"kind": "volunteer", "name": "vera"}}
            await alice.send(json.dumps({"type": "read", "up_to": from_vera["id"]}))
            assert await recv(hers) == {
                "type": "read",
                "author": {"kind": "visitor", "name": "Alice"},
                "up_to": from_vera["id"],
            }
        assert names(await recv(alice)) == ["Alice"]  # vera left, seen from the other process


async def test_reconnecting_to_the_other_process_with_after_gets_exactly_the_missed(
    daphne_servers: Any, make_user: Any
) -> None:
    first, second = daphne_servers(2)
    visitor = await avisit(name="Alice")
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await claim(visitor, vera)
    vera_cookie = await database_sync_to_async(session_cookie_for)(vera)

    async with open_socket(first, visitor.path, visitor.cookie) as alice:
        await recv_type(alice, "history")
        async with open_socket(second, visitor.path, vera_cookie) as hers:
            await recv_type(hers, "history")
            await say(alice, "before the drop", "b")
            last_seen = await recv_type(hers, "message")
            await recv_type(alice, "message")
        missed = []
        for i in range(3):
            await say(alice, f"while away {i}", f"m{i}")
            missed.append(await recv_type(alice, "message"))
        # Back on the other process this time.
        async with open_socket(first, f"{visitor.path}?after={last_seen['id']}", vera_cookie) as back:
            history = await recv(back)
            assert history["messages"] == missed
            await say(alice, "live again", "l")
            live = await recv_type(back, "message")
            assert live["body"] == "live again"
            # Nothing of what was missed arrives a second time.
            await back.send(json.dumps({"type": "ping"}))
            assert await recv_type(back, "pong") == {"type": "pong"}


async def test_status_changes_reach_rooms_on_every_process(daphne_servers: Any, make_user: Any) -> None:
    first, second = daphne_servers(2)
    ahead, behind = await avisit(name="Ahead"), await avisit(name="Behind")
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    async with open_socket(first, ahead.path, ahead.cookie) as a, open_socket(second, behind.path, behind.cookie) as b:
        assert (await recv_type(a, "history"))["help_request"]["queue_position"] == 1
        assert (await recv_type(b, "history"))["help_request"]["queue_position"] == 2
        await claim(ahead, vera)
        assert (await recv_type(a, "message"))["author"]["kind"] == "system"
        assert (await recv_type(a, "status"))["status"] == "assigned"
        assert await recv_type(b, "status") == {
            "type": "status",
            "status": "waiting",
            "queue_position": 1,
            "assigned_to": None,
        }
