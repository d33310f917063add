"""The notification socket end to end: real daphne processes, real Redis, real PostgreSQL.

Clients are real WebSocket clients (``websockets``) holding sockets on separate daphne processes that
share one channel layer; notifications are sent from other processes (``manage.py notify``) and from
this one, whose channel layer is the same Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from charity.roles import Role
from notifications import api
from realtime.protocol import CloseCode
from tests.conftest import ROOT, DaphneServer, session_cookie_for

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

WS = "/ws/notifications/"
# How long to wait for a frame that should come; only a failing test ever waits this long.
WAIT = 15.0


OpenSocket = Callable[..., Awaitable[ClientConnection]]
RunManage = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]
_OWN_ORIGIN = object()


@pytest.fixture
async def live_sockets(daphne_servers: Any) -> AsyncIterator[OpenSocket]:
    """Open real client sockets: ``ws = await live_sockets(server, path, user=alice)``.

    The ``Origin`` is the server's own unless ``origin=`` says otherwise (``None`` sends none); extra
    keyword arguments go to ``websockets.connect``. Every socket is closed at the end of the test,
    before the servers stop (this fixture depends on ``daphne_servers``, so it is torn down first).
    """
    opened: list[ClientConnection] = []

    async def open_socket(
        server: DaphneServer, path: str, *, user: Any = None, origin: object = _OWN_ORIGIN, **kwargs: Any
    ) -> ClientConnection:
        headers = {}
        if user is not None:
            headers["Cookie"] = await database_sync_to_async(session_cookie_for)(user)
        if origin is _OWN_ORIGIN:
            origin = server.http_base
        socket = await connect(
            server.ws_base + path,
            origin=None if origin is None else Origin(str(origin)),
            additional_headers=headers,
            proxy=None,
            **kwargs,
        )
        opened.append(socket)
        return socket

    yield open_socket
    await asyncio.gather(*(socket.close() for socket in opened), return_exceptions=True)


@pytest.fixture
def manage_py() -> RunManage:
    """Run ``manage.py`` in a separate process with a server's environment (test database, Redis).

    ``result = await manage_py(server, "notify", "--user", "alice", ...)``; a non-zero exit fails the test.
    """

    async def run(server: DaphneServer, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    return run


@database_sync_to_async
def make(make_user: Any, *args: Any, **kwargs: Any) -> Any:
    return make_user(*args, **kwargs)


async def recv_frame(socket: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            text = await socket.recv()
    except TimeoutError:
        raise AssertionError(f"no frame within {timeout} s") from None
    except ConnectionClosed as exc:
        raise AssertionError(f"socket closed by the server: {exc}") from None
    frame: dict[str, Any] = json.loads(text)
    return frame


async def receive_until(socket: ClientConnection, frame_type: str) -> list[dict[str, Any]]:
    """Frames received up to and including the first of ``frame_type``."""
    frames: list[dict[str, Any]] = []
    while True:
        frames.append(await recv_frame(socket))
        if frames[-1]["type"] == frame_type:
            return frames


async def synced(socket: ClientConnection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    frames = await receive_until(socket, "synced")
    return frames[:-1], frames[-1]


async def receive_until_id(socket: ClientConnection, notification_id: int) -> list[dict[str, Any]]:
    """Frames received up to and including the notification ``notification_id``."""
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("id") != notification_id:
        frames.append(await recv_frame(socket))
    return frames


async def nothing_pending(socket: ClientConnection) -> bool:
    """True when nothing was queued for ``socket`` before a ping: the very next frame is the pong."""
    await socket.send(json.dumps({"type": "ping"}))
    return await recv_frame(socket) == {"type": "pong"}


async def close_code(socket: ClientConnection) -> int | None:
    """The code the server closed ``socket`` with (waits for the close)."""
    async with asyncio.timeout(WAIT):
        await socket.wait_closed()
    return socket.close_code


# -- across servers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["command", "in_process"])
async def test_notification_from_another_process_reaches_the_socket_on_the_first_server(
    daphne_servers: Any, live_sockets: Any, manage_py: Any, make_user: Any, sender: str
) -> None:
    first, second = daphne_servers(2)
    alice = await make(make_user, "alice")
    bob = await make(make_user, "bob")
    alice_socket = await live_sockets(first, WS, user=alice)
    bob_socket = await live_sockets(second, WS, user=bob)
    await synced(alice_socket)
    await synced(bob_socket)

    if sender == "command":
        result = await manage_py(second, "notify", "--user", "alice", "--kind", "test.e2e", "--title", "Hello")
        match = re.search(r"Sent notification (\d+) to 1 recipient", result.stdout)
        assert match, result.stdout
        sent_id = int(match[1])
    else:
        sent_id = (await api.anotify_user(alice, kind="test.e2e", title="Hello")).pk

    frame = await recv_frame(alice_socket)
    assert (frame["type"], frame["id"], frame["title"]) == ("notification", sent_id, "Hello")
    # Once only, and only to alice: the next thing each socket gets is this broadcast.
    sentinel = await api.anotify_all(kind="test.sentinel", title="everyone")
    assert (await recv_frame(alice_socket))["id"] == sentinel.pk
    assert (await recv_frame(bob_socket))["id"] == sentinel.pk


async def test_role_broadcast_reaches_a_socket_on_each_server_exactly_once(
    daphne_servers: Any, live_sockets: Any, make_user: Any
) -> None:
    first, second = daphne_servers(2)
    alice = await make(make_user, "alice", roles=(Role.VOLUNTEER,))
    bob = await make(make_user, "bob", roles=(Role.VOLUNTEER,))
    donor = await make(make_user, "dora", roles=(Role.DONOR,))
    on_first = await live_sockets(first, WS, user=alice)
    on_second = await live_sockets(second, WS, user=bob)
    donor_socket = await live_sockets(second, WS, user=donor)
    for socket in (on_first, on_second, donor_socket):
        await synced(socket)

    shift = await api.anotify_role("volunteer", kind="shift.changed", title="Saturday moved")
    sentinel = await api.anotify_all(kind="test.sentinel", title="everyone")

    async def ids_until_sentinel(socket: ClientConnection) -> list[int]:
        return [frame["id"] for frame in await receive_until_id(socket, sentinel.pk)]

    got_first, got_second, got_donor = await asyncio.gather(
        ids_until_sentinel(on_first), ids_until_sentinel(on_second), ids_until_sentinel(donor_socket)
    )
    assert got_first == [shift.pk, sentinel.pk]
    assert got_second == [shift.pk, sentinel.pk]
    assert got_donor == [sentinel.pk]


# -- offline delivery -------------------------------------------------------------------------------


async def test_offline_notification_is_delivered_once_and_acked_stays_unread(
    daphne_servers: Any, live_sockets: Any, make_user: Any
) -> None:
    first, second = daphne_servers(2)
    alice = await make(make_user, "alice")
    socket = await live_sockets(first, WS, user=alice)
    await synced(socket)
    await socket.close()

    sent = await api.anotify_user(alice, kind="test.offline", title="While you were away")

    socket = await live_sockets(second, WS, user=alice)
    replay, sync = await synced(socket)
    assert [frame["id"] for frame in replay] == [sent.pk]
    assert sync == {"type": "synced", "last_id": sent.pk, "unread": 1}
    assert await nothing_pending(socket)
    await socket.send(json.dumps({"type": "ack", "up_to": sent.pk}))
    assert await recv_frame(socket) == {"type": "acked", "up_to": sent.pk, "count": 1}
    await socket.close()

    socket = await live_sockets(first, WS, user=alice)
    # Acknowledged means delivered, not read: no replay, but still unread.
    assert await receive_until(socket, "synced") == [{"type": "synced", "last_id": sent.pk, "unread": 1}]
    assert await nothing_pending(socket)


# -- idle sockets on the Redis layer ----------------------------------------------------------------


async def test_socket_idle_for_over_a_minute_stays_open_and_still_receives(
    daphne_servers: Any, live_sockets: Any, make_user: Any
) -> None:
    # channels-redis 4.3.0 with redis-py 8.x closes every idle socket after about 5 s with 1011
    # (requirements.txt pins redis 7.4.1). The heartbeat must not be what closes it here.
    first, second = daphne_servers(2, env={"REALTIME_HEARTBEAT_TIMEOUT": "600"})
    alice = await make(make_user, "alice", roles=(Role.VOLUNTEER,))
    bob = await make(make_user, "bob", roles=(Role.VOLUNTEER,))
    # No client keepalive pings either: nothing at all is sent after the handshake.
    on_first = await live_sockets(first, WS, user=alice, ping_interval=None)
    on_second = await live_sockets(second, WS, user=bob, ping_interval=None)
    await synced(on_first)
    await synced(on_second)

    await asyncio.sleep(65)

    closed = (on_first.close_code, on_second.close_code)
    assert closed == (None, None), f"idle sockets closed by the servers with {closed} (1011: see the redis pin)"
    sent = await api.anotify_role("volunteer", kind="test.idle", title="Still there?")
    assert (await recv_frame(on_first))["id"] == sent.pk
    assert (await recv_frame(on_second))["id"] == sent.pk


# -- heartbeat --------------------------------------------------------------------------------------


async def test_silent_socket_is_closed_4408_while_a_pinging_one_stays_open(
    daphne_servers: Any, live_sockets: Any, make_user: Any
) -> None:
    (server,) = daphne_servers(1, env={"REALTIME_HEARTBEAT_TIMEOUT": "1.5"})
    alice = await make(make_user, "alice")
    silent = await live_sockets(server, WS, user=alice, ping_interval=None)
    pinging = await live_sockets(server, WS, user=alice, ping_interval=None)
    await synced(silent)
    await synced(pinging)

    silent_closed = asyncio.ensure_future(close_code(silent))
    pongs_after_close = 0
    # Ping through the silent socket's timeout and on for as long again after it is closed.
    while pongs_after_close < 6:
        await pinging.send(json.dumps({"type": "ping"}))
        assert await recv_frame(pinging) == {"type": "pong"}
        if silent_closed.done():
            pongs_after_close += 1
        await asyncio.sleep(0.25)

    assert await silent_closed == CloseCode.HEARTBEAT_TIMEOUT
    assert pinging.close_code is None


# -- handshake --------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["http://evil.example", None], ids=["foreign", "missing"])
async def test_foreign_or_missing_origin_is_refused_with_403(
    daphne_servers: Any, live_sockets: Any, make_user: Any, origin: str | None
) -> None:
    (server,) = daphne_servers(1)
    alice = await make(make_user, "alice")
    with pytest.raises(InvalidStatus) as refused:
        await live_sockets(server, WS, user=alice, origin=origin)
    assert refused.value.response.status_code == 403
    # The same session from the server's own origin is let in.
    await synced(await live_sockets(server, WS, user=alice))


async def test_anonymous_socket_is_closed_4401(daphne_servers: Any, live_sockets: Any) -> None:
    (server,) = daphne_servers(1)
    socket = await live_sockets(server, WS)
    assert await close_code(socket) == CloseCode.UNAUTHENTICATED


# -- bursts -----------------------------------------------------------------------------------------

BURST = 500


async def test_burst_to_one_user_arrives_complete_once_each_and_in_order(
    daphne_servers: Any, live_sockets: Any, make_user: Any
) -> None:
    (server,) = daphne_servers(1)
    alice = await make(make_user, "alice")
    socket = await live_sockets(server, WS, user=alice)
    await synced(socket)

    @database_sync_to_async
    def burst() -> list[int]:
        # One transaction, so all the pushes leave back to back at commit, faster than one socket drains.
        with transaction.atomic():
            return [api.notify_user(alice, kind="test.burst", title=f"n{i}").pk for i in range(BURST)]

    async def receive_burst() -> list[int]:
        # Stops at BURST notifications or when none has come for WAIT seconds (some were lost).
        ids: list[int] = []
        with contextlib.suppress(TimeoutError):
            while len(ids) < BURST:
                async with asyncio.timeout(WAIT):
                    frame = json.loads(await socket.recv())
                assert frame["type"] == "notification", frame
                ids.append(frame["id"])
        return ids

    sent, received = await asyncio.gather(burst(), receive_burst())
    assert sent == sorted(set(sent))
    assert len(received) == BURST, f"{BURST - len(received)} of {BURST} notifications never arrived"
    assert received == sent
    assert await nothing_pending(socket)
