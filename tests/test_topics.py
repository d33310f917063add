"""realtime.topics: live feeds registered by the apps that own them, served by the notification socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from charity.roles import Role
from realtime import groups, publish, topics

pytestmark = pytest.mark.django_db(transaction=True)


class Feed:
    """A topic's owner: counts watchers, gives a first frame."""

    def __init__(self) -> None:
        self.watching = 0

    async def watch(self) -> dict[str, Any]:
        self.watching += 1
        return {"type": "feed", "first": True}

    def unwatch(self) -> None:
        self.watching -= 1


@pytest.fixture
def feed() -> Iterator[Feed]:
    owner = Feed()
    topics.topic_register(topics.Topic(name="test_feed", role=Role.VOLUNTEER, watch=owner.watch, unwatch=owner.unwatch))
    yield owner
    topics._topics.pop("test_feed", None)


async def synced(socket: Any) -> Any:
    assert (await socket.receive_json_from(timeout=5))["type"] == "synced"
    return socket


async def test_a_registered_topic_is_served_to_its_role(feed: Feed, sockets: Any, make_user: Any) -> None:
    from channels.db import database_sync_to_async

    volunteer = await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER,))
    socket = await synced(await sockets("/ws/notifications/", user=volunteer))

    await socket.send_json_to({"type": "subscribe", "topics": ["test_feed"]})
    assert (await socket.receive_json_from(timeout=5))["topics"] == ["test_feed"]
    assert await socket.receive_json_from(timeout=5) == {"type": "feed", "first": True}
    assert feed.watching == 1

    await publish.agroup_send_now_unsafe(
        (groups.topic_group("test_feed"),), dict(topics.topic_event("test_feed", {"type": "feed", "n": 1}))
    )
    assert await socket.receive_json_from(timeout=5) == {"type": "feed", "n": 1}

    await socket.send_json_to({"type": "unsubscribe", "topics": ["test_feed"]})
    assert (await socket.receive_json_from(timeout=5))["topics"] == []
    assert feed.watching == 0


async def test_a_topic_is_refused_to_other_roles(feed: Feed, sockets: Any, make_user: Any) -> None:
    from channels.db import database_sync_to_async

    donor = await database_sync_to_async(make_user)(roles=(Role.DONOR,))
    socket = await synced(await sockets("/ws/notifications/", user=donor))
    await socket.send_json_to({"type": "subscribe", "topics": ["test_feed"]})
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "forbidden"
    assert feed.watching == 0


async def test_a_closing_subscriber_unwatches(feed: Feed, sockets: Any, make_user: Any) -> None:
    from channels.db import database_sync_to_async

    volunteer = await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER,))
    socket = await synced(await sockets("/ws/notifications/", user=volunteer))
    await socket.send_json_to({"type": "subscribe", "topics": ["test_feed"]})
    await socket.receive_json_from(timeout=5)
    await socket.receive_json_from(timeout=5)
    await socket.disconnect()
    assert feed.watching == 0


def test_the_dashboard_registers_its_topic_for_staff() -> None:
    topic = topics.topic_get("dashboard")
    assert topic is not None and topic.role == Role.STAFF
