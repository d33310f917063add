"""realtime.layer: the fan-out as a Channels channel layer (both passes: in-process, then Redis).

The first tests follow Channels' own layer tests (tests/test_inmemorychannel.py in channels); the
rest check what is ours: the module's sockets get host code's group_send, a plain host consumer works
on the layer, and a channel is reached from another process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from charity.roles import Role
from realtime import fanout, groups, localbus
from realtime.layer import FanoutChannelLayer
from tests.conftest import ROOT, scaleout_configured


@pytest.fixture
async def channel_layer() -> AsyncIterator[FanoutChannelLayer]:
    """Channel layer fixture that flushes automatically."""
    layer = FanoutChannelLayer(capacity=3)
    yield layer
    await layer.flush()
    await layer.close()


async def test_the_configured_layer_is_the_fanout() -> None:
    assert isinstance(get_channel_layer(), FanoutChannelLayer)


async def test_send_receive(channel_layer: FanoutChannelLayer) -> None:
    await channel_layer.send("test-channel-1", {"type": "test.message", "text": "Ahoy-hoy!"})
    message = await channel_layer.receive("test-channel-1")
    assert message == {"type": "test.message", "text": "Ahoy-hoy!"}


async def test_send_capacity(channel_layer: FanoutChannelLayer) -> None:
    for _ in range(3):
        await channel_layer.send("test-channel-1", {"type": "test.message"})
    with pytest.raises(ChannelFull):
        await channel_layer.send("test-channel-1", {"type": "test.message"})


async def test_process_local_send_receive(channel_layer: FanoutChannelLayer) -> None:
    channel_name = await channel_layer.new_channel()
    await channel_layer.send(channel_name, {"type": "test.message", "text": "Local only please"})
    message = await channel_layer.receive(channel_name)
    assert message == {"type": "test.message", "text": "Local only please"}


async def test_multi_send_receive(channel_layer: FanoutChannelLayer) -> None:
    for n in (1, 2, 3):
        await channel_layer.send("test-channel-3", {"type": f"message.{n}"})
    assert [(await channel_layer.receive("test-channel-3"))["type"] for _ in range(3)] == [
        "message.1",
        "message.2",
        "message.3",
    ]


async def test_groups_basic(channel_layer: FanoutChannelLayer) -> None:
    channels = [await channel_layer.new_channel() for _ in range(3)]
    for channel in channels:
        await channel_layer.group_add("test-group", channel)
    await channel_layer.group_discard("test-group", channels[1])
    await channel_layer.group_send("test-group", {"type": "message.1"})
    async with asyncio.timeout(2):
        assert (await channel_layer.receive(channels[0]))["type"] == "message.1"
        assert (await channel_layer.receive(channels[2]))["type"] == "message.1"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await channel_layer.receive(channels[1])


async def test_groups_channel_full(channel_layer: FanoutChannelLayer) -> None:
    channel = await channel_layer.new_channel()
    await channel_layer.group_add("test-group", channel)
    for n in range(5):
        await channel_layer.group_send("test-group", {"type": "message.1", "n": n})
    async with asyncio.timeout(2):
        received = [(await channel_layer.receive(channel))["n"] for _ in range(3)]
    assert received == [0, 1, 2]  # the rest were dropped, no exception in group_send


async def test_each_channel_of_a_group_gets_its_own_copy(channel_layer: FanoutChannelLayer) -> None:
    first, second = await channel_layer.new_channel(), await channel_layer.new_channel()
    await channel_layer.group_add("test-group", first)
    await channel_layer.group_add("test-group", second)
    await channel_layer.group_send("test-group", {"type": "message.1", "items": [1]})
    async with asyncio.timeout(2):
        (await channel_layer.receive(first))["items"].append(2)
        assert (await channel_layer.receive(second))["items"] == [1]


async def test_expiry_single() -> None:
    layer = FanoutChannelLayer(expiry=0)
    await layer.send("test-channel-1", {"type": "message.1"})
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await layer.receive("test-channel-1")


async def test_a_channel_nobody_reads_leaves_its_groups_once_its_messages_expire() -> None:
    layer = FanoutChannelLayer(expiry=0)
    channel = await layer.new_channel()
    await layer.group_add("test-group", channel)
    await layer.group_send("test-group", {"type": "message.1"})
    await asyncio.sleep(0.1)
    await layer.group_send("test-group", {"type": "message.2"})  # finds message.1 expired
    async with asyncio.timeout(2):
        while "test-group" in fanout.get_hub().members:
            await asyncio.sleep(0.01)
    await layer.flush()


# -- the module's sockets, and host consumers, on the layer ------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_group_send_from_host_code_reaches_the_module_notification_sockets(sockets: Any, make_user: Any) -> None:
    volunteer = await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER,))
    socket = await sockets("/ws/notifications/", user=volunteer)
    assert (await socket.receive_json_from(timeout=5))["type"] == "synced"

    layer = get_channel_layer()
    await layer.group_send(groups.role_group(Role.VOLUNTEER), {"type": "realtime.event", "name": "shift.reminder"})

    assert await socket.receive_json_from(timeout=5) == {"type": "event", "name": "shift.reminder", "data": None}


@pytest.mark.django_db(transaction=True)
async def test_an_unknown_type_is_dropped_and_logged_once_and_the_socket_lives_on(
    sockets: Any, make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    volunteers = [await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER,)) for _ in range(3)]
    opened = [await sockets("/ws/notifications/", user=volunteer) for volunteer in volunteers]
    for socket in opened:
        assert (await socket.receive_json_from(timeout=5))["type"] == "synced"
    fanout._unknown_logged.clear()
    layer = get_channel_layer()

    with caplog.at_level(logging.WARNING):
        await layer.group_send(groups.role_group(Role.VOLUNTEER), {"type": "no.such.handler"})
        await layer.group_send(groups.role_group(Role.VOLUNTEER), {"type": "realtime.event", "name": "after"})
        for socket in opened:
            assert (await socket.receive_json_from(timeout=5))["name"] == "after"

    dropped = [record for record in caplog.records if "no.such.handler" in record.getMessage()]
    assert len(dropped) == 1
    assert not [record for record in caplog.records if record.exc_info]


class EchoGroupConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A host app's consumer, written as the Channels tutorial writes one."""

    groups = ["host-room"]

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.channel_layer.group_send("host-room", {"type": "room.say", "text": content["text"]})

    async def room_say(self, event: dict[str, Any]) -> None:
        await self.send_json({"said": event["text"]})


