"""Property-based fuzzing of the notification socket with hostile frames.

For every frame: the server stays up, the socket stays open, the frame gets at most one answer (an
error frame unless it happened to be a valid request), no client-sent type reaches a channel-layer
handler, and another person's socket hears nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.consumers import NotificationConsumer
from tests.conftest import connect_socket
from tests.fuzz.strategies import KNOWN_TYPES, frames, record_handler_calls

HANDLERS = ["notification_push", "notification_unread", "access_revoke", "topic_frame", "recheck_access"]


class Harness:
    def __init__(self, loop: asyncio.AbstractEventLoop, socket: Any, bystander: Any, calls: list[str]) -> None:
        self.loop, self.socket, self.bystander, self.calls = loop, socket, bystander, calls

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


@pytest.fixture
def harness(
    transactional_db: None, make_user: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> Iterator[Harness]:
    settings.REALTIME_MESSAGE_RATE = 1e9
    settings.REALTIME_MESSAGE_BURST = 10**9
    calls: list[str] = []
    record_handler_calls(monkeypatch, NotificationConsumer, HANDLERS, calls)
    loop = asyncio.new_event_loop()
    user, other = make_user(roles=("volunteer",)), make_user(roles=("volunteer",))

    async def open_both() -> tuple[Any, Any]:
        socket, _, _ = await connect_socket("/ws/notifications/", user=user)
        bystander, _, _ = await connect_socket("/ws/notifications/", user=other)
        for communicator in (socket, bystander):
            assert json.loads(await communicator.receive_from(timeout=5))["type"] == "synced"
        return socket, bystander

    socket, bystander = loop.run_until_complete(open_both())
    yield Harness(loop, socket, bystander, calls)
    loop.run_until_complete(socket.disconnect())
    loop.run_until_complete(bystander.disconnect())
    loop.close()


_sentinels = iter(range(10**15, 10**16))


async def answers_until_pong(socket: Any) -> list[dict[str, Any]]:
    """Everything the server said in reply, up to the answer to a sentinel we send after the frame.

    The sentinel is an ack with a unique id (a ping would be ambiguous: fuzzed frames may be pings).
    """
    sentinel = next(_sentinels)
    await socket.send_json_to({"type": "ack", "up_to": sentinel})
    received: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await socket.receive_from(timeout=5))
        if frame == {"type": "acked", "up_to": sentinel, "count": 0}:
            return received
        received.append(frame)


def is_known_request(kind: str, text: str) -> bool:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(payload, dict) and payload.get("type") in KNOWN_TYPES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_hostile_frames_get_one_answer_and_hurt_nobody(harness: Harness, frame: tuple[str, Any]) -> None:
    kind, data = frame

    async def exchange() -> list[dict[str, Any]]:
        # send_input, not send_to: the test helper refuses empty frames, a browser does not.
        key = "text" if kind == "text" else "bytes"
        await harness.socket.send_input({"type": "websocket.receive", key: data})
        return await answers_until_pong(harness.socket)

    answers = harness.run(exchange())
    assert len(answers) <= 1, answers
    if kind == "bytes" or not is_known_request(kind, data):
        assert len(answers) == 1 and answers[0]["type"] == "error", answers
        assert answers[0]["code"] in {"bad_json", "bad_frame", "unknown_type", "binary_unsupported"}
    elif answers and answers[0]["type"] == "error":
        assert answers[0]["code"] in {"invalid", "forbidden", "unknown_type"}
    else:
        assert all(answer["type"] in {"acked", "subscriptions", "unread", "pong"} for answer in answers), answers
    assert harness.calls == []
    assert harness.run(harness.bystander.receive_nothing(timeout=0.01))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=100, max_value=30_000))
def test_deep_nesting_never_crashes(harness: Harness, depth: int) -> None:
    async def exchange() -> list[dict[str, Any]]:
        await harness.socket.send_to(text_data='{"type":"read","ids":' + "[" * depth + "]" * depth + "}")
        return await answers_until_pong(harness.socket)

    answers = harness.run(exchange())
    assert len(answers) == 1 and answers[0]["type"] == "error"
