"""Property-based fuzzing of the help-request room socket with hostile frames.

For every frame: the server stays up, the socket stays open, the sender gets at most one answer (an
error frame unless the frame was a valid request), no client-sent type reaches a channel-layer
handler, a visitor in another room hears nothing, and the other participant in the room hears
something only when the frame was a valid message, typing or read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from chat.consumers import HelpRequestConsumer
from realtime import fanout, groups
from tests.chat.conftest import open_help_request
from tests.conftest import connect_socket
from tests.fuzz.strategies import frames, record_handler_calls

HANDLERS = ["chat_message", "chat_status", "chat_typing", "chat_read", "chat_presence", "access_revoke"]
SENTINEL = "fuzz-sentinel"
ROOM_TYPES = {"message", "typing", "read", "ping"}


class Harness:
    def __init__(self, loop: asyncio.AbstractEventLoop, sockets: dict[str, Any], calls: list[str], group: str) -> None:
        self.loop, self.sockets, self.calls, self.group = loop, sockets, calls, group

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


@pytest.fixture
def harness(
    transactional_db: None, make_user: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> Iterator[Harness]:
    settings.REALTIME_MESSAGE_RATE = 1e9
    settings.REALTIME_MESSAGE_BURST = 10**9
    settings.CHAT_TYPING_INTERVAL = 0
    settings.CHAT_ROOM_MESSAGES_PER_MINUTE = 10**9
    loop = asyncio.new_event_loop()
    visitor, stranger = open_help_request(), open_help_request()
    staff = make_user(roles=("staff",))

    async def open_all() -> dict[str, Any]:
        sockets = {
            "visitor": (await connect_socket(visitor.path, cookie=visitor.cookie))[0],
            "staff": (await connect_socket(visitor.path, user=staff))[0],
            "stranger": (await connect_socket(stranger.path, cookie=stranger.cookie))[0],
        }
        for socket in sockets.values():
            assert json.loads(await socket.receive_from(timeout=5))["type"] == "history"
        # Let presence settle, then forget everything said so far.
        await asyncio.sleep(0.3)
        for socket in sockets.values():
            while not await socket.receive_nothing(timeout=0.1):
                await socket.receive_from()
        return sockets

    sockets = loop.run_until_complete(open_all())
    calls: list[str] = []
    record_handler_calls(monkeypatch, HelpRequestConsumer, HANDLERS, calls, ignore_sender=SENTINEL)
    yield Harness(loop, sockets, calls, groups.help_request_group(visitor.public_id))
    for socket in sockets.values():
        loop.run_until_complete(socket.disconnect())
    loop.close()


def parsed_type(text: str) -> str | None:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None
    frame_type = payload.get("type") if isinstance(payload, dict) else None
    return frame_type if isinstance(frame_type, str) else None


async def answers_until_pong(socket: Any, pongs: int) -> list[dict[str, Any]]:
    await socket.send_json_to({"type": "ping"})
    received: list[dict[str, Any]] = []
    while pongs:
        frame = json.loads(await socket.receive_from(timeout=5))
        if frame == {"type": "pong"}:
            pongs -= 1
        else:
            received.append(frame)
    return received


_sentinels = iter(range(1, 10**9))


async def until_sentinel(socket: Any, number: int) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await socket.receive_from(timeout=5))
        if frame == {"type": "sentinel", "n": number}:
            return received
        received.append(frame)


async def room_barrier(harness: Harness) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What reached each room socket through its group before a sentinel sent after the frame.

    Events caused by the frame (echoes, typing, read) travel through the group, possibly after the
    direct pong; a sentinel sent to the room's group once the pong is back arrives after them.
    """
    number = next(_sentinels)
    event = {"type": "chat.typing", "sender": SENTINEL, "frame": {"type": "sentinel", "n": number}}
    await fanout.apublish([harness.group], event)
    return (
        await until_sentinel(harness.sockets["visitor"], number),
        await until_sentinel(harness.sockets["staff"], number),
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_hostile_frames_in_a_room(harness: Harness, frame: tuple[str, Any]) -> None:
    kind, data = frame
    frame_type = parsed_type(data) if kind == "text" else None
    harness.calls.clear()

    async def exchange() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        key = "text" if kind == "text" else "bytes"
        await harness.sockets["visitor"].send_input({"type": "websocket.receive", key: data})
        answers = await answers_until_pong(harness.sockets["visitor"], 2 if frame_type == "ping" else 1)
        late, other = await room_barrier(harness)
        return answers + late, other

    answers, other = harness.run(exchange())
    errors = [answer for answer in answers if answer["type"] == "error"]
    if frame_type not in ROOM_TYPES:
        assert len(answers) == 1 and len(errors) == 1, answers
        assert errors[0]["code"] in {"bad_json", "bad_frame", "unknown_type", "binary_unsupported"}
        assert other == [] and harness.calls == []
    elif errors:
        assert answers == errors and len(errors) == 1 and errors[0]["code"] == "invalid", answers
        assert other == []
    else:
        # A valid request: its own echo (a message) and nothing else; the other side hears the event.
        assert all(answer["type"] == "message" for answer in answers) and len(answers) <= 1, answers
        assert all(heard["type"] in {"message", "typing", "read"} for heard in other), other
    assert all(call in {"chat_message", "chat_typing", "chat_read"} for call in harness.calls)
    assert harness.run(harness.sockets["stranger"].receive_nothing(timeout=0.01))