@pytest.mark.django_db
async def test_a_plain_host_consumer_works_on_the_layer() -> None:
    first = WebsocketCommunicator(EchoGroupConsumer.as_asgi(), "/host/")
    second = WebsocketCommunicator(EchoGroupConsumer.as_asgi(), "/host/")
    assert (await first.connect())[0] and (await second.connect())[0]
    await first.send_json_to({"text": "hello"})
    assert await first.receive_json_from(timeout=5) == {"said": "hello"}
    assert await second.receive_json_from(timeout=5) == {"said": "hello"}
    await first.disconnect()
    await second.send_json_to({"text": "alone"})
    assert await second.receive_json_from(timeout=5) == {"said": "alone"}
    await second.disconnect()
    assert "host-room" not in fanout.get_hub().members


async def test_a_channel_is_reached_from_another_process(tmp_path: Path, settings: Any) -> None:
    """Redis in the scale-out pass; the machine's local bus in the embedded one."""
    env = {key: value for key, value in os.environ.items()}
    if not scaleout_configured():
        settings.REDIS_URL = ""
        settings.REALTIME_LOCAL_BUS_DIR = str(tmp_path / "bus")
        env.update({"REALTIME_LOCAL_BUS_DIR": str(tmp_path / "bus"), "SQLITE_PATH": str(tmp_path / "x.sqlite3")})
        fanout.reset()
        localbus.stop()
    layer = FanoutChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("host-room", channel)
    env.update({"DJANGO_SETTINGS_MODULE": "charity.settings", "DEBUG": "1", "REDIS_PREFIX": settings.REDIS_PREFIX})
    script = f"""
        import django; django.setup()
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
        layer = get_channel_layer()
        async_to_sync(layer.send)({channel!r}, {{"type": "direct", "n": 1}})
        async_to_sync(layer.group_send)("host-room", {{"type": "grouped", "n": 2}})
    """
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env, check=True, timeout=60
    )
    async with asyncio.timeout(5):
        assert await layer.receive(channel) == {"type": "direct", "n": 1}
        assert await layer.receive(channel) == {"type": "grouped", "n": 2}
    await layer.flush()
    if not scaleout_configured():
        localbus.stop()
        fanout.reset()
