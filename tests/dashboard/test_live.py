"""Live control room: staff-only topic, first snapshot at once, bursts coalesced."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from dashboard import live, selectors
from dashboard.services import activity_record

pytestmark = pytest.mark.django_db(transaction=True)
WS = "/ws/notifications/"


async def subscribed(sockets: Any, user: Any) -> Any:
    socket = await sockets(WS, user=user)
    while json.loads(await socket.receive_from())["type"] != "synced":
        pass
    await socket.send_json_to({"type": "subscribe", "topics": ["dashboard"]})
    assert json.loads(await socket.receive_from())["type"] == "subscriptions"
    first = json.loads(await socket.receive_from())
    assert first["type"] == "dashboard" and "metrics" in first["snapshot"]
    return socket


async def test_burst_of_a_thousand_events_is_coalesced(
    make_user: Any, sockets: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DASHBOARD_PUSH_INTERVAL = 0.2
    settings.DASHBOARD_REFRESH_INTERVAL = 3600
    staff = await database_sync_to_async(make_user)(roles=("staff",))
    socket = await subscribed(sockets, staff)
    calls = []
    original = selectors.dashboard_snapshot

    def counting(**kwargs: Any) -> Any:
        calls.append(1)
        return original(**kwargs)

    monkeypatch.setattr(selectors, "dashboard_snapshot", counting)

    def burst() -> None:
        for index in range(1000):
            activity_record(kind="test.burst", text=f"event {index}")

    await database_sync_to_async(burst)()
    frames: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + 3
    while asyncio.get_running_loop().time() < deadline:
        # receive_nothing polls without cancelling the consumer (a timed-out receive_from would).
        if await socket.receive_nothing(timeout=0.5):
            if frames:
                break
            continue
        frames.append(json.loads(await socket.receive_from()))
    dashboards = [frame for frame in frames if frame["type"] == "dashboard"]
    assert 1 <= len(dashboards) <= 3, len(dashboards)
    assert 1 <= len(calls) <= 3, len(calls)
    assert dashboards[-1]["snapshot"]["activity"][0]["text"] == "event 999"


async def test_non_staff_never_get_dashboard_frames(make_user: Any, sockets: Any, settings: Any) -> None:
    settings.DASHBOARD_PUSH_INTERVAL = 0.1
    staff = await database_sync_to_async(make_user)(roles=("staff",))
    volunteer = await database_sync_to_async(make_user)(roles=("volunteer",))
    await subscribed(sockets, staff)
    other = await sockets(WS, user=volunteer)
    while json.loads(await other.receive_from())["type"] != "synced":
        pass
    await other.send_json_to({"type": "subscribe", "topics": ["dashboard"]})
    assert json.loads(await other.receive_from())["code"] == "forbidden"
    await database_sync_to_async(activity_record)(kind="test.x", text="secret-ish")
    assert await other.receive_nothing(timeout=0.6)


async def test_publisher_stops_when_nobody_watches(make_user: Any, sockets: Any) -> None:
    staff = await database_sync_to_async(make_user)(roles=("staff",))
    socket = await subscribed(sockets, staff)
    assert live.publisher.watchers == 1
    await socket.send_json_to({"type": "unsubscribe", "topics": ["dashboard"]})
    assert json.loads(await socket.receive_from())["topics"] == []
    assert live.publisher.watchers == 0 and live.publisher.task is None
